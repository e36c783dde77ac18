"""HttpSlots: HTTP-node requests in flight per instance and per tenant; a slot lasts until its deadline."""

from __future__ import annotations

import threading

import pytest

from common.service.http_slots import HttpSlots, SlotsFull


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_tenant_gets_its_share_and_no_more() -> None:
    clock = Clock()
    slots = HttpSlots(total=16, per_tenant=4, clock=clock)
    held = [slots.acquire("a", clock.now + 2) for _ in range(4)]
    with pytest.raises(SlotsFull, match="tenant"):
        slots.acquire("a", clock.now + 2)
    other = slots.acquire("b", clock.now + 2)  # another tenant is not held up by a's slow API
    assert slots.in_flight("a") == 4 and slots.in_flight("b") == 1 and slots.in_flight() == 5
    slots.release(held[0])
    slots.acquire("a", clock.now + 2)
    slots.release(other)
    assert slots.in_flight("b") == 0


def test_the_instance_total_is_a_hard_cap() -> None:
    clock = Clock()
    slots = HttpSlots(total=6, per_tenant=4, clock=clock)
    for tenant in ("a", "b", "c"):
        slots.acquire(tenant, clock.now + 2)
        slots.acquire(tenant, clock.now + 2)
    with pytest.raises(SlotsFull, match="instance"):
        slots.acquire("d", clock.now + 2)


def test_a_slot_is_free_again_once_its_deadline_has_passed() -> None:
    """A request that overruns its deadline (a fetcher that does not honour it) keeps no slot."""
    clock = Clock()
    slots = HttpSlots(total=16, per_tenant=2, clock=clock)
    stuck = [slots.acquire("a", clock.now + 2) for _ in range(2)]
    with pytest.raises(SlotsFull):
        slots.acquire("a", clock.now + 2)
    clock.now += 2.0
    assert slots.in_flight("a") == 0
    fresh = slots.acquire("a", clock.now + 2)
    for slot in stuck:  # the late release of an expired slot frees nothing else
        slots.release(slot)
    assert slots.in_flight("a") == 1
    slots.release(fresh)
    slots.release(fresh)  # twice is harmless
    assert slots.in_flight() == 0


def test_concurrent_acquires_never_exceed_the_share() -> None:
    slots = HttpSlots(total=16, per_tenant=4)
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def grab() -> None:
        barrier.wait()
        try:
            slot = slots.acquire("a", 1e12)
        except SlotsFull:
            return
        with lock:
            got.append(slot)

    threads = [threading.Thread(target=grab) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 == slots.in_flight("a")


@pytest.mark.parametrize(("total", "per_tenant"), [(0, 1), (4, 0), (4, 5)])
def test_nonsense_limits_are_refused(total: int, per_tenant: int) -> None:
    with pytest.raises(ValueError):
        HttpSlots(total=total, per_tenant=per_tenant)
