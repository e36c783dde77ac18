"""Twilio may deliver any webhook more than once, even concurrently (connection-override retries).
Every duplicate must get the same TwiML byte for byte and cost no write: a call with every webhook
replayed twice in sequence and twice concurrently writes exactly as much as the same call without.
On both stores.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from livestack import ACCOUNT_A, AFTER_HOURS_NUMBER, CLOSED_AT, DEMO_NUMBER, LOOKUP_NUMBER, Stack

REC = "record:https://api.twilio.com/2010-04-01/Accounts/ACa/Recordings/RE1:20"

CALLS = {
    "support line to voicemail": (DEMO_NUMBER, ["silence", "speech:Support, please.", "queue:leave", REC]),
    "support line, caller hangs up": (DEMO_NUMBER, ["7"]),
    "account lookup over HTTP": (LOOKUP_NUMBER, ["123456#", "queue:leave", "dial:completed"]),
    "after hours emergency": (AFTER_HOURS_NUMBER, ["9", "dial:busy", "record:none"]),
}


def comparable(record: Any) -> dict[str, Any]:
    """The stored call without what differs between two placings of the same call (its sid)."""
    state = {k: v for k, v in record.state.model_dump().items() if k not in ("call_sid", "trigger")}
    return {"seq": record.seq, "state": state, "twiml": record.twiml, "status": record.status,
            "outcome": record.outcome, "call_status": record.call_status,
            "events": [(e["type"], e["nodeId"], e["seq"]) for e in record.events]}  # fmt: skip


@pytest.mark.parametrize("case", list(CALLS))
def test_replayed_webhooks_answer_identically_and_write_nothing_more(stack: Stack, case: str) -> None:
    number, inputs = CALLS[case]
    stack.clock.at = CLOSED_AT
    stack.fetcher.answer("/v1/accounts/", 200, {"status": "overdue"})

    writes = stack.store.writes
    plain = stack.sim().call(number, inputs=inputs)
    plain_writes = stack.store.writes - writes
    assert plain.problems == []

    writes = stack.store.writes
    replayed = stack.sim(replays=2, concurrent_replays=2).call(number, inputs=inputs)
    replayed_writes = stack.store.writes - writes

    assert replayed.problems == []  # callsim compares every replay with the first answer
    assert replayed.transcript == plain.transcript
    assert len(replayed.exchanges) == len(plain.exchanges)
    for first, again in zip(plain.exchanges, replayed.exchanges, strict=True):
        assert len(again.replays) == 4
        assert all(replay == (200, again.body) for replay in again.replays)
        assert again.body == first.body  # the same call placed twice answers the same documents
    assert replayed_writes == plain_writes
    assert plain_writes == len(plain.exchanges)  # one write per webhook: create, each step, the status
    assert comparable(stack.stored(replayed.call_sid)) == comparable(stack.stored(plain.call_sid))


def test_many_concurrent_copies_of_one_step_advance_the_call_once(stack: Stack) -> None:
    sid = "CA" + "c" * 32
    base = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER,
            "CallStatus": "in-progress"}  # fmt: skip
    assert stack.signed_post("/webhook/voice/incoming", base).status_code == 200
    writes = stack.store.writes
    copies = 8
    barrier = threading.Barrier(copies)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        response = stack.signed_post("/webhook/voice/step?seq=2", {**base, "Digits": "2"})
        with lock:
            answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == copies
    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 200 and "Connecting you to support." in answers[0][1]
    assert stack.store.writes == writes + 1
    record = stack.stored(sid)
    assert record.seq == 2 and record.state.path[-1] == "to_support"


def test_stale_and_future_steps_replay_the_current_document(stack: Stack) -> None:
    sid = "CA" + "d" * 32
    base = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER}
    stack.signed_post("/webhook/voice/incoming", base)
    stack.signed_post("/webhook/voice/step?seq=2", {**base, "Digits": "7"})  # noMatch: menu again, seq 2
    current = stack.signed_post("/webhook/voice/step?seq=3", {**base, "Digits": "1"}).get_data(as_text=True)
    writes = stack.store.writes
    # 4,301+ digits is past Python's int-from-text limit; '²' is a digit to str.isdigit but not to int()
    for seq in ("1", "2", "3", "9", "", "x", "-1", "03", "9" * 5000, "4" + "0" * 9, "\u00b2", "\u0664"):
        late = stack.signed_post(f"/webhook/voice/step?seq={seq}", {**base, "Digits": "2"})
        assert late.status_code == 200
        assert late.get_data(as_text=True) == current
    assert stack.store.writes == writes
    assert stack.stored(sid).state.path[-1] == "to_sales"


def test_concurrent_duplicate_status_callbacks_finalise_once(stack: Stack) -> None:
    sid = "CA" + "f" * 32
    base = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER}
    stack.signed_post("/webhook/voice/incoming", base)
    writes = stack.store.writes
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def deliver() -> None:
        barrier.wait()
        codes.append(stack.signed_post("/webhook/voice/status", {**base, "CallStatus": "completed",
                                                                  "CallDuration": "7"}).status_code)  # fmt: skip

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 4
    assert stack.store.writes == writes + 1
    record = stack.stored(sid)
    assert (record.status, record.duration_seconds) == ("ended", 7)
    assert [e["type"] for e in record.events].count("call.completed") == 1
