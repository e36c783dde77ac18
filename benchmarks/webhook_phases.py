"""Where a webhook's time goes: exclusive CPU time per phase, for ``webhook_step.py --phases``.

Each phase is a function of the webhook path wrapped (in this benchmark process only) with a timer
that records the CPU time of its thread (``time.thread_time``: preemption by other processes on a
shared machine does not count) minus that of the wrapped functions it calls, so the phases add up
to the request's CPU time (``time.process_time``: every thread of the process) without double
counting. Whatever no phase claims is the plumbing around them: werkzeug's test client building
the request, Flask, functions-framework's wrappers and the local dispatcher. The hand-off is the
CPU the request thread spends submitting the service to the voice worker and taking its answer;
its wall-clock cost (the two thread wake-ups, which wait for a free core on a busy machine) is
the separate ``wake-up wait`` line, which is not CPU and not in the total.

The timers cost about a microsecond per wrapped call, so phases are measured in a separate pass
from the latency percentiles.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: (phase, what it covers), in the order the table prints them
PHASES: tuple[tuple[str, str], ...] = (
    ("plumbing", "test client, Flask, functions-framework, dispatcher"),
    ("observability", "request context and log line"),
    ("form parsing", "werkzeug's urlencoded form"),
    ("signature check", "X-Twilio-Signature (HMAC-SHA1)"),
    ("thread hand-off", "submit to the voice worker, take the answer"),
    ("store read", "memory store read (copy)"),
    ("store write", "memory store write (copy)"),
    ("model validation", "CallRecord / CallState (from dicts or JSON)"),
    ("serialisation", "model_dump(_json) / model_copy"),
    ("engine", "engine.step"),
    ("routing hooks", "departments: live, call info, finish"),
    ("TwiML rendering", "twiml.render"),
    ("TwiML check", "twiml.check"),
    ("service (rest)", "calls.py itself"),
    ("minimal handler", "the minimal endpoint's own code"),
)
WAKE_UP = "wake-up wait"


class PhaseClock:
    """Exclusive time per (bucket, phase); ``bucket`` is the webhook kind being measured."""

    def __init__(self) -> None:
        self.bucket = ""
        self.totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.requests: dict[str, int] = defaultdict(int)
        self._local = threading.local()

    def _stack(self) -> list[float]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = clock._stack()
            stack.append(0.0)  # time of the wrapped callees of this frame
            began = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - began
                inner = stack.pop()
                clock.totals[clock.bucket][phase] += elapsed - inner
                if stack:
                    stack[-1] += elapsed

        return timed

    def add(self, phase: str, seconds: float, claim: bool = False) -> None:
        """``claim``: the seconds are this thread's CPU inside the current frame (not its own)."""
        self.totals[self.bucket][phase] += seconds
        stack = self._stack()
        if claim and stack:
            stack[-1] += seconds

    @contextmanager
    def request(self, bucket: str) -> Iterator[None]:
        """One whole request of ``bucket``: what no phase claims is plumbing."""
        self.bucket = bucket
        stack = self._stack()
        stack.append(0.0)
        began, cpu = time.thread_time(), time.process_time()
        try:
            yield
        finally:
            elapsed = time.thread_time() - began
            total = time.process_time() - cpu
            # the request thread's own CPU less its phases, plus the CPU of other threads no phase
            # claimed (the worker's loop around the service)
            other = total - elapsed - self.totals[bucket].pop("_worker", 0.0)
            self.totals[bucket]["plumbing"] += elapsed - stack.pop() + max(0.0, other)
            self.totals[bucket]["total"] += total
            self.requests[bucket] += 1
            self.bucket = ""

    def table(self, buckets: list[str]) -> str:
        def us(bucket: str, phase: str) -> float:
            return self.totals[bucket].get(phase, 0.0) / max(1, self.requests[bucket]) * 1e6

        header = f"  {'phase':17} {'covers':52}" + "".join(f"{b:>11}" for b in buckets)
        lines = [header + "   (µs per request)"]
        for phase, covers in PHASES:
            if any(us(b, phase) >= 0.5 for b in buckets):
                lines.append(f"  {phase:17} {covers:52}" + "".join(f"{us(b, phase):11.0f}" for b in buckets))
        lines.append(f"  {'total CPU':17} {'':52}" + "".join(f"{us(b, 'total'):11.0f}" for b in buckets))
        lines.append(f"  {WAKE_UP:17} {'wall clock, not CPU: two thread wake-ups':52}"
                     + "".join(f"{us(b, WAKE_UP):11.0f}" for b in buckets))  # fmt: skip
        return "\n".join(lines)


class _TimedJob:
    """What ``pool.submit`` returns under the clock: the request thread's CPU from submit to answer,
    and the wall time of the wait less the service's own."""

    def __init__(self, clock: PhaseClock, submitted: tuple[float, float], future: Any, spent: list[float]) -> None:
        self.clock, self.submitted, self.future, self.spent = clock, submitted, future, spent

    def result(self, timeout: float | None = None) -> Any:
        try:
            return self.future.result(timeout=timeout)
        finally:
            wall, cpu = self.submitted
            self.clock.add("thread hand-off", time.thread_time() - cpu, claim=True)
            self.clock.add(WAKE_UP, time.perf_counter() - wall - sum(self.spent))

    def cancel(self) -> bool:
        return bool(self.future.cancel())


def instrument(clock: PhaseClock, store: Any) -> None:
    """Wrap the phases of the webhook path of this process (for the rest of its life)."""
    import flask.wrappers

    from common import observability
    from common.adapters import ports
    from common.core import call, engine, twiml
    from common.service import call_routing
    from common.web import voice

    observability.begin = clock.wrap("observability", observability.begin)
    observability.finish = clock.wrap("observability", observability.finish)
    form_loader = flask.wrappers.Request._load_form_data
    setattr(flask.wrappers.Request, "_load_form_data", clock.wrap("form parsing", form_loader))  # noqa: B010
    voice.verify = clock.wrap("signature check", voice.verify)
    store.read_call = clock.wrap("store read", store.read_call)
    store.write_call = clock.wrap("store write", store.write_call)
    store.create_call = clock.wrap("store write", store.create_call)
    for model in (ports.CallRecord, call.CallState):
        for method in ("model_validate", "model_validate_json"):
            setattr(model, method, clock.wrap("model validation", getattr(model, method)))
        for method in ("model_dump", "model_dump_json", "model_copy"):
            setattr(model, method, clock.wrap("serialisation", getattr(model, method)))
    engine.step = clock.wrap("engine", engine.step)
    twiml.render = clock.wrap("TwiML rendering", twiml.render)
    twiml.check = clock.wrap("TwiML check", twiml.check)
    departments = call_routing.DepartmentCalls
    for method in ("live", "call_info", "finish"):
        timed = clock.wrap("routing hooks", getattr(departments, method))
        static = isinstance(inspect.getattr_static(departments, method), staticmethod)
        setattr(departments, method, staticmethod(timed) if static else timed)
    _instrument_pool(clock, voice)


def _instrument_pool(clock: PhaseClock, voice: Any) -> None:
    real_submit = voice.pool.submit

    def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> _TimedJob:
        submitted = time.perf_counter(), time.thread_time()
        spent: list[float] = []

        def service() -> Any:
            began, cpu = time.perf_counter(), time.thread_time()
            try:
                return clock.wrap("service (rest)", fn)(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - began)
                clock.add("_worker", time.thread_time() - cpu)

        return _TimedJob(clock, submitted, real_submit(service), spent)

    voice.pool.submit = submit
