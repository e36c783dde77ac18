"""Arrivals, pacing, worker threads and bounds of a load run.

Rules owned here:
- Calls arrive at ``rate`` per second after a linear ramp of ``ramp`` seconds from zero (the n-th
  call arrives when the ramp's area reaches n), or all at once (``rate == 0``: a burst).
- A call is a ``CallSession`` advanced one request at a time on a shared schedule (a heap of due
  times): a worker thread takes the next due call, makes its request, follows the TwiML up to the
  next wait, and puts the call back due after that wait times ``pace`` (1: real time, 0: no waits).
  So a thousand calls listening to prompts hold no thread; ``workers`` bounds the requests in flight.
- The run is bounded: it ends when every call ended, or at ``max_seconds`` whatever is left (those
  calls are reported as cut off, not as errors). Nothing runs after ``run`` returns.
"""

from __future__ import annotations

import heapq
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import callsim
from common.loadgen.mix import Mix, Scenario
from common.loadgen.transport import Recorder, Transport


@dataclass(frozen=True)
class Plan:
    base_url: str
    auth_token: str
    account_sid: str
    calls: int = 100
    rate: float = 10.0  # calls per second after the ramp; 0: every call at once
    ramp: float = 0.0  # seconds from 0 to ``rate``
    pace: float = 0.0  # 1: waits in real time, 0: none, 0.1: ten times faster than real
    duplicate_rate: float = 0.0
    max_seconds: float = 180.0
    workers: int = 0  # 0: enough for the plan (a burst: one per call)
    timeout: float = 15.0  # Twilio waits at most 15 s for an answer
    seed: int = 1

    def worker_count(self) -> int:
        if self.workers:
            return self.workers
        return min(self.calls, 2000) if self.rate <= 0 else max(8, min(self.calls, 200))


def arrival_times(calls: int, rate: float, ramp: float) -> list[float]:
    """Seconds after the start at which each call arrives."""
    if rate <= 0:
        return [0.0] * calls
    ramp_calls = rate * ramp / 2  # the ramp's area: calls that arrive while the rate grows
    times = []
    for n in range(calls):
        if ramp > 0 and n < ramp_calls:
            times.append(math.sqrt(2 * ramp * n / rate))
        else:
            times.append(ramp + (n - ramp_calls) / rate)
    return times


@dataclass
class CallOutcome:
    scenario: str
    result: callsim.CallResult
    arrived: float
    ended: float


@dataclass
class Progress:
    elapsed: float
    arrived: int
    active: int
    done: int
    planned: int


@dataclass
class RunOutcome:
    plan: Plan
    began: float
    ended: float
    recorder: Recorder
    finished: list[CallOutcome] = field(default_factory=list)
    cut_off: int = 0  # calls still going at max_seconds
    not_started: int = 0
    peak_active: int = 0
    scenario_of: dict[str, str] = field(default_factory=dict)  # call sid -> the scenario it plays


class _Call:
    __slots__ = ("arrived", "scenario", "session", "started")

    def __init__(self, scenario: Scenario, session: callsim.CallSession, arrived: float) -> None:
        self.scenario, self.session, self.arrived, self.started = scenario, session, arrived, False


class Runner:
    def __init__(self, plan: Plan, mix: Mix, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.mix, self.clock = plan, mix, clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Call]] = []
        self._seq = 0
        self._active = 0
        self._arrived = 0
        self._stopping = False

    def _push(self, due: float, call: _Call) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, call))

    def run(self, progress: Callable[[Progress], None] | None = None, every: float = 2.0) -> RunOutcome:
        plan = self.plan
        began = self.clock()
        recorder = Recorder(began)
        transport = Transport(recorder, plan.timeout, plan.duplicate_rate, plan.seed, self.clock)
        sim = callsim.TwilioCallSimulator(plan.base_url, plan.auth_token, plan.account_sid, post=transport.post)
        rng = self.mix.chooser(plan.seed)
        outcome = RunOutcome(plan, began, began, recorder)
        with self._cond:
            for index, at in enumerate(arrival_times(plan.calls, plan.rate, plan.ramp)):
                scenario = self.mix.pick(rng)
                caller = f"+1555{index % 10_000_000:07d}"
                sid = "CA" + secrets.token_hex(16)
                session = sim.start(scenario.number, caller, list(scenario.inputs), sid)
                outcome.scenario_of[sid] = scenario.name
                self._push(began + at, _Call(scenario, session, at))
        deadline = began + plan.max_seconds
        threads = [threading.Thread(target=self._work, args=(outcome, deadline), daemon=True, name=f"load-{i}")
                   for i in range(plan.worker_count())]  # fmt: skip
        previous = threading.stack_size(512 * 1024)  # a burst may need a thread per call
        try:
            for thread in threads:
                thread.start()
        finally:
            threading.stack_size(previous)
        try:
            last = began
            while any(t.is_alive() for t in threads):
                time.sleep(0.1)
                now = self.clock()
                if progress is not None and now - last >= every:
                    last = now
                    with self._cond:
                        snap = Progress(now - began, self._arrived, self._active, len(outcome.finished), plan.calls)
                    progress(snap)
                if now > deadline + plan.timeout + 5:
                    break  # a request stuck past its own timeout: give up on it rather than run on
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
        for thread in threads:
            thread.join(timeout=0.1)
        transport.close()
        with self._cond:
            outcome.ended = self.clock()
            outcome.cut_off = self._active  # started, not ended
            outcome.not_started = sum(1 for _, _, call in self._heap if not call.started)
        return outcome

    def _next(self, deadline: float) -> _Call | None:
        with self._cond:
            while True:
                now = self.clock()
                if self._stopping or now >= deadline:
                    self._stopping = True
                    self._cond.notify_all()
                    return None
                if not self._heap:
                    if self._active == 0:
                        return None  # every call ended
                    self._cond.wait(0.5)
                    continue
                due = self._heap[0][0]
                if due <= now:
                    call = heapq.heappop(self._heap)[2]
                    if not call.started:
                        call.started = True
                        self._arrived += 1
                        self._active += 1
                    return call
                self._cond.wait(min(due - now, deadline - now, 0.5))

    def _work(self, outcome: RunOutcome, deadline: float) -> None:
        pace = self.plan.pace
        while (call := self._next(deadline)) is not None:
            before = call.session.due
            try:
                live = call.session.step(None)
            except Exception as exc:  # a bug in following the TwiML must end this call, not the run
                call.session.result.problems.append(f"simulator failed: {type(exc).__name__}: {exc}")
                live = False
            with self._cond:
                if live:
                    self._push(self.clock() + (call.session.due - before) * pace, call)
                else:
                    self._active -= 1
                    outcome.finished.append(CallOutcome(call.scenario.name, call.session.result, call.arrived,
                                                        self.clock() - outcome.began))  # fmt: skip
                outcome.peak_active = max(outcome.peak_active, self._active)
                self._cond.notify()


def counters(base_url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The stack's store counters (``GET /_local/counters``), or None when it does not expose them."""
    import requests

    try:
        response = requests.get(f"{base_url.rstrip('/')}/_local/counters", timeout=timeout)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
