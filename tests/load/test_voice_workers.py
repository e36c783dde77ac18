"""The voice webhooks' worker threads (common/web/voice_workers.py) and the signature check's cost:
what the per-step overhead work changed must keep every promise of the thread pool and of twilio's
validator it replaced."""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from common.web import department_hooks, voice
from common.web.voice_workers import Workers, _cpus

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def test_a_job_answers_its_value_or_raises_its_error() -> None:
    workers = Workers(4)
    assert workers.submit(lambda a, b: a + b, 2, 3).result(timeout=2) == 5

    def boom() -> None:
        raise KeyError("store down")

    job = workers.submit(boom)
    with pytest.raises(KeyError, match="store down"):
        job.result(timeout=2)
    with pytest.raises(KeyError):  # asked again: the same answer
        job.result(timeout=2)


def test_a_job_runs_in_the_submitters_context() -> None:
    workers = Workers(2)
    REQUEST_ID.set("CA-one")
    job = workers.submit(REQUEST_ID.get)
    REQUEST_ID.set("CA-two")  # later changes in the submitter do not leak into the job's copy
    assert job.result(timeout=2) == "CA-one"


def test_a_slow_job_times_out_with_the_futures_timeout_and_a_waiting_one_can_be_cancelled() -> None:
    workers = Workers(1)
    release = threading.Event()
    ran: list[str] = []
    def slow_job() -> None:
        release.wait(5)
        ran.append("slow")

    slow = workers.submit(slow_job)
    waiting = workers.submit(lambda: ran.append("waiting"))
    with pytest.raises(concurrent.futures.TimeoutError):  # what voice.handle catches
        slow.result(timeout=0.05)
    assert waiting.cancel() is True and waiting.cancel() is True
    assert slow.cancel() is False  # running: it finishes with its own deadlines
    release.set()
    slow.result(timeout=2)
    follow = workers.submit(lambda: ran.append("next"))
    follow.result(timeout=2)
    assert ran == ["slow", "next"]  # the cancelled job never ran
    assert workers.threads == 1


def test_threads_grow_on_demand_up_to_the_limit_and_extra_jobs_wait() -> None:
    workers = Workers(3)
    gate = threading.Barrier(4)
    started: list[int] = []

    def hold(i: int) -> int:
        started.append(i)
        gate.wait(5) if i < 3 else None
        return i

    jobs = [workers.submit(hold, i) for i in range(3)]
    late = workers.submit(hold, 3)
    time.sleep(0.1)
    assert sorted(started) == [0, 1, 2] and workers.threads == 3  # the fourth waits for a free thread
    gate.wait(5)
    assert [j.result(timeout=2) for j in [*jobs, late]] == [0, 1, 2, 3]
    assert workers.threads == 3
    for i in range(20):  # idle threads are reused, none are added
        assert workers.submit(lambda x: x, i).result(timeout=2) == i
    assert workers.threads == 3


def test_a_genuine_request_costs_one_signature_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    token, url = "t0ken", "https://ivr.example.test/webhook/voice/step?seq=2"
    form = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "a" * 32, "Digits": "1"}
    calls: list[str] = []
    real = RequestValidator.compute_signature

    def counted(self: RequestValidator, uri: str, params: Any, algorithm: Any = None) -> str:
        calls.append(uri)
        return real(self, uri, params, algorithm)

    monkeypatch.setattr(RequestValidator, "compute_signature", counted)

    def request(signed_url: str) -> Any:
        signature = real(RequestValidator(token), signed_url, form)
        environ = {"RAW_URI": "/webhook/voice/step?seq=2"}
        return SimpleNamespace(headers={"X-Twilio-Signature": signature}, form=form, environ=environ)

    svc = SimpleNamespace(twilio_token=lambda account: token,
                          settings=SimpleNamespace(public_base_url="https://ivr.example.test"))  # fmt: skip
    assert voice.verify(request(url), svc) is None  # type: ignore[arg-type]
    assert calls == [url]  # twilio's validate computes two per URL tried
    calls.clear()
    emitted = f"https://ivr.example.test:443/webhook/voice/step?seq=2#{voice.CONNECTION_OVERRIDES}"
    assert voice.verify(request(emitted), svc) is None  # type: ignore[arg-type]
    assert calls[-1] == emitted and len(calls) == 4
    calls.clear()
    assert "does not match" in (voice.verify(request(url + "&x=1"), svc) or "")  # type: ignore[arg-type]
    assert len(calls) == 4  # every variant the validator accepts was tried, and none matched


