"""The Store contract (common/adapters/ports.py), run against every implementation.

The same tests run on the embedded MemoryStore and on FirestoreStore against Google's Firestore
emulator: whatever passes here on memory behaves the same on Firestore.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_records import NOW, call, deployment, draft, number, schedule, state_of, tenant, version

from common.adapters.ports import ApiKey, Conflict, Store


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest) -> Store:
    found: Store = request.getfixturevalue(f"{request.param}_store")
    return found


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(n) on n threads released together; results (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a concurrent store call hung"
    return results


# -- tenants and keys ----------------------------------------------------------------------------


def test_tenant_round_trip_and_replace(store: Store) -> None:
    assert store.get_tenant("acme") is None
    store.put_tenant(tenant("acme"))
    assert store.get_tenant("acme") == tenant("acme")
    renamed = tenant("acme").model_copy(update={"name": "Acme Corp"})
    store.put_tenant(renamed)
    assert store.get_tenant("acme") == renamed
    assert store.get_tenant("other") is None


def test_api_key_round_trip(store: Store) -> None:
    key = ApiKey(key_hash="sha256:abc", tenant_id="acme", label="ci", created_at=NOW.isoformat())
    assert store.get_api_key("sha256:abc") is None
    store.put_api_key(key)
    assert store.get_api_key("sha256:abc") == key


# -- drafts and versions -------------------------------------------------------------------------


def test_draft_create_replace_and_etag(store: Store) -> None:
    assert store.get_draft("acme", "main") is None
    store.save_draft(draft("e1", body='{"a":1}'), expected_etag=None)
    assert store.get_draft("acme", "main") == draft("e1", body='{"a":1}')
    store.save_draft(draft("e2", body='{"a":2}'), expected_etag="e1")
    assert store.get_draft("acme", "main") == draft("e2", body='{"a":2}')
    store.save_draft(draft("e3", body='{"a":3}'), expected_etag=None)  # None: unconditional
    assert store.get_draft("acme", "main") == draft("e3", body='{"a":3}')
    assert store.get_draft("other", "main") is None
    assert store.get_draft("acme", "other") is None


def test_draft_stale_etag_conflicts_and_changes_nothing(store: Store) -> None:
    store.save_draft(draft("e1", body='{"a":1}'), expected_etag=None)
    store.save_draft(draft("e2", body='{"a":2}'), expected_etag="e1")
    with pytest.raises(Conflict):
        store.save_draft(draft("e3", body='{"lost":true}'), expected_etag="e1")
    assert store.get_draft("acme", "main") == draft("e2", body='{"a":2}')


def test_draft_etag_on_missing_draft_conflicts_and_creates_nothing(store: Store) -> None:
    with pytest.raises(Conflict):
        store.save_draft(draft("e1"), expected_etag="e0")
    assert store.get_draft("acme", "main") is None


def test_concurrent_draft_saves_with_one_etag_one_wins(store: Store) -> None:
    store.save_draft(draft("e0"), expected_etag=None)
    results = race(2, lambda i: store.save_draft(draft(f"e1-{i}", body=f'{{"by":{i}}}'), "e0"))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not None), results
    assert store.get_draft("acme", "main") == draft(f"e1-{winners[0]}", body=f'{{"by":{winners[0]}}}')


def test_version_round_trip_and_immutable(store: Store) -> None:
    v1 = version("1.0.0", "2026-03-01T10:00:00+00:00", body='{"v":1}')
    assert store.get_version("acme", "main", "1.0.0") is None
    store.create_version(v1)
    assert store.get_version("acme", "main", "1.0.0") == v1
    with pytest.raises(Conflict):
        store.create_version(version("1.0.0", "2026-03-01T11:00:00+00:00", body='{"v":"changed"}'))
    assert store.get_version("acme", "main", "1.0.0") == v1
    assert store.get_version("other", "main", "1.0.0") is None


def test_list_versions_by_created_at_scoped_to_flow(store: Store) -> None:
    made = [version(v, f"2026-03-0{day}T10:00:00+00:00") for v, day in
            [("1.1.0", 3), ("1.0.0", 1), ("2.0.0", 4), ("1.0.1", 2)]]  # fmt: skip
    for v in made:
        store.create_version(v)
    store.create_version(version("9.0.0", "2026-03-02T00:00:00+00:00", flow_id="other"))
    store.create_version(version("9.0.0", "2026-03-02T00:00:00+00:00", tenant_id="rival"))
    assert store.list_versions("acme", "main") == sorted(made, key=lambda v: v.created_at)
    assert [v.version for v in store.list_versions("acme", "main")] == ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    assert store.list_versions("acme", "none") == []


# -- schedules -----------------------------------------------------------------------------------


def test_schedules_round_trip_list_and_delete(store: Store) -> None:
    assert store.get_schedule("acme", "office") is None
    for name in ("support", "office", "night"):
        store.put_schedule(schedule(name))
    store.put_schedule(schedule("office", tenant_id="rival"))
    assert store.get_schedule("acme", "office") == schedule("office")
    store.put_schedule(schedule("office", zone="America/New_York"))
    assert store.get_schedule("acme", "office") == schedule("office", zone="America/New_York")
    assert [s.name for s in store.list_schedules("acme")] == ["night", "office", "support"]
    assert store.delete_schedule("acme", "night") is True
    assert store.delete_schedule("acme", "night") is False
    assert store.get_schedule("acme", "night") is None
    assert [s.name for s in store.list_schedules("acme")] == ["office", "support"]
    assert store.list_schedules("rival") == [schedule("office", tenant_id="rival")]


# -- numbers and deployments ---------------------------------------------------------------------

A, B, C = "+15551230001", "+15551230002", "+15551230003"


def test_number_round_trip_and_create_conflict(store: Store) -> None:
    assert store.get_number(A) is None
    store.create_number(number(A))
    assert store.get_number(A) == number(A)
    with pytest.raises(Conflict):
        store.create_number(number(A, tenant_id="rival"))
    assert store.get_number(A) == number(A)


def test_deploy_points_every_number_and_appends_history(store: Store) -> None:
    store.create_number(number(A))
    store.create_number(number(B))
    d1 = deployment("d1", [A, B], created_at="2026-03-01T10:00:00+00:00")
    store.deploy(d1, {A: None, B: None})
    assert store.get_number(A) == number(A).model_copy(update={"deployment": d1})
    assert store.get_number(B) == number(B).model_copy(update={"deployment": d1})
    assert store.get_deployment("acme", "d1") == d1
    d2 = deployment("d2", [A], created_at="2026-03-01T11:00:00+00:00", v="1.1.0")
    store.deploy(d2, {A: "d1"})
    assert store.get_number(A).deployment == d2  # type: ignore[union-attr]
    assert store.get_number(B).deployment == d1  # type: ignore[union-attr]
    assert store.list_deployments("acme") == [d2, d1]
    assert store.get_deployment("rival", "d1") is None
    assert store.get_deployment("acme", "nope") is None


@pytest.mark.parametrize("owner", ["rival", None])
def test_deploy_foreign_or_unknown_number_changes_nothing(store: Store, owner: str | None) -> None:
    store.create_number(number(A))
    if owner is not None:
        store.create_number(number(B, tenant_id=owner))
    with pytest.raises(Conflict):
        store.deploy(deployment("d1", [A, B]), {A: None, B: None})
    assert store.get_number(A) == number(A)
    assert store.get_number(B) == (number(B, tenant_id=owner) if owner else None)
    assert store.list_deployments("acme") == []
    assert store.get_deployment("acme", "d1") is None


def test_deploy_expected_mismatch_changes_nothing(store: Store) -> None:
    for e164 in (A, B, C):
        store.create_number(number(e164))
    d1 = deployment("d1", [A, B], created_at="2026-03-01T10:00:00+00:00")
    store.deploy(d1, {A: None, B: None})
    # A and C match; B does not (it runs d1, not none): nothing may move.
    with pytest.raises(Conflict):
        store.deploy(deployment("d2", [A, C, B], created_at="2026-03-01T11:00:00+00:00"),
                     {A: "d1", C: None, B: None})  # fmt: skip
    # a number left out of ``expected`` must have no deployment: A has one
    with pytest.raises(Conflict):
        store.deploy(deployment("d3", [C, A], created_at="2026-03-01T12:00:00+00:00"), {C: None})
    with_d1 = {e164: number(e164).model_copy(update={"deployment": d1}) for e164 in (A, B)}
    assert store.get_number(A) == with_d1[A]
    assert store.get_number(B) == with_d1[B]
    assert store.get_number(C) == number(C)
    assert store.list_deployments("acme") == [d1]
    assert store.get_deployment("acme", "d2") is None
    assert store.get_deployment("acme", "d3") is None


def test_concurrent_deploys_same_expectation_one_winner(store: Store) -> None:
    store.create_number(number(A))
    current: str | None = None
    history: list[str] = []
    for round_no in range(3):
        ids = [f"r{round_no}-x", f"r{round_no}-y"]

        def attempt(i: int, ids: list[str] = ids, current: str | None = current, r: int = round_no) -> None:
            store.deploy(deployment(ids[i], [A], created_at=f"2026-03-0{r + 1}T10:00:0{i}+00:00"),
                         {A: current})  # fmt: skip

        results = race(2, attempt)
        winners = [ids[i] for i, r in enumerate(results) if r is None]
        assert len(winners) == 1, results
        assert all(isinstance(r, Conflict) for r in results if r is not None), results
        pointer = store.get_number(A).deployment  # type: ignore[union-attr]
        assert pointer is not None and pointer.id == winners[0]
        history.insert(0, winners[0])
        listed = store.list_deployments("acme")
        assert [d.id for d in listed] == history  # exactly one new entry, the pointer's
        assert listed[0] == pointer
        loser = next(i for i in ids if i != winners[0])
        assert store.get_deployment("acme", loser) is None
        current = winners[0]


def test_list_deployments_newest_first_limited_and_scoped(store: Store) -> None:
    for e164 in (A, B):
        store.create_number(number(e164))
    store.create_number(number(C, tenant_id="rival"))
    made = []
    prev: dict[str, str | None] = {A: None, B: None}
    stamps = ["2026-03-01T09:00:00+00:00", "2026-03-01T10:00:00+00:00", "2026-03-01T10:00:00+00:00",
              "2026-03-01T11:00:00+00:00", "2026-03-02T08:00:00+00:00"]  # fmt: skip
    for i, stamp in enumerate(stamps):
        target = A if i % 2 == 0 else B
        d = deployment(f"d{i}", [target], created_at=stamp)
        store.deploy(d, {target: prev[target]})
        prev[target] = d.id
        made.append(d)
    store.deploy(deployment("rival-1", [C], tenant_id="rival", created_at="2026-03-09T00:00:00+00:00"),
                 {C: None})  # fmt: skip
    newest_first = sorted(made, key=lambda d: (d.created_at, d.id), reverse=True)
    assert store.list_deployments("acme") == newest_first
    assert [d.id for d in store.list_deployments("acme", limit=3)] == ["d4", "d3", "d2"]
    assert [d.id for d in store.list_deployments("rival")] == ["rival-1"]
    assert store.list_deployments("nobody") == []


# -- calls ---------------------------------------------------------------------------------------


def test_call_round_trip(store: Store) -> None:
    assert store.read_call("CA1") is None
    record = call("CA1", state={"cursor": "menu", "widgets": {"menu": {"value": "2"}}, "path": ["a"]})
    assert store.create_call(record) is True
    found = store.read_call("CA1")
    assert found is not None
    assert found[0] == record
    assert found[0].expires_at == record.expires_at and found[0].expires_at.tzinfo is not None


def test_create_call_twice_second_is_false_and_writes_nothing(store: Store) -> None:
    assert store.create_call(call("CA1", seq=0)) is True
    assert store.create_call(call("CA1", seq=7, state={"cursor": "other"})) is False
    found = store.read_call("CA1")
    assert found is not None and found[0] == call("CA1", seq=0)


def test_write_call_compare_and_set(store: Store) -> None:
    store.create_call(call("CA1"))
    found = store.read_call("CA1")
    assert found is not None
    first, token = found
    step1 = first.model_copy(update={"seq": 1, "state": state_of("CA1", cursor="menu"), "twiml": "<Response/>"})
    assert store.write_call(step1, token) is True
    after = store.read_call("CA1")
    assert after is not None and after[0] == step1
    stale = first.model_copy(update={"seq": 1, "state": state_of("CA1", cursor="stale")})
    assert store.write_call(stale, token) is False  # the token predates step1
    again = store.read_call("CA1")
    assert again is not None and again[0] == step1
    step2 = step1.model_copy(update={"seq": 2, "status": "ended", "outcome": "completed"})
    assert store.write_call(step2, again[1]) is True
    final = store.read_call("CA1")
    assert final is not None and final[0] == step2


def test_concurrent_writes_with_one_token_exactly_one_lands(store: Store) -> None:
    store.create_call(call("CA1"))
    for round_no in range(4):
        found = store.read_call("CA1")
        assert found is not None
        base, token = found
        candidates = [base.model_copy(update={"seq": base.seq + 1,
                                              "state": state_of("CA1", variables={"by": i, "round": round_no})})
                      for i in range(2)]  # fmt: skip

        def attempt(i: int, c: list[Any] = candidates, t: Any = token) -> bool:
            return store.write_call(c[i], t)

        results = race(2, attempt)
        assert sorted(results) == [False, True], results
        stored = store.read_call("CA1")
        assert stored is not None and stored[0] == candidates[results.index(True)]


def test_active_calls_expired(store: Store) -> None:
    store.create_call(call("CA-old", expires_in=timedelta(minutes=-30)))
    store.create_call(call("CA-edge", expires_in=timedelta(0)))
    store.create_call(call("CA-live", expires_in=timedelta(minutes=5)))
    store.create_call(call("CA-ended", expires_in=timedelta(minutes=-30), status="ended"))
    found = store.active_calls_expired(NOW)
    assert sorted(found) == ["CA-edge", "CA-old"]
    assert len(store.active_calls_expired(NOW, limit=1)) == 1
    assert store.active_calls_expired(NOW - timedelta(hours=1)) == []
    assert sorted(store.active_calls_expired(NOW + timedelta(minutes=10))) == ["CA-edge", "CA-live", "CA-old"]


def test_list_calls_newest_first_filtered_limited_and_scoped(store: Store) -> None:
    def at(sid: str, minutes: int, status: Literal["active", "ended"] = "active", tenant_id: str = "acme") -> None:
        stamp = (NOW + timedelta(minutes=minutes)).isoformat()
        store.create_call(call(sid, status=status).model_copy(
            update={"created_at": stamp, "tenant_id": tenant_id}))  # fmt: skip

    at("CA-1", 1)
    at("CA-2", 2, "ended")
    at("CA-3", 3)
    at("CA-3b", 3, "ended")  # same second as CA-3: ties by call sid, descending
    at("CA-4", 4, tenant_id="rival")
    assert [c.call_sid for c in store.list_calls("acme")] == ["CA-3b", "CA-3", "CA-2", "CA-1"]
    assert [c.call_sid for c in store.list_calls("acme", active=True)] == ["CA-3", "CA-1"]
    assert [c.call_sid for c in store.list_calls("acme", active=False)] == ["CA-3b", "CA-2"]
    assert [c.call_sid for c in store.list_calls("acme", limit=2)] == ["CA-3b", "CA-3"]
    assert [c.call_sid for c in store.list_calls("acme", active=True, limit=1)] == ["CA-3"]
    assert store.list_calls("acme", limit=0) == []
    assert [c.call_sid for c in store.list_calls("rival")] == ["CA-4"]
    assert store.list_calls("nobody") == []
    first = store.list_calls("acme", limit=1)[0]
    found = store.read_call("CA-3b")
    assert found is not None and first == found[0]  # whole records, as read_call gives them


def test_returned_records_do_not_alias_stored_documents(store: Store) -> None:
    written = call("CA1", state={"variables": {"order": {"items": [1, 2]}}})
    store.create_call(written)
    written.state.variables["order"]["items"].append("after the write")
    found = store.read_call("CA1")
    assert found is not None
    found[0].state.variables["order"]["items"].append(3)  # a careless caller
    again = store.read_call("CA1")
    assert again is not None and again[0].state.variables == {"order": {"items": [1, 2]}}


# Any JSON a flow may hold, e.g. a parsed HTTP response: nested arrays, odd keys, big integers.
_json_scalar = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))  # fmt: skip
_json_key = st.text(max_size=6) | st.sampled_from(["", "a.b", "__name__", "x/y", "`k`", "$", "0"])
_json = st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_json_key, inner, max_size=3), max_leaves=12)  # fmt: skip
_sids = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.dictionaries(_json_key, _json, max_size=4), update=st.dictionaries(_json_key, _json, max_size=3))
def test_any_json_state_round_trips(store: Store, state: dict[str, Any], update: dict[str, Any]) -> None:
    sid = f"CA-prop-{next(_sids)}"
    record = call(sid, state={"variables": state}).model_copy(update={"events": [{"type": "x", "data": state}]})
    assert store.create_call(record) is True
    found = store.read_call(sid)
    assert found is not None and found[0] == record
    nxt = record.model_copy(update={"seq": 1, "state": state_of(sid, variables=update), "pending_http": {"h": update}})
    assert store.write_call(nxt, found[1]) is True
    again = store.read_call(sid)
    assert again is not None and again[0] == nxt


# -- ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a/b", "", "__meta__", ".", "..", "x" * 1501])
def test_ids_that_are_not_document_ids_are_refused_by_every_store(store: Store, bad: str) -> None:
    """The API validates ids first; a store is the last line, and fails the same way everywhere."""
    attempts = [lambda: store.get_tenant(bad), lambda: store.get_draft("acme", bad),
                lambda: store.get_version("acme", "main", bad), lambda: store.list_versions(bad, "main"),
                lambda: store.get_schedule("acme", bad), lambda: store.get_deployment("acme", bad),
                lambda: store.put_tenant(tenant().model_copy(update={"id": bad})),
                lambda: store.list_schedules(bad)]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(ValueError, match="document id"):
            attempt()
    assert store.get_tenant("acme") is None  # nothing was written under another name


# -- listing and deleting ------------------------------------------------------------------------


def test_list_drafts_by_flow_id_scoped_to_tenant(store: Store) -> None:
    for flow_id in ("zeta", "alpha", "mid"):
        store.save_draft(draft("e", flow_id=flow_id), None)
    store.save_draft(draft("e", tenant_id="rival", flow_id="beta"), None)
    assert [d.flow_id for d in store.list_drafts("acme")] == ["alpha", "mid", "zeta"]
    assert store.list_drafts("acme")[0] == draft("e", flow_id="alpha")
    assert store.list_drafts("nobody") == []


def test_list_version_numbers_in_creation_order(store: Store) -> None:
    for v, day in (("1.1.0", 3), ("1.0.0", 1), ("1.0.1", 2)):
        store.create_version(version(v, f"2026-03-0{day}T10:00:00+00:00"))
    store.create_version(version("9.0.0", "2026-03-01T00:00:00+00:00", flow_id="other"))
    assert store.list_version_numbers("acme", "main") == ["1.0.0", "1.0.1", "1.1.0"]
    assert store.list_version_numbers("acme", "none") == []


def test_delete_flow_removes_draft_and_versions_and_keeps_the_retired_marker(store: Store) -> None:
    from common.adapters.ports import RetiredFlow

    store.save_draft(draft("e1"), None)
    store.save_draft(draft("e1", flow_id="keep"), None)
    for v, day in (("1.0.0", 1), ("1.1.0", 2)):
        store.create_version(version(v, f"2026-03-0{day}T10:00:00+00:00"))
    store.create_version(version("1.0.0", "2026-03-01T10:00:00+00:00", flow_id="keep"))
    retired = RetiredFlow(tenant_id="acme", flow_id="main", last_version="1.1.0", deleted_at=NOW.isoformat(),
                          deleted_by="ana")  # fmt: skip
    assert store.get_retired_flow("acme", "main") is None
    assert store.delete_flow(retired) is True
    assert store.get_draft("acme", "main") is None
    assert store.list_versions("acme", "main") == []
    assert store.get_version("acme", "main", "1.0.0") is None
    assert store.get_retired_flow("acme", "main") == retired
    assert store.get_draft("acme", "keep") == draft("e1", flow_id="keep")  # the other flow is untouched
    assert store.list_version_numbers("acme", "keep") == ["1.0.0"]
    assert store.delete_flow(retired) is False  # nothing left to delete
    store.create_version(version("1.0.0", "2026-03-05T10:00:00+00:00"))  # the id is free again
    assert store.list_version_numbers("acme", "main") == ["1.0.0"]


def test_list_numbers_scoped_to_tenant(store: Store) -> None:
    for e164 in (C, A):
        store.create_number(number(e164))
    store.create_number(number(B, tenant_id="rival"))
    assert store.list_numbers("acme") == [number(A), number(C)]
    assert store.list_numbers("rival") == [number(B, tenant_id="rival")]
    assert store.list_numbers("nobody") == []


def test_release_number_only_the_owners_and_never_while_deployed(store: Store) -> None:
    store.create_number(number(A))
    store.create_number(number(B))
    store.deploy(deployment("d1", [B]), {B: None})
    assert store.release_number(A, "rival") is False
    assert store.get_number(A) == number(A)
    assert store.release_number(C, "acme") is False
    with pytest.raises(Conflict):
        store.release_number(B, "acme")
    assert store.get_number(B) is not None and store.get_number(B).deployment is not None  # type: ignore[union-attr]
    assert store.release_number(A, "acme") is True
    assert store.get_number(A) is None
    store.create_number(number(A, tenant_id="rival"))  # released numbers can be claimed again
    assert store.get_number(A) == number(A, tenant_id="rival")


def test_undeploy_points_numbers_at_nothing_and_is_history(store: Store) -> None:
    store.create_number(number(A))
    store.create_number(number(B))
    d1 = deployment("d1", [A, B], created_at="2026-03-01T10:00:00+00:00")
    store.deploy(d1, {A: None, B: None})
    ran = {"id": "d1", "flow_id": "main", "version": "1.0.0"}
    off = deployment("d2", [A], created_at="2026-03-01T11:00:00+00:00").model_copy(
        update={"kind": "undeploy", "version": "", "previous": {A: ran}})
    with pytest.raises(Conflict):
        store.deploy(off, {A: None})  # it must still run d1
    store.deploy(off, {A: "d1"})
    assert store.get_number(A) == number(A)
    assert store.get_number(B).deployment == d1  # type: ignore[union-attr]
    assert store.list_deployments("acme") == [off, d1]
    assert store.release_number(A, "acme") is True


def test_ping(store: Store) -> None:
    store.ping()


# -- platform: tenants, keys, the Twilio account index -------------------------------------------


def test_create_tenant_only_once_and_list_tenants(store: Store) -> None:
    assert store.create_tenant(tenant("zed")) is True
    assert store.create_tenant(tenant("acme")) is True
    assert store.create_tenant(tenant("acme").model_copy(update={"name": "Impostor"})) is False
    assert store.get_tenant("acme") == tenant("acme")
    assert store.list_tenants() == [tenant("acme"), tenant("zed")]


def test_api_keys_listed_per_tenant(store: Store) -> None:
    first = ApiKey(key_hash="h1", tenant_id="acme", key_id="key_b", created_at="2026-03-01T10:00:00+00:00")
    second = ApiKey(key_hash="h2", tenant_id="acme", key_id="key_a", role="viewer",
                    created_at="2026-03-02T10:00:00+00:00")  # fmt: skip
    for key in (second, first, ApiKey(key_hash="h3", tenant_id="rival", key_id="key_c")):
        store.put_api_key(key)
    assert store.list_api_keys("acme") == [first, second]
    revoked = second.model_copy(update={"revoked": True, "revoked_at": "2026-03-03T00:00:00+00:00"})
    store.put_api_key(revoked)
    assert store.get_api_key("h2") == revoked
    assert store.list_api_keys("acme") == [first, revoked]
    assert store.list_api_keys("nobody") == []


def test_twilio_account_index_belongs_to_one_tenant(store: Store) -> None:
    from common.adapters.ports import TwilioAccount

    sid = "AC" + "1" * 32
    link = TwilioAccount(account_sid=sid, tenant_id="acme", secret_name="ivr-twilio-x", linked_at=NOW.isoformat())
    assert store.get_twilio_account(sid) is None
    assert store.claim_twilio_account(link) is True
    assert store.get_twilio_account(sid) == link
    relinked = link.model_copy(update={"secret_name": "ivr-twilio-y"})
    assert store.claim_twilio_account(relinked) is True  # the same tenant replaces its own entry
    assert store.claim_twilio_account(link.model_copy(update={"tenant_id": "rival"})) is False
    assert store.get_twilio_account(sid) == relinked
    assert store.release_twilio_account(sid, "rival") is False
    assert store.release_twilio_account(sid, "acme") is True
    assert store.get_twilio_account(sid) is None
    assert store.release_twilio_account(sid, "acme") is False


def test_concurrent_claims_of_one_account_one_tenant_wins(store: Store) -> None:
    from common.adapters.ports import TwilioAccount

    sid = "AC" + "2" * 32
    results = race(2, lambda i: store.claim_twilio_account(
        TwilioAccount(account_sid=sid, tenant_id=f"t{i}", secret_name="s")))
    assert sorted(results) == [False, True], results
    owner = store.get_twilio_account(sid)
    assert owner is not None and owner.tenant_id == f"t{results.index(True)}"
