"""``ivr load``: drive many simulated calls through a running stack and report latency and errors.

    ivr load [--url URL] [--calls 100] [--rate 10 | --burst] [--ramp 0] [--pace 0] [--duplicates 0]
             [--mix FILE [--setup]] [--max-seconds 180] [--out load.json] [--chart load.svg]

Every call is signed and played like Twilio plays it (``common.callsim``), with caller scripts drawn
from a mix (``common.loadgen.mix``; the default plays the demo support line ``ivr run`` seeds).
Progress goes to standard error every two seconds; the summary to standard output; the JSON result
and the chart to files. Exit 0 when no webhook failed and every answer was valid TwiML, 1 otherwise,
2 for bad arguments. Docs: docs/load-testing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from common.cli_common import URL_HELP, ApiFailure, HelpFormatter, Unreachable, UsageError, default_url


def _positive(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
    help_text = "many simulated calls at once against a running stack: latency per webhook, errors, TwiML checks"
    p = sub.add_parser("load", help=help_text, description=help_text, formatter_class=HelpFormatter, epilog=(
        "examples:\n  ivr load --calls 200 --rate 20\n"
        "  ivr load --calls 1000 --rate 50 --ramp 10 --pace 1 --max-seconds 170     (paced like real callers)\n"
        "  ivr load --calls 1000 --burst --out burst.json --chart burst.svg        (all at once)\n"
        "  ivr load --calls 300 --rate 30 --duplicates 0.2                          (20% delivered twice)\n"
        "  ivr load --mix tests/load/mixed_flows.json --setup --calls 300 --rate 30  (several flows)\n\n"
        "Run it against a stack served like production: python -m common.devserver --server gunicorn.\n"
        "exit 0: no errors and no TwiML violations; 1: some; 2: bad arguments"))  # fmt: skip
    p.set_defaults(func=cmd_load)
    p.add_argument("--url", default=default_url(), help=URL_HELP)
    p.add_argument("--calls", type=int, default=100, help="calls to place")
    p.add_argument("--rate", type=_positive, default=10.0, help="arrivals per second after the ramp")
    p.add_argument("--burst", action="store_true", help="every call arrives at once (ignores --rate, --ramp)")
    p.add_argument("--ramp", type=_positive, default=0.0, help="seconds to grow from 0 to --rate arrivals per second")
    p.add_argument("--pace", type=_positive, default=0.0,
                   help="how prompts, holds and talk are waited: 1 real time, 0.1 ten times faster, 0 not at all")
    p.add_argument("--duplicates", type=_positive, default=0.0, metavar="RATE",
                   help="share of webhooks delivered twice, 0-1 (the duplicate must get the same answer)")
    p.add_argument("--mix", type=Path, help="JSON file of caller scenarios (default: the demo support line's)")
    p.add_argument("--setup", action="store_true",
                   help="first deploy the mix file's 'deploy' flows and change its 'departments' (admin API)")
    p.add_argument("--max-seconds", type=_positive, default=180.0, help="stop by then, whatever is left")
    p.add_argument("--workers", type=int, default=0,
                   help="requests in flight at most (default: 200; a burst: one per call)")
    p.add_argument("--timeout", type=_positive, default=15.0, help="seconds a webhook may take (Twilio waits 15)")
    p.add_argument("--seed", type=int, default=1, help="scenario draw and duplicate choice")
    p.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN, else the dev token)")
    p.add_argument("--account", help="AccountSid (default: $TWILIO_ACCOUNT_SID, else the dev account)")
    p.add_argument("--api-key", help="admin API key for --setup (default: $IVR_API_KEY, else the dev key)")
    p.add_argument("--out", type=Path, help="write the JSON result here")
    p.add_argument("--chart", type=Path, help="write the latency chart (SVG) here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _setup(args: argparse.Namespace, mix: Any) -> None:
    from urllib.parse import quote

    from common import cli_admin
    from common.cli_routing import KEPT_BY_THE_STACK

    for name, schedule in mix.schedules.items():
        cli_admin.request(args, "PUT", f"/api/schedules/{quote(name, safe='')}", schedule)
        print(f"schedule {name} saved", file=sys.stderr)
    for department, changes in mix.departments.items():
        path = f"/api/departments/{quote(department, safe='')}"
        try:
            current = cli_admin.request(args, "GET", path)
        except ApiFailure as exc:
            if exc.status != 404:
                raise
            current = {}  # a new department: the changes are its whole document
        document = {k: v for k, v in current.items() if k not in KEPT_BY_THE_STACK} | changes
        cli_admin.request(args, "PUT", path, document)
        print(f"department {department}: {', '.join(f'{k}={v}' for k, v in changes.items())}", file=sys.stderr)
    for item in mix.deploy:
        try:
            flow = json.loads(item.flow.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"deploy: cannot read the flow {item.flow}: {exc}") from exc
        flow_id = str(flow.get("id", ""))
        cli_admin.request(args, "PUT", f"/api/flows/{flow_id}", flow)
        try:
            cli_admin.request(args, "POST", "/api/numbers", {"phoneNumber": item.number})
        except ApiFailure as exc:
            if exc.status != 409:  # already registered to this tenant: deploy over it
                raise
        cli_admin.request(args, "POST", f"/api/flows/{flow_id}/deploy", {"phoneNumbers": [item.number]})
        print(f"deployed {flow_id} to {item.number}", file=sys.stderr)


def cmd_load(args: argparse.Namespace) -> int:
    from common import config
    from common.loadgen import report
    from common.loadgen.mix import MixError, default_mix, load_mix
    from common.loadgen.runner import Plan, Runner, counters

    if args.calls < 1:
        raise UsageError("--calls: at least 1")
    if args.duplicates > 1:
        raise UsageError("--duplicates: a share between 0 and 1")
    if not args.burst and args.rate <= 0:
        raise UsageError("--rate: more than 0 (or --burst for every call at once)")
    if args.workers < 0:
        raise UsageError("--workers: 0 (automatic) or more")
    try:
        mix = load_mix(args.mix) if args.mix else default_mix()
    except MixError as exc:
        raise UsageError(f"--mix: {exc}") from exc
    url = args.url.rstrip("/")
    _check_reachable(url)
    if args.setup:
        if not (mix.deploy or mix.departments or mix.schedules):
            raise UsageError("--setup: the mix has no 'deploy', 'departments' or 'schedules' to set up")
        _setup(args, mix)
    plan = Plan(url, args.token or os.environ.get("TWILIO_AUTH_TOKEN", config.DEV_AUTH_TOKEN),
                args.account or os.environ.get("TWILIO_ACCOUNT_SID", config.DEV_ACCOUNT_SID),
                calls=args.calls, rate=0.0 if args.burst else args.rate, ramp=0.0 if args.burst else args.ramp,
                pace=args.pace, duplicate_rate=args.duplicates, max_seconds=args.max_seconds, workers=args.workers,
                timeout=args.timeout, seed=args.seed)  # fmt: skip
    before = counters(url)

    def show(p: Any) -> None:
        print(f"[{p.elapsed:6.1f}s] arrived {p.arrived}/{p.planned}  in call {p.active}  ended {p.done}",
              file=sys.stderr, flush=True)  # fmt: skip

    outcome = Runner(plan, mix).run(None if args.quiet else show)
    result = report.summarise(outcome, before, counters(url))
    print(report.text(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"result: {args.out}", file=sys.stderr)
    if args.chart:
        args.chart.write_text(report.svg(result), encoding="utf-8")
        print(f"chart: {args.chart}", file=sys.stderr)
    return 1 if result["errors"]["total"] or result["twimlViolations"]["total"] else 0


def _check_reachable(url: str) -> None:
    import requests

    try:
        requests.get(url + "/", timeout=5)
    except requests.RequestException as exc:
        raise Unreachable(f"the stack is not reachable at {url}; start one with `ivr run` or "
                          "`python -m common.devserver`, or point --url at a running stack") from exc  # fmt: skip
