"""Timers: EmbeddedTimers on a controllable clock; CloudTasksTimers against gcloud-tasks-emulator.

The embedded tests move a fake clock and wake the thread; the only waits are the few milliseconds
the timer thread needs to act (or, for "not yet", to have had the chance to). The Cloud Tasks tests
schedule real tasks with real, short delays on the emulator and receive them on a local HTTP server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
from local_http import Recorder

from common.adapters import timers as timers_module
from common.adapters.tasks_emulator import TasksEmulator, TasksEmulatorUnavailable, find_launcher
from common.adapters.timers import CloudTasksTimers, EmbeddedTimers, Timers, task_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTLE = 0.05  # seconds: time enough for the timer thread to act on a wake-up
PATH = "api/departments/tasks/escalate"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Deliveries:
    """The deliver callable: records (path, payload), optionally failing the first ``fail`` times."""

    def __init__(self, fail: int = 0) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.attempts = 0
        self.fail = fail
        self._cond = threading.Condition()

    def __call__(self, path: str, payload: dict[str, Any]) -> None:
        with self._cond:
            self.attempts += 1
            if self.attempts <= self.fail:
                self._cond.notify_all()
                raise RuntimeError("handler down")
            self.got.append((path, payload))
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 2.0) -> list[tuple[str, dict[str, Any]]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)

    def wait_attempts(self, count: int, timeout: float = 2.0) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self.attempts >= count, timeout)
            return self.attempts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def delivered() -> Deliveries:
    return Deliveries()


@pytest.fixture
def embedded(clock: FakeClock, delivered: Deliveries) -> Iterator[EmbeddedTimers]:
    timers = EmbeddedTimers(delivered, clock)
    yield timers
    timers.stop()


def _move(timers: EmbeddedTimers, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    timers.wake()


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["esc-0123abcd-2", "sweep_sales", "a", "x" * 450])
def test_a_name_that_fits_keeps_its_text_behind_a_hash_prefix(name: str) -> None:
    tid = task_id(name)
    assert tid.endswith("-" + name) and len(tid) == len(name) + 17
    assert timers_module.NAME_PATTERN.fullmatch(tid[:16]) and tid == task_id(name)


@pytest.mark.parametrize("name", ["x" * 451, "a/b", "café", "with space", "a.b"])
def test_a_name_that_does_not_fit_becomes_its_hash(name: str) -> None:
    tid = task_id(name)
    assert len(tid) == 64 and tid == task_id(name) and all(c in "0123456789abcdef" for c in tid)


def test_task_ids_spread_and_do_not_collide() -> None:
    names = [f"esc-entry{i}-1" for i in range(200)] + ["x" * 451, "x" * 452]
    ids = [task_id(n) for n in names]
    assert len(set(ids)) == len(ids)
    assert len({tid[:2] for tid in ids[:200]}) > 100  # sequential names, spread prefixes


def test_both_implementations_satisfy_the_port() -> None:
    ports: list[Timers] = [EmbeddedTimers(lambda path, payload: None),
                           CloudTasksTimers("projects/p/locations/l/queues/q", "https://x", service_account="s")]
    assert all(callable(port.schedule) for port in ports)


# -- embedded: when --------------------------------------------------------------------------------


def test_a_timer_is_delivered_when_due_not_before(embedded: EmbeddedTimers, clock: FakeClock,
                                                  delivered: Deliveries) -> None:  # fmt: skip
    assert embedded.schedule("t1", T0 + timedelta(seconds=10), PATH, {"entry": "e1"}) is True
    time.sleep(SETTLE)
    _move(embedded, clock, 9.9)
    time.sleep(SETTLE)
    assert delivered.got == [] and embedded.pending() == 1
    _move(embedded, clock, 0.1)
    assert delivered.wait(1) == [(PATH, {"entry": "e1"})]
    assert embedded.pending() == 0 and embedded.delivered == 1


def test_a_timer_in_the_past_is_delivered_at_once(embedded: EmbeddedTimers, delivered: Deliveries) -> None:
    assert embedded.schedule("late", T0 - timedelta(minutes=5), PATH, {"n": 1}) is True
    assert delivered.wait(1) == [(PATH, {"n": 1})]


def test_naive_times_are_utc(embedded: EmbeddedTimers, clock: FakeClock, delivered: Deliveries) -> None:
    embedded.schedule("naive", (T0 + timedelta(seconds=5)).replace(tzinfo=None), PATH, {})
    _move(embedded, clock, 4)
    time.sleep(SETTLE)
    assert delivered.got == []
    _move(embedded, clock, 1)
    assert len(delivered.wait(1)) == 1


def test_timers_are_delivered_in_time_order_then_scheduling_order(embedded: EmbeddedTimers, clock: FakeClock,
                                                                  delivered: Deliveries) -> None:  # fmt: skip
    for name, offset in [("c", 30), ("a", 10), ("b1", 20), ("b2", 20), ("d", 40)]:
        assert embedded.schedule(name, T0 + timedelta(seconds=offset), PATH, {"name": name})
    _move(embedded, clock, 25)
    assert [p["name"] for _, p in delivered.wait(3)] == ["a", "b1", "b2"]
    time.sleep(SETTLE)
    assert len(delivered.got) == 3
    _move(embedded, clock, 100)
    assert [p["name"] for _, p in delivered.wait(5)] == ["a", "b1", "b2", "c", "d"]


def test_an_earlier_timer_scheduled_later_is_not_held_behind_a_later_one(
        embedded: EmbeddedTimers, clock: FakeClock, delivered: Deliveries) -> None:  # fmt: skip
    embedded.schedule("far", T0 + timedelta(hours=2), PATH, {"name": "far"})
    time.sleep(SETTLE)  # the thread now waits for "far"
    embedded.schedule("near", T0, PATH, {"name": "near"})  # due now: schedule() wakes the thread
    assert delivered.wait(1) == [(PATH, {"name": "near"})]


def test_the_real_clock_works_too(delivered: Deliveries) -> None:
    timers = EmbeddedTimers(delivered)
    try:
        assert timers.schedule("soon", datetime.now(UTC) + timedelta(milliseconds=50), PATH, {"x": 1})
        assert delivered.wait(1) == [(PATH, {"x": 1})]
    finally:
        timers.stop()


def test_no_busy_loop_while_waiting(embedded: EmbeddedTimers, clock: FakeClock) -> None:
    embedded.schedule("later", T0 + timedelta(hours=1), PATH, {})
    time.sleep(SETTLE)
    reads = clock.reads
    time.sleep(0.3)
    assert clock.reads - reads == 0  # asleep on the condition, not polling the clock


# -- embedded: names, payloads, failures -----------------------------------------------------------


def test_scheduling_the_same_name_twice_delivers_once(embedded: EmbeddedTimers, clock: FakeClock,
                                                      delivered: Deliveries) -> None:  # fmt: skip
    at = T0 + timedelta(seconds=30)
    assert embedded.schedule("esc-e1-0", at, PATH, {"v": 1}) is True
    assert embedded.schedule("esc-e1-0", at + timedelta(seconds=5), PATH, {"v": 2}) is False
    _move(embedded, clock, 60)
    assert delivered.wait(1) == [(PATH, {"v": 1})]
    time.sleep(SETTLE)
    assert len(delivered.got) == 1


def test_a_delivered_name_is_refused_for_an_hour_then_accepted(embedded: EmbeddedTimers, clock: FakeClock,
                                                               delivered: Deliveries) -> None:  # fmt: skip
    embedded.schedule("esc-e1-0", T0, PATH, {"v": 1})
    delivered.wait(1)
    _move(embedded, clock, 3599)
    assert embedded.schedule("esc-e1-0", clock.now, PATH, {"v": 2}) is False
    _move(embedded, clock, 1)
    assert embedded.schedule("esc-e1-0", clock.now, PATH, {"v": 3}) is True
    assert delivered.wait(2) == [(PATH, {"v": 1}), (PATH, {"v": 3})]


def test_concurrent_schedulers_each_name_accepted_once(embedded: EmbeddedTimers, clock: FakeClock,
                                                       delivered: Deliveries) -> None:  # fmt: skip
    names = [f"n{i % 50}" for i in range(400)]  # every name eight times, from eight threads
    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(lambda n: embedded.schedule(n, T0 + timedelta(seconds=1), PATH, {"n": n}),
                                 names))  # fmt: skip
    assert sum(accepted) == 50
    _move(embedded, clock, 2)
    got = delivered.wait(50)
    time.sleep(SETTLE)
    assert sorted(p["n"] for _, p in delivered.got) == sorted({*names}) and len(got) == 50


def test_each_delivery_gets_its_own_copy_of_the_payload(embedded: EmbeddedTimers, delivered: Deliveries) -> None:
    payload: dict[str, Any] = {"entry": "e1", "steps": [1]}
    embedded.schedule("copy", T0, PATH, payload)
    payload["steps"].append(2)  # the caller's later change does not reach the timer
    assert delivered.wait(1) == [(PATH, {"entry": "e1", "steps": [1]})]


@pytest.mark.parametrize("payload", [{"when": T0}, {"x": float("nan")}, {"s": {1, 2}}])
def test_a_payload_that_is_not_json_is_refused(embedded: EmbeddedTimers, payload: dict[str, Any],
                                               caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    with caplog.at_level(logging.ERROR, "ivr.timers"):
        assert embedded.schedule("bad", T0, PATH, payload) is False
    assert "not JSON" in caplog.text and embedded.pending() == 0
    assert embedded.schedule("bad", T0, PATH, {"ok": True}) is True  # the name was not taken


def test_an_empty_name_is_refused(embedded: EmbeddedTimers) -> None:
    assert embedded.schedule("", T0, PATH, {}) is False


def test_a_failed_delivery_is_retried_after_each_delay(clock: FakeClock) -> None:
    deliver = Deliveries(fail=2)
    timers = EmbeddedTimers(deliver, clock, retry_delays=(1.0, 5.0, 30.0))
    try:
        timers.schedule("flaky", T0, PATH, {"k": 1})
        assert deliver.wait_attempts(1) == 1
        time.sleep(SETTLE)
        _move(timers, clock, 0.9)
        time.sleep(SETTLE)
        assert deliver.attempts == 1  # not before the first delay
        _move(timers, clock, 0.1)
        assert deliver.wait_attempts(2) == 2
        time.sleep(SETTLE)
        _move(timers, clock, 5)
        assert deliver.wait(1) == [(PATH, {"k": 1})]
        assert (timers.failed, timers.delivered, deliver.attempts) == (2, 1, 3)
    finally:
        timers.stop()


def test_a_delivery_that_keeps_failing_is_given_up_and_its_name_kept(clock: FakeClock,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    deliver = Deliveries(fail=99)
    timers = EmbeddedTimers(deliver, clock, retry_delays=(1.0, 1.0))
    try:
        with caplog.at_level(logging.ERROR, "ivr.timers"):
            timers.schedule("doomed", T0, PATH, {})
            for attempt in (1, 2, 3):
                assert deliver.wait_attempts(attempt) == attempt
                time.sleep(SETTLE)
                _move(timers, clock, 1)
            time.sleep(SETTLE)
        assert deliver.attempts == 3 and timers.pending() == 0
        assert "given up after 3 attempts" in caplog.text
        assert timers.schedule("doomed", clock.now, PATH, {}) is False  # within the hour, like Cloud Tasks
    finally:
        timers.stop()


def test_a_delivery_may_schedule_another_timer(clock: FakeClock) -> None:
    got: list[str] = []
    done = threading.Event()

    def deliver(path: str, payload: dict[str, Any]) -> None:
        got.append(payload["name"])
        if payload["name"] == "first":
            timers.schedule("second", T0, PATH, {"name": "second"})  # from the timer thread itself
        else:
            done.set()

    timers = EmbeddedTimers(deliver, clock)
    try:
        timers.schedule("first", T0, PATH, {"name": "first"})
        assert done.wait(2) and got == ["first", "second"]
    finally:
        timers.stop()


def test_stop_ends_the_thread_and_drops_what_is_pending(embedded: EmbeddedTimers, clock: FakeClock,
                                                        delivered: Deliveries) -> None:  # fmt: skip
    embedded.schedule("later", T0 + timedelta(seconds=10), PATH, {})
    thread = embedded._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    embedded.stop()
    assert not thread.is_alive()
    assert embedded.schedule("after", T0, PATH, {}) is False
    _move(embedded, clock, 60)
    time.sleep(SETTLE)
    assert delivered.got == []
    embedded.stop()  # idempotent


def test_stop_before_any_timer_is_fine(delivered: Deliveries) -> None:
    timers = EmbeddedTimers(delivered)
    timers.stop()
    assert timers._thread is None


# -- Cloud Tasks: the emulator -----------------------------------------------------------------------

QUEUE = "projects/ivr-test/locations/local/queues/ivr-timers"
SECRET = {"X-Ivr-Task-Secret": "local-secret"}


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Cloud Tasks emulator tests must run on CI, not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def tasks_client(tasks_emulator: TasksEmulator) -> Any:
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(tasks_emulator.host)
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    client.list_queues(parent=QUEUE.rsplit("/queues/", 1)[0], timeout=10)  # the first RPC pays the setup
    return client


@pytest.fixture
def receiver(tasks_client: Any) -> Iterator[Recorder]:
    tasks_client.purge_queue(name=QUEUE, timeout=5)  # nothing left over from another test
    with Recorder() as server:
        yield server


def _timers(emulator: TasksEmulator, base: str, **kw: Any) -> CloudTasksTimers:
    return CloudTasksTimers(QUEUE, base, emulator_host=emulator.host, headers=SECRET, **kw)


def test_the_launcher_is_found() -> None:
    assert find_launcher() is not None


def test_a_task_arrives_after_its_delay_with_method_path_body_and_headers(
        tasks_emulator: TasksEmulator, receiver: Recorder) -> None:  # fmt: skip
    timers = _timers(tasks_emulator, receiver.url + "/")
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    payload = {"tenant": "acme", "department": "sales", "entry": "e1", "step": 2, "note": "café"}
    assert timers.schedule("esc-e1-2", at, "/" + PATH, payload) is True
    assert receiver.wait_for(1, timeout=0.5) == []  # not before its time
    (request,) = receiver.wait_for(1, timeout=10)
    assert request.received_at >= at.timestamp() - 0.01
    assert (request.method, request.path) == ("POST", "/" + PATH)
    assert request.json() == payload and request.headers["content-type"] == "application/json"
    assert request.headers["x-ivr-task-secret"] == "local-secret"
    assert request.headers["x-cloudtasks-taskname"] == task_id("esc-e1-2")
    assert request.headers["x-cloudtasks-queuename"] == QUEUE  # the emulator's form: the full path
    assert request.headers["x-cloudtasks-taskretrycount"] == "0"
    assert abs(float(request.headers["x-cloudtasks-tasketa"]) - at.timestamp()) < 0.01
    assert "authorization" not in request.headers  # the emulator sends no OIDC token


def test_the_task_carries_its_name_time_url_and_oidc_token(tasks_emulator: TasksEmulator, tasks_client: Any,
                                                           receiver: Recorder) -> None:  # fmt: skip
    timers = CloudTasksTimers(QUEUE, "https://ivr.example.com", service_account="tasks@p.iam.gserviceaccount.com",
                              audience="https://ivr.example.com/api/departments/tasks",
                              emulator_host=tasks_emulator.host)  # fmt: skip
    at = datetime.now(UTC) + timedelta(hours=1)
    assert timers.schedule("sweep-acme-sales", at, PATH, {"department": "sales"}) is True
    (task,) = list(tasks_client.list_tasks(parent=QUEUE, timeout=5))
    assert task.name == f"{QUEUE}/tasks/{task_id('sweep-acme-sales')}"
    assert abs(task.schedule_time.timestamp() - at.timestamp()) < 0.001
    request = task.http_request
    assert request.url == "https://ivr.example.com/" + PATH and request.http_method.name == "POST"
    assert json.loads(request.body) == {"department": "sales"}
    assert request.oidc_token.service_account_email == "tasks@p.iam.gserviceaccount.com"
    assert request.oidc_token.audience == "https://ivr.example.com/api/departments/tasks"
    assert "X-Ivr-Task-Secret" not in request.headers  # production: the token is the credential


def test_without_an_audience_the_token_has_none(tasks_emulator: TasksEmulator, tasks_client: Any,
                                                receiver: Recorder) -> None:  # fmt: skip
    timers = CloudTasksTimers(QUEUE, "https://ivr.example.com", service_account="tasks@p.iam.gserviceaccount.com",
                              emulator_host=tasks_emulator.host)  # fmt: skip
    assert timers.schedule("no-audience", datetime.now(UTC) + timedelta(hours=1), PATH, {})
    (task,) = list(tasks_client.list_tasks(parent=QUEUE, timeout=5))
    assert task.http_request.oidc_token.audience == ""  # Cloud Tasks then uses the task's URL


def test_the_emulator_does_not_dedupe_names(tasks_emulator: TasksEmulator, receiver: Recorder) -> None:
    """Real Cloud Tasks answers ALREADY_EXISTS to the second (schedule() -> False) for about an hour.
    The emulator accepts both and delivers both: the handlers' idempotency is what makes this safe."""
    timers = _timers(tasks_emulator, receiver.url)
    at = datetime.now(UTC) + timedelta(seconds=0.3)
    assert timers.schedule("dup", at, PATH, {"n": 1}) is True
    assert timers.schedule("dup", at, PATH, {"n": 2}) is True
    requests = receiver.wait_for(2)
    assert sorted(r.json()["n"] for r in requests) == [1, 2]
    assert {r.headers["x-cloudtasks-taskname"] for r in requests} == {task_id("dup")}


