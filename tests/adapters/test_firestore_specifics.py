"""What only the Firestore store has to prove: storage types, bounded RPCs, costs, outages, races.

All run against Google's Firestore emulator; the outage tests start an emulator of their own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from store_records import NOW, call, deployment, draft, number, schedule, state_of, tenant, version

from common.adapters import firestore as fs
from common.adapters.emulator import FirestoreEmulator, warm_up
from common.adapters.firestore import FirestoreStore
from common.adapters.ports import ApiKey, Conflict, RetiredFlow, StoreUnavailable, TwilioAccount

pytestmark = pytest.mark.emulator

A, B = "+15551230001", "+15551230002"


# -- storage -------------------------------------------------------------------------------------


def test_expires_at_is_a_timestamp_and_the_rest_plain_json(firestore_store: FirestoreStore,
                                                           firestore_client: Any) -> None:  # fmt: skip
    record = call("CA1")
    firestore_store.create_call(record)
    raw = firestore_client.document("calls", "CA1").get().to_dict()
    assert isinstance(raw["expires_at"], datetime)  # a Firestore timestamp: what the TTL policy needs
    assert raw["expires_at"] == record.expires_at
    expected = record.model_dump(mode="json")
    assert {k: v for k, v in raw.items() if k != "expires_at"} == {k: v for k, v in expected.items()
                                                                    if k != "expires_at"}  # fmt: skip
    found = firestore_store.read_call("CA1")
    assert found is not None and found[0] == record and type(found[0].expires_at) is datetime


def test_json_firestore_cannot_hold_is_stored_as_text(firestore_store: FirestoreStore,
                                                      firestore_client: Any) -> None:  # fmt: skip
    # a parsed HTTP response with an array of arrays, an empty key and a 2**64: legal JSON, not Firestore
    foreign = {"widgets": {"geo": {"parsed": {"path": [[48.85, 2.35], [51.5, -0.12]], "": 1, "n": 2**64}}}}
    record = call("CA-text", state=foreign)
    assert firestore_store.create_call(record) is True
    raw = firestore_client.document("calls", "CA-text").get().to_dict()
    assert isinstance(raw["state"], str)
    assert isinstance(raw["events"], list)  # only the field that needs it is encoded
    found = firestore_store.read_call("CA-text")
    assert found is not None and found[0] == record
    plain = found[0].model_copy(update={"seq": 1, "state": state_of("CA-text", cursor="menu")})
    assert firestore_store.write_call(plain, found[1]) is True
    stored = firestore_client.document("calls", "CA-text").get().to_dict()["state"]
    assert stored == state_of("CA-text", cursor="menu").model_dump(mode="json")


@pytest.mark.parametrize("value,ok", [
    ({"a": [1, {"b": [2]}]}, True), ({"a": [[1]]}, False), ({"": 1}, False), ({"__x__": 1}, False),
    ({"_x_": 1, "__": 1, "a.b": 1, "x/y": 1}, True), (2**63, False), (-(2**63), True), ("\ud800", False),
])  # fmt: skip
def test_firestore_can_hold(value: Any, ok: bool) -> None:
    assert fs.firestore_can_hold(value) is ok


@pytest.mark.parametrize("bad", ["a/b", "", "__meta__", ".", ".."])
def test_ids_that_are_not_document_ids_are_refused(firestore_store: FirestoreStore, bad: str) -> None:
    with pytest.raises(ValueError, match="document id"):
        firestore_store.get_tenant(bad)
    with pytest.raises(ValueError, match="document id"):
        firestore_store.list_versions("acme", bad)


# -- every RPC bounded ---------------------------------------------------------------------------


class RpcSpy:
    """Stands in for the client's GAPIC API object and records the keyword arguments of every RPC."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return recorded

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def spied(firestore_store: FirestoreStore, firestore_emulator: FirestoreEmulator) -> Iterator[
        tuple[FirestoreStore, RpcSpy]]:  # fmt: skip
    from google.cloud import firestore

    client = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])  # not the shared one
    spy = RpcSpy(client._firestore_api)
    client._firestore_api_internal = spy
    yield FirestoreStore(client), spy
    client.close()


