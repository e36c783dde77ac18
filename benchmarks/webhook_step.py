"""Webhook handler latency and CPU, in process, through the same WSGI app the local stack serves.

    python benchmarks/webhook_step.py [--calls 500] [--firestore] [--phases] [--queue] [--orders] [--models]

Each of N calls to the demo support line plays four webhooks, signed like Twilio and sent through
werkzeug's test client to the function apps (functions-framework + Flask + signature check + voice
worker + service + store): incoming (the menu), step (silence: the menu again, one read and one
write), transfer (2: the support department's queue: a <Dial> to a free agent or the hold loop)
and status. Each is followed by one request to a minimal hand-written Flask endpoint that checks
the signature and answers our menu document byte for byte (checked before the run), so both see
the same noise. It prints p50/p99 wall clock and p50 CPU (``time.process_time``: every thread of
the process, not preemption by others) per kind, the store's reads and writes per webhook, and the
ratios ours/minimal: the price of the engine, the store and the plumbing. On a shared machine the
CPU ratio is the cost; the wall-clock one adds the voice worker's two thread wake-ups, which wait
for a free core when other processes hold both.

``--firestore`` runs the same calls on Google's Firestore emulator (started here, stopped at the end).
``--phases`` then times each phase of the path (benchmarks/webhook_phases.py) on the memory store.
``--queue`` then measures the step with every voice job through the workers' shared queue, as a
request beside others in its process gets it (a request alone has its job pinned to its own CPU:
common/web/voice_workers.py; the main run's requests are alone, and it prints the share pinned).
``--orders`` then measures the step in two request orders (right after our own incoming webhook, and
after the minimal endpoints' requests as above: what runs just before decides how cold the caches
are), and ``--models`` times the pydantic operations of the calls inside the run, each again right
after itself (in a second run), and the same operations repeated in a tight loop (docs/load-testing.md,
"Per-step overhead").
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


CPU: list[float] = []  # process CPU time of each post, in order (every thread: the voice worker's too)


def post(client: Any, target: str, params: dict[str, str]) -> tuple[float, str]:
    headers = {"X-Twilio-Signature": sign(BASE + target, params)}
    began, cpu = time.perf_counter(), time.process_time()
    response = client.post(target, data=params, headers=headers, base_url=BASE)
    elapsed = time.perf_counter() - began
    CPU.append(time.process_time() - cpu)
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


MENU_PROMPT = "For sales, press 1 or say sales. For support, press 2 or say support."


def minimal_handler() -> Callable[[Any], tuple[str, int, dict[str, str]]]:
    """The smallest honest webhook: the signature check, the menu TwiML, no state at all. Its
    document is byte for byte what our incoming webhook answers (``main`` checks it). The
    validator is the handler's ``validator`` attribute (``--phases`` times it)."""
    from flask import abort
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse

    validator = RequestValidator(TOKEN)
    action = f"{BASE}/webhook/voice/step?seq=2#ct=2000&rt=5000&tt=12000&rc=2&rp=ct,rt,5xx"

    def menu() -> str:
        response = VoiceResponse()
        response.say("Thanks for calling Acme.", voice="Polly.Joanna", language="en-US")
        gather = response.gather(input="dtmf speech", action=action, method="POST", timeout=5, finish_on_key="#",
                                 action_on_empty_result=True, num_digits=1, speech_timeout="auto",
                                 language="en-US", hints="sales, support")  # fmt: skip
        gather.say(MENU_PROMPT, voice="Polly.Joanna", language="en-US")
        return str(response.to_xml())

    def handler(request: Any) -> tuple[str, int, dict[str, str]]:
        url = BASE + request.environ["RAW_URI"]
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        return menu(), 200, {"Content-Type": "text/xml; charset=utf-8"}

    handler.validator = validator  # type: ignore[attr-defined]
    return handler


def build_minimal() -> tuple[Any, Any]:
    """``minimal_handler`` in a bare Flask app (no functions-framework): the goal's baseline."""
    from flask import Flask, request
    from werkzeug.test import Client

    app = Flask("minimal")
    handler = minimal_handler()

    @app.post("/webhook/voice/<name>")
    def webhook(name: str) -> tuple[str, int, dict[str, str]]:
        return handler(request)

    return Client(app, use_cookies=False), handler


def build_minimal_function() -> tuple[Any, Any]:
    """``minimal_handler`` served as a Cloud Function (benchmarks/minimal_function/main.py): what
    functions-framework's layers cost, which every function of ours pays too."""
    import functions_framework
    from werkzeug.test import Client

    here = Path(__file__).resolve().parent
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    app = functions_framework.create_app("minimal", str(here / "minimal_function" / "main.py"))
    return Client(app, use_cookies=False), sys.modules["main"]  # create_app loaded it as "main"