def test_a_failed_delivery_is_delivered_again(tasks_emulator: TasksEmulator, receiver: Recorder) -> None:
    receiver.answer(503, {"error": "busy"})
    timers = _timers(tasks_emulator, receiver.url)
    assert timers.schedule("retry-me", datetime.now(UTC), PATH, {"n": 1}) is True
    first, second = receiver.wait_for(2)[:2]
    assert first.json() == second.json() == {"n": 1}
    assert [first.headers["x-cloudtasks-taskretrycount"], second.headers["x-cloudtasks-taskretrycount"]] == ["0", "1"]


def test_already_exists_is_false_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """Only the real service de-duplicates, so its answer is played by a client double here."""
    from google.api_core.exceptions import AlreadyExists

    class RefusingClient:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def create_task(self, **kwargs: Any) -> None:
            self.calls.append(kwargs)
            raise AlreadyExists("The task cannot be created because a task with this name existed too recently.")

    client = RefusingClient()
    timers = CloudTasksTimers(QUEUE, "https://ivr.example.com", service_account="s@p", client=client)
    with caplog.at_level(logging.INFO, "ivr.timers"):
        assert timers.schedule("esc-e1-0", T0, PATH, {}) is False
    assert "exists already" in caplog.text and len(client.calls) == 1
    assert client.calls[0]["parent"] == QUEUE and client.calls[0]["timeout"] == timers_module.CREATE_TIMEOUT
    assert client.calls[0]["retry"].timeout == timers_module.CREATE_RETRY_DEADLINE


