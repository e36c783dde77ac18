"""Engine CPU per step on a realistic, large flow.

    .venv/bin/python benchmarks/engine_step.py [--calls 300] [--menus 20] [--seed 7]

Builds a flow of ``menus`` chained menus (each: say -> collect -> decision -> setVariables -> HTTP lookup,
a department transfer, a number transfer, with re-prompts and a voicemail fallback), compiles it, then
drives scripted calls through it and times every ``engine.step`` call: once for the step alone and
once for step + ``twiml.render`` (what a webhook does per request). Each step is timed twice:
``time.perf_counter_ns`` (wall clock: includes preemption by other processes on a busy machine) and
``time.thread_time_ns`` (CPU time of this thread: what the engine itself costs). p99 is the number to watch.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from common.core import engine, twiml, validation
from common.core.call import (
    CallStarted,
    CallState,
    DialEnded,
    DigitsEntered,
    HttpCompleted,
    InboundEvent,
    NoInput,
    QueueEnded,
    RecordingEnded,
    SpeechHeard,
)
from common.core.flow import CompiledFlow

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
URLS = twiml.UrlBuilder("https://ivr.example.com")
HTTP_BODY = json.dumps({"name": "Ada Lovelace", "status": "active", "balance": 1234.5, "tier": "gold"})


def build_flow(menus: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "startNode", "data": {}}]
    edges: list[dict[str, Any]] = []

    def add(node_id: str, type_: str, **data: Any) -> None:
        nodes.append({"id": node_id, "type": type_, "position": {"x": 0, "y": 0}, "data": data})

    def link(source: str, target: str, handle: str | None = None) -> None:
        edge = {"id": f"e{len(edges)}", "source": source, "target": target}
        if handle:
            edge["sourceHandle"] = handle
        edges.append(edge)

    link("start", "m0_say")
    for i in range(menus):
        nxt = f"m{i + 1}_say" if i + 1 < menus else "bye"
        add(f"m{i}_say", "sayNode", text=f"Menu {i}. Hello {{{{ flow.variables.name | default: 'caller' }}}}, "
            "it is {{ now.weekday }} {{ now.time }}.")  # fmt: skip
        add(f"m{i}_menu", "collectNode", variable=f"choice{i}", inputType="dtmf speech", numDigits=1,
            prompt=f"For accounts press 1, for sales 2, for support 3, to skip press 4. Menu {i}.",
            hints=["accounts", "sales", "support", "skip"], maxAttempts=3,
            validation={"allowedValues": ["1", "2", "3", "4", "accounts", "sales", "support", "skip"]},
            noInputMessage="Sorry, I didn't hear you.", noMatchMessage="That is not an option.")  # fmt: skip
        add(f"m{i}_route", "decisionNode", input=f"{{{{ flow.variables.choice{i} }}}}", rules=[
            {"id": "accounts", "operator": "matches_any_of", "value": ["1", "accounts"]},
            {"id": "sales", "operator": "matches_any_of", "value": ["2", "sales"]},
            {"id": "support", "operator": "matches_any_of", "value": ["3", "support"]},
            {"id": "vip", "operator": "equal_to", "value": "gold", "input": "{{ flow.variables.tier }}"},
        ])  # fmt: skip
        add(f"m{i}_vars", "setVariablesNode", variables=[
            {"name": "visits", "value": "{{ flow.variables.visits | plus: 1 }}"},
            {"name": "last_menu", "value": str(i)},
            {"name": "caller_ref", "value": "{{ caller.from }}-{{ flow.variables.visits }}"},
        ])  # fmt: skip
        add(f"m{i}_lookup", "httpRequestNode", method="GET", saveAs="account",
            url="https://accounts.example.com/v1/lookup", parameters=[
                {"name": "from", "value": "{{ caller.from }}"}, {"name": "menu", "value": str(i)}],
            headers={"Accept": "application/json"})  # fmt: skip
        add(f"m{i}_tier", "setVariablesNode", variables=[
            {"name": "name", "value": "{{ widgets.m" + str(i) + "_lookup.parsed.name }}"},
            {"name": "tier", "value": "{{ flow.variables.account.tier }}"},
        ])  # fmt: skip
        add(f"m{i}_sales", "transferNode", message="Connecting you to sales.", target={
            "type": "department", "department": "sales", "priority": 1,
            "context": {"caller": "{{ caller.from }}", "menu": str(i)}})  # fmt: skip
        add(f"m{i}_support", "transferNode", message="Connecting you to support.", timeout=20,
            callerId="+13072249663",
            target={"type": "number", "numbers": ["+14155550100", "+14155550101"]})  # fmt: skip
        link(f"m{i}_say", f"m{i}_menu")
        link(f"m{i}_menu", f"m{i}_route", "success")
        link(f"m{i}_menu", nxt, "noInput")
        link(f"m{i}_menu", nxt, "noMatch")
        link(f"m{i}_route", f"m{i}_vars", "accounts")
        link(f"m{i}_route", f"m{i}_sales", "sales")
        link(f"m{i}_route", f"m{i}_support", "support")
        link(f"m{i}_route", f"m{i}_sales", "vip")
        link(f"m{i}_route", nxt, "default")
        link(f"m{i}_vars", f"m{i}_lookup")
        link(f"m{i}_lookup", f"m{i}_tier", "success")
        link(f"m{i}_lookup", nxt, "failed")
        link(f"m{i}_tier", nxt)
        # every outcome each target can end with (flow validation warns about any left out)
        for outcome in ("completed", "timeout", "busy", "failed", "callbackRequested", "voicemail", "closed",
                        "noAgents"):  # fmt: skip
            link(f"m{i}_sales", nxt if outcome == "completed" else "voicemail", outcome)
        for outcome in ("completed", "noAnswer", "busy", "failed"):
            link(f"m{i}_support", nxt if outcome == "completed" else "voicemail", outcome)
    add("voicemail", "voicemailNode", prompt="Please leave a message after the tone.", maxLength=60)
    add("bye", "hangupNode", message="Thank you for calling. Goodbye.")
    add("no_message", "hangupNode", message="We did not get a message. Goodbye.")
    link("voicemail", "bye", "recorded")
    link("voicemail", "no_message", "noAudio")
    settings = {"voice": "Polly.Joanna", "timezone": "America/New_York", "variables": {"visits": 0}}
    return {"id": "benchmark", "name": "Benchmark flow", "nodes": nodes, "edges": edges, "settings": settings}


def answer(state: CallState, rng: random.Random) -> InboundEvent:
    """A plausible caller / network answer for what the call waits on."""
    if state.waiting == "input":
        roll = rng.random()
        if roll < 0.08:
            return NoInput()
        if roll < 0.12:
            return DigitsEntered("9")  # not an option: re-prompt
        if roll < 0.30:
            return SpeechHeard(rng.choice(["Accounts, please.", "Sales!", "support", "skip it"]), 0.8)
        return DigitsEntered(rng.choice("12344"))
    if state.waiting == "http":
        return HttpCompleted(200, HTTP_BODY) if rng.random() < 0.95 else HttpCompleted(503, "down")
    if state.waiting == "dial":
        return DialEnded("completed" if rng.random() < 0.97 else "busy", 30)
    if state.waiting == "queue":
        return QueueEnded("bridged" if rng.random() < 0.97 else "leave", 12)
    return RecordingEnded("https://api.twilio.com/rec/RE1", 14)


def run_calls(flow: CompiledFlow, calls: int, seed: int, render: bool) -> tuple[list[int], list[int]]:
    """(wall ns, CPU ns) per step."""
    rng = random.Random(seed)
    wall: list[int] = []
    cpu: list[int] = []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    step: Callable[..., Any] = engine.step
    for n in range(calls):
        state: CallState | None = None
        event: InboundEvent = CallStarted({"CallSid": f"CA{n:032d}", "From": "+15005550006", "To": "+13072249663"})
        while True:
            c0 = cpu_clock()
            t0 = clock()
            result = step(flow, state, event, NOW)
            if render:
                twiml.render(result.actions, URLS, result.state.seq + 1)
            t1 = clock()
            wall.append(t1 - t0)
            cpu.append(cpu_clock() - c0)
            state = result.state
            if state.status == "ended":
                break
            event = answer(state, rng)
    return wall, cpu


def percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1000


def report(label: str, samples: list[int]) -> float:
    ordered = sorted(samples)
    p99 = percentile(ordered, 0.99)
    mean = statistics.fmean(ordered) / 1000
    print(f"{label:<22} steps={len(samples):>6}  p50={percentile(ordered, 0.50):8.1f} us  "
          f"p99={p99:8.1f} us  max={ordered[-1] / 1000:8.1f} us  mean={mean:7.1f} us")  # fmt: skip
    return p99


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per measurement (default 300)")
    parser.add_argument("--menus", type=int, default=20, help="chained menus, 8 nodes each (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    document = build_flow(args.menus)
    t0 = time.perf_counter_ns()
    report_ = validation.validate(document)
    validate_ms = (time.perf_counter_ns() - t0) / 1e6
    assert report_.ok and not report_.warnings, [i.render() for i in [*report_.errors, *report_.warnings]]
    compile_times = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        flow = validation.compile_flow(document)
        compile_times.append((time.perf_counter_ns() - t0) / 1e6)
    print(f"python {sys.version.split()[0]}; flow: {len(flow.nodes)} nodes, {len(flow.flow.edges)} edges")
    print(f"validate (first, cold caches): {validate_ms:.1f} ms; compile_flow: median "
          f"{statistics.median(compile_times):.1f} ms, min {min(compile_times):.1f} ms over 5")  # fmt: skip

    run_calls(flow, 20, args.seed + 1, render=True)  # warm-up: template parse cache, zone cache
    gc.collect()
    started = time.perf_counter()
    step_wall, step_cpu = run_calls(flow, args.calls, args.seed, render=False)
    gc.collect()
    render_wall, render_cpu = run_calls(flow, args.calls, args.seed, render=True)
    elapsed = time.perf_counter() - started
    print(f"{args.calls} calls per run, {len(step_wall) / args.calls:.1f} steps per call; "
          f"measured in {elapsed:.1f} s")  # fmt: skip
    p99_wall = report("engine.step (wall)", step_wall)
    p99_cpu = report("engine.step (cpu)", step_cpu)
    report("step + render (wall)", render_wall)
    report("step + render (cpu)", render_cpu)
    goal = 1000.0
    for label, p99 in (("cpu", p99_cpu), ("wall", p99_wall)):
        print(f"goal: engine.step p99 < {goal:.0f} us ({label}) -> {'met' if p99 < goal else 'NOT met'}")
    return 0 if p99_cpu < goal else 1


if __name__ == "__main__":
    sys.exit(main())
