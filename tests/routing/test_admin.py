"""Departments and agents through the service (common/service/routing_admin.py) on the memory store."""

from __future__ import annotations

from typing import Any

import pytest
from routing_harness import Harness

from common.service.admin import ApiError


def refused(work: Any, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        work()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message
    return caught.value


def test_department_crud_with_etags(harness: Harness) -> None:
    admin = harness.service.admin
    status, created = admin.put_department("acme", "sales", {"name": "Sales", "strategy": "ringAll"})
    assert status == 201 and created["strategy"] == "ringAll" and created["ringTimeoutSeconds"] == 20
    view, etag = admin.get_department("acme", "sales")
    assert etag == created["etag"] and view["name"] == "Sales"
    forms: list[Any] = [lambda e: e, lambda e: f'"{e}"', lambda e: f'"other", "{e}"', lambda e: "*", lambda e: [e]]
    for form in forms:  # bare, quoted, a list, any, and as the web layer parses it
        status, updated = admin.put_department("acme", "sales", {"name": "Sales"}, if_match=form(etag))
        assert status == 200
        etag = updated["etag"]
    for stale in ("stale", '"stale"', f'W/"{etag}"', ["stale"]):
        error = refused(lambda s=stale: admin.put_department("acme", "sales", {"name": "Lost"}, if_match=s),
                        409, "conflict")  # fmt: skip
        assert etag in error.message
    assert admin.get_department("acme", "sales")[0]["name"] == "Sales"  # nothing changed
    refused(lambda: admin.put_department("acme", "new", {"name": "N"}, if_match="*"), 409, "conflict")
    assert [d["id"] for d in admin.list_departments("acme")] == ["sales"]


def test_another_tenants_department_is_exactly_a_missing_one(harness: Harness) -> None:
    harness.department("sales", tenant="acme")
    admin = harness.service.admin
    theirs = refused(lambda: admin.get_department("globex", "sales"), 404, "not_found")
    missing = refused(lambda: admin.get_department("globex", "nothing"), 404, "not_found")
    assert theirs.message.replace("sales", "X") == missing.message.replace("nothing", "X")
    refused(lambda: admin.delete_department("globex", "sales"), 404, "not_found")
    assert admin.list_departments("globex") == []
    harness.department("sales", tenant="globex", strategy="random")  # their own "sales" is separate
    assert admin.get_department("acme", "sales")[0]["strategy"] == "longestIdle"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "S", "ringTimeoutSeconds": 1}, "ringTimeoutSeconds"),
    ({"name": "S", "strategy": "loudest"}, "strategy"),
    ({"name": "S", "joinWhenEmpty": "sometimes"}, "joinWhenEmpty"),
    ({"name": "S", "hold": {"musicUrl": "not a url"}}, "hold.musicUrl"),
    ({"name": "S", "hold": {"escapeMenu": {"voicemail": "perhaps"}}}, "hold.escapeMenu.voicemail"),
    ({"name": "S", "escalation": [{"afterSeconds": 5, "action": "timeout"}, {"afterSeconds": 9, "action": "x"}]},
     "escalation[1].action"),
    ({"name": "S", "maxQueueSize": 0}, "maxQueueSize"),
    ({"strategy": "random"}, "name"),
    ({"name": "S", "color": "red"}, "color"),
])  # fmt: skip
def test_invalid_departments_name_the_field_and_store_nothing(harness: Harness, body: dict[str, Any],
                                                              field: str) -> None:  # fmt: skip
    error = refused(lambda: harness.service.admin.put_department("acme", "sales", body), 422, "department_invalid")
    assert field in [d["field"] for d in error.details] and error.message.startswith(error.details[0]["field"])
    assert harness.store.get_department("acme", "sales") is None


@pytest.mark.parametrize(("existing", "ladder", "field", "fragment"), [
    ({}, [{"afterSeconds": 60, "action": "overflow", "department": "nowhere"}], "escalation[0].department",
     "'nowhere' does not exist"),
    ({}, [{"afterSeconds": 60, "action": "overflow", "department": "sales"}], "escalation[0].department", "itself"),
    ({"sales": [], "support": [{"afterSeconds": 30, "action": "overflow", "department": "sales"}]},
     [{"afterSeconds": 5, "action": "raisePriority", "by": 5}, {"afterSeconds": 60, "action": "offerCallback"},
      {"afterSeconds": 90, "action": "overflow", "department": "support"}],
     "escalation[2].department", "overflow loop: sales -> support -> sales"),
])  # fmt: skip
def test_ladders_pointing_at_missing_departments_or_looping_are_refused(
        harness: Harness, existing: dict[str, list[dict[str, Any]]], ladder: list[dict[str, Any]], field: str,
        fragment: str) -> None:  # fmt: skip
    for dept, steps in existing.items():
        harness.department(dept, escalation=steps)
    before = harness.store.get_department("acme", "sales")
    error = refused(lambda: harness.service.admin.put_department("acme", "sales", {"name": "S", "escalation": ladder}),
                    422, "department_invalid")  # fmt: skip
    assert error.details[0]["field"] == field and fragment in error.details[0]["message"]
    assert harness.store.get_department("acme", "sales") == before  # nothing stored changed


def test_department_ids_are_checked(harness: Harness) -> None:
    error = refused(lambda: harness.service.admin.put_department("acme", "bad id!", {"name": "S"}), 400,
                    "invalid_request")  # fmt: skip
    assert error.details[0]["field"] == "departmentId"