def _exercise_every_method(store: FirestoreStore) -> None:
    """Every Store method, on its success and its refusal paths."""
    store.put_tenant(tenant())
    store.get_tenant("acme")
    store.put_api_key(ApiKey(key_hash="h", tenant_id="acme"))
    store.get_api_key("h")
    store.save_draft(draft("e1"), None)
    store.save_draft(draft("e2"), "e1")
    with pytest.raises(Conflict):
        store.save_draft(draft("e3"), "e1")
    store.get_draft("acme", "main")
    store.create_version(version("1.0.0", "2026-03-01"))
    with pytest.raises(Conflict):
        store.create_version(version("1.0.0", "2026-03-01"))
    store.get_version("acme", "main", "1.0.0")
    store.list_versions("acme", "main")
    store.put_schedule(schedule("office"))
    store.get_schedule("acme", "office")
    store.list_schedules("acme")
    assert store.delete_schedule("acme", "office") is True
    assert store.delete_schedule("acme", "office") is False
    store.create_number(number(A))
    with pytest.raises(Conflict):
        store.create_number(number(A))
    store.get_number(A)
    store.deploy(deployment("d1", [A]), {A: None})
    with pytest.raises(Conflict):
        store.deploy(deployment("d2", [A]), {A: None})
    store.list_deployments("acme")
    store.get_deployment("acme", "d1")
    assert store.create_call(call("CA1")) is True
    assert store.create_call(call("CA1")) is False
    found = store.read_call("CA1")
    assert found is not None
    assert store.write_call(found[0].model_copy(update={"seq": 1}), found[1]) is True
    assert store.write_call(found[0].model_copy(update={"seq": 1}), found[1]) is False
    store.active_calls_expired(NOW + timedelta(days=1))
    store.list_drafts("acme")
    store.list_version_numbers("acme", "main")
    store.list_numbers("acme")
    store.create_number(number(B))
    assert store.release_number(B, "acme") is True
    with pytest.raises(Conflict):
        store.release_number(A, "acme")
    assert store.delete_flow(RetiredFlow(tenant_id="acme", flow_id="main", last_version="1.0.0")) is True
    store.get_retired_flow("acme", "main")
    store.ping()
    assert store.create_tenant(tenant("newco")) is True
    assert store.create_tenant(tenant("newco")) is False
    store.list_tenants()
    store.list_api_keys("acme")
    link = TwilioAccount(account_sid="AC" + "1" * 32, tenant_id="acme", secret_name="s")
    assert store.claim_twilio_account(link) is True
    assert store.claim_twilio_account(link) is True
    store.get_twilio_account(link.account_sid)
    assert store.release_twilio_account(link.account_sid, "acme") is True


def test_every_rpc_carries_an_explicit_timeout_and_a_bounded_retry(
        spied: tuple[FirestoreStore, RpcSpy]) -> None:  # fmt: skip
    from google.api_core.retry import Retry

    store, spy = spied
    _exercise_every_method(store)
    assert {"batch_get_documents", "commit", "run_query"} <= set(spy.names())
    for name, kwargs in spy.calls:
        timeout, retry = kwargs.get("timeout"), kwargs.get("retry")
        assert isinstance(timeout, float) and 0 < timeout <= fs.COMMIT_TIMEOUT, (name, kwargs)
        assert isinstance(retry, Retry) and retry.timeout is not None and retry.timeout <= 2.0, (name, kwargs)
        if name in ("batch_get_documents", "run_query"):
            assert timeout == fs.READ_TIMEOUT, name
        if name == "commit":
            assert timeout == fs.COMMIT_TIMEOUT


def test_a_webhook_step_costs_one_read_and_one_write(spied: tuple[FirestoreStore, RpcSpy]) -> None:
    store, spy = spied
    store.create_call(call("CA1"))
    store.reads = store.writes = 0
    spy.calls.clear()
    found = store.read_call("CA1")
    assert found is not None
    assert store.write_call(found[0].model_copy(update={"seq": 1}), found[1]) is True
    assert (store.reads, store.writes) == (1, 1)
    assert spy.names() == ["batch_get_documents", "commit"]


