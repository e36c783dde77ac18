"""The ``ivr`` command line.

    ivr validate FLOW.json [MORE.json ...] [--json]   check flows; exit 1 when any has errors
    ivr schema [-o FILE]                      the flow format as JSON Schema
    ivr simulate FLOW.json --input 1 ...      run a call in process (frozen clock, mocked HTTP)
    ivr simulate FLOW.json --interactive      be the caller yourself, in the terminal
    ivr run [--port 8080] [--store memory|firestore-emulator] [--server werkzeug|gunicorn]
                                              the local stack: every function on one port, demo data
    ivr call +13072249663 --input 1 ...       a call over HTTP, signed like Twilio (any deployment)
    ivr demo                                  start the stack, make a scripted call through HTTP
    ivr push | publish | versions | deploy | promote | rollback | diff | history | schedules
                                              the admin API of a running stack (see cli_admin)
    ivr flows | numbers | keys | tenants | health     list and manage what a stack holds (cli_inventory)
    ivr departments | agents                          department routing: queues, agents, stats (cli_routing)

Exit status: 0 success, 1 a flow is invalid, the call had problems or the API refused, 2 bad usage or
an unreadable file, 141 when whoever reads the output stops early (``ivr schema | head``): the
command then stops quietly, as a program killed by SIGPIPE does, instead of printing a traceback.
Docs: docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import cli_admin, cli_import, cli_inventory, cli_load, cli_report, cli_routing, cli_stack
from common.cli_common import URL_HELP, ApiFailure, HelpFormatter, Unreachable, UsageError, default_url, load_json
from common.core import simulator, validation
from common.core.errors import FlowInvalid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_FLOW = EXAMPLES / "support_line.json"
DEFAULT_NOW = "2026-01-05T15:00:00+00:00"
SIGPIPE_EXIT = 128 + 13
INPUT_GRAMMAR = """caller script items (--input, repeatable, used in order):
  1, 42, 1234#           keys pressed (a trailing # is the finish key and is dropped)
  speech:TEXT            what the caller says, e.g. speech:Sales, please.
  silence                the caller says nothing until the timeout
  hangup                 the caller hangs up
  dial:STATUS[:SECS]     how a transfer to a number ends: completed, busy, no-answer, failed, canceled
  queue:RESULT[:SECS]    how a department queue ends: bridged, leave, queue-full, hangup, error
  record:URL[:SECS]      a voicemail recording; record:none for an empty one
  record:hangup[:SECS]   the caller hangs up while recording (after SECS of audio; 0: nothing recorded)
