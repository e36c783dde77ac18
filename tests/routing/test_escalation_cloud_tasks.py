"""Escalation end to end through gcloud-tasks-emulator against a served stack.

The stack's functions and the routing API are served on 127.0.0.1 by werkzeug (a real socket); the
routing timers are CloudTasksTimers on the emulator, which POSTs each task back over HTTP with the
laptop's shared secret. A caller transferred by the support_line flow waits in support, where no
agent answers; the ladder raises their priority after 2 s and times them out after 6 s. Nothing but
the emulator's deliveries moves the entry (no hold-loop request is made until the end, the sweep is a
minute away): the API shows the raised priority, then the closed entry, and the caller's next hold
iteration answers with the flow's timeout branch (voicemail).

The stack's clock runs at real speed from the suites' fixed instant (a Monday afternoon: the flows'
schedules do not depend on when the test runs); the timers shift each due time onto the wall clock
by the same offset, which is what the emulator keeps.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))  # the live stack's test kit
from callkit import MUSIC, LaptopCallControl
from livestack import ACCOUNT_A, API_KEY_A, DEMO_NUMBER, NOW, FrozenClock, Stack, build_stack, problems_in
from routingkit import routing_wsgi

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.adapters.routing_store import MemoryRoutingStore
from common.adapters.tasks_emulator import TasksEmulator, TasksEmulatorUnavailable
from common.adapters.timers import CloudTasksTimers
from common.routing_setup import RoutingSettings, build_routing

QUEUE = "projects/ivr-test/locations/local/queues/ivr-routing-e2e"
SECRET = "escalation-e2e-secret"
SID = "CA" + "e5" * 16
RAISE_AFTER, TIMEOUT_AFTER = 2, 6
VOICEMAIL_PROMPT = "Sorry, everyone is busy. Please leave a message after the tone."
WAIT_LIMIT = 20.0  # seconds a delivery may take before the test gives up (a bound, not a measurement)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Cloud Tasks escalation test must run on CI, not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tasks_emulator() -> Iterator[TasksEmulator]:
    emulator = TasksEmulator(queues=[QUEUE])
    try:
        emulator.start()
    except TasksEmulatorUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield emulator
    finally:
        emulator.stop()


class RunningClock(FrozenClock):
    """Real time, started at ``at``."""

    def __init__(self, at: datetime = NOW) -> None:
        super().__init__(at)
        self._began = time.monotonic()

    def __call__(self) -> datetime:
        return self.at + timedelta(seconds=time.monotonic() - self._began)


class WallClockTimers:
    """The Timers port on Cloud Tasks, with the stack's times moved onto the wall clock."""

    def __init__(self, inner: CloudTasksTimers, clock: Callable[[], datetime]) -> None:
        self.inner, self.offset = inner, datetime.now(UTC) - clock()

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        return self.inner.schedule(name, at + self.offset, path, payload)


class Deliveries:
    """A WSGI wrapper that notes every task the emulator delivers (path, task name, answer status)."""

    def __init__(self, app: Any) -> None:
        self.app, self.lock = app, threading.Lock()
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        name = environ.get("HTTP_X_CLOUDTASKS_TASKNAME")

        def noting(status: str, headers: Any, *rest: Any) -> Any:
            if name:
                with self.lock:
                    self.seen.append((environ["PATH_INFO"], name, int(status.split()[0])))
            return start_response(status, headers, *rest)

        return self.app(environ, noting)