def test_signed_urls_are_the_validators_variants_likeliest_first() -> None:
    url = "https://ivr.example.test/webhook/voice/step?seq=2"
    fragment = f"#{voice.CONNECTION_OVERRIDES}"
    assert list(voice.signed_urls(url)) == [
        url, "https://ivr.example.test:443/webhook/voice/step?seq=2", url + fragment,
        "https://ivr.example.test:443/webhook/voice/step?seq=2" + fragment]  # fmt: skip
    local = "http://127.0.0.1:8080/webhook/voice/incoming"
    assert list(voice.signed_urls(local))[:2] == [local, "http://127.0.0.1/webhook/voice/incoming"]


# -- a lone request's job on its CPU ------------------------------------------------------------------


def _placement() -> tuple[str, int, set[int]]:
    """Where the job runs: its thread's name, its CPU and the CPUs it may run on."""
    return threading.current_thread().name, _cpus.current(), set(os.sched_getaffinity(0))


def _solo_ready(workers: Workers) -> None:
    """Start the solo worker (its first use starts it; that job takes the queue) and wait until it is up."""
    workers.submit(lambda: None).result(timeout=2)
    deadline = time.monotonic() + 5
    while workers._solo is None or workers._solo.busy:
        assert time.monotonic() < deadline, "the solo worker did not start"
        time.sleep(0.01)


needs_cpus = pytest.mark.skipif(not _cpus.usable, reason="pinning needs Linux and two CPUs (CI has both)")


@needs_cpus
def test_a_lone_requests_job_runs_on_the_submitters_cpu_and_the_submitter_gets_its_cpus_back() -> None:
    workers = Workers(4, thread_name_prefix="t")
    allowed = set(_cpus.allowed)
    workers.arrive()
    try:
        _solo_ready(workers)
        for _ in range(20):
            job = workers.submit(lambda: (_placement(), set(os.sched_getaffinity(threading.get_native_id()))))
            submitter_cpu = job._cpu  # the CPU the solo worker was pinned to: the submitter's at submit
            (name, cpu, worker_cpus), _ = job.result(timeout=2)
            assert name == "t_solo" and submitter_cpu in allowed
            assert worker_cpus == {submitter_cpu} and cpu == submitter_cpu
            assert set(os.sched_getaffinity(0)) == allowed  # the submitter is unpinned once answered
    finally:
        workers.leave()
    assert workers.threads == 1  # the queue's thread that took the first job; the solo worker is apart


@needs_cpus
def test_with_two_requests_in_flight_jobs_take_the_queue_and_nothing_is_pinned() -> None:
    workers = Workers(4, thread_name_prefix="t")
    workers.arrive()
    _solo_ready(workers)
    workers.arrive()  # a second request: a burst, spread by the kernel
    try:
        name, _, cpus = workers.submit(_placement).result(timeout=2)
        assert name.startswith("t_") and name != "t_solo" and cpus == set(_cpus.allowed)
        assert set(os.sched_getaffinity(0)) == set(_cpus.allowed)
    finally:
        workers.leave()
        workers.leave()
    name, _, _ = workers.submit(_placement).result(timeout=2)  # no request counted: the queue too
    assert name != "t_solo"


@needs_cpus
def test_a_detached_job_and_a_pool_without_colocate_never_use_the_solo_worker() -> None:
    workers = Workers(2, thread_name_prefix="t")
    workers.arrive()
    try:
        _solo_ready(workers)
        assert workers.detach(_placement).result(timeout=2)[0] != "t_solo"
        assert workers.submit(_placement).result(timeout=2)[0] == "t_solo"
    finally:
        workers.leave()
    plain = Workers(2, thread_name_prefix="p", colocate=False)
    plain.arrive()
    try:
        for _ in range(3):
            name, _, cpus = plain.submit(_placement).result(timeout=2)
            assert name != "p_solo" and cpus == set(_cpus.allowed)
    finally:
        plain.leave()
    assert plain._solo is None