Speech at a Gather that listens for keys only (dtmf) is silence, as on a real call.
When the call waits on the network without a fitting item, it is answered (dial completed, queue
bridged, a 12 s recording); items left when the call ends are reported as unused."""
__all__ = ["ApiFailure", "Unreachable", "UsageError", "build_parser", "main"]

_load = load_json


def _now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"--now {text!r} is not an ISO date-time (2026-01-05T15:00:00+00:00)") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _mocks(specs: Sequence[str], files: Sequence[str]) -> list[simulator.HttpMock]:
    mocks = []
    for spec in specs:
        match, sep, answer = spec.rpartition("=")
        status, _, body = answer.partition(":")
        if not sep or not status.isdigit():
            raise UsageError(f"--http {spec!r}: write URL_PART=STATUS[:BODY], e.g. accounts=200:{{\"a\":1}}")
        mocks.append(simulator.HttpMock(match, int(status), body))
    for path in files:
        for item in _load(path):
            mocks.append(simulator.HttpMock(item["match"], int(item.get("status", 200)),
                                            item["body"] if isinstance(item.get("body"), str)
                                            else json.dumps(item.get("body", "")), item.get("method")))  # fmt: skip
    return mocks


def _schedules(specs: Sequence[str]) -> Any:
    table: dict[str, bool] = {}
    for spec in specs:
        name, _, state = spec.partition("=")
        if state not in ("open", "closed"):
            raise UsageError(f"--schedule {spec!r}: write NAME=open or NAME=closed")
        table[name] = state == "open"
    return lambda name, at: table.get(name)


def cmd_validate(args: argparse.Namespace) -> int:
    """One report per file; a file that cannot be read is reported and the others still checked."""
    worst, reports = 0, {}
    for path in args.flow:
        try:
            report = validation.validate(_load(path))
        except UsageError as exc:
            print(f"ivr: {exc}", file=sys.stderr)
            worst = 2
            continue
        reports[path] = report
        worst = max(worst, 0 if report.ok else 1)
        if not args.json:
            for issue in [*report.errors, *report.warnings]:
                print(f"{path}: {issue.render()}")
            print(f"{path}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if args.json and len(args.flow) == 1 and reports:
        print(next(iter(reports.values())).model_dump_json(indent=2))
    elif args.json:
        print(json.dumps({path: r.model_dump(mode="json") for path, r in reports.items()}, indent=2))
    return worst


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(validation.json_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _compile(path: str) -> Any:
    try:
        return validation.compile_flow(_load(path))
    except FlowInvalid as exc:
        for issue in exc.report.errors:
            print(f"{path}: {issue.render()}", file=sys.stderr)
        return None


def cmd_simulate(args: argparse.Namespace) -> int:
    flow = _compile(args.flow)
    if flow is None:
        return 1
    if args.interactive:
        return _interactive(flow)
    try:
        result = simulator.simulate(
            flow, list(args.input), now=_now(args.now), http=_mocks(args.http, args.http_file),
            caller_number=args.caller, dialled_number=args.to, schedules=_schedules(args.schedule),
            tenant=args.tenant,
        )  # fmt: skip
    except simulator.ScriptError as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.render_text())
    _warn_unused(result)
    return 1 if result.problems else 0


def _warn_unused(result: Any) -> None:
    """Scripted items the call never reached usually mean the script and the flow disagree."""
    unused = list(getattr(result, "unused_inputs", None) or [])
    if unused:
        print(f"ivr: warning: {len(unused)} scripted input(s) not used, the call ended first: "
              f"{' '.join(unused)}", file=sys.stderr)  # fmt: skip


def _interactive(flow: Any) -> int:
    print("A simulated call: you are the caller. Type what you press or say; Ctrl-D hangs up.\n")

    def show(line: simulator.Line) -> None:
        print(f"  {line.speaker.upper():6}: {line.text}")

    def caller(waiting: str, node_id: str, turn: int) -> str | None:
        while True:
            item = _ask(waiting, node_id, turn)
            try:
                if item is not None:
                    simulator.parse_item(item)
                return item
            except simulator.ScriptError as exc:
                print(f"  ({exc})")

    result = simulator.simulate(flow, caller, now=datetime.now(UTC), listener=show)
    print(f"\npath: {' -> '.join(result.path)}")
    return 0


def _ask(waiting: str, node_id: str, turn: int) -> str | None:
    hints = {"input": "digits, speech:TEXT, silence or hangup",
             "dial": "dial:completed|busy|no-answer|failed (Enter = answered)",
             "queue": "queue:bridged|leave|queue-full|error (Enter = bridged)",
             "record": "record:URL[:SECS], record:none or record:hangup[:SECS] (Enter = a 12 s message)"}  # fmt: skip
    try:
        answer = input(f"  you ({hints.get(waiting, waiting)}) > ").strip()
    except EOFError:
        return None
    if answer == "" and waiting == "input":
        return "silence"
    return answer or None


def cmd_call(args: argparse.Namespace) -> int:
    from common import callsim, config

    sim = callsim.TwilioCallSimulator(
        args.url, args.token or os.environ.get("TWILIO_AUTH_TOKEN", config.DEV_AUTH_TOKEN),
        args.account or os.environ.get("TWILIO_ACCOUNT_SID", config.DEV_ACCOUNT_SID),
        replays=args.replay, concurrent_replays=args.concurrent,
    )  # fmt: skip
    for item in args.input:
        try:
            simulator.parse_item(item)
        except simulator.ScriptError as exc:
            raise UsageError(str(exc)) from exc
    import requests

    try:
        result = sim.call(args.number, args.caller, args.input)
    except requests.ConnectionError as exc:
        raise Unreachable(f"the stack is not reachable at {args.url}; start one with `ivr run` (or `make run`), "
                          "or point --url or $IVR_API_URL at a running stack") from exc  # fmt: skip
    except requests.Timeout as exc:
        raise Unreachable(f"the stack at {args.url} did not answer a webhook in time") from exc
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print("\n".join(result.transcript))
        print(f"{len(result.exchanges)} webhooks, call {result.call_sid}")
        for problem in result.problems:
            print(f"PROBLEM: {problem}")
    _warn_unused(result)
    return 1 if result.problems else 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ivr-flows")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr", description="Run FlowDesigner call flows: check, simulate, serve and deploy them.",
        formatter_class=HelpFormatter, epilog="examples:\n  ivr validate examples/*.json\n"
        "  ivr simulate examples/support_line.json -i 1 -i speech:sales\n  ivr run\n"
        "  ivr call +13072249663 -i 2\n\n'ivr COMMAND --help' shows each command's options; docs/cli.md has them all.",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, epilog: str, func: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                                    formatter_class=HelpFormatter)  # fmt: skip
        p.set_defaults(func=func)
        return p

    p = command("validate", "check flow documents: every problem at once, with node id, field and fix",
                "examples:\n  ivr validate my_flow.json\n  ivr validate examples/*.json --json\n\n"
                "exit 0 when every file is valid (warnings allowed), 1 when any has errors, 2 when a file "
                "cannot be read", cmd_validate)  # fmt: skip
    p.add_argument("flow", nargs="+", help="flow document(s), JSON")
    p.add_argument("--json", action="store_true", help="print the report as JSON (several files: keyed by path)")
    p = command("schema", "print the flow format as JSON Schema (draft 2020-12)",
                "example:\n  ivr schema -o flow.schema.json", cmd_schema)
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p = command("simulate", "run a call through a flow in process: scripted caller, mocked HTTP, frozen clock",
                "examples:\n  ivr simulate examples/support_line.json -i silence -i speech:Sales -i queue:leave\n"
                "  ivr simulate examples/account_lookup.json -i 123456# --http 'accounts=200:{\"name\": \"Ada\"}'\n"
                "  ivr simulate examples/after_hours_voicemail.json --schedule business_hours=closed -i 1\n"
                "  ivr simulate examples/support_line.json --interactive\n\n" + INPUT_GRAMMAR, cmd_simulate)
    p.add_argument("flow", help="the flow document (JSON)")
    p.add_argument("--input", "-i", action="append", default=[], metavar="ITEM",
                   help="caller script item (repeatable; grammar below)")
    p.add_argument("--http", action="append", default=[], metavar="URL_PART=STATUS[:BODY]",
                   help="answer requests whose URL contains URL_PART (or matches it, when it starts with ^); "
                   "requests no mock matches fail")  # fmt: skip
    p.add_argument("--http-file", action="append", default=[], metavar="FILE",
                   help="JSON list of {match, status, body, method} mocks")
    p.add_argument("--schedule", action="append", default=[], metavar="NAME=open|closed",
                   help="state of a schedule for hoursNode (unknown schedules are closed)")
    p.add_argument("--tenant", default="demo",
                   help="tenant whose Twilio queue names the transcript shows (<tenant>.<department>)")
    p.add_argument("--now", default=DEFAULT_NOW, help="frozen clock, ISO 8601 (a Monday, 15:00 UTC)")
    p.add_argument("--caller", default="+15005550006", help="the caller's number (From)")
    p.add_argument("--to", default="+13072249663", help="the dialled number (To)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.add_argument("--interactive", "-I", action="store_true", help="be the caller in the terminal")
    p = command("demo", "start the local stack and make a scripted call over HTTP", "example:\n  ivr demo",
                cli_stack.cmd_demo)
    p = command("run", "the local stack: all functions on one port, with demo data",
                "examples:\n  ivr run\n  ivr run --port 9000 --store firestore-emulator\n"
                "  ivr run --server gunicorn --threads 32    (served as production serves; for load tests)\n\n"
                "SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop the stack and the emulator it started\n"
                "(with gunicorn, SIGHUP restarts its worker instead, as gunicorn does).", cli_stack.cmd_run)
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: $PORT, else 8080)")
    p.add_argument("--store", default="memory", choices=["memory", "firestore-emulator"],
                   help="memory, or Google's Firestore emulator started for this run")
    p.add_argument("--server", default="werkzeug", choices=["werkzeug", "gunicorn"],
                   help="werkzeug (default: a thread per connection, stops at once) or gunicorn (as production)")
    p.add_argument("--threads", type=int, default=None,
                   help="gunicorn threads (default: $THREADS, else 4 per CPU); werkzeug ignores it")
    p = command("call", "place a signed call over HTTP, following TwiML like Twilio (any running stack)",
                "examples:\n  ivr call +13072249663 -i 2\n  ivr call +13072249663 -i 1 --replay 2 --concurrent 2\n"
                "  ivr call +13072249663 -i 1 --url https://ivr.example.com --token $TWILIO_AUTH_TOKEN\n\n"
                + INPUT_GRAMMAR, cmd_call)  # fmt: skip
    p.add_argument("number", help="the dialled number (To)")
    p.add_argument("--input", "-i", action="append", default=[], metavar="ITEM",
                   help="caller script item (repeatable; grammar below)")
    p.add_argument("--url", default=default_url(), help=URL_HELP)
    p.add_argument("--caller", default="+15005550006", help="the caller's number (From)")
    p.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN, else the dev token)")
    p.add_argument("--account", help="AccountSid (default: $TWILIO_ACCOUNT_SID, else the dev account)")
    p.add_argument("--replay", type=int, default=0, metavar="N", help="send every webhook again N times")
    p.add_argument("--concurrent", type=int, default=0, metavar="N", help="and N more copies concurrently")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    cli_admin.add_commands(sub)
    cli_inventory.add_commands(sub)
    cli_routing.add_commands(sub)
    cli_report.add_commands(sub)
    cli_import.add_commands(sub)
    cli_load.add_commands(sub)
    return parser


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    except Unreachable as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    except ApiFailure as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        for line in exc.detail_lines():
            print(f"  - {line}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = _run(argv)
        except SystemExit:  # --help, --version and usage errors leave through argparse
            _flush()
            raise
        _flush()  # a reader that went away shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        # Whoever read our output stopped (`ivr schema | head`). Point stdout at /dev/null so the
        # interpreter's final flush does not fail again, and leave as SIGPIPE's default would.
        _silence_stdout()
        return SIGPIPE_EXIT
    except OSError as exc:  # the output cannot be written at all (a full disk, /dev/full)
        _silence_stdout()
        print(f"ivr: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _flush() -> None:
    if sys.stdout is not None:  # `ivr schema >&-` starts us without a standard output
        sys.stdout.flush()


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no stdout, or one without a file number
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
