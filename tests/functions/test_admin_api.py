"""The admin API over HTTP (the deploy_flow function): keys, drafts with etags, numbers, deploy,
execute, and tenant isolation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from livestack import API_KEY_B, B_NUMBER, DEMO_NUMBER, Stack, example


def flow(flow_id: str = "menu_flow", prompt: str = "Press 1 for sales.") -> dict[str, Any]:
    return {
        "id": flow_id, "name": "A small menu",
        "nodes": [
            {"id": "start", "type": "startNode", "position": {"x": 0, "y": 0}, "data": {}},
            {"id": "hello", "type": "sayNode", "position": {"x": 0, "y": 100}, "data": {"text": prompt}},
            {"id": "bye", "type": "hangupNode", "position": {"x": 0, "y": 200}, "data": {"message": "Goodbye."}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "hello"},
                  {"id": "e2", "source": "hello", "target": "bye"}],
    }  # fmt: skip


def invalid_flow() -> dict[str, Any]:
    document = flow("broken")
    document["edges"][1]["target"] = "nowhere"  # an edge into a node that does not exist
    document["nodes"].append({"id": "lonely_collect", "type": "collectNode", "position": {"x": 0, "y": 0},
                              "data": {"variable": "x"}})  # no prompt, no outgoing edges  # fmt: skip
    return document


def body(response: Any) -> Any:
    return json.loads(response.get_data(as_text=True))


# -- authentication ---------------------------------------------------------------------------------


ROUTES = [("GET", "/api/flows/support_line"), ("PUT", "/api/flows/x"), ("POST", "/api/flows/support_line/deploy"),
          ("POST", "/api/flows/support_line/execute"), ("POST", "/api/numbers")]  # fmt: skip


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer wrong-key",
                                           "Token ivr_dev_demo_key_not_secret"])  # fmt: skip
@pytest.mark.parametrize("method,path", ROUTES)
def test_missing_or_bad_key_is_401_and_writes_nothing(stack: Stack, authorization: str | None, method: str,
                                                       path: str) -> None:  # fmt: skip
    writes = stack.store.writes
    headers = {} if authorization is None else {"Authorization": authorization}
    response = stack.api(method, path, json={"phoneNumbers": [DEMO_NUMBER]} if method != "GET" else None,
                         key=None, headers=headers)  # fmt: skip
    assert response.status_code == 401
    assert body(response)["error"]["code"] == "unauthenticated"
    assert stack.store.writes == writes


# -- drafts -----------------------------------------------------------------------------------------


def test_put_valid_flow_then_get_it_with_its_etag(stack: Stack) -> None:
    response = stack.api("PUT", "/api/flows/menu_flow", json=flow())
    assert response.status_code == 200
    saved = body(response)
    assert saved["flowId"] == "menu_flow" and saved["etag"]
    got = stack.api("GET", "/api/flows/menu_flow")
    assert got.status_code == 200
    assert got.headers["ETag"] == f'"{saved["etag"]}"'  # quoted, as RFC 9110 writes entity tags
    assert body(got)["nodes"] == flow()["nodes"]


def test_put_invalid_flow_is_422_naming_the_nodes_and_stores_nothing(stack: Stack) -> None:
    writes = stack.store.writes
    response = stack.api("PUT", "/api/flows/broken", json=invalid_flow())
    assert response.status_code == 422
    error = body(response)["error"]
    assert error["code"] == "flow_invalid"
    named = {issue.get("node_id") for issue in error["details"]["errors"]} | {
        issue.get("edge_id") for issue in error["details"]["errors"]
    }
    assert "lonely_collect" in named and ("e2" in named or "hello" in named), error
    assert stack.store.writes == writes
    assert stack.api("GET", "/api/flows/broken").status_code == 404


def test_if_match_mismatch_is_409_and_keeps_the_stored_draft(stack: Stack) -> None:
    first = body(stack.api("PUT", "/api/flows/menu_flow", json=flow()))
    second = stack.api("PUT", "/api/flows/menu_flow", json=flow(prompt="Press 2."), headers={"If-Match": first["etag"]})
    assert second.status_code == 200
    current = body(second)["etag"]
    assert current != first["etag"]
    writes = stack.store.writes
    stale = stack.api("PUT", "/api/flows/menu_flow", json=flow(prompt="Press 3."), headers={"If-Match": first["etag"]})
    assert stale.status_code == 409
    assert body(stale)["error"]["code"] == "conflict"
    assert stack.store.writes == writes
    got = stack.api("GET", "/api/flows/menu_flow")
    assert got.headers["ETag"] == f'"{current}"'
    assert body(got)["nodes"][1]["data"]["text"] == "Press 2."


@pytest.mark.parametrize("raw,line,column", [('{"id": "x",\n  "nodes": [}', 2, 13), ("{", 1, 2), ('{"a": 1,}', 1, 9)])
def test_bad_json_is_400_with_line_and_column(stack: Stack, raw: str, line: int, column: int) -> None:
    writes = stack.store.writes
    response = stack.api("PUT", "/api/flows/x", data=raw)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["code"] == "invalid_json"
    assert f"line {line} column {column}" in error["message"]
    assert stack.store.writes == writes


def test_body_id_must_match_the_url(stack: Stack) -> None:
    response = stack.api("PUT", "/api/flows/other_id", json=flow("menu_flow"))
    assert response.status_code == 400


def test_unknown_route_and_method(stack: Stack) -> None:
    assert stack.api("GET", "/api/nothing").status_code == 404
    response = stack.api("PATCH", "/api/flows/support_line")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, PUT"


# -- numbers ----------------------------------------------------------------------------------------


def test_register_number_201_then_200_and_another_tenants_number_409(stack: Stack) -> None:
    created = stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550001111"})
    assert created.status_code == 201
    assert body(created)["phoneNumber"] == "+15550001111" and body(created)["deployment"] is None
    writes = stack.store.writes
    again = stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550001111"})
    assert again.status_code == 200 and body(again) == body(created)
    assert stack.store.writes == writes
    taken = stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550001111"}, key=API_KEY_B)
    assert taken.status_code == 409
    assert body(taken)["error"]["code"] == "number_taken"
    assert stack.store.get_number("+15550001111").tenant_id == "demo"
    assert stack.store.writes == writes


@pytest.mark.parametrize("number", ["15550001111", "+0555", "call me", ""])
def test_register_invalid_number_is_400(stack: Stack, number: str) -> None:
    response = stack.api("POST", "/api/numbers", json={"phoneNumber": number})
    assert response.status_code == 400


# -- deploy -----------------------------------------------------------------------------------------


def test_deploy_publishes_a_version_and_switches_the_numbers(stack: Stack) -> None:
    stack.api("PUT", "/api/flows/menu_flow", json=flow())
    for number in ("+15550002222", "+15550003333"):
        assert stack.api("POST", "/api/numbers", json={"phoneNumber": number}).status_code == 201
    response = stack.api("POST", "/api/flows/menu_flow/deploy",
                         json={"phoneNumbers": ["+15550002222", "+15550003333"]})  # fmt: skip
    assert response.status_code == 200, body(response)
    deployed = body(response)
    assert deployed["version"] == "1.0.0" and deployed["flowId"] == "menu_flow"
    for number in ("+15550002222", "+15550003333"):
        record = stack.store.get_number(number)
        assert record.deployment is not None
        assert (record.deployment.flow_id, record.deployment.version) == ("menu_flow", "1.0.0")
    # and calls to those numbers now run it
    result = stack.call("+15550002222", [])
    assert result.transcript[:2] == ["IVR: Press 1 for sales.", "IVR: Goodbye."]


def test_redeploy_of_a_changed_draft_moves_to_the_next_version(stack: Stack) -> None:
    stack.api("PUT", "/api/flows/menu_flow", json=flow())
    stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550002222"})
    assert (
        body(stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": ["+15550002222"]}))["version"]
        == "1.0.0"
    )
    stack.api("PUT", "/api/flows/menu_flow", json=flow(prompt="Press 9."))
    assert (
        body(stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": ["+15550002222"]}))["version"]
        == "1.0.1"
    )
    assert stack.call("+15550002222", []).transcript[0] == "IVR: Press 9."


def test_deploy_with_another_tenants_number_is_422_and_changes_nothing(stack: Stack) -> None:
    stack.api("PUT", "/api/flows/menu_flow", json=flow())
    stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550002222"})
    before_mine, before_theirs = stack.store.get_number("+15550002222"), stack.store.get_number(B_NUMBER)
    writes = stack.store.writes
    response = stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": ["+15550002222", B_NUMBER]})
    assert response.status_code == 422
    error = body(response)["error"]
    assert error["code"] == "deploy_invalid" and B_NUMBER in error["message"]
    assert stack.store.writes == writes  # no version published, no number switched
    assert stack.store.get_number("+15550002222") == before_mine
    assert stack.store.get_number(B_NUMBER) == before_theirs
    assert stack.store.list_versions("demo", "menu_flow") == []


def test_deploy_of_an_unknown_flow_is_404(stack: Stack) -> None:
    response = stack.api("POST", "/api/flows/nope/deploy", json={"phoneNumbers": [DEMO_NUMBER]})
    assert response.status_code == 404


# -- execute ----------------------------------------------------------------------------------------


def test_execute_returns_transcript_path_and_variables_and_stores_nothing(stack: Stack) -> None:
    writes, reads = stack.store.writes, stack.store.reads
    response = stack.api("POST", "/api/flows/support_line/execute", json={"inputs": ["2", "queue:bridged"]})
    assert response.status_code == 200, body(response)
    result = body(response)
    assert result["path"] == ["start", "greeting", "menu", "route", "to_support", "bye"]
    assert result["variables"]["department"] == "2"
    texts = [line["text"] if isinstance(line, dict) else line for line in result["transcript"]]
    assert any("Connecting you to support." in text for text in texts)
    assert stack.store.writes == writes
    assert stack.store.reads > reads  # it did read the draft


def test_execute_with_http_mocks(stack: Stack) -> None:
    stack.api("PUT", "/api/flows/account_lookup", json=example("account_lookup"))
    writes = stack.store.writes
    response = stack.api("POST", "/api/flows/account_lookup/execute", json={
        "inputs": ["123456#"], "http": [{"match": "accounts/123456", "status": 200,
                                        "body": {"status": "active", "name": "Ada", "balance": "12"}}]})  # fmt: skip
    assert response.status_code == 200, body(response)
    assert body(response)["path"][:5] == ["start", "ask_account", "lookup", "check_status", "balance"]
    assert stack.store.writes == writes


def test_execute_with_a_bad_script_is_400(stack: Stack) -> None:
    response = stack.api("POST", "/api/flows/support_line/execute", json={"inputs": ["not a thing"]})
    assert response.status_code == 400


# -- tenant isolation -------------------------------------------------------------------------------


def test_tenant_b_cannot_see_or_touch_tenant_a_flows(stack: Stack) -> None:
    a_draft = stack.store.get_draft("demo", "support_line")
    writes = stack.store.writes
    assert stack.api("GET", "/api/flows/support_line", key=API_KEY_B).status_code == 200  # B has its own copy
    stack.api("PUT", "/api/flows/only_a", json=flow("only_a"))
    writes = stack.store.writes
    for method, path, payload in [
        ("GET", "/api/flows/only_a", None),
        ("POST", "/api/flows/only_a/deploy", {"phoneNumbers": [B_NUMBER]}),
        ("POST", "/api/flows/only_a/execute", {"inputs": []}),
    ]:
        response = stack.api(method, path, json=payload, key=API_KEY_B)
        assert response.status_code == 404, (method, path, body(response))
        assert "only_a" in body(response)["error"]["message"]
    assert stack.store.writes == writes
    # PUT with B's key writes B's own flow of that id, never A's
    put = stack.api("PUT", "/api/flows/only_a", json=flow("only_a", prompt="B's version"), key=API_KEY_B)
    assert put.status_code == 200
    assert body(stack.api("GET", "/api/flows/only_a"))["nodes"][1]["data"]["text"] == "Press 1 for sales."
    assert stack.store.get_draft("demo", "support_line") == a_draft
    # If-Match with A's etag does not let B overwrite anything of A's either
    a_etag = stack.api("GET", "/api/flows/only_a").headers["ETag"]
    assert stack.api("PUT", "/api/flows/only_a", json=flow("only_a", prompt="x"), key=API_KEY_B,
                     headers={"If-Match": a_etag}).status_code == 409  # fmt: skip
    assert body(stack.api("GET", "/api/flows/only_a"))["nodes"][1]["data"]["text"] == "Press 1 for sales."


def test_tenant_b_cannot_deploy_to_tenant_a_number(stack: Stack) -> None:
    before = stack.store.get_number(DEMO_NUMBER)
    writes = stack.store.writes
    response = stack.api("POST", "/api/flows/support_line/deploy", json={"phoneNumbers": [DEMO_NUMBER]},
                         key=API_KEY_B)  # fmt: skip
    assert response.status_code == 422
    assert stack.store.get_number(DEMO_NUMBER) == before
    assert stack.store.writes == writes
    # and the call on A's number still runs A's flow
    assert stack.call(DEMO_NUMBER, []).transcript[0] == "IVR: Thanks for calling Acme."


def test_tenant_b_cannot_register_tenant_a_number(stack: Stack) -> None:
    response = stack.api("POST", "/api/numbers", json={"phoneNumber": DEMO_NUMBER}, key=API_KEY_B)
    assert response.status_code == 409
    assert stack.store.get_number(DEMO_NUMBER).tenant_id == "demo"


def test_execute_does_not_change_the_draft_it_runs(stack: Stack) -> None:
    before = copy.deepcopy(body(stack.api("GET", "/api/flows/support_line")))
    stack.api("POST", "/api/flows/support_line/execute", json={"inputs": ["1"]})
    assert body(stack.api("GET", "/api/flows/support_line")) == before