KINDS = ("incoming", "step", "transfer", "status")


def measure(client: Any, store: Any, minimal: Any, calls: int, run: int, clock: Any = None,
            function: Any = None) -> dict[str, Any]:  # fmt: skip
    """Our webhooks, each followed by one request to the minimal endpoint (and to ``function``, the
    minimal Cloud Function, when given), so all see the same noise.
    A call: incoming (the menu), step (silence: the menu again, the same document the minimal endpoint
    answers), transfer (2: the support department's queue), status (the caller hangs up)."""
    from common.core import twiml

    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu: dict[str, list[float]] = {kind: [] for kind in (*KINDS, "minimal", "minimal-ff")}
    baseline: list[float] = []
    costs: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}

    def timed(kind: str, target: str, params: dict[str, str]) -> str:
        reads, writes = store.reads, store.writes
        with clock.request(kind) if clock else _nothing():
            elapsed, body = post(client, target, params)
        timings[kind].append(elapsed)
        cpu[kind].append(CPU[-1])
        costs[kind].append((store.reads - reads, store.writes - writes))
        with clock.request("minimal") if clock else _nothing():
            baseline.append(post(minimal, "/webhook/voice/incoming", params)[0])
        cpu["minimal"].append(CPU[-1])
        if function is not None:
            with clock.request("minimal-ff") if clock else _nothing():
                post(function, "/webhook/voice/incoming", params)
            cpu["minimal-ff"].append(CPU[-1])
        return body

    for index in range(calls):
        base = {"CallSid": f"CA{run:02x}{index:030x}", "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER,
                "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        body = timed("incoming", "/webhook/voice/incoming", {**base, "CallStatus": "ringing"})
        assert MENU_PROMPT in body and "<Gather" in body, body
        body = timed("step", "/webhook/voice/step?seq=2", {**base, "CallStatus": "in-progress"})
        assert "didn't hear" in body and MENU_PROMPT in body and "seq=3" in body, body
        body = timed("transfer", "/webhook/voice/step?seq=3", {**base, "CallStatus": "in-progress", "Digits": "2"})
        # an agent free: <Dial> to them; all busy: the hold loop. Either is valid TwiML, never the apology.
        assert not twiml.check(body) and "Connecting you to support." in body and "trouble" not in body, body
        timed("status", "/webhook/voice/status", {**base, "CallStatus": "completed", "CallDuration": "60"})
    return {"timings": timings, "costs": costs, "baseline": baseline, "cpu": cpu}


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def ms(value: float) -> str:
    return f"{value * 1000:7.2f} ms"


def phases(calls: int) -> None:
    """Exclusive time per phase of each webhook kind and of the minimal endpoint (memory store)."""
    import webhook_phases

    clock = webhook_phases.PhaseClock()
    client, store, cleanup = build_ours("memory")
    minimal, handler = build_minimal()
    function, module = build_minimal_function()
    webhook_phases.instrument(clock, store)
    for validator in (handler.validator, module.handler.validator):
        validator.validate = clock.wrap("signature check", validator.validate)
    minimal.application.view_functions["webhook"] = clock.wrap(
        "minimal handler", minimal.application.view_functions["webhook"])  # fmt: skip
    module.handler = clock.wrap("minimal handler", module.handler)
    measure(client, store, minimal, 20, run=8, function=function)
    clock.totals.clear()
    clock.requests.clear()
    measure(client, store, minimal, calls, run=9, clock=clock, function=function)
    cleanup()
    print(f"where the time goes, memory store, {calls} calls (exclusive time per phase, timers on; minimal-ff: the "
          "minimal endpoint served by functions-framework, as our functions are):")  # fmt: skip
    print(clock.table(["incoming", "step", "transfer", "minimal", "minimal-ff"]))


def queued(calls: int) -> None:
    """The step's CPU over the minimal endpoint's with every voice job through the shared queue."""
    from common.web import voice

    client, store, cleanup = build_ours("memory")
    minimal, _ = build_minimal()
    function, _ = build_minimal_function()
    colocate, voice.pool.colocate = voice.pool.colocate, False
    try:
        measure(client, store, minimal, 20, run=6, function=function)
        for run in (7, 8):
            cpu = measure(client, store, minimal, calls, run=run, function=function)["cpu"]
            step, base_cpu = percentile(cpu["step"], 0.5), percentile(cpu["minimal"], 0.5)
            print(f"  step, its job through the shared queue: cpu p50 {ms(step)}  minimal {ms(base_cpu)}  "
                  f"x{step / base_cpu:.2f}")  # fmt: skip
    finally:
        voice.pool.colocate = colocate
        cleanup()


def pinned_share() -> str:
    """The share of voice jobs so far that ran pinned on their request's CPU."""
    from common.web import voice

    jobs = voice.pool.solo_jobs + voice.pool.queued_jobs
    return f"{voice.pool.solo_jobs / jobs:.1%}" if jobs else "none"


def orders(calls: int) -> None:
    """The step's CPU over the minimal endpoint's when the step follows our own incoming webhook
    (``own``) and when the two minimal endpoints' requests run between them (``minimal``)."""
    client, store, cleanup = build_ours("memory")
    minimal, _ = build_minimal()
    function, _ = build_minimal_function()
    measure(client, store, minimal, 20, run=0, function=function)
    for run, order in enumerate(("own", "minimal", "own", "minimal"), start=10):
        ours, theirs = [], []
        for index in range(calls):
            base = {"CallSid": f"CA{run:02x}{index:030x}", "AccountSid": ACCOUNT, "From": "+15005550006",
                    "To": NUMBER, "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
            post(client, "/webhook/voice/incoming", {**base, "CallStatus": "ringing"})
            params = {**base, "CallStatus": "in-progress"}
            if order == "minimal":
                post(minimal, "/webhook/voice/incoming", params)
                post(function, "/webhook/voice/incoming", params)
            post(client, "/webhook/voice/step?seq=2", params)
            ours.append(CPU[-1])
            post(minimal, "/webhook/voice/incoming", params)
            theirs.append(CPU[-1])
            post(function, "/webhook/voice/incoming", params)
            post(client, "/webhook/voice/status", {**base, "CallStatus": "completed", "CallDuration": "60"})
        step, base_cpu = percentile(ours, 0.5), percentile(theirs, 0.5)
        print(f"  step after {order + ' requests':17} cpu p50 {ms(step)}  minimal {ms(base_cpu)}  "
              f"x{step / base_cpu:.2f}")  # fmt: skip
    cleanup()


def models(calls: int) -> None:
    """p50 wall time of each pydantic operation of the calls in a run like ``measure``'s; of each
    operation run again at once, in a second such run (the same data, the code just run); and of the
    same operation repeated 2,000 times on one stored call (warm caches)."""
    from common.adapters import ports
    from common.core import call

    samples: dict[str, list[int]] = {}
    again: dict[str, list[int]] = {}  # the same operation repeated at once, inside the run

    def wrap(cls: Any, name: str) -> None:
        real = getattr(cls, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter_ns()
            try:
                return real(*args, **kwargs)
            finally:
                samples.setdefault(f"{cls.__name__}.{name}", []).append(time.perf_counter_ns() - began)
                if repeat[0]:
                    began = time.perf_counter_ns()
                    real(*args, **kwargs)  # pure: its answer is dropped
                    again.setdefault(f"{cls.__name__}.{name}", []).append(time.perf_counter_ns() - began)

        setattr(cls, name, timed)

    client, store, cleanup = build_ours("memory")
    minimal, _ = build_minimal()
    function, _ = build_minimal_function()
    repeat = [False]
    for cls in (ports.CallRecord, call.CallState):
        for name in ("model_validate", "model_validate_json", "model_dump", "model_dump_json", "model_copy"):
            wrap(cls, name)
    measure(client, store, minimal, 20, run=0, function=function)
    samples.clear()
    measure(client, store, minimal, calls, run=1, function=function)
    in_run = {key: percentile([float(v) for v in values], 0.5) / 1000 for key, values in samples.items()}
    repeat[0] = True  # a second pass: each operation also runs again right after itself
    measure(client, store, minimal, calls, run=2, function=function)
    repeat[0] = False
    at_once = {key: percentile([float(v) for v in values], 0.5) / 1000 for key, values in again.items()}
    found = store.read_call(f"CA01{0:030x}")
    assert found is not None
    record = found[0]
    state = record.state  # validated with the record: a step no longer validates or dumps it on its own
    loops: dict[str, Callable[[], Any]] = {
        "CallRecord.model_validate_json": lambda: ports.CallRecord.model_validate_json(text),
        "CallRecord.model_dump_json": record.model_dump_json,
        "CallRecord.model_copy": lambda: record.model_copy(update={"seq": 9}),
        "CallState.model_copy": lambda: state.model_copy(update={"seq": 9}),
    }
    text = record.model_dump_json()
    print(f"  pydantic operations, p50 µs: inside the run ({calls} calls) | again at once, inside a second run "
          "| the same, 2,000 times in a loop")  # fmt: skip
    for key, run_loop in loops.items():
        samples.clear()
        for _ in range(2000):
            run_loop()
        warm = percentile([float(v) for v in samples[key]], 0.5) / 1000
        print(f"    {key:32} {in_run.get(key, float('nan')):8.1f} | {at_once.get(key, float('nan')):8.1f} | "
              f"{warm:8.1f}")  # fmt: skip
    cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webhook handler latency, in process")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--firestore", action="store_true", help="also run on the Firestore emulator")
    parser.add_argument("--phases", action="store_true", help="then time each phase of the path (memory store)")
    parser.add_argument("--queue", action="store_true", help="then the step with its job through the shared queue")
    parser.add_argument("--orders", action="store_true", help="then the step after our own and after minimal requests")
    parser.add_argument("--models", action="store_true", help="then pydantic operations in the run and in a loop")
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.WARNING)
    minimal, _ = build_minimal()
    function, _ = build_minimal_function()
    for kind in ["memory"] + (["firestore"] if args.firestore else []):
        client, store, cleanup = build_ours(kind)
        try:
            ours = post(client, "/webhook/voice/incoming", {"CallSid": "CA" + "f" * 32, "AccountSid": ACCOUNT,
                                                            "To": NUMBER, "From": "+15005550006"})[1]  # fmt: skip
            theirs = post(minimal, "/webhook/voice/incoming", {"AccountSid": ACCOUNT})[1]
            assert ours == theirs, f"the minimal endpoint must answer our menu byte for byte:\n{ours}\n{theirs}"
            assert post(function, "/webhook/voice/incoming", {"AccountSid": ACCOUNT})[1] == theirs
            measure(client, store, minimal, 20, run=0, function=function)  # warm-up: imports, flow, number cache
            calls = args.calls if kind == "memory" else max(50, args.calls // 3)
            from common.web import voice

            voice.pool.solo_jobs = voice.pool.queued_jobs = 0
            result = measure(client, store, minimal, calls, run=1, function=function)
            share = pinned_share()
        finally:
            cleanup()
        baseline, cpu = result["baseline"], result["cpu"]
        base_p50, base_p99 = percentile(baseline, 0.5), percentile(baseline, 0.99)
        base_cpu = percentile(cpu["minimal"], 0.5)
        framework_cpu = percentile(cpu["minimal-ff"], 0.5)
        print(f"store: {kind}, {calls} calls (incoming, step, transfer, status each; number cache 5 s, the default)")
        print(f"  {'minimal':9} n={len(baseline):4}  p50 {ms(base_p50)}  p99 {ms(base_p99)}  cpu p50 {ms(base_cpu)}  "
              "(Flask endpoint: signature check + the same menu TwiML, interleaved with ours)")  # fmt: skip
        print(f"  {'minimal-ff':9} n={len(cpu['minimal-ff']):4}  cpu p50 {ms(framework_cpu)}  "
              f"x{framework_cpu / base_cpu:.2f} the minimal's (the same handler served by functions-framework, "
              "as our functions are)")  # fmt: skip
        for webhook, samples in result["timings"].items():
            p50, p99, cpu50 = percentile(samples, 0.5), percentile(samples, 0.99), percentile(cpu[webhook], 0.5)
            reads = statistics.mean(r for r, _ in result["costs"][webhook])
            writes = statistics.mean(w for _, w in result["costs"][webhook])
            print(f"  {webhook:9} n={len(samples):4}  p50 {ms(p50)}  p99 {ms(p99)}  cpu p50 {ms(cpu50)}  "
                  f"reads/webhook {reads:4.2f}  writes/webhook {writes:4.2f}  "
                  f"ours/minimal p50 x{p50 / base_p50:5.2f}  p99 x{p99 / base_p99:5.2f}  "
                  f"cpu x{cpu50 / base_cpu:5.2f}")  # fmt: skip
        step = percentile(result["timings"]["step"], 0.5) / base_p50
        step_cpu = percentile(cpu["step"], 0.5) / base_cpu
        print(f"  a step (the menu again) costs x{step_cpu:.2f} the minimal endpoint's CPU and x{step:.2f} its "
              "wall-clock p50 (goal: at most x1.5; wall includes two thread wake-ups, which wait for a core "
              "on a busy machine)")  # fmt: skip
        print(f"  against the minimal endpoint served by functions-framework: a step costs x"
              f"{percentile(cpu['step'], 0.5) / framework_cpu:.2f} its CPU")  # fmt: skip
        print(f"  voice jobs pinned to their request's CPU (each request alone in the process): {share}")
    if args.queue:  # before --phases, whose timers stay on for the rest of the process
        print("the step with its voice job through the shared queue, as beside other requests (memory store):")
        queued(max(100, args.calls // 2))
    if args.phases:
        phases(max(100, args.calls // 2))
    if args.orders:
        print("the step's CPU by what ran just before it (memory store):")
        orders(max(100, args.calls // 2))
    if args.models:
        models(max(100, args.calls // 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
