"""Versions, deploy, rollback, promotion, history, schedules and tenant isolation through the admin API."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.deploy.conftest import BUSINESS_HOURS, DEMO_NUMBER, TENANT_A, TENANT_B, DeployStack, example

NUMBER = DEMO_NUMBER
SEED_BODY = {"environment": "production", "phoneNumbers": [NUMBER], "schedules": ["business_hours"],
             "fallbackFlow": "agent_transfer", "version": "1.2.0"}  # fmt: skip


def snapshot(stack: DeployStack) -> str:
    return json.dumps(stack.svc.store._docs, sort_keys=True, default=str)  # type: ignore[attr-defined]


def change_greeting(stack: DeployStack, text: str) -> None:
    flow = example("support_line")
    flow["nodes"][1]["data"]["text"] = text
    status, _ = stack.api("PUT", "/api/flows/support_line", flow)
    assert status == 200


def publish(stack: DeployStack, version: str, flow: str = "support_line", message: str = "") -> tuple[int, Any]:
    return stack.api("POST", f"/api/flows/{flow}/versions", {"version": version, "message": message})


def prepare_seed(stack: DeployStack) -> None:
    """The state the seed deploy body needs: a schedule, a fallback flow, version 1.2.0."""
    assert stack.api("PUT", "/api/schedules/business_hours", BUSINESS_HOURS)[0] == 200
    assert (
        stack.api("PUT", "/api/flows/agent_transfer", example("after_hours_voicemail", id="agent_transfer"))[0] == 200
    )
    assert publish(stack, "1.0.0", "agent_transfer")[0] == 201
    change_greeting(stack, "Welcome to Acme, version one point two.")
    assert publish(stack, "1.2.0", message="new greeting")[0] == 201


# -- versions --------------------------------------------------------------------------------------


def test_publish_records_semver_hash_author_and_message(stack: DeployStack) -> None:
    change_greeting(stack, "Hello from 1.1.0")
    status, body = stack.api("POST", "/api/flows/support_line/versions", {"version": "1.1.0", "message": "greeting"},
                             headers={"X-Ivr-Author": "ana@acme.test"})  # fmt: skip
    assert status == 201
    assert body["version"] == "1.1.0" and body["author"] == "ana@acme.test" and body["message"] == "greeting"
    assert len(body["contentHash"]) == 64
    status, listing = stack.api("GET", "/api/flows/support_line/versions")
    assert [v["version"] for v in listing["versions"]] == ["1.0.0", "1.1.0"]
    status, one = stack.api("GET", "/api/flows/support_line/versions/1.1.0")
    assert status == 200 and one["document"]["nodes"][1]["data"]["text"] == "Hello from 1.1.0"


@pytest.mark.parametrize(("version", "status", "code"), [
    ("1.2", 400, "invalid_request"),
    ("v1.2.0", 400, "invalid_request"),
    ("1.0.0", 409, "version_not_newer"),
    ("0.9.0", 409, "version_not_newer"),
])  # fmt: skip
def test_publish_refuses_bad_or_old_version_numbers(stack: DeployStack, version: str, status: int, code: str) -> None:
    change_greeting(stack, "something new")
    before = snapshot(stack)
    got, body = publish(stack, version)
    assert (got, body["error"]["code"]) == (status, code)
    assert snapshot(stack) == before


def test_republishing_identical_content_is_refused_and_names_the_version(stack: DeployStack) -> None:
    status, body = publish(stack, "2.0.0")
    assert status == 409 and body["error"]["code"] == "duplicate_content"
    assert "1.0.0" in body["error"]["message"]


def test_moving_boxes_is_not_a_new_version(stack: DeployStack) -> None:
    flow = example("support_line")
    for node in flow["nodes"]:
        node["position"] = {"x": node["position"]["x"] + 500, "y": node["position"]["y"] * 2}
        node["selected"] = True
    flow["viewport"] = {"x": 10, "y": 20, "zoom": 1.5}
    assert stack.api("PUT", "/api/flows/support_line", flow)[0] == 200
    status, body = publish(stack, "1.0.1")
    assert status == 409 and body["error"]["code"] == "duplicate_content"
    status, diff = stack.api("GET", "/api/flows/support_line/diff?from=1.0.0&to=draft")
    assert status == 200 and diff["identical"] is True


def test_semantic_diff_names_added_removed_and_changed(stack: DeployStack) -> None:
    flow = example("support_line")
    flow["nodes"][1]["data"]["text"] = "Changed greeting"
    flow["nodes"] = [n for n in flow["nodes"] if n["id"] != "give_up"]
    flow["nodes"].append({"id": "sorry", "type": "hangupNode", "position": {"x": 0, "y": 0},
                          "data": {"message": "Sorry."}})  # fmt: skip
    for edge in flow["edges"]:
        if edge["target"] == "give_up":
            edge["target"] = "sorry"
    assert stack.api("PUT", "/api/flows/support_line", flow)[0] == 200
    assert publish(stack, "1.1.0")[0] == 201
    status, diff = stack.api("GET", "/api/flows/support_line/diff?from=1.0.0&to=1.1.0")
    assert status == 200 and diff["identical"] is False
    assert [n["id"] for n in diff["nodesAdded"]] == ["sorry"]
    assert [n["id"] for n in diff["nodesRemoved"]] == ["give_up"]
    changed = {c["id"]: c["changes"] for c in diff["nodesChanged"]}
    assert changed["greeting"] == [{"field": "data.text", "from": "Thanks for calling Acme.", "to": "Changed greeting"}]
    assert {c["id"] for c in diff["edgesChanged"]} == {"e-menu-silent", "e-menu-wrong", "e-route-default"}


def test_draft_etag_conflict_keeps_the_stored_draft(stack: DeployStack) -> None:
    status, current = stack.api("GET", "/api/flows/support_line")
    reply = stack.client.get("/api/flows/support_line", headers={"Authorization": f"Bearer {stack.keys[TENANT_A]}"})
    etag = reply.headers["ETag"]
    change_greeting(stack, "edit by Bo")  # someone else saves first
    mine = copy.deepcopy(current)
    mine["nodes"][1]["data"]["text"] = "edit by Ana"
    status, body = stack.api("PUT", "/api/flows/support_line", mine, headers={"If-Match": etag})
    assert status == 409 and body["error"]["code"] == "conflict"
    _, stored = stack.api("GET", "/api/flows/support_line")
    assert stored["nodes"][1]["data"]["text"] == "edit by Bo"


# -- deploy ----------------------------------------------------------------------------------------


def test_the_seed_deploy_body_switches_the_number_and_records_history(stack: DeployStack) -> None:
    prepare_seed(stack)
    status, body = stack.api("POST", "/api/flows/support_line/deploy", SEED_BODY)
    assert status == 200, body
    assert (body["version"], body["fallbackFlow"], body["fallbackVersion"]) == ("1.2.0", "agent_transfer", "1.0.0")
    assert body["changes"] == [{"phoneNumber": NUMBER, "from": "support_line@1.0.0", "to": "support_line@1.2.0"}]
    number = stack.svc.store.get_number(NUMBER)
    assert number is not None and number.deployment is not None
    assert (number.deployment.version, number.deployment.schedules) == ("1.2.0", ["business_hours"])
    _, history = stack.api("GET", f"/api/deployments?number={NUMBER.replace('+', '%2B')}")
    assert [d["version"] for d in history["deployments"]] == ["1.2.0", "1.0.0"]


@pytest.mark.parametrize(("change", "phrase"), [
    ({"version": "9.9.9"}, "has no version 9.9.9"),
    ({"phoneNumbers": ["+14155550199"]}, "is not one of your numbers"),
    ({"phoneNumbers": ["4155550199"]}, "E.164"),
    ({"schedules": ["weekends"]}, "schedule 'weekends' does not exist"),
    ({"fallbackFlow": "support_line"}, "fall back to itself"),
    ({"fallbackFlow": "no_such_flow"}, "has no published version"),
    ({"fallbackFlow": None}, "need a fallbackFlow"),
    ({"environment": "staging"}, "belongs to environment 'production'"),
])  # fmt: skip
def test_a_deploy_that_fails_its_checks_changes_nothing(stack: DeployStack, change: dict[str, Any],
                                                        phrase: str) -> None:  # fmt: skip
    prepare_seed(stack)
    before = snapshot(stack)
    status, body = stack.api("POST", "/api/flows/support_line/deploy", {**SEED_BODY, **change})
    assert status == 422 and body["error"]["code"] == "deploy_invalid"
    assert any(phrase in problem for problem in body["error"]["details"]), body
    assert snapshot(stack) == before


def test_all_problems_are_reported_at_once(stack: DeployStack) -> None:
    status, body = stack.api("POST", "/api/flows/support_line/deploy", {
        "phoneNumbers": [NUMBER, "+14155550199"], "version": "3.0.0", "schedules": ["x"],
        "fallbackFlow": "support_line",
    })  # fmt: skip
    assert status == 422 and len(body["error"]["details"]) == 4


def test_someone_elses_number_cannot_be_deployed_to(stack: DeployStack) -> None:
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+14155550111"}, tenant=TENANT_B)[0] == 201
    before = snapshot(stack)
    status, body = stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": ["+14155550111"]})
    assert status == 422 and "not one of your numbers" in body["error"]["message"]
    assert snapshot(stack) == before


# -- rollback and promotion ------------------------------------------------------------------------


def test_rollback_returns_to_the_previous_deployment_and_is_recorded(stack: DeployStack) -> None:
    prepare_seed(stack)
    assert stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER], "version": "1.2.0"})[0] == 200
    status, body = stack.api("POST", "/api/flows/support_line/rollback",
                             {"environment": "production", "phoneNumbers": [NUMBER]})  # fmt: skip
    assert status == 200 and body["kind"] == "rollback" and body["version"] == "1.0.0"
    assert body["changes"] == [{"phoneNumber": NUMBER, "from": "support_line@1.2.0", "to": "support_line@1.0.0"}]
    number = stack.svc.store.get_number(NUMBER)
    assert number is not None and number.deployment is not None and number.deployment.version == "1.0.0"
    # Rolling back the rollback re-applies the change.
    status, body = stack.api("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER]})
    assert status == 200 and body["version"] == "1.2.0"
    _, history = stack.api("GET", "/api/deployments?flowId=support_line")
    assert [(d["kind"], d["version"]) for d in history["deployments"]] == [
        ("rollback", "1.2.0"),
        ("rollback", "1.0.0"),
        ("deploy", "1.2.0"),
        ("deploy", "1.0.0"),
    ]


def test_rollback_to_a_named_version_or_deployment(stack: DeployStack) -> None:
    prepare_seed(stack)
    _, first = stack.api("GET", "/api/deployments")
    seed_id = first["deployments"][-1]["id"]
    assert stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER], "version": "1.2.0"})[0] == 200
    status, body = stack.api("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER], "version": "1.0.0"})
    assert status == 200 and body["version"] == "1.0.0"
    assert stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER], "version": "1.2.0"})[0] == 200
    status, body = stack.api(
        "POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER], "deployment": seed_id}
    )
    assert status == 200 and body["version"] == "1.0.0"


@pytest.mark.parametrize(("body", "phrase"), [
    ({"phoneNumbers": [NUMBER]}, "no earlier deployment"),
    ({"phoneNumbers": [NUMBER], "version": "7.0.0"}, "has no version 7.0.0"),
    ({"phoneNumbers": [NUMBER], "deployment": "dep_missing"}, "does not exist"),
])  # fmt: skip
def test_rollback_errors_change_nothing(stack: DeployStack, body: dict[str, Any], phrase: str) -> None:
    before = snapshot(stack)
    status, reply = stack.api("POST", "/api/flows/support_line/rollback", body)
    assert status == 422 and any(phrase in p for p in reply["error"]["details"]), reply
    assert snapshot(stack) == before


def test_promote_deploys_what_staging_runs_to_production(stack: DeployStack) -> None:
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+13072240000", "environment": "staging"})[0] == 201
    change_greeting(stack, "Staging greeting")
    assert publish(stack, "1.1.0")[0] == 201
    staging = {"environment": "staging", "phoneNumbers": ["+13072240000"], "version": "1.1.0"}
    assert stack.api("POST", "/api/flows/support_line/deploy", staging)[0] == 200
    status, body = stack.api("POST", "/api/flows/support_line/promote",
                             {"from": "staging", "to": "production", "phoneNumbers": [NUMBER]})  # fmt: skip
    assert status == 200 and (body["kind"], body["version"], body["environment"]) == ("promote", "1.1.0", "production")
    status, body = stack.api("POST", "/api/flows/account_lookup/promote", {"phoneNumbers": [NUMBER]})
    assert status == 422 and "never been deployed to 'staging'" in body["error"]["message"]


# -- schedules -------------------------------------------------------------------------------------


def test_schedule_crud_status_and_in_use_protection(stack: DeployStack) -> None:
    status, body = stack.api("PUT", "/api/schedules/business_hours", {**BUSINESS_HOURS, "timezone": "Mars/Base"})
    assert status == 422 and body["error"]["details"][0]["field"] == "timezone"
    assert stack.api("PUT", "/api/schedules/business_hours", BUSINESS_HOURS)[0] == 200
    status, body = stack.api("GET", "/api/schedules/business_hours/status?at=2026-11-26T15:00:00Z")
    assert (body["open"], body["reason"], body["nextChange"]) == (
        False,
        "holiday:Thanksgiving",
        "2026-11-27T09:00:00-05:00",
    )
    status, body = stack.api("GET", "/api/schedules/business_hours/status?at=2026-11-24T15:00:00Z")
    assert body["open"] is True and body["nextChange"] == "2026-11-24T17:00:00-05:00"
    assert stack.api("GET", "/api/schedules/business_hours/status?at=2026-11-24T15:00:00")[0] == 400
    prepare_seed(stack)
    assert stack.api("POST", "/api/flows/support_line/deploy", SEED_BODY)[0] == 200
    status, body = stack.api("DELETE", "/api/schedules/business_hours")
    assert status == 409 and NUMBER in body["error"]["message"]
    assert stack.api("PUT", "/api/schedules/spare", BUSINESS_HOURS)[0] == 200
    assert stack.api("DELETE", "/api/schedules/spare")[0] == 200
    assert stack.api("GET", "/api/schedules/spare")[0] == 404
    _, listing = stack.api("GET", "/api/schedules")
    assert [s["name"] for s in listing["schedules"]] == ["business_hours"]


# -- isolation -------------------------------------------------------------------------------------


def test_tenants_cannot_see_or_touch_each_others_flows_numbers_and_history(stack: DeployStack) -> None:
    prepare_seed(stack)
    before = snapshot(stack)
    for method, path, body in [
        ("GET", "/api/flows/support_line", None),
        ("GET", "/api/flows/support_line/versions", None),
        ("GET", "/api/flows/support_line/versions/1.0.0", None),
        ("GET", "/api/flows/support_line/diff?from=1.0.0&to=1.2.0", None),
        ("POST", "/api/flows/support_line/versions", {"version": "5.0.0"}),
        ("GET", "/api/schedules/business_hours", None),
    ]:
        status, reply = stack.api(method, path, body, tenant=TENANT_B)
        assert status == 404, (path, reply)
    status, reply = stack.api("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER]}, tenant=TENANT_B)
    assert status == 422 and "not one of your numbers" in reply["error"]["message"]
    status, reply = stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER]}, tenant=TENANT_B)
    assert status in (404, 422)
    assert stack.api("GET", "/api/deployments", tenant=TENANT_B)[1] == {"deployments": []}
    assert stack.api("GET", "/api/schedules", tenant=TENANT_B)[1] == {"schedules": []}
    assert snapshot(stack) == before
