"""Concurrent duplicates of an HTTP node's webhook: the API is called once, every copy answers the
same document, and the call takes the API's answer (not the ``failed`` branch of a copy refused a slot).
On both stores."""

from __future__ import annotations

import threading
from typing import Any

from livestack import ACCOUNT_A, LOOKUP_NUMBER, Stack

from common.service import calls


def _at_the_lookup(stack: Stack, sid: str) -> dict[str, str]:
    base = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": LOOKUP_NUMBER,
            "CallStatus": "in-progress"}  # fmt: skip
    assert stack.signed_post("/webhook/voice/incoming", base).status_code == 200
    redirect = stack.signed_post("/webhook/voice/step?seq=2", {**base, "Digits": "555555"})
    assert "<Redirect" in redirect.get_data(as_text=True)
    return base


def _deliver_at_once(stack: Stack, base: dict[str, str], copies: int) -> list[tuple[int, str]]:
    barrier = threading.Barrier(copies)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        response = stack.signed_post("/webhook/voice/step?seq=3", base)
        with lock:
            answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_duplicates_of_an_http_step_fetch_once_and_take_success(stack: Stack) -> None:
    sid = "CA" + "5" * 32
    stack.fetcher.answer("/v1/accounts/", 200, {"status": "active", "name": "Ada", "balance": 12})
    stack.fetcher.delay = 0.6  # every copy arrives while the first one's request is in flight
    base = _at_the_lookup(stack, sid)
    copies = calls.HTTP_SLOTS.per_tenant + 2  # more copies than the tenant has slots
    answers = _deliver_at_once(stack, base, copies)
    assert len(stack.fetcher.requests) == 1
    assert len(answers) == copies and len(set(answers)) == 1, answers
    status, body = answers[0]
    assert status == 200 and "Hello Ada. Your balance is 12 dollars." in body
    record: Any = stack.stored(sid)
    assert "balance" in record.state.path and "systems_down" not in record.state.path
    assert record.state.widgets["lookup"]["status_code"] == 200


def test_a_duplicate_after_the_first_answer_does_not_fetch_again(stack: Stack) -> None:
    sid = "CA" + "6" * 32
    stack.fetcher.answer("/v1/accounts/", 200, {"status": "active", "name": "Bo", "balance": 3})
    base = _at_the_lookup(stack, sid)
    first = stack.signed_post("/webhook/voice/step?seq=3", base).get_data(as_text=True)
    again = stack.signed_post("/webhook/voice/step?seq=3", base).get_data(as_text=True)
    assert again == first and "Hello Bo." in first
    assert len(stack.fetcher.requests) == 1
