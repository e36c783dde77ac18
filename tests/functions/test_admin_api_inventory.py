"""Listing and deleting through the admin API, on both stores: GET /api/flows and /api/numbers,
DELETE a flow or release a number (refused while deployed, with the reason), taking numbers off
(rollback with "undeploy"), health and whoami."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import any_stack, body, small_flow
from livestack import API_KEY_B, B_NUMBER, DEMO_NUMBER, Stack, build_stack

from common import bootstrap
from common.config import package_version

__all__ = ["any_stack"]

SPARE = "+15550004444"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, body(response)
    return body(response)


def undeploy(stack: Stack, flow_id: str, number: str, key: str | None = None) -> Any:
    kwargs = {"key": key} if key else {}
    return stack.api("POST", f"/api/flows/{flow_id}/rollback", json={"phoneNumbers": [number], "undeploy": True},
                     **kwargs)  # fmt: skip


def test_flows_are_listed_with_versions_and_where_they_run(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), headers={"X-Ivr-Author": "ana"}))
    ok(stack.api("POST", "/api/flows/menu_flow/versions", json={"version": "1.0.0"}), 201)
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow(text="Hi again."), headers={"X-Ivr-Author": "bo"}))
    ok(stack.api("POST", "/api/flows/menu_flow/versions", json={"version": "1.1.0"}), 201)
    ok(stack.api("POST", "/api/numbers", json={"phoneNumber": SPARE}), 201)
    ok(stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": [SPARE], "version": "1.0.0",
                                                              "fallbackFlow": "support_line"}))  # fmt: skip
    flows = {f["flowId"]: f for f in ok(stack.api("GET", "/api/flows"))["flows"]}
    assert sorted(flows) == ["menu_flow", "support_line"]
    menu = flows["menu_flow"]
    etag = stack.store.get_draft("demo", "menu_flow").etag
    assert menu == {"flowId": "menu_flow", "name": "menu_flow menu", "etag": etag, "updatedAt": menu["updatedAt"],
                    "updatedBy": "bo", "versions": 2, "latestVersion": "1.1.0",
                    "deployedTo": [{"phoneNumber": SPARE, "environment": "production", "version": "1.0.0",
                                    "role": "flow"}]}  # fmt: skip
    assert menu["updatedAt"].startswith("2026-")
    support = flows["support_line"]
    assert support["versions"] == 1 and support["latestVersion"] == "1.0.0"
    assert sorted((d["phoneNumber"], d["role"]) for d in support["deployedTo"]) == [
        (DEMO_NUMBER, "flow"), (SPARE, "fallback")]
    other = ok(stack.api("GET", "/api/flows", key=API_KEY_B))["flows"]
    assert [f["flowId"] for f in other] == ["support_line"]
    assert [d["phoneNumber"] for d in other[0]["deployedTo"]] == [B_NUMBER]


def test_numbers_are_listed_with_what_they_run(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("POST", "/api/numbers", json={"phoneNumber": SPARE, "environment": "staging",
                                               "fallbackDial": "+15550009999"}), 201)  # fmt: skip
    numbers = ok(stack.api("GET", "/api/numbers"))["numbers"]
    assert [n["phoneNumber"] for n in numbers] == sorted([DEMO_NUMBER, SPARE])
    spare = next(n for n in numbers if n["phoneNumber"] == SPARE)
    assert spare == {"phoneNumber": SPARE, "environment": "staging", "fallbackDial": "+15550009999",
                     "deployment": None}  # fmt: skip
    demo = next(n for n in numbers if n["phoneNumber"] == DEMO_NUMBER)["deployment"]
    live = stack.store.get_number(DEMO_NUMBER).deployment
    assert demo == {"id": live.id, "flowId": "support_line", "version": "1.0.0", "schedules": [],
                    "fallbackFlow": None, "fallbackVersion": None, "createdAt": live.created_at,
                    "createdBy": "seed"}  # fmt: skip
    assert [n["phoneNumber"] for n in ok(stack.api("GET", "/api/numbers", key=API_KEY_B))["numbers"]] == [B_NUMBER]


def test_a_deployed_flow_cannot_be_deleted_until_its_numbers_are_taken_off(any_stack: Stack) -> None:
    stack = any_stack
    writes = stack.store.writes
    refused = stack.api("DELETE", "/api/flows/support_line")
    assert refused.status_code == 409
    error = body(refused)["error"]
    assert error["code"] == "flow_deployed" and DEMO_NUMBER in error["message"] and "undeploy" in error["message"]
    assert error["details"] == [{"phoneNumber": DEMO_NUMBER, "environment": "production"}]
    assert stack.store.writes == writes
    off = ok(undeploy(stack, "support_line", DEMO_NUMBER))
    assert off["kind"] == "undeploy"
    assert off["changes"] == [{"phoneNumber": DEMO_NUMBER, "from": "support_line@1.0.0", "to": None}]
    assert stack.store.get_number(DEMO_NUMBER).deployment is None
    assert ok(stack.api("DELETE", "/api/flows/support_line")) == {"deleted": "support_line"}
    assert stack.api("GET", "/api/flows/support_line").status_code == 404
    assert stack.store.list_versions("demo", "support_line") == []
    kinds = [d["kind"] for d in ok(stack.api("GET", "/api/deployments?flowId=support_line"))["deployments"]]
    assert kinds == ["undeploy", "deploy"]  # the history stays
    assert stack.api("DELETE", "/api/flows/support_line").status_code == 404
    # tenant B's flow of the same id is untouched
    assert stack.store.get_draft("tenant_b", "support_line") is not None
    # a flow re-created under that id continues the numbering: 1.0.0 stays retired
    ok(stack.api("PUT", "/api/flows/support_line", json=small_flow("support_line")))
    assert ok(stack.api("POST", "/api/flows/support_line/versions", json={}), 201)["version"] == "1.0.1"
    ok(stack.api("PUT", "/api/flows/support_line", json=small_flow("support_line", text="Changed.")))
    refused = stack.api("POST", "/api/flows/support_line/versions", json={"version": "1.0.0"})
    assert refused.status_code == 409 and body(refused)["error"]["code"] == "version_not_newer"


def test_a_fallback_flow_cannot_be_deleted(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow()))
    ok(stack.api("POST", "/api/flows/menu_flow/versions", json={}), 201)
    ok(stack.api("POST", "/api/numbers", json={"phoneNumber": SPARE}), 201)
    ok(stack.api("POST", "/api/flows/support_line/deploy", json={"phoneNumbers": [SPARE], "fallbackFlow": "menu_flow"}))
    refused = stack.api("DELETE", "/api/flows/menu_flow")
    assert refused.status_code == 409
    assert body(refused)["error"]["details"] == [{"phoneNumber": SPARE, "environment": "production"}]
    assert stack.store.list_version_numbers("demo", "menu_flow") == ["1.0.0"]


def test_deleting_what_is_not_yours_is_404(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("PUT", "/api/flows/only_a", json=small_flow("only_a")))
    assert stack.api("DELETE", "/api/flows/only_a", key=API_KEY_B).status_code == 404
    assert stack.store.get_draft("demo", "only_a") is not None
    assert stack.api("DELETE", "/api/flows/never_was").status_code == 404


def test_rolling_back_to_a_deleted_flow_is_refused(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow()))
    ok(stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": [DEMO_NUMBER]}))
    ok(stack.api("DELETE", "/api/flows/support_line"))  # nothing runs it any more
    writes = stack.store.writes
    refused = stack.api("POST", "/api/flows/menu_flow/rollback", json={"phoneNumbers": [DEMO_NUMBER]})
    assert refused.status_code == 422
    assert "support_line@1.0.0 no longer exists" in body(refused)["error"]["message"]
    assert stack.store.writes == writes
    assert stack.store.get_number(DEMO_NUMBER).deployment.flow_id == "menu_flow"


@pytest.mark.parametrize("spelling", ["%2B15550004444", "+15550004444"])
def test_a_number_is_released_only_when_nothing_is_deployed_to_it(any_stack: Stack, spelling: str) -> None:
    stack = any_stack
    ok(stack.api("POST", "/api/numbers", json={"phoneNumber": SPARE}), 201)
    ok(stack.api("POST", "/api/flows/support_line/deploy", json={"phoneNumbers": [SPARE]}))
    writes = stack.store.writes
    refused = stack.api("DELETE", f"/api/numbers/{spelling}")
    assert refused.status_code == 409
    error = body(refused)["error"]
    assert error["code"] == "number_deployed"
    assert "support_line@1.0.0" in error["message"] and '"undeploy": true' in error["message"]
    assert stack.store.writes == writes and stack.store.get_number(SPARE) is not None
    ok(undeploy(stack, "support_line", SPARE))
    assert ok(stack.api("DELETE", f"/api/numbers/{spelling}")) == {"released": SPARE}
    assert stack.store.get_number(SPARE) is None
    assert stack.api("DELETE", f"/api/numbers/{spelling}").status_code == 404
    # free for anyone again
    ok(stack.api("POST", "/api/numbers", json={"phoneNumber": SPARE}, key=API_KEY_B), 201)
    assert stack.store.get_number(SPARE).tenant_id == "tenant_b"


def test_another_tenants_number_cannot_be_released(any_stack: Stack) -> None:
    stack = any_stack
    ok(undeploy(stack, "support_line", B_NUMBER, key=API_KEY_B))
    assert stack.api("DELETE", f"/api/numbers/{B_NUMBER}").status_code == 404
    assert stack.store.get_number(B_NUMBER).tenant_id == "tenant_b"
    assert stack.api("DELETE", "/api/numbers/12345").status_code == 404  # not E.164: no such number


def test_undeploy_refuses_numbers_that_run_something_else(any_stack: Stack) -> None:
    stack = any_stack
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow()))
    refused = undeploy(stack, "menu_flow", DEMO_NUMBER)
    assert refused.status_code == 422 and "does not run flow 'menu_flow'" in body(refused)["error"]["message"]
    both = stack.api("POST", "/api/flows/support_line/rollback",
                     json={"phoneNumbers": [DEMO_NUMBER], "undeploy": True, "version": "1.0.0"})  # fmt: skip
    assert both.status_code == 422
    assert stack.store.get_number(DEMO_NUMBER).deployment is not None


def test_calls_to_a_number_taken_off_hear_it_is_not_in_service(any_stack: Stack) -> None:
    stack = any_stack
    ok(undeploy(stack, "support_line", DEMO_NUMBER))
    transcript = stack.call(DEMO_NUMBER, []).transcript
    assert transcript and "not in service" in transcript[0].lower(), transcript


def test_health_needs_no_key_and_names_the_version(any_stack: Stack) -> None:
    response = any_stack.api("GET", "/api/health", key=None)
    assert ok(response) == {"status": "ok", "store": "ok", "version": package_version()}
    assert package_version() not in ("", "0+bundle")  # the repo installs the package


def test_health_is_503_with_retry_after_when_the_store_is_down() -> None:
    from test_admin_api_edges import DownStore

    store = DownStore()
    stack = build_stack(store, all_examples=False)
    try:
        store.down = True
        response = stack.api("GET", "/api/health", key=None)
        assert response.status_code == 503
        assert body(response)["status"] == "degraded" and "unavailable" in body(response)["store"]
        assert int(response.headers["Retry-After"]) > 0
    finally:
        bootstrap.install(None)


def test_whoami(any_stack: Stack) -> None:
    me = ok(any_stack.api("GET", "/api/whoami"))
    assert me["tenant"] == "demo" and me["role"] == "admin" and me["keyId"].startswith("key_")
    assert ok(any_stack.api("GET", "/api/whoami", key=API_KEY_B))["tenant"] == "tenant_b"
    assert any_stack.api("GET", "/api/whoami", key="nope").status_code == 401


@pytest.mark.parametrize("query, field", [("enviroment=production", "query.enviroment"),
                                          ("environment=production&x=1", "query.x")])  # fmt: skip
def test_an_unknown_query_parameter_is_refused_by_name(any_stack: Stack, query: str, field: str) -> None:
    # a misspelt filter silently ignored would list every deployment: an answer that looks right and is not
    refused = ok(any_stack.api("GET", f"/api/deployments?{query}"), 400)["error"]
    assert refused["details"][0]["field"] == field and "unknown" in refused["message"]


def test_a_parameter_without_a_name_is_refused(any_stack: Stack) -> None:
    refused = ok(any_stack.api("GET", "/api/deployments?=x"), 400)["error"]
    assert refused["details"][0]["field"] == "query"
