"""The ``ivr`` command line.

    ivr validate FLOW.json [--json]           check a flow; exit 1 when it has errors
    ivr schema [-o FILE]                      the flow format as JSON Schema
    ivr simulate FLOW.json --input 1 ...      run a call in process (frozen clock, mocked HTTP)
    ivr simulate FLOW.json --interactive      be the caller yourself, in the terminal
    ivr run [--port 8080] [--store memory|firestore-emulator]
                                              the local stack: every function on one port, demo data
    ivr call +13072249663 --input 1 ...       a call over HTTP, signed like Twilio (any deployment)
    ivr demo                                  start the stack, make a scripted call through HTTP
    ivr push | publish | versions | deploy | promote | rollback | diff | history | schedules
                                              the admin API of a running stack (see cli_admin)

Exit status: 0 success, 1 the flow is invalid or the simulated call had problems, 2 bad usage or an
unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import cli_admin
from common.core import simulator, validation
from common.core.errors import FlowInvalid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_FLOW = EXAMPLES / "support_line.json"
DEMO_SCRIPT = ("silence", "speech:Support, please.", "queue:bridged")
DEFAULT_NOW = "2026-01-05T15:00:00+00:00"


class UsageError(Exception):
    pass


def _load(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc


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
    report = validation.validate(_load(args.flow))
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        for issue in [*report.errors, *report.warnings]:
            print(f"{args.flow}: {issue.render()}")
        print(f"{args.flow}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    return 0 if report.ok else 1


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
        )  # fmt: skip
    except simulator.ScriptError as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.render_text())
    return 1 if result.problems else 0


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
             "record": "record:URL[:SECS] or record:none (Enter = a 12 s message)"}  # fmt: skip
    try:
        answer = input(f"  you ({hints.get(waiting, waiting)}) > ").strip()
    except EOFError:
        return None
    if answer == "" and waiting == "input":
        return "silence"
    return answer or None


def _start_stack(port: int, store: str, quiet: bool = False) -> tuple[Any, Any, Any]:
    """Build services, seed the demo tenant, start the server on a thread. Returns (svc, server, emulator)."""
    import os
    import threading

    from werkzeug.serving import make_server

    from common import bootstrap, config, devserver

    emulator = None
    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("IVR_NUMBER_CACHE_SECONDS", "0")
    if store == "firestore-emulator":
        from common.adapters.emulator import FirestoreEmulator

        emulator = FirestoreEmulator()
        emulator.start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "ivr-local")
        env["IVR_STORE"] = "firestore"
    elif store != "memory":
        raise UsageError(f"--store {store!r}: use memory or firestore-emulator")
    settings = config.from_env(env)
    svc = bootstrap.build(settings)
    seeded = bootstrap.seed_demo(svc, env.get("IVR_API_KEY", config.DEV_API_KEY),
                                 number=env.get("IVR_DEMO_NUMBER", bootstrap.DEMO_NUMBER))  # fmt: skip
    bootstrap.install(svc)
    if quiet:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", port, devserver.make_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=_sweep_forever, args=(svc,), daemon=True).start()
    if not quiet:
        print(f"""ivr local stack on http://127.0.0.1:{server.server_port} (store: {store})
  webhooks   POST /webhook/voice/incoming | step | status | fallback
  admin API  /api/flows/{{id}}, /api/flows/{{id}}/deploy, /api/flows/{{id}}/execute, /api/numbers
  demo       tenant '{seeded["tenant"]}': flow '{seeded["flowId"]}' v{seeded["version"]} on {seeded["number"]}
  API key    {seeded["apiKey"]}          (env IVR_API_KEY overrides)
  Twilio     account {settings.twilio_account_sid}, auth token {settings.twilio_auth_token}
             (env TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN override; requests are signature-checked)

Try a call:  .venv/bin/ivr call {seeded["number"]} --input 2 --url http://127.0.0.1:{server.server_port}
Real phone:  expose the port with a tunnel (e.g. `ngrok http {server.server_port}`), restart with
  PUBLIC_BASE_URL=https://<tunnel-host> TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=<your token>
  IVR_DEMO_NUMBER=<your Twilio number>, and in the Twilio console set that number's
  "A call comes in" webhook to https://<tunnel-host>/webhook/voice/incoming (POST), its status
  callback to .../webhook/voice/status and its fallback URL to .../webhook/voice/fallback.
