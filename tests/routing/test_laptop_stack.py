"""Routing as a laptop stack runs it: EmbeddedTimers deliver the tasks, NullCallControl redirects nothing,
and the hold loop alone brings callers to their agents."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from random import Random
from typing import Any

import pytest
from routing_harness import BASE, MUSIC, Clock

from common.adapters.call_control import NullCallControl
from common.adapters.routing_store import MemoryRoutingStore
from common.adapters.timers import EmbeddedTimers
from common.core.queue_twiml import QueueUrls
from common.core.routing_model import entry_id
from common.service.routing import RoutingService
from common.service.routing_base import CallInfo, RoutingDeps


class Stack:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store = MemoryRoutingStore()
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Condition()
        self.timers = EmbeddedTimers(self._deliver, self.clock, retry_delays=())
        self.phone: dict[str, CallInfo] = {}
        deps = RoutingDeps(store=self.store, timers=self.timers, calls=NullCallControl(),
                           urls=QueueUrls(BASE, MUSIC), clock=self.clock, call_lookup=self.phone.get,
                           rng=Random(3))  # fmt: skip
        self.service = RoutingService(deps)

    def _deliver(self, path: str, payload: dict[str, Any]) -> object:
        result = self.service.handle_task(path.rsplit("/", 1)[1], payload, self.clock())
        with self.arrived:
            self.delivered.append((path, result))
            self.arrived.notify_all()
        return result

    def advance(self, seconds: float, deliveries: int) -> list[tuple[str, dict[str, Any]]]:
        """Move the clock and wait (bounded) for that many deliveries to have been made."""
        with self.arrived:
            before = len(self.delivered)
            self.clock.tick(seconds)
            self.timers.wake()
            assert self.arrived.wait_for(lambda: len(self.delivered) >= before + deliveries, timeout=10)
            return self.delivered[before:]


@pytest.fixture
def stack() -> Iterator[Stack]:
    built = Stack()
    yield built
    built.timers.stop()


def test_the_hold_loop_is_the_only_way_to_an_agent(stack: Stack) -> None:
    admin = stack.service.admin
    admin.put_department("acme", "sales", {"name": "Sales", "joinWhenEmpty": "always"})
    admin.put_agent("acme", "ann", {"name": "Ann", "contact": "client:ann", "departments": [{"department": "sales"}]})
    stack.phone["CA1"] = CallInfo("acme", "ACacme", "active", "+15557770000", "+13072249663")
    joined = stack.service.route("acme", "CA1", "ACacme", "sales", "high", {}, stack.clock())
    assert joined.entry is not None and joined.entry.status == "waiting"
    admin.set_status("acme", "ann", {"status": "available"})  # dispatch assigns; no call control redirects
    entry = stack.store.get_entry("acme", "sales", entry_id("CA1", "sales"))
    assert entry is not None and entry.status == "assigned"
    answer = stack.service.hold("acme", "sales", entry.id, stack.clock())  # the caller's next iteration
    assert answer.twiml and "<Client" in answer.twiml and ">ann</Client>" in answer.twiml
    assert stack.service.dispatcher.accept("acme", "sales", entry.id, entry.offer_id or "", "ann", "1",
                                           stack.clock()).endswith("<Response />")  # fmt: skip
    stack.clock.tick(90)
    left = stack.service.dial_ended("acme", "sales", entry.id, entry.offer_id or "", "completed", 90, stack.clock())
    assert left.outcome == "completed"


def test_embedded_timers_run_the_ladder(stack: Stack) -> None:
    admin = stack.service.admin
    admin.put_department("acme", "sales", {"name": "Sales", "joinWhenEmpty": "always", "escalation": [
        {"afterSeconds": 30, "action": "raisePriority", "by": 40}, {"afterSeconds": 60, "action": "timeout"}]})
    stack.phone["CA1"] = CallInfo("acme", "ACacme", "active", "+15557770000", "+13072249663")
    me = stack.service.route("acme", "CA1", "ACacme", "sales", "normal", {}, stack.clock()).entry
    assert me is not None
    delivered = stack.advance(30, deliveries=1)
    assert delivered == [("api/departments/tasks/escalate", {"result": "applied"})]
    current = stack.store.get_entry("acme", "sales", me.id)
    assert current is not None and current.priority == 90
    delivered = stack.advance(30, deliveries=2)  # the minute's sweep and the timeout step, either first
    assert sorted(path.rsplit("/", 1)[1] for path, _ in delivered) == ["escalate", "sweep"]
    current = stack.store.get_entry("acme", "sales", me.id)
    assert current is not None and current.status == "timeout" and current.applied_steps == (0, 1)
    assert stack.service.hold("acme", "sales", me.id, stack.clock()).outcome == "timeout"