def test_counters_count_documents(firestore_store: FirestoreStore) -> None:
    store = firestore_store
    for e164 in (A, B):
        store.create_number(number(e164))
    assert (store.reads, store.writes) == (0, 2)
    store.deploy(deployment("d1", [A, B]), {A: None, B: None})
    assert (store.reads, store.writes) == (2, 5)  # read both numbers; write both and the history
    store.list_deployments("acme")
    assert store.reads == 3  # a query counts the documents it returned
    store.create_call(call("CA1"))
    assert store.create_call(call("CA1")) is False
    assert store.writes == 6


# -- races between the read and the conditional write --------------------------------------------


def test_deploy_loses_to_a_write_between_its_read_and_commit(firestore_store: FirestoreStore,
                                                             firestore_client: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store = firestore_store
    for e164 in (A, B):
        store.create_number(number(e164))
    real_get_all = firestore_client.get_all

    def get_all_then_someone_writes(refs: list[Any], **kwargs: Any) -> Iterator[Any]:
        snaps = list(real_get_all(refs, **kwargs))
        firestore_client.document("numbers", B).update({"fallback_dial": "+15559999999"})
        return iter(snaps)

    monkeypatch.setattr(firestore_client, "get_all", get_all_then_someone_writes)
    with pytest.raises(Conflict, match="nothing was changed"):
        store.deploy(deployment("d1", [A, B]), {A: None, B: None})
    monkeypatch.undo()
    assert store.get_number(A) == number(A)  # the batch is atomic: A did not move either
    assert store.get_number(B) == number(B).model_copy(update={"fallback_dial": "+15559999999"})
    assert store.get_deployment("acme", "d1") is None


def test_draft_save_loses_to_a_save_between_its_read_and_write(firestore_store: FirestoreStore,
                                                               firestore_client: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store = firestore_store
    store.save_draft(draft("e1"), None)
    ref_class = type(firestore_client.document("tenants", "acme", "flows", "main"))
    real_get = ref_class.get
    other = draft("e-other", body='{"other":true}')

    def get_then_someone_saves(self: Any, *args: Any, **kwargs: Any) -> Any:
        snap = real_get(self, *args, **kwargs)
        if self.path == "tenants/acme/flows/main":
            self.set(other.model_dump(mode="json"))
        return snap

    monkeypatch.setattr(ref_class, "get", get_then_someone_saves)
    with pytest.raises(Conflict):
        store.save_draft(draft("e2", body='{"mine":true}'), "e1")
    monkeypatch.undo()
    assert store.get_draft("acme", "main") == other


# -- outages -------------------------------------------------------------------------------------

BOUND = 4.0  # seconds: the webhook's caller gives up at 3 s; a failure must be quick, not 60 s


@pytest.fixture
def own_emulator(firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[FirestoreEmulator, FirestoreStore]]:  # fmt: skip
    """A second emulator, so killing it leaves the session's one alone, and a store on it."""
    from google.cloud import firestore

    emulator = FirestoreEmulator().start()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)  # read when the client is built
    client = firestore.Client(project="ivr-outage")
    warm_up(client)  # seeding must not trip over a cold JVM: only the outage is under test
    store = FirestoreStore(client)
    try:
        yield emulator, store
    finally:
        emulator.kill()
        client.close()


def _seed(store: FirestoreStore) -> Any:
    store.save_draft(draft("e1"), None)
    store.create_number(number(A))
    store.create_call(call("CA1"))
    found = store.read_call("CA1")
    assert found is not None
    return found


def _every_call(store: FirestoreStore, found: Any) -> dict[str, Callable[[], Any]]:
    return {
        "put_tenant": lambda: store.put_tenant(tenant()),
        "get_tenant": lambda: store.get_tenant("acme"),
        "put_api_key": lambda: store.put_api_key(ApiKey(key_hash="h", tenant_id="acme")),
        "get_api_key": lambda: store.get_api_key("h"),
        "get_draft": lambda: store.get_draft("acme", "main"),
        "save_draft": lambda: store.save_draft(draft("e9"), None),
        "save_draft_etag": lambda: store.save_draft(draft("e2"), "e1"),
        "get_version": lambda: store.get_version("acme", "main", "1.0.0"),
        "list_versions": lambda: store.list_versions("acme", "main"),
        "create_version": lambda: store.create_version(version("1.0.0", "2026-03-01")),
        "put_schedule": lambda: store.put_schedule(schedule("office")),
        "get_schedule": lambda: store.get_schedule("acme", "office"),
        "list_schedules": lambda: store.list_schedules("acme"),
        "delete_schedule": lambda: store.delete_schedule("acme", "office"),
        "get_number": lambda: store.get_number(A),
        "create_number": lambda: store.create_number(number(B)),
        "deploy": lambda: store.deploy(deployment("d1", [A]), {A: None}),
        "list_deployments": lambda: store.list_deployments("acme"),
        "get_deployment": lambda: store.get_deployment("acme", "d1"),
        "create_call": lambda: store.create_call(call("CA2")),
        "read_call": lambda: store.read_call("CA1"),
        "write_call": lambda: store.write_call(found[0].model_copy(update={"seq": 1}), found[1]),
        "active_calls_expired": lambda: store.active_calls_expired(NOW),
        "list_drafts": lambda: store.list_drafts("acme"),
        "list_version_numbers": lambda: store.list_version_numbers("acme", "main"),
        "delete_flow": lambda: store.delete_flow(RetiredFlow(tenant_id="acme", flow_id="main")),
        "get_retired_flow": lambda: store.get_retired_flow("acme", "main"),
        "list_numbers": lambda: store.list_numbers("acme"),
        "release_number": lambda: store.release_number(A, "acme"),
        "ping": lambda: store.ping(),
        "create_tenant": lambda: store.create_tenant(tenant("newco")),
        "list_tenants": lambda: store.list_tenants(),
        "list_api_keys": lambda: store.list_api_keys("acme"),
        "claim_twilio_account": lambda: store.claim_twilio_account(
            TwilioAccount(account_sid="AC" + "1" * 32, tenant_id="acme", secret_name="s")),
        "get_twilio_account": lambda: store.get_twilio_account("AC" + "1" * 32),
        "release_twilio_account": lambda: store.release_twilio_account("AC" + "1" * 32, "acme"),
    }


def _timed_failures(calls: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, BaseException | None]]:
    def timed(fn: Callable[[], Any]) -> tuple[float, BaseException | None]:
        began = time.monotonic()
        try:
            fn()
        except Exception as exc:
            return time.monotonic() - began, exc
        return time.monotonic() - began, None

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:  # one at a time would take a minute
        futures = {name: pool.submit(timed, fn) for name, fn in calls.items()}
        return {name: future.result(timeout=30) for name, future in futures.items()}