def test_an_unknown_queue_is_false_and_logged(tasks_emulator: TasksEmulator, receiver: Recorder,
                                              caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    timers = CloudTasksTimers("projects/ivr-test/locations/local/queues/missing", receiver.url,
                              emulator_host=tasks_emulator.host)  # fmt: skip
    with caplog.at_level(logging.ERROR, "ivr.timers"):
        assert timers.schedule("x", datetime.now(UTC), PATH, {}) is False
    assert "FailedPrecondition" in caplog.text and "missing" in caplog.text


def test_a_payload_that_is_not_json_creates_no_task(tasks_emulator: TasksEmulator, tasks_client: Any,
                                                    receiver: Recorder) -> None:  # fmt: skip
    timers = _timers(tasks_emulator, receiver.url)
    assert timers.schedule("bad", datetime.now(UTC) + timedelta(hours=1), PATH, {"t": T0}) is False
    assert list(tasks_client.list_tasks(parent=QUEUE, timeout=5)) == []


BOUND = 3.0  # seconds: schedule() runs inside webhooks; a dead queue must cost about a second, never 60


def test_nothing_listening_is_false_quickly(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    timers = CloudTasksTimers(QUEUE, "http://127.0.0.1:1", emulator_host=f"127.0.0.1:{port}")
    began = time.monotonic()
    with caplog.at_level(logging.ERROR, "ivr.timers"):
        assert timers.schedule("x", T0, PATH, {}) is False
    assert time.monotonic() - began < BOUND
    assert "not scheduled" in caplog.text


def test_a_hung_emulator_is_false_within_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    with TasksEmulator(queues=[QUEUE]) as emulator:
        timers = CloudTasksTimers(QUEUE, "http://127.0.0.1:1", emulator_host=emulator.host)
        assert timers.schedule("warm", datetime.now(UTC) + timedelta(hours=1), PATH, {}) is True
        emulator.pause()
        try:
            began = time.monotonic()
            with caplog.at_level(logging.ERROR, "ivr.timers"):
                assert timers.schedule("x", T0, PATH, {}) is False
            took = time.monotonic() - began
        finally:
            emulator.resume()
    assert timers_module.CREATE_TIMEOUT * 0.9 <= took < BOUND
    assert "DeadlineExceeded" in caplog.text


@pytest.mark.parametrize("kwargs,message", [
    ({"queue": "ivr-timers", "base_url": "https://x", "service_account": "s"}, "full path"),
    ({"queue": QUEUE, "base_url": "ivr.example.com", "service_account": "s"}, "origin"),
    ({"queue": QUEUE, "base_url": "https://x"}, "service account"),
])  # fmt: skip
def test_a_misconfiguration_fails_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CloudTasksTimers(**kwargs)