@pytest.fixture
def served(tasks_emulator: TasksEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Stack, Deliveries]]:
    from werkzeug.serving import make_server

    monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
    deliveries = Deliveries(routing_wsgi)
    server = make_server("127.0.0.1", 0, deliveries, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    clock = RunningClock()
    stack = build_stack(MemoryStore(), all_examples=False, clock=clock)
    settings = RoutingSettings(hold_music_url=MUSIC, task_secret=SECRET)
    cloud = CloudTasksTimers(QUEUE, url, emulator_host=tasks_emulator.host, headers={"X-Ivr-Task-Secret": SECRET})
    # the client's import and first RPC (seconds on a fresh emulator) are paid here, not in the caller's webhook
    cloud.client.list_queues(parent=QUEUE.rsplit("/queues/", 1)[0], timeout=30)
    service = build_routing(stack.svc.settings, stack.store, clock, routing=settings,
                            routing_store=MemoryRoutingStore(), timers=WallClockTimers(cloud, clock),
                            call_control=LaptopCallControl())  # fmt: skip
    svc: Any = stack.svc
    svc.routing, svc.routing_settings = service, settings
    stack.svc.calls.routing = service
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url, stack, deliveries
    server.shutdown()
    thread.join(5)
    bootstrap.install(None)


def api(url: str, method: str, path: str, body: Any = None) -> Any:
    reply = requests.request(method, url + path, json=body, headers={"Authorization": f"Bearer {API_KEY_A}"},
                             timeout=10)  # fmt: skip
    assert reply.status_code < 300, (method, path, reply.status_code, reply.text)
    return reply.json()


def until(what: str, check: Callable[[], Any]) -> Any:
    """Poll ``check`` until it answers something truthy (bounded by WAIT_LIMIT)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {WAIT_LIMIT:g} s")


def params(**extra: str) -> dict[str, str]:
    return {"CallSid": SID, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER,
            "Caller": "+15005550006", "Called": DEMO_NUMBER, "Direction": "inbound", "ApiVersion": "2010-04-01",
            "CallStatus": "in-progress", **extra}  # fmt: skip


def test_the_cloud_tasks_timer_runs_the_ladder(served: tuple[str, Stack, Deliveries]) -> None:
    url, stack, deliveries = served
    api(url, "PUT", "/api/departments/support", {
        "name": "Support", "joinWhenEmpty": "always", "hold": {"musicUrl": MUSIC, "announceEverySeconds": 0},
        "escalation": [{"afterSeconds": RAISE_AFTER, "action": "raisePriority", "by": 5},
                       {"afterSeconds": TIMEOUT_AFTER, "action": "timeout"}]})  # fmt: skip
    api(url, "PUT", "/api/agents/bob", {"name": "Bob", "contact": "+15551110002",
                                        "departments": [{"department": "support"}]})  # fmt: skip
    api(url, "POST", "/api/agents/bob/status", {"status": "away"})  # staffed, nobody to answer

    assert stack.signed_post("/webhook/voice/incoming", params(CallStatus="ringing")).status_code == 200
    seq = stack.stored(SID).seq + 1
    joined = stack.signed_post(f"/webhook/voice/step?seq={seq}", params(Digits="2")).get_data(as_text=True)
    assert problems_in(joined) == [] and f"<Play>{MUSIC}</Play>" in joined  # holding in our loop
    live = api(url, "GET", "/api/departments/support/live")
    (caller,) = live["callers"]
    assert (caller["callSid"], live["waiting"]) == (SID, 1)
    priority, entry_id = caller["priority"], caller["entryId"]
    assert deliveries.seen == []  # nothing is due yet

    raised = until("the raisePriority task", lambda: [c for c in api(url, "GET", "/api/departments/support/live")
                                                      ["callers"] if c["priority"] == priority + 5])  # fmt: skip
    assert raised[0]["entryId"] == entry_id
    # the raise is visible once the handler committed it; the delivery is recorded once its answer left
    delivered = until("the task's delivery to be recorded",
                      lambda: [(path, status) for path, _, status in deliveries.seen])  # fmt: skip
    assert delivered == [("/api/departments/tasks/escalate", 200)]

    stats = until("the timeout task", lambda: (s := api(url, "GET", "/api/departments/support/stats"))["closed"]
                  .get("timeout") and s)  # fmt: skip
    assert stats["waiting"] == 0 and stats["closed"] == {"timeout": 1}
    def answered_escalations() -> list[str]:
        return [name for path, name, status in deliveries.seen if path.endswith("/escalate") and status == 200]

    # recorded once each answer left, which may be after the effect is visible
    until("the second task's delivery to be recorded", lambda: len(answered_escalations()) >= 2)
    escalations = answered_escalations()
    assert len(escalations) == 2 and len(set(escalations)) == 2  # one task per step, each its own name
    assert not [path for path, _, _ in deliveries.seen if path.endswith("/sweep")]  # the sweep is a minute away

    hold = f"/webhook/departments/hold?t=demo&d=support&e={entry_id}"
    answer = stack.signed_post(hold, params()).get_data(as_text=True)  # the caller's next loop iteration
    assert problems_in(answer) == [] and VOICEMAIL_PROMPT in answer  # to_support: timeout -> voicemail
    widget = stack.stored(SID).state.widgets["to_support"]
    assert widget["outcome"] == "timeout" and widget["department"] == "support"
    assert TIMEOUT_AFTER <= widget["waitSeconds"] <= TIMEOUT_AFTER + WAIT_LIMIT