def _assert_failed_fast(outcomes: dict[str, tuple[float, BaseException | None]]) -> None:
    from google.api_core.exceptions import GoogleAPIError

    succeeded = [name for name, (_, exc) in outcomes.items() if exc is None]
    assert not succeeded, f"these calls 'succeeded' against a dead backend: {succeeded}"
    slow = {name: round(took, 2) for name, (took, _) in outcomes.items() if took >= BOUND}
    assert not slow, f"these calls took {BOUND} s or more to fail: {slow}"
    # One typed error for "the backend did not answer", whatever the client library raised, so the
    # layers above can answer 503 (admin API) or the fallback (webhooks) without importing Google's.
    odd = {name: repr(exc) for name, (_, exc) in outcomes.items() if not isinstance(exc, StoreUnavailable)}
    assert not odd, f"these calls failed with something other than StoreUnavailable: {odd}"
    causes = {name: repr(exc.__cause__) for name, (_, exc) in outcomes.items()
              if not isinstance(exc.__cause__, GoogleAPIError)}  # fmt: skip
    assert not causes, f"StoreUnavailable should chain the client's error: {causes}"


def test_every_call_fails_fast_when_the_emulator_is_killed(
        own_emulator: tuple[FirestoreEmulator, FirestoreStore]) -> None:  # fmt: skip
    emulator, store = own_emulator
    found = _seed(store)
    emulator.kill()
    outcomes = _timed_failures(_every_call(store, found))
    _assert_failed_fast(outcomes)


def test_every_call_fails_fast_when_the_emulator_hangs(
        own_emulator: tuple[FirestoreEmulator, FirestoreStore]) -> None:  # fmt: skip
    emulator, store = own_emulator
    found = _seed(store)
    emulator.pause()  # the port stays open, nothing answers: only client-side timeouts end a call
    outcomes = _timed_failures(_every_call(store, found))
    _assert_failed_fast(outcomes)
