"""SingleFlight: one performer per key, copies share its answer, bounded waits and memory."""

from __future__ import annotations

import threading
import time

import pytest

from common.service.http_slots import SingleFlight


def test_concurrent_copies_share_one_answer() -> None:
    flights = SingleFlight()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "answer"

    results: list[str | None] = []
    leader = threading.Thread(target=lambda: results.append(flights.do("k", time.monotonic() + 5, work)))
    leader.start()
    assert started.wait(5)
    copies = [threading.Thread(target=lambda: results.append(flights.do("k", time.monotonic() + 5, work)))
              for _ in range(3)]  # fmt: skip
    for copy in copies:
        copy.start()
    release.set()
    for thread in [leader, *copies]:
        thread.join()
    assert calls == [1]
    assert results == ["answer"] * 4


def test_a_later_copy_gets_the_kept_answer_until_it_expires() -> None:
    now = [0.0]
    flights = SingleFlight(keep_seconds=10, clock=lambda: now[0])
    assert flights.do("k", 5, lambda: 1) == 1
    now[0] = 9.0
    assert flights.do("k", 14, lambda: 2) == 1
    now[0] = 10.0
    assert flights.do("k", 15, lambda: 3) == 3


def test_a_copy_stops_waiting_at_its_deadline() -> None:
    flights = SingleFlight()
    release = threading.Event()
    leader = threading.Thread(target=lambda: flights.do("k", time.monotonic() + 5, lambda: release.wait(5)))
    leader.start()
    time.sleep(0.05)
    assert flights.do("k", time.monotonic() + 0.05, lambda: "never") is None
    release.set()
    leader.join()


def test_a_failed_leader_is_forgotten() -> None:
    flights = SingleFlight()

    def boom() -> str:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        flights.do("k", time.monotonic() + 1, boom)
    assert flights.do("k", time.monotonic() + 1, lambda: "ok") == "ok"


def test_at_most_max_kept_answers_are_kept() -> None:
    flights = SingleFlight(max_kept=2)
    for key in range(3):
        flights.do(key, time.monotonic() + 1, lambda key=key: key)  # type: ignore[misc]
    flights.do("other", time.monotonic() + 1, lambda: None)
    assert flights.do(0, time.monotonic() + 1, lambda: "again") == "again"  # the oldest went first
