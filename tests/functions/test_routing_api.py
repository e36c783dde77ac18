"""The department and agent API over HTTP, on both stores: CRUD with etags, bad input that names the
field and changes nothing, roles (agent keys set only their own agent's status), the console view,
stats, and a container without routing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from apikit import body
from livestack import API_KEY_A, API_KEY_B, BASE, Stack, build_stack, client
from routingkit import RoutedStack, attach_routing, routed, routing_wsgi

from common import bootstrap
from common.adapters.ports import StoreUnavailable
from common.adapters.routing_store import MemoryRoutingStore

__all__ = ["routed"]  # a fixture

SALES = {"name": "Sales", "joinWhenEmpty": "always", "hold": {"announceEverySeconds": 30}}
VIEWER, EDITOR, DEPLOYER, AGENT = ("ivr_viewer_key_for_tests", "ivr_editor_key_for_tests",
                                   "ivr_deployer_key_for_tests", "ivr_agent_key_for_tests")  # fmt: skip


def agent_body(*departments: str, contact: str = "+15005550001", **extra: Any) -> dict[str, Any]:
    return {"name": "Ann", "contact": contact, "departments": [{"department": d} for d in departments], **extra}


def error_of(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = body(response)["error"]
    return found


def test_department_crud_with_etags(routed: RoutedStack) -> None:
    created = routed.api("PUT", "/api/departments/sales", json=SALES)
    assert created.status_code == 201, created.get_data(as_text=True)
    etag = body(created)["etag"]
    assert created.headers["ETag"] == f'"{etag}"'
    assert body(created)["joinWhenEmpty"] == "always" and body(created)["strategy"] == "longestIdle"
    got = routed.api("GET", "/api/departments/sales")
    assert (got.status_code, got.headers["ETag"], body(got)["name"]) == (200, f'"{etag}"', "Sales")

    before = routed.snapshot()
    stale = routed.api("PUT", "/api/departments/sales", json={**SALES, "name": "S2"}, headers={"If-Match": '"old"'})
    assert stale.status_code == 409 and error_of(stale)["code"] == "conflict"
    assert routed.snapshot() == before
    replaced = routed.api("PUT", "/api/departments/sales", json={**SALES, "name": "S2"},
                          headers={"If-Match": f'W/"x", "{etag}"'})  # fmt: skip
    assert replaced.status_code == 200 and body(replaced)["etag"] != etag
    assert [d["name"] for d in body(routed.api("GET", "/api/departments"))["departments"]] == ["S2"]

    weak = routed.api("DELETE", "/api/departments/sales", headers={"If-Match": f'W/"{body(replaced)["etag"]}"'})
    assert weak.status_code == 409  # If-Match compares strongly
    deleted = routed.api("DELETE", "/api/departments/sales", headers={"If-Match": body(replaced)["etag"]})
    assert (deleted.status_code, body(deleted)) == (200, {"deleted": "sales"})
    assert routed.api("GET", "/api/departments/sales").status_code == 404


def test_another_tenants_departments_are_missing_ones(routed: RoutedStack) -> None:
    assert routed.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    assert routed.api("GET", "/api/departments/sales", key=API_KEY_B).status_code == 404
    assert body(routed.api("GET", "/api/departments", key=API_KEY_B)) == {"departments": []}
    assert routed.api("DELETE", "/api/departments/sales", key=API_KEY_B).status_code == 404
    assert routed.api("GET", "/api/departments/sales/stats", key=API_KEY_B).status_code == 404


BAD_DEPARTMENTS = [
    ("missing overflow target", "sales", {**SALES, "escalation": [{"afterSeconds": 60, "action": "overflow",
                                                                   "department": "nowhere"}]},
     422, "escalation[0].department"),
    ("overflow loop", "support", {"name": "Support", "escalation": [{"afterSeconds": 60, "action": "overflow",
                                                                    "department": "sales"}]},
     422, "escalation[0].department"),
    ("unknown field", "sales", {**SALES, "colour": "red"}, 422, "colour"),
    ("ring timeout out of range", "sales", {**SALES, "ringTimeoutSeconds": 1}, 422, "ringTimeoutSeconds"),
    ("announcements too often", "sales", {**SALES, "hold": {"announceEverySeconds": 5}}, 422,
     "hold.announceEverySeconds"),
    ("ladder step arguments", "sales", {**SALES, "escalation": [{"afterSeconds": 5, "action": "raisePriority"}]},
     422, "escalation[0]"),
    ("reserved id route", "route", SALES, 405, None),
    ("reserved id tasks", "tasks", SALES, 404, None),
    ("id too long", "d" * 49, SALES, 404, None),
    ("Firestore's '..'", "..", SALES, 404, None),
    ("Firestore's reserved __x__", "__name__", SALES, 404, None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "department", "document", "status", "field"), BAD_DEPARTMENTS,
                         ids=[c[0] for c in BAD_DEPARTMENTS])  # fmt: skip
def test_bad_departments_name_the_field_and_store_nothing(routed: RoutedStack, case: str, department: str,
                                                         document: dict[str, Any], status: int,
                                                         field: str | None) -> None:  # fmt: skip
    assert routed.api("PUT", "/api/departments/sales", json={**SALES, "escalation": [
        {"afterSeconds": 60, "action": "overflow", "department": "support"}]}).status_code == 422  # no support yet
    assert routed.api("PUT", "/api/departments/support", json={"name": "Support"}).status_code == 201
    assert routed.api("PUT", "/api/departments/sales", json={**SALES, "escalation": [
        {"afterSeconds": 60, "action": "overflow", "department": "support"}]}).status_code == 201
    before, writes = routed.snapshot(), routed.store.writes
    response = routed.api("PUT", f"/api/departments/{department}", json=document)
    assert response.status_code == status, response.get_data(as_text=True)
    error = error_of(response)
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error
        assert error["message"].startswith(field)
    assert routed.snapshot() == before and routed.store.writes == writes


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), [
    ("{\"name\": \"Sales\"", "application/json", 400, "invalid_json"),
    ("name=Sales", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("{\"name\": NaN}", "application/json", 400, "invalid_json"),
    ("[" * 100 + "]" * 100, "application/json", 400, "too_deep"),
    ("{\"name\": \"" + "x" * (1024 * 1024) + "\"}", "application/json", 413, "too_large"),
])  # fmt: skip
def test_bodies_follow_the_admin_api_rules(routed: RoutedStack, raw: str, content_type: str, status: int,
                                           code: str) -> None:  # fmt: skip
    response = routed.api("PUT", "/api/departments/sales", data=raw, content_type=content_type)
    assert (response.status_code, error_of(response)["code"]) == (status, code)
    assert routed.store.list_departments(bootstrap.DEMO_TENANT) == []


def test_unknown_paths_and_methods(routed: RoutedStack) -> None:
    assert routed.api("GET", "/api/departments/sales/queue").status_code == 404
    wrong = routed.api("POST", "/api/departments/sales")
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "DELETE, GET, PUT")
    route = routed.api("GET", "/api/departments/route")
    assert (route.status_code, route.headers["Allow"]) == (405, "POST")
    assert routed.api("GET", "/api/agents/ann/status").headers["Allow"] == "POST"
    assert routed.api("GET", "/api/departments", key=None).status_code == 401


def test_agent_crud_and_the_department_filter(routed: RoutedStack) -> None:
    for name in ("sales", "support"):
        assert routed.api("PUT", f"/api/departments/{name}", json={"name": name.title()}).status_code == 201
    created = routed.api("PUT", "/api/agents/ann", json=agent_body("sales", contact="+1 (500) 555-0001"))
    assert created.status_code == 201, created.get_data(as_text=True)
    assert (body(created)["contact"], body(created)["status"]) == ("+15005550001", "offline")
    assert routed.api("PUT", "/api/agents/bob", json=agent_body("support", contact="client:bob")).status_code == 201
    assert [a["id"] for a in body(routed.api("GET", "/api/agents"))["agents"]] == ["ann", "bob"]
    assert [a["id"] for a in body(routed.api("GET", "/api/agents?department=support"))["agents"]] == ["bob"]
    assert routed.api("GET", "/api/agents?department=billing").status_code == 404
    malformed = routed.api("GET", "/api/agents?department=..")
    assert (malformed.status_code, error_of(malformed)["details"][0]["field"]) == (400, "query.department")
    got = routed.api("GET", "/api/agents/ann")
    assert got.headers["ETag"] == f'"{body(got)["etag"]}"'
    stale = routed.api("DELETE", "/api/agents/ann", headers={"If-Match": '"nope"'})
    assert stale.status_code == 409
    assert routed.api("DELETE", "/api/agents/ann", headers={"If-Match": got.headers["ETag"]}).status_code == 200
    assert routed.api("GET", "/api/agents/ann").status_code == 404
    in_use = routed.api("DELETE", "/api/departments/support")
    assert in_use.status_code == 409 and "bob" in error_of(in_use)["message"]


BAD_AGENTS = [
    ("invalid contact", agent_body("sales", contact="555-CALL-ANN"), 422, "contact"),
    ("sip without host", agent_body("sales", contact="sip:ann"), 422, "contact"),
    ("unknown department", agent_body("billing"), 422, "departments[0].department"),
    ("department twice", agent_body("sales", "sales"), 422, "departments"),
    ("tier out of range", {**agent_body(), "departments": [{"department": "sales", "tier": 10}]}, 422,
     "departments[0].tier"),
    ("no departments", agent_body(), 422, "departments"),
    ("api key id", agent_body("sales", apiKeyId="secret-key"), 422, "apiKeyId"),
    ("api key id type", agent_body("sales", apiKeyId=7), 422, "apiKeyId"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "document", "status", "field"), BAD_AGENTS, ids=[c[0] for c in BAD_AGENTS])
def test_bad_agents_name_the_field_and_store_nothing(routed: RoutedStack, case: str, document: dict[str, Any],
                                                    status: int, field: str) -> None:  # fmt: skip
    assert routed.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    assert routed.api("PUT", "/api/agents/ann", json=agent_body("sales")).status_code == 201
    before, writes = routed.snapshot(), routed.store.writes
    response = routed.api("PUT", "/api/agents/ann", json=document)
    assert response.status_code == status, response.get_data(as_text=True)
    assert field in [d["field"] for d in error_of(response)["details"]]
    assert routed.snapshot() == before and routed.store.writes == writes


def test_status_changes_and_illegal_ones(routed: RoutedStack) -> None:
    assert routed.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    assert routed.api("PUT", "/api/agents/ann", json=agent_body("sales")).status_code == 201
    became = routed.api("POST", "/api/agents/ann/status", json={"status": "available"})
    assert (became.status_code, body(became)["status"]) == (200, "available")
    bad = routed.api("POST", "/api/agents/ann/status", json={"status": "busy"})
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field"] == "status"
    assert routed.api("POST", "/api/agents/nobody/status", json={"status": "away"}).status_code == 404
    routed.live_call("CA" + "7" * 32)
    joined = routed.api("POST", "/api/departments/route", json={"callSid": "CA" + "7" * 32, "department": "sales"})
    assert body(joined)["status"] == "assigned"  # ann was free: she is being offered the caller
    illegal = routed.api("POST", "/api/agents/ann/status", json={"status": "away"})
    assert illegal.status_code == 409
    assert error_of(illegal)["details"]["current"] == "offered" and error_of(illegal)["details"]["allowed"] == []


def _keys(routed: RoutedStack) -> None:
    routed.add_key(VIEWER, "viewer", "key_viewer1")
    routed.add_key(EDITOR, "editor", "key_editor1")
    routed.add_key(DEPLOYER, "deployer", "key_deployer1")
    routed.add_key(AGENT, "agent", "key_agent1")


def test_roles(routed: RoutedStack) -> None:
    _keys(routed)
    assert routed.api("PUT", "/api/departments/sales", json=SALES, key=EDITOR).status_code == 201
    assert routed.api("GET", "/api/departments/sales", key=VIEWER).status_code == 200
    assert routed.api("GET", "/api/departments/sales/live", key=VIEWER).status_code == 200
    before = routed.snapshot()
    for key in (VIEWER, DEPLOYER, AGENT):
        refused = routed.api("PUT", "/api/departments/sales", json={**SALES, "name": "X"}, key=key)
        assert refused.status_code == 403
        assert error_of(refused)["details"]["allowed"] == ["admin", "editor"]
        assert error_of(refused)["message"].endswith("may not create or replace a department (PUT "
                                                     "/api/departments/{departmentId}); roles that may: admin, editor")
    assert routed.api("GET", "/api/agents", key=AGENT).status_code == 403  # agents read nothing but themselves
    assert routed.api("PUT", "/api/agents/ann", json=agent_body("sales"), key=DEPLOYER).status_code == 403
    refused = routed.api("POST", "/api/departments/route", json={"callSid": "CA1", "department": "sales"}, key=VIEWER)
    assert refused.status_code == 403 and error_of(refused)["details"]["allowed"] == ["admin", "editor", "deployer"]
    assert routed.snapshot() == before


def test_agent_keys_set_only_their_own_agents_status(routed: RoutedStack) -> None:
    _keys(routed)
    routed.add_key("ivr_second_agent_key_x", "agent", "key_agent2")
    assert routed.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    bound = routed.api("PUT", "/api/agents/ann", json=agent_body("sales", apiKeyId="key_agent1"), key=EDITOR)
    assert (bound.status_code, body(bound)["apiKeyId"]) == (201, "key_agent1")
    assert routed.api("PUT", "/api/agents/bob", json=agent_body("sales", contact="client:bob")).status_code == 201
    taken = routed.api("PUT", "/api/agents/bob", json=agent_body("sales", apiKeyId="key_agent1"))
    assert taken.status_code == 409 and error_of(taken)["details"][0]["field"] == "apiKeyId"
    assert "ann" in error_of(taken)["message"]

    mine = routed.api("POST", "/api/agents/ann/status", json={"status": "available"}, key=AGENT)
    assert (mine.status_code, body(mine)["status"]) == (200, "available")
    before = routed.snapshot()
    for target in ("bob", "nobody"):  # someone else, and no one: the same answer
        refused = routed.api("POST", f"/api/agents/{target}/status", json={"status": "away"}, key=AGENT)
        assert refused.status_code == 403
        assert error_of(refused)["message"].startswith(f"key key_agent1 is not bound to agent '{target}'")
    other = routed.api("POST", "/api/agents/ann/status", json={"status": "away"}, key="ivr_second_agent_key_x")
    assert other.status_code == 403
    assert routed.api("POST", "/api/agents/ann/status", json={"status": "away"}, key=VIEWER).status_code == 403
    assert routed.snapshot() == before
    assert body(routed.api("POST", "/api/agents/bob/status", json={"status": "away"}, key=EDITOR))["status"] == "away"

    kept = routed.api("PUT", "/api/agents/ann", json={**agent_body("sales"), "name": "Ann B"})  # no apiKeyId: kept
    assert body(kept)["apiKeyId"] == "key_agent1" and body(kept)["status"] == "available"
    unbound = routed.api("PUT", "/api/agents/ann", json=agent_body("sales", apiKeyId=None))
    assert body(unbound)["apiKeyId"] is None
    assert routed.api("POST", "/api/agents/ann/status", json={"status": "away"}, key=AGENT).status_code == 403
    assert routed.api("PUT", "/api/agents/bob", json=agent_body("sales", apiKeyId="key_agent1")).status_code == 200


def test_console_and_stats(routed: RoutedStack) -> None:
    assert routed.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    assert routed.api("PUT", "/api/agents/ann", json=agent_body("sales")).status_code == 201
    assert routed.api("PUT", "/api/agents/bob", json=agent_body("sales", contact="client:bob")).status_code == 201
    sids = [routed.live_call(f"CA{n}" + "0" * 31) for n in range(1, 4)]
    for sid, priority in zip(sids, ("low", "high", 70), strict=True):
        joined = routed.api("POST", "/api/departments/route", json={"callSid": sid, "department": "sales",
                                                                    "priority": priority})  # fmt: skip
        assert joined.status_code == 201, joined.get_data(as_text=True)
        routed.stack.clock.at += timedelta(seconds=10)
    assert routed.api("POST", "/api/agents/ann/status", json={"status": "available"}).status_code == 200
    assert routed.api("POST", "/api/agents/bob/status", json={"status": "away"}).status_code == 200
    live = body(routed.api("GET", "/api/departments/sales/live"))
    assert live["waiting"] == 2 and not live["truncated"]
    assert [(c["position"], c["callSid"], c["priority"]) for c in live["callers"]] == [(1, sids[2], 70),
                                                                                       (2, sids[0], 10)]  # fmt: skip
    assert live["callers"][1]["waitedSeconds"] == 30
    assert [(r["callSid"], r["agents"]) for r in live["ringing"]] == [(sids[1], ["ann"])]  # high first, to ann
    assert [a["id"] for a in live["agents"]["offered"]] == ["ann"] and live["agents"]["offered"][0]["entryId"]
    assert [a["id"] for a in live["agents"]["away"]] == ["bob"]
    assert live["agentCounts"] == {"available": 0, "offered": 1, "busy": 0, "wrap-up": 0, "away": 1, "offline": 0}
    stats = body(routed.api("GET", "/api/departments/sales/stats"))
    assert stats["department"] == "sales" and stats["waiting"] == 2
    assert routed.api("GET", "/api/departments/nope/live").status_code == 404


def test_a_container_without_routing_says_so(stack: Stack) -> None:
    def get(key: str | None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return client(routing_wsgi).get("/api/departments", headers=headers, base_url=BASE)

    response = get(API_KEY_A)
    assert (response.status_code, error_of(response)["code"]) == (503, "routing_not_configured")
    assert get(None).status_code == 401  # authentication comes first


class FailingStore(MemoryRoutingStore):
    def list_departments(self, tenant_id: str) -> Any:
        raise StoreUnavailable("deadline exceeded")


def test_a_store_outage_is_503_with_retry_after(memory_store: Any) -> None:
    routed_stack = attach_routing(build_stack(memory_store, all_examples=False), FailingStore())
    try:
        response = routed_stack.api("GET", "/api/departments")
        assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
        assert error_of(response)["code"] == "store_unavailable"
    finally:
        bootstrap.install(None)


def test_answers_are_json_with_the_error_shape(routed: RoutedStack) -> None:
    response = routed.api("GET", "/api/departments/none")
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.get_data(as_text=True)) == {"error": {
        "code": "not_found", "message": "department 'none' does not exist"}}


def test_the_demo_seed(routed: RoutedStack) -> None:
    from common.routing_demo import seed_routing_demo

    flow = json.loads((bootstrap.EXAMPLES / "support_line.json").read_text(encoding="utf-8"))
    targets = {n["data"]["target"]["department"] for n in flow["nodes"]
               if n["type"] == "transferNode" and n["data"]["target"]["type"] == "department"}  # fmt: skip
    assert targets == {"sales", "support"}
    assert seed_routing_demo(routed.svc) == {"departments": ["sales", "support"], "agents": ["sam", "sara", "sean",
                                                                                            "sky"]}  # fmt: skip
    departments = {d["id"]: d for d in body(routed.api("GET", "/api/departments"))["departments"]}
    assert set(departments) == {"sales", "support"} >= targets  # every department the demo flow transfers to
    assert departments["support"]["escalation"][1] == {"afterSeconds": 300, "action": "overflow", "to": None,
                                                       "by": None, "department": "sales"}  # fmt: skip
    for name in ("sales", "support"):
        live = body(routed.api("GET", f"/api/departments/{name}/live"))
        assert live["agentCounts"]["available"] == 2, live
    before = routed.snapshot()
    seed_routing_demo(routed.svc)  # again: the same departments and agents, statuses kept
    after = json.loads(routed.snapshot())
    assert [a["status"] for a in after["agents"]] == ["available"] * 4
    assert [d["settings"] for d in after["departments"]] == [d["settings"] for d in json.loads(before)["departments"]]


def test_the_demo_seed_without_routing(stack: Stack) -> None:
    from common.routing_demo import seed_routing_demo

    assert seed_routing_demo(stack.svc)["skipped"] == "routing is not configured"


def test_the_platform_admin_key_opens_no_tenant_routing(memory_store: Any) -> None:
    platform_key = "ivr_platform_admin_key_for_routing_tests"
    routed_stack = attach_routing(build_stack(memory_store, all_examples=False, IVR_PLATFORM_ADMIN_KEY=platform_key))
    try:
        refused = routed_stack.api("PUT", "/api/departments/sales", json=SALES, key=platform_key)
        assert refused.status_code == 403 and "manages tenants under /api/platform" in error_of(refused)["message"]
        assert routed_stack.store.list_departments(bootstrap.DEMO_TENANT) == []
        assert routed_stack.api("PUT", "/api/departments/sales", json=SALES).status_code == 201
    finally:
        bootstrap.install(None)
