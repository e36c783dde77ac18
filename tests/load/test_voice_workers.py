"""The voice webhooks' worker threads (common/web/voice_workers.py) and the signature check's cost:
what the per-step overhead work changed must keep every promise of the thread pool and of twilio's
validator it replaced."""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from common.web import voice
from common.web.voice_workers import Workers

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