@needs_cpus
def test_a_stuck_lone_job_times_out_unpinned_and_the_next_lone_request_takes_the_queue() -> None:
    workers = Workers(2, thread_name_prefix="t")
    release = threading.Event()
    workers.arrive()
    try:
        _solo_ready(workers)
        stuck = workers.submit(lambda: release.wait(5) and "late")
        assert stuck._cpu >= 0  # the solo worker took it
        with pytest.raises(TimeoutError):
            stuck.result(timeout=0.05)
        assert set(os.sched_getaffinity(0)) == set(_cpus.allowed)  # unpinned on timeout too
        name, _, _ = workers.submit(_placement).result(timeout=2)  # the solo worker is busy
        assert name.startswith("t_") and name != "t_solo"
        release.set()
        assert stuck.result(timeout=2) == "late"  # a second wait is not pinned
        deadline = time.monotonic() + 5
        while workers._solo is not None and workers._solo.busy:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert workers.submit(_placement).result(timeout=2)[0] == "t_solo"  # free again: it takes lone jobs
    finally:
        workers.leave()


def test_the_voice_handlers_count_their_requests_whatever_the_answer() -> None:
    request = SimpleNamespace(path="/webhook/voice/nowhere", method="POST")
    before = voice.pool._requests
    assert voice.handle(request, SimpleNamespace(), routes=("step",))[1] == 404
    assert voice.pool._requests == before
    assert department_hooks.handle(SimpleNamespace(path="/webhook/departments/nowhere"), SimpleNamespace())[1] == 404
    assert voice.pool._requests == before
    with pytest.raises(AttributeError):  # a handler that fails still leaves
        voice.handle(SimpleNamespace(path=None), SimpleNamespace(), routes=("step",))
    assert voice.pool._requests == before


@needs_cpus
def test_after_two_requests_at_once_a_lone_request_is_not_pinned_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    from common.web import voice_workers

    now = [1000.0]
    monkeypatch.setattr(voice_workers, "_clock", lambda: now[0])
    workers = Workers(2, thread_name_prefix="t")
    workers.arrive()
    try:
        _solo_ready(workers)
        assert workers.submit(_placement).result(timeout=2)[0] == "t_solo"
        workers.arrive()  # a second request at once: a burst may be starting
        workers.leave()
        now[0] += voice_workers.CROWD_SECONDS - 0.01
        assert workers.submit(_placement).result(timeout=2)[0] != "t_solo"  # alone again, but too soon
        now[0] += 0.01
        assert workers.submit(_placement).result(timeout=2)[0] == "t_solo"
    finally:
        workers.leave()


def test_without_a_thread_to_be_had_a_job_waits_for_a_busy_one_or_the_submit_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    workers = Workers(4, thread_name_prefix="t", colocate=False)
    release = threading.Event()
    busy = workers.submit(lambda: release.wait(5) and "first")
    real_start = threading.Thread.start

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    waiting = workers.submit(lambda: "second")  # no new thread: it waits for the busy one
    assert workers.threads == 1
    release.set()
    assert busy.result(timeout=2) == "first" and waiting.result(timeout=2) == "second"
    none = Workers(2, thread_name_prefix="n", colocate=False)
    with pytest.raises(RuntimeError, match="new thread"):
        none.submit(lambda: "never")  # no thread at all: the caller answers its fallback
    monkeypatch.setattr(threading.Thread, "start", real_start)
    assert none.submit(lambda: "later").result(timeout=2) == "later"  # threads again: it works


@needs_cpus
def test_without_a_thread_for_the_solo_worker_lone_jobs_take_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    workers = Workers(2, thread_name_prefix="t")
    workers.submit(lambda: None).result(timeout=2)  # the queue's thread, before threads run out
    real_start = threading.Thread.start

    def refused(self: threading.Thread) -> None:
        if self.name.endswith("_solo"):
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", refused)
    workers.arrive()
    try:
        for _ in range(3):
            assert workers.submit(_placement).result(timeout=2)[0] == "t_0"
        assert workers.colocate is False
    finally:
        workers.leave()