def test_department_delete_rules(harness: Harness) -> None:
    admin = harness.service.admin
    harness.department("support")
    harness.department("sales", joinWhenEmpty="always",
                       escalation=[{"afterSeconds": 60, "action": "overflow", "department": "support"}])
    error = refused(lambda: admin.delete_department("acme", "support"), 409, "department_in_use")
    assert "sales.escalation[0].department" in error.message
    harness.agent("ann", ("sales",))
    refused(lambda: admin.delete_department("acme", "sales"), 409, "department_in_use")
    admin.put_agent("acme", "ann", {"name": "Ann", "contact": "+15550001111",
                                    "departments": [{"department": "support"}]})  # fmt: skip
    assert harness.route("CA1").outcome == "queued"
    error = refused(lambda: admin.delete_department("acme", "sales"), 409, "department_in_use")
    assert "1 caller(s)" in error.message
    harness.service.call_ended("acme", "CA1", harness.clock())
    refused(lambda: admin.delete_department("acme", "sales", if_match="stale"), 409, "conflict")
    admin.delete_department("acme", "sales", if_match=admin.get_department("acme", "sales")[1])
    refused(lambda: admin.get_department("acme", "sales"), 404, "not_found")


def test_agent_crud_keeps_live_status_and_etags_cover_settings_only(harness: Harness) -> None:
    harness.department("sales")
    harness.department("vip")
    admin = harness.service.admin
    status, ann = admin.put_agent("acme", "ann", {"name": "Ann", "contact": "+1 (555) 000-1111",
                                                  "departments": [{"department": "sales", "tier": 2}]})  # fmt: skip
    assert status == 201 and ann["status"] == "offline" and ann["contact"] == "+15550001111"
    admin.set_status("acme", "ann", {"status": "available"})  # a live change: the admin's etag still holds
    moved = {"name": "Ann L", "contact": "sip:ann@pbx.example.com", "departments": [{"department": "vip"}]}
    status, ann2 = admin.put_agent("acme", "ann", moved, if_match=ann["etag"])
    assert status == 200 and ann2["status"] == "available" and ann2["name"] == "Ann L"
    assert harness.agent_record("ann").department_ids == ("vip",)
    refused(lambda: admin.put_agent("acme", "ann", {"name": "X", "contact": "client:x",
                                                    "departments": [{"department": "vip"}]}, if_match=ann["etag"]),
            409, "conflict")  # fmt: skip
    assert [a["id"] for a in admin.list_agents("acme", "vip")] == ["ann"] and admin.list_agents("acme", "sales") == []
    refused(lambda: admin.get_agent("globex", "ann"), 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "A", "contact": "bob@example.com", "departments": [{"department": "sales"}]}, "contact"),
    ({"name": "A", "contact": "sip:nobody", "departments": [{"department": "sales"}]}, "contact"),
    ({"name": "A", "contact": "+15550001111", "departments": [{"department": "sales", "tier": 0}]},
     "departments[0].tier"),
    ({"name": "A", "contact": "+15550001111", "departments": []}, "departments"),
    ({"name": "A", "contact": "+15550001111", "departments": [{"department": "sales"}, {"department": "nowhere"}]},
     "departments[1].department"),
])  # fmt: skip
def test_invalid_agents_name_the_field(harness: Harness, body: dict[str, Any], field: str) -> None:
    harness.department("sales")
    error = refused(lambda: harness.service.admin.put_agent("acme", "ann", body), 422, "agent_invalid")
    assert field in [d["field"] for d in error.details]
    assert harness.store.get_agent("acme", "ann") is None


def test_illegal_status_changes_are_409_naming_the_allowed_ones(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann", status="available")
    admin = harness.service.admin
    error = refused(lambda: admin.set_status("acme", "ann", {"status": "busy"}), 400, "invalid_request")
    assert error.details[0]["field"] == "status"
    harness.route("CA1")  # ann is offered the caller
    assert harness.agent_record("ann").status == "offered"
    error = refused(lambda: admin.set_status("acme", "ann", {"status": "offline"}), 409, "illegal_transition")
    assert error.details == {"field": "status", "current": "offered", "requested": "offline", "allowed": []}
    assert harness.agent_record("ann").status == "offered"


def test_an_agent_becoming_available_is_offered_the_waiting_caller(harness: Harness) -> None:
    harness.department("sales", joinWhenEmpty="always")
    harness.agent("ann", status="away")
    result = harness.route("CA1")
    assert result.entry.status == "waiting"
    harness.service.admin.set_status("acme", "ann", {"status": "available"})
    assert harness.entry("CA1").status == "assigned" and harness.agent_record("ann").status == "offered"
    assert harness.calls.redirects[-1][1] == "CA1" and "/webhook/departments/connect?" in harness.calls.redirects[-1][2]


def test_agents_on_a_call_cannot_be_deleted(harness: Harness) -> None:
    harness.department("sales")
    harness.agent("ann")
    harness.route("CA1")
    refused(lambda: harness.service.admin.delete_agent("acme", "ann"), 409, "agent_busy")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x" * 65, "sales dept"])
def test_ids_no_record_can_have_are_missing_ones(harness: Harness, bad: str) -> None:
    admin = harness.service.admin
    reads = harness.store.reads
    refused(lambda: admin.get_department("acme", bad), 404, "not_found")
    refused(lambda: admin.get_agent("acme", bad), 404, "not_found")
    refused(lambda: admin.list_agents("acme", bad), 404, "not_found")
    refused(lambda: harness.service.route("acme", "CA1", None, bad, "normal"), 404, "not_found")
    assert harness.store.reads == reads  # none of them reached the store
