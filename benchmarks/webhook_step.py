"""Webhook handler latency, in process, through the same WSGI app the local stack serves.

    python benchmarks/webhook_step.py [--calls 300] [--firestore]

For each of N calls to the demo support line it times the incoming webhook and two steps (the menu
answer, then the queue result that ends the call), each signed like Twilio and sent through
werkzeug's test client to the function apps (functions-framework + Flask + signature check + service
+ store). It prints p50/p99 per webhook kind, the store's reads and writes per webhook (from the
store's own counters), and the same measurement for a minimal hand-written Flask endpoint that
answers the same menu TwiML (VoiceResponse Gather + Say) after the same signature check: the ratio
ours/minimal is the price of the engine, the store and the plumbing.

``--firestore`` runs the same calls on Google's Firestore emulator (started here, stopped at the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE = "https://ivr.example.test"
ACCOUNT = "AC" + "a" * 32
TOKEN = "benchmark-auth-token-0000000000"
NUMBER = "+13072249663"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sign(url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(TOKEN).compute_signature(url, params))


def post(client: Any, target: str, params: dict[str, str]) -> tuple[float, str]:
    headers = {"X-Twilio-Signature": sign(BASE + target, params)}
    began = time.perf_counter()
    response = client.post(target, data=params, headers=headers, base_url=BASE)
    elapsed = time.perf_counter() - began
    if response.status_code != 200:
        raise SystemExit(f"{target} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return elapsed, response.get_data(as_text=True)


def build_ours(store_kind: str) -> tuple[Any, Any, Callable[[], None]]:
    from werkzeug.test import Client

    from common import bootstrap, config, devserver

    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if store_kind == "firestore":
        from google.cloud import firestore

        from common.adapters.emulator import FirestoreEmulator
        from common.adapters.firestore import FirestoreStore

        emulator = FirestoreEmulator().start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        client = firestore.Client(project="ivr-bench")
        store: Any = FirestoreStore(client)

        def cleanup() -> None:
            client.close()
            emulator.stop()
    else:
        from common.adapters.memory import MemoryStore

        store = MemoryStore()
    settings = config.from_env({"PUBLIC_BASE_URL": BASE, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
                                "IVR_NUMBER_CACHE_SECONDS": "5"})  # fmt: skip
    frozen = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    svc = bootstrap.build(settings, store=store, now=lambda: frozen)
    bootstrap.seed_demo(svc, number=NUMBER)
    bootstrap.install(svc)
    return Client(devserver.make_app(), use_cookies=False), store, cleanup


def build_minimal() -> Any:
    """The smallest honest webhook: Flask, the signature check, the menu TwiML. No state at all."""
    from flask import Flask, abort, request
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse
    from werkzeug.test import Client

    app = Flask("minimal")
    validator = RequestValidator(TOKEN)

    @app.post("/webhook/voice/<name>")
    def webhook(name: str) -> tuple[str, int, dict[str, str]]:
        url = BASE + request.environ["RAW_URI"]
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        response = VoiceResponse()
        response.say("Thanks for calling Acme.", voice="Polly.Joanna", language="en-US")
        gather = response.gather(input="dtmf speech", action=f"{BASE}/webhook/voice/step?seq=2", method="POST",
                                 timeout=5, num_digits=1, action_on_empty_result=True)  # fmt: skip
        gather.say("For sales, press 1 or say sales. For support, press 2 or say support.", voice="Polly.Joanna",
                   language="en-US")  # fmt: skip
        return str(response.to_xml()), 200, {"Content-Type": "text/xml; charset=utf-8"}

    return Client(app, use_cookies=False)


def measure(client: Any, store: Any, minimal: Any, calls: int, run: int) -> dict[str, Any]:
    """Our webhooks, each followed by one request to the minimal endpoint, so both see the same noise."""
    timings: dict[str, list[float]] = {"incoming": [], "step": []}
    baseline: list[float] = []
    costs: dict[str, list[tuple[int, int]]] = {"incoming": [], "step": []}

    def timed(kind: str, target: str, params: dict[str, str]) -> str:
        reads, writes = store.reads, store.writes
        elapsed, body = post(client, target, params)
        timings[kind].append(elapsed)
        costs[kind].append((store.reads - reads, store.writes - writes))
        baseline.append(post(minimal, "/webhook/voice/incoming", params)[0])
        return body

    for index in range(calls):
        base = {"CallSid": f"CA{run:02x}{index:030x}", "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER,
                "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        timed("incoming", "/webhook/voice/incoming", {**base, "CallStatus": "ringing"})
        body = timed("step", "/webhook/voice/step?seq=2", {**base, "CallStatus": "in-progress", "Digits": "2"})
        assert "Enqueue" in body, body
        body = timed("step", "/webhook/voice/step?seq=3", {**base, "CallStatus": "in-progress",
                                                            "QueueResult": "bridged", "QueueTime": "30"})  # fmt: skip
        assert "Hangup" in body, body
        post(client, "/webhook/voice/status", {**base, "CallStatus": "completed", "CallDuration": "60"})
    return {"timings": timings, "costs": costs, "baseline": baseline}


def ms(value: float) -> str:
    return f"{value * 1000:7.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webhook handler latency, in process")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--firestore", action="store_true", help="also run on the Firestore emulator")
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.WARNING)
    minimal = build_minimal()
    for kind in ["memory"] + (["firestore"] if args.firestore else []):
        client, store, cleanup = build_ours(kind)
        try:
            measure(client, store, minimal, 20, run=0)  # warm-up: imports, compiled flow, number cache
            calls = args.calls if kind == "memory" else max(50, args.calls // 3)
            result = measure(client, store, minimal, calls, run=1)
        finally:
            cleanup()
        baseline = result["baseline"]
        base_p50, base_p99 = percentile(baseline, 0.5), percentile(baseline, 0.99)
        print(f"store: {kind}, {calls} calls (incoming + 2 steps + status each; number cache 5 s, the default)")
        print(f"  {'minimal':9} n={len(baseline):4}  p50 {ms(base_p50)}  p99 {ms(base_p99)}  "
              "(hand-written Flask endpoint: signature check + the menu TwiML, interleaved with ours)")  # fmt: skip
        for webhook, samples in result["timings"].items():
            p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
            reads = statistics.mean(r for r, _ in result["costs"][webhook])
            writes = statistics.mean(w for _, w in result["costs"][webhook])
            print(f"  {webhook:9} n={len(samples):4}  p50 {ms(p50)}  p99 {ms(p99)}  "
                  f"reads/webhook {reads:4.2f}  writes/webhook {writes:4.2f}  "
                  f"ours/minimal p50 x{p50 / base_p50:5.1f}  p99 x{p99 / base_p99:5.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
