"""HTTP nodes against APIs that answer one byte at a time, through the whole stack with the real fetcher.

A real socket server on 127.0.0.1 sends its status line and headers one byte every 0.4 s (about a
minute for the whole answer). The node's request must be cut off at its deadline, so the caller hears the
node's ``failed`` branch within the webhook budget instead of the generic apology, and the request's
slot is free again; and one tenant's slow API must not use up the slots every tenant shares, nor
the tenant's share for its other APIs.
Wall times are printed (run with -s), not asserted beyond "well under the drip".
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from livestack import (
    ACCOUNT_A,
    ACCOUNT_B,
    API_KEY_A,
    API_KEY_B,
    TOKEN_B,
    Stack,
    build_stack,
    deploy,
    example,
)  # fmt: skip

from common import bootstrap
from common.adapters.http_fetch import RequestsFetcher
from common.service import calls

SLOW_A = "+13072240101"  # tenant A: the account lookup against the dripping API
SLOW_B = "+14155550101"  # tenant B: the same
OTHER_A = "+13072240102"  # tenant A: the same lookup against another API host (``other_api``)
DOWN = "Our account systems are not available right now."  # the lookup's failed branch
APOLOGY = calls.TROUBLE  # what a webhook that overran its budget says instead
DRIP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"p" * 20
        + b"\r\nContent-Length: 44\r\n\r\n" + b'{"status": "active", "name": "Ada", "x": "1"}')  # fmt: skip


class DrippingApi:
    """Accepts every connection, reads the request, then drips DRIP one byte every ``interval``."""

    def __init__(self, interval: float = 0.4) -> None:
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self.listener.getsockname()[1])
        self.requests: list[str] = []  # the Idempotency-Key of every request that reached us
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def drip_seconds(self) -> float:
        return len(DRIP) * self.interval

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            key = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                        if line.lower().startswith(b"idempotency-key:")), "")  # fmt: skip
            with self._lock:
                self.requests.append(key)
            for byte in DRIP:
                if self.stopping.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up on us

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()


@pytest.fixture
def api() -> Iterator[DrippingApi]:
    server = DrippingApi()
    yield server
    server.close()


@pytest.fixture
def other_api() -> Iterator[DrippingApi]:
    server = DrippingApi()
    yield server
    server.close()


def lookup_flow(flow_id: str, port: int) -> dict[str, Any]:
    flow = example("account_lookup")
    flow["id"] = flow_id
    for node in flow["nodes"]:
        if node["id"] == "lookup":
            node["data"]["url"] = f"http://127.0.0.1:{port}/v1/accounts/{{{{ flow.variables.account }}}}"
    return flow


@pytest.fixture
def slow_stack(memory_store: Any, api: DrippingApi, other_api: DrippingApi) -> Iterator[Stack]:
    """The live stack with the real fetcher; tenants A and B each run the account lookup against ``api``,
    and tenant A also against ``other_api`` (another host: its own port) on OTHER_A."""
    stack = build_stack(memory_store, fetcher=RequestsFetcher(allow_hosts=("127.0.0.1",)), all_examples=False)
    for key, number in ((API_KEY_A, SLOW_A), (API_KEY_B, SLOW_B)):
        deploy(stack.svc, stack.svc.admin.authenticate(f"Bearer {key}"), lookup_flow("slow_lookup", api.port), number)
    deploy(stack.svc, stack.svc.admin.authenticate(f"Bearer {API_KEY_A}"), lookup_flow("other_lookup", other_api.port),
           OTHER_A)  # fmt: skip
    bootstrap.install(stack.svc)
    yield stack
    bootstrap.install(None)


def params(sid: str, number: str, account: str, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": account, "From": "+15005550006", "To": number, "Caller": "+15005550006",
            "Called": number, "Direction": "inbound", "ApiVersion": "2010-04-01", "CallStatus": "in-progress",
            **extra}  # fmt: skip


def at_the_lookup(stack: Stack, sid: str, number: str, account: str, token: str) -> None:
    """Incoming, then the account number: the flow answers a Redirect and waits for seq 3 to fetch."""
    sent = params(sid, number, account)
    assert stack.signed_post("/webhook/voice/incoming", sent, token=token).status_code == 200
    redirect = stack.signed_post("/webhook/voice/step?seq=2", {**sent, "Digits": "123456"}, token=token)
    assert "<Redirect" in redirect.get_data(as_text=True)


def lookup_step(stack: Stack, sid: str, number: str, account: str, token: str) -> tuple[float, str]:
    began = time.monotonic()
    answer = stack.signed_post("/webhook/voice/step?seq=3", params(sid, number, account), token=token)
    assert answer.status_code == 200
    return time.monotonic() - began, answer.get_data(as_text=True)


def test_a_dripping_api_takes_the_failed_branch_within_the_budget(slow_stack: Stack, api: DrippingApi) -> None:
    sid = "CA" + "d" * 32
    at_the_lookup(slow_stack, sid, SLOW_A, ACCOUNT_A, slow_stack.svc.settings.twilio_auth_token)
    elapsed, document = lookup_step(slow_stack, sid, SLOW_A, ACCOUNT_A, slow_stack.svc.settings.twilio_auth_token)
    print(f"\nAPI drips its headers for {api.drip_seconds:.0f}s; the lookup step answered in {elapsed:.2f}s")
    assert DOWN in document and APOLOGY not in document
    assert elapsed < 3.0  # the product's answer-within bound; the drip would take a minute
    record = slow_stack.stored(sid)
    assert record.state.path[-2:] == ["systems_down", "to_agent"]
    assert record.state.widgets["lookup"]["error"].startswith("timed out after")
    assert calls.HTTP_SLOTS.in_flight() == 0  # the slot is free again


def test_one_tenants_slow_api_cannot_take_every_tenants_slots(slow_stack: Stack, api: DrippingApi,
                                                              other_api: DrippingApi) -> None:  # fmt: skip
    """24 of tenant A's calls reach a dripping API at once: that host gets its part of A's share (2
    slots), A's other calls to it fail fast, A's call to another API host still gets a slot, and so
    does tenant B's call to the same dripping API."""
    token_a = slow_stack.svc.settings.twilio_auth_token
    a_calls = [f"CA{i:032d}" for i in range(calls.HTTP_SLOTS.total)]
    b_call, a_other = "CB" + "b" * 32, "CA" + "e" * 32
    for sid in a_calls:
        at_the_lookup(slow_stack, sid, SLOW_A, ACCOUNT_A, token_a)
    at_the_lookup(slow_stack, b_call, SLOW_B, ACCOUNT_B, TOKEN_B)
    at_the_lookup(slow_stack, a_other, OTHER_A, ACCOUNT_A, token_a)
    with ThreadPoolExecutor(len(a_calls) + 1) as pool:
        jobs = [pool.submit(lookup_step, slow_stack, sid, SLOW_A, ACCOUNT_A, token_a) for sid in a_calls]
        settle = time.monotonic() + 5.0  # until every A request has either reached the API or been refused
        while len(api.requests) + sum(job.done() for job in jobs) < len(a_calls) and time.monotonic() < settle:
            time.sleep(0.02)
        other = pool.submit(lookup_step, slow_stack, a_other, OTHER_A, ACCOUNT_A, token_a)
        b_elapsed, b_document = lookup_step(slow_stack, b_call, SLOW_B, ACCOUNT_B, TOKEN_B)
        a_results = [job.result() for job in jobs]
        other_elapsed, other_document = other.result()
    reached = {sid for sid in a_calls if f"{sid}-3" in api.requests}
    held = [elapsed for sid, (elapsed, _) in zip(a_calls, a_results, strict=True) if sid in reached]
    refused = [elapsed for sid, (elapsed, _) in zip(a_calls, a_results, strict=True) if sid not in reached]
    print(f"\n{len(a_calls)} concurrent lookups of tenant A against an API dripping for {api.drip_seconds:.0f}s: "
          f"{len(held)} performed (answered in {max(held, default=0):.2f}s at most), {len(refused)} refused "
          f"(answered in {max(refused, default=0):.2f}s at most); meanwhile tenant A's lookup on another host "
          f"performed and answered in {other_elapsed:.2f}s, tenant B's in {b_elapsed:.2f}s")  # fmt: skip
    assert len(reached) == calls.HTTP_SLOTS.per_host < calls.HTTP_SLOTS.per_tenant
    assert f"{a_other}-3" in other_api.requests  # A's other API got a slot of A's share and was asked
    assert f"{b_call}-3" in api.requests  # B's request got a slot and was performed
    for document in (b_document, other_document, *(document for _, document in a_results)):
        assert DOWN in document and APOLOGY not in document
    errors = [slow_stack.stored(sid).state.widgets["lookup"]["error"] for sid in a_calls if sid not in reached]
    assert all(f"already has 2 HTTP requests in flight to 127.0.0.1:{api.port}" in error for error in errors), errors
    assert calls.HTTP_SLOTS.in_flight() == 0
