"""Faults under load: slow and dead HTTP-node APIs, a stalling store and duplicate webhooks beside
healthy calls, over HTTP against a served local stack (127.0.0.1 only). Does a fault raise the error
rate of the calls that do not touch it?

    python benchmarks/load_faults.py [--calls 400] [--rate 20] [--pace 0.2] [--duplicates 0.1]
                                     [--stall-seconds 3] [--threads 64] [--out faults.json]

It starts the fault API (common/loadgen/faults.py: /ok at once, /slow after 3 s, a port that accepts
and never answers, a port that refuses), serves the local stack with gunicorn (memory store,
``IVR_LOCAL_STALL`` stalling one number's calls), deploys the fault flows through the admin API,
plays the mix (common/loadgen/fault_run.py: the demo line's scenarios and a healthy HTTP flow beside
one scenario per fault), and prints the per-scenario table, the healthy/faults totals and what the
HTTP callers heard. Exit 0 when the healthy calls got no error, no degraded answer and no TwiML
violation; 1 otherwise. docs/load-testing.md has the numbers of a run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int, threads: int, stall: str, log: Any) -> subprocess.Popen[bytes]:
    import requests

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "FIRESTORE_EMULATOR"))}
    env["IVR_LOCAL_STALL"] = stall
    command = [sys.executable, "-m", "common.devserver", "--port", str(port), "--server", "gunicorn",
               "--threads", str(threads)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=log)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the stack exited before answering")
        try:
            if requests.get(f"http://127.0.0.1:{port}/_local/counters", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit("the stack did not answer within 60 s")


def main(argv: list[str] | None = None) -> int:
    from common import config
    from common.loadgen import fault_run, report
    from common.loadgen.faults import FaultApi
    from common.loadgen.runner import Plan

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second")
    parser.add_argument("--pace", type=float, default=0.2, help="waits at this share of real time")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of webhooks delivered twice")
    parser.add_argument("--stall-seconds", type=float, default=3.0, help="per store operation of stalled calls")
    parser.add_argument("--threads", type=int, default=64, help="gunicorn threads of the served stack")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    args = parser.parse_args(argv)

    api = FaultApi().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as log:
        process = serve(port, args.threads, fault_run.stall_spec(args.stall_seconds), log)
        try:
            mix = fault_run.fault_mix(fault_run.write_flows(api, Path(folder)))
            fault_run.setup(base, mix)
            plan = Plan(base, config.DEV_AUTH_TOKEN, config.DEV_ACCOUNT_SID, calls=args.calls, rate=args.rate,
                        pace=args.pace, duplicate_rate=args.duplicates, max_seconds=600)  # fmt: skip
            result, _ = fault_run.run(plan, mix, lambda p: print(
                f"[{p.elapsed:6.1f}s] arrived {p.arrived}/{p.planned}  in call {p.active}  ended {p.done}",
                file=sys.stderr, flush=True))  # fmt: skip
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
            api.stop()
    print(report.text(result))
    healthy = result["groups"]["healthy"]
    print(f"\nhealthy calls: {healthy['calls']} calls, {healthy['webhooks']} webhooks, {healthy['errors']} errors "
          f"({healthy['errorRate']:.2%}), {healthy['degraded']} degraded, {healthy['twimlViolations']} TwiML "
          f"violations, worst scenario p95 {healthy['p95MsWorst']:.0f} ms")  # fmt: skip
    for name, row in result["groups"]["faults"].items():
        print(f"{name}: {row['calls']} calls, {row['webhooks']} webhooks, {row['errors']} errors, "
              f"{row['degraded']} degraded, {row['twimlViolations']} TwiML violations, p95 {row['p95MsWorst']:.0f} ms")
    for name, row in result["heard"].items():
        print(f"heard, {name}: {row}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 1 if healthy["errors"] or healthy["degraded"] or healthy["twimlViolations"] else 0


if __name__ == "__main__":
    sys.exit(main())