Ctrl-C stops.""", flush=True)  # fmt: skip
    return svc, server, emulator


def _sweep_forever(svc: Any, every_seconds: float = 60.0) -> None:
    """The local stand-in for Firestore's TTL: finalise calls whose status callback never came."""
    import logging
    import time

    while True:
        time.sleep(every_seconds)
        try:
            expired = svc.calls.expire_stale()
            if expired:
                logging.getLogger("ivr.sweep").info("expired %d call(s) without a status callback", expired)
        except Exception:  # a sweep failure must not stop the stack
            logging.getLogger("ivr.sweep").exception("sweep failed")


def cmd_run(args: argparse.Namespace) -> int:
    import os
    import time

    port = args.port or int(os.environ.get("PORT", "8080"))
    _, server, emulator = _start_stack(port, args.store)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        server.shutdown()
        if emulator is not None:
            emulator.stop()
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    import os

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
    try:
        result = sim.call(args.number, args.caller, args.input)
    except OSError as exc:
        raise UsageError(f"cannot reach {args.url}: {exc}") from exc
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print("\n".join(result.transcript))
        print(f"{len(result.exchanges)} webhooks, call {result.call_sid}")
        for problem in result.problems:
            print(f"PROBLEM: {problem}")
    return 1 if result.problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    import socket

    from common import callsim

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    svc, server, _ = _start_stack(port, "memory", quiet=True)
    try:
        sim = callsim.TwilioCallSimulator(f"http://127.0.0.1:{port}", svc.settings.twilio_auth_token,
                                          svc.settings.twilio_account_sid, replays=1)  # fmt: skip
        print(f"Demo: a signed call over HTTP to the example support line on the local stack "
              f"(port {port}); caller script: {' '.join(DEMO_SCRIPT)}; every webhook sent twice.\n")  # fmt: skip
        result = sim.call("+13072249663", inputs=list(DEMO_SCRIPT))
        print("\n".join(result.transcript))
        stored = svc.store.read_call(result.call_sid)
        if stored is not None:
            record = stored[0]
            print(f"\nstored call: status={record.status} outcome={record.outcome} "
                  f"path={' -> '.join(record.state.get('path', []))}")  # fmt: skip
        print(f"{len(result.exchanges)} webhooks answered; problems: {result.problems or 'none'}")
        return 1 if result.problems else 0
    finally:
        server.shutdown()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="Run FlowDesigner call flows.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a flow document")
    p.add_argument("flow")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("schema", help="print the flow format as JSON Schema")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("simulate", help="run a call through a flow in process")
    p.add_argument("flow")
    p.add_argument("--input", "-i", action="append", default=[], help="caller action (repeatable)")
    p.add_argument("--http", action="append", default=[], help="HTTP mock URL_PART=STATUS[:BODY]")
    p.add_argument("--http-file", action="append", default=[], help="JSON list of {match,status,body}")
    p.add_argument("--schedule", action="append", default=[], help="NAME=open|closed for hoursNode")
    p.add_argument("--now", default=DEFAULT_NOW, help="frozen clock, ISO 8601")
    p.add_argument("--caller", default="+15005550006", help="the caller's number (From)")
    p.add_argument("--to", default="+13072249663", help="the dialled number (To)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_simulate)
    p.add_argument("--interactive", "-I", action="store_true", help="be the caller in the terminal")
    p = sub.add_parser("demo", help="start the local stack and make a scripted call over HTTP")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("run", help="the local stack: all functions on one port, with demo data")
    p.add_argument("--port", type=int, default=0, help="default $PORT or 8080")
    p.add_argument("--store", default="memory", help="memory (default) or firestore-emulator")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("call", help="place a signed call over HTTP, following TwiML like Twilio")
    p.add_argument("number", help="the dialled number (To)")
    p.add_argument("--input", "-i", action="append", default=[], help="caller action (repeatable)")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="base URL of the stack")
    p.add_argument("--caller", default="+15005550006")
    p.add_argument("--token", help="auth token to sign with (default $TWILIO_AUTH_TOKEN or the dev token)")
    p.add_argument("--account", help="AccountSid (default $TWILIO_ACCOUNT_SID or the dev account)")
    p.add_argument("--replay", type=int, default=0, help="send every webhook again N times")
    p.add_argument("--concurrent", type=int, default=0, help="and N more copies concurrently")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_call)
    cli_admin.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    except cli_admin.ApiFailure as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        for detail in exc.details or []:
            print(f"  - {detail if isinstance(detail, str) else json.dumps(detail)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
