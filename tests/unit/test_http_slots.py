"""HttpSlots: HTTP-node requests in flight per instance, per tenant and per tenant and host; a slot lasts
until its deadline."""

from __future__ import annotations

import threading

import pytest

from common.service.http_slots import HttpSlots, SlotsFull, host_of


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


def test_one_slow_api_host_leaves_the_tenants_other_apis_the_rest_of_its_share() -> None:
    clock = Clock()
    slots = HttpSlots(total=16, per_tenant=4, per_host=2, clock=clock)
    slow = [slots.acquire("a", clock.now + 2, "slow.example.com") for _ in range(2)]
    with pytest.raises(SlotsFull, match=r"2 HTTP requests in flight to slow\.example\.com"):
        slots.acquire("a", clock.now + 2, "slow.example.com")
    ok = [slots.acquire("a", clock.now + 2, "api.example.com:8443") for _ in range(2)]
    with pytest.raises(SlotsFull, match="this tenant already has 4 HTTP requests in flight on this instance"):
        slots.acquire("a", clock.now + 2, "third.example.com")  # the tenant's share still caps the sum
    slots.acquire("b", clock.now + 2, "slow.example.com")  # the host counts per tenant, not for everyone
    assert slots.in_flight("a", "slow.example.com") == 2 and slots.in_flight("a") == 4
    slots.release(slow[0])
    slots.acquire("a", clock.now + 2, "slow.example.com")
    for slot in ok:
        slots.release(slot)
    assert slots.in_flight("a", "api.example.com:8443") == 0


def test_without_a_per_host_limit_one_host_may_take_the_whole_share() -> None:
    slots = HttpSlots(total=16, per_tenant=4)
    for _ in range(4):
        slots.acquire("a", 1e12, "one.example.com")
    assert slots.in_flight("a", "one.example.com") == 4


@pytest.mark.parametrize(("url", "host"), [
    ("https://API.Example.com/v1/accounts?x=1", "api.example.com"),
    ("http://127.0.0.1:8080/ok", "127.0.0.1:8080"),
    ("https://user:secret@api.example.com:8443/x", "api.example.com:8443"),  # no credentials
    ("https://[2001:db8::1]:443/x", "2001:db8::1:443"),
    ("https://api.example.com:99999/x", ""),  # a malformed port: the fetcher refuses the URL
    ("not a url", ""),
])  # fmt: skip
def test_the_host_key_of_a_url(url: str, host: str) -> None:
    assert host_of(url) == host


@pytest.mark.parametrize(("total", "per_tenant", "per_host"), [(0, 1, None), (4, 0, None), (4, 5, None),
                                                               (8, 4, 0), (8, 4, 5)])  # fmt: skip
def test_nonsense_limits_are_refused(total: int, per_tenant: int, per_host: int | None) -> None:
    with pytest.raises(ValueError):
        HttpSlots(total=total, per_tenant=per_tenant, per_host=per_host)
