"""Tenants, Twilio accounts, API keys and roles through the admin API, on both stores.

The platform admin key creates tenants linked to their Twilio (sub-)accounts and manages their keys;
each key has a role, and every operation is refused (403) to the roles that may not run it. Twilio
auth tokens live in the secret store only: never in a stored document, an answer or a log line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from apikit import any_stack, body, small_flow
from livestack import ACCOUNT_A, ACCOUNT_B, API_KEY_A, API_KEY_B, DEMO_NUMBER, TOKEN_A, TOKEN_B, Stack

from common.adapters.ports import StoreUnavailable
from common.config import DEV_PLATFORM_ADMIN_KEY
from common.service import operations as ops
from common.service.access import GRANTS, ROLES
from common.service.twilio_tokens import TwilioTokens, secret_name

__all__ = ["any_stack"]

PLATFORM = DEV_PLATFORM_ADMIN_KEY
NEW_SID = "AC" + "c" * 32
NEW_TOKEN = "tok-of-new-tenant-5f1e0c7a9b2d4e68"
OTHER_SID = "AC" + "d" * 32
OTHER_TOKEN = "tok-other-account-0a9b8c7d6e5f4a3b"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, body(response)
    return body(response)


def new_tenant(stack: Stack, tenant_id: str = "newco", sid: str = NEW_SID, token: str = NEW_TOKEN) -> Any:
    return stack.api("POST", "/api/platform/tenants", key=PLATFORM,
                     json={"id": tenant_id, "name": "New Co", "twilioAccountSid": sid, "twilioAuthToken": token})


def key_with_role(stack: Stack, role: str) -> str:
    return str(ok(stack.api("POST", "/api/keys", json={"role": role, "label": role}), 201)["key"])


# -- the platform API ---------------------------------------------------------------------------------


def test_a_tenant_is_created_linked_and_given_an_admin_key(any_stack: Stack) -> None:
    stack = any_stack
    created = ok(new_tenant(stack), 201)
    assert created["tenant"] == {"id": "newco", "name": "New Co", "twilioAccountSid": NEW_SID,
                                 "createdAt": created["tenant"]["createdAt"]}  # fmt: skip
    admin = created["adminKey"]
    assert admin["keyId"].startswith("key_") and admin["key"].startswith("ivr_newco_")
    me = ok(stack.api("GET", "/api/whoami", key=admin["key"]))
    assert me == {"tenant": "newco", "role": "admin", "keyId": admin["keyId"]}
    assert ok(stack.api("GET", "/api/flows", key=admin["key"])) == {"flows": []}  # a tenant of its own
    listed = ok(stack.api("GET", "/api/platform/tenants", key=PLATFORM))["tenants"]
    assert [t["id"] for t in listed] == ["demo", "newco", "tenant_b"]
    assert ok(stack.api("GET", "/api/platform/tenants/newco", key=PLATFORM))["twilioAccountSid"] == NEW_SID
    assert stack.api("GET", "/api/platform/tenants/nobody", key=PLATFORM).status_code == 404
    index = stack.store.get_twilio_account(NEW_SID)
    assert index is not None and (index.tenant_id, index.secret_name) == ("newco", secret_name(NEW_SID))
    assert stack.svc.twilio_token(NEW_SID) == NEW_TOKEN


def test_a_tenant_or_an_account_cannot_be_taken_twice(any_stack: Stack) -> None:
    stack = any_stack
    ok(new_tenant(stack), 201)
    again = new_tenant(stack, sid=OTHER_SID, token=OTHER_TOKEN)
    assert again.status_code == 409 and body(again)["error"]["code"] == "tenant_exists"
    assert stack.store.get_twilio_account(OTHER_SID) is None
    taken = new_tenant(stack, tenant_id="thief", token="a-different-token-1234567")
    assert taken.status_code == 409 and body(taken)["error"]["code"] == "account_taken"
    assert stack.store.get_tenant("thief") is None
    assert stack.svc.twilio_token(NEW_SID) == NEW_TOKEN  # the thief's token was not stored
    b_taken = new_tenant(stack, tenant_id="thief", sid=ACCOUNT_A, token="not-the-platform-token-xx")
    assert b_taken.status_code == 422  # the platform's own account: its token is configured, not given


@pytest.mark.parametrize("payload,field", [
    ({"id": "Bad Id", "name": "x", "twilioAccountSid": NEW_SID, "twilioAuthToken": NEW_TOKEN}, "id"),
    ({"id": "ok", "name": "x", "twilioAccountSid": "AC123", "twilioAuthToken": NEW_TOKEN}, "twilioAccountSid"),
    ({"id": "ok", "name": "x", "twilioAccountSid": NEW_SID, "twilioAuthToken": "short"}, "twilioAuthToken"),
    ({"id": "ok", "name": "x", "twilioAccountSid": NEW_SID}, "twilioAuthToken"),
])  # fmt: skip
def test_bad_tenant_requests_are_400_naming_the_field(any_stack: Stack, payload: dict[str, str], field: str) -> None:
    response = any_stack.api("POST", "/api/platform/tenants", key=PLATFORM, json=payload)
    assert response.status_code == 400
    assert body(response)["error"]["details"][0]["field"] == field
    assert any_stack.store.get_tenant("ok") is None


def test_relinking_moves_the_tenant_to_another_account(any_stack: Stack) -> None:
    stack = any_stack
    ok(new_tenant(stack), 201)
    rotated = "tok-rotated-on-twilio-77aa88bb99cc"
    ok(stack.api("PUT", "/api/platform/tenants/newco/twilio", key=PLATFORM,
                 json={"twilioAccountSid": NEW_SID, "twilioAuthToken": rotated}))  # fmt: skip
    assert stack.svc.twilio_token(NEW_SID) == rotated  # this instance forgot the old one at once
    moved = ok(stack.api("PUT", "/api/platform/tenants/newco/twilio", key=PLATFORM,
                         json={"twilioAccountSid": OTHER_SID, "twilioAuthToken": OTHER_TOKEN}))  # fmt: skip
    assert moved["twilioAccountSid"] == OTHER_SID
    assert stack.store.get_tenant("newco").twilio_account_sid == OTHER_SID
    assert stack.store.get_twilio_account(NEW_SID) is None
    assert stack.svc.tenants.secrets.get(secret_name(NEW_SID)) is None  # the old token is gone too
    assert stack.svc.twilio_token(NEW_SID) is None
    assert stack.svc.twilio_token(OTHER_SID) == OTHER_TOKEN
    taken = stack.api("PUT", "/api/platform/tenants/demo/twilio", key=PLATFORM,
                      json={"twilioAccountSid": OTHER_SID, "twilioAuthToken": "x" * 20})  # fmt: skip
    assert taken.status_code == 409
    assert stack.api("PUT", "/api/platform/tenants/nobody/twilio", key=PLATFORM,
                     json={"twilioAccountSid": NEW_SID, "twilioAuthToken": NEW_TOKEN}).status_code == 404  # fmt: skip


def test_platform_and_tenant_keys_open_only_their_own_doors(any_stack: Stack) -> None:
    stack = any_stack
    tenant_key = stack.api("GET", "/api/platform/tenants", key=API_KEY_A)
    assert tenant_key.status_code == 403 and body(tenant_key)["error"]["code"] == "forbidden"
    assert stack.api("GET", "/api/platform/tenants", key="nope").status_code == 401
    assert stack.api("GET", "/api/platform/tenants", key=None).status_code == 401
    platform_on_tenant = stack.api("GET", "/api/flows", key=PLATFORM)
    assert platform_on_tenant.status_code == 403 and "/api/platform" in body(platform_on_tenant)["error"]["message"]


def test_without_a_configured_platform_key_platform_administration_is_off(memory_store: Any) -> None:
    from livestack import build_stack

    from common import bootstrap

    stack = build_stack(memory_store, all_examples=False, IVR_ENV="prod", IVR_SECRETS="memory",
                        IVR_VERIFY_NUMBERS="off")
    try:
        refused = stack.api("GET", "/api/platform/tenants", key=PLATFORM)
        assert refused.status_code == 401 and "IVR_PLATFORM_ADMIN_KEY" in body(refused)["error"]["message"]
    finally:
        bootstrap.install(None)


# -- keys ---------------------------------------------------------------------------------------------


def test_keys_are_issued_listed_revoked_and_rotated(any_stack: Stack) -> None:
    stack = any_stack
    issued = ok(stack.api("POST", "/api/keys", json={"role": "viewer", "label": "dashboard"}), 201)
    assert issued["role"] == "viewer" and issued["label"] == "dashboard" and issued["keyId"].startswith("key_")
    viewer = issued["key"]
    assert ok(stack.api("GET", "/api/whoami", key=viewer))["role"] == "viewer"
    listed = ok(stack.api("GET", "/api/keys"))["keys"]
    assert {k["keyId"]: k["role"] for k in listed}[issued["keyId"]] == "viewer"
    assert all(set(k) == {"keyId", "label", "role", "createdAt", "revoked"} for k in listed)  # never the key
    assert viewer not in json.dumps(listed)
    rotated = ok(stack.api("POST", f"/api/keys/{issued['keyId']}/rotate"), 201)
    assert rotated["replaces"] == issued["keyId"] and rotated["keyId"] != issued["keyId"]
    assert stack.api("GET", "/api/whoami", key=viewer).status_code == 401
    assert ok(stack.api("GET", "/api/whoami", key=rotated["key"]))["role"] == "viewer"
    again = stack.api("POST", f"/api/keys/{issued['keyId']}/rotate")
    assert again.status_code == 409 and body(again)["error"]["code"] == "key_revoked"
    assert ok(stack.api("DELETE", f"/api/keys/{rotated['keyId']}")) == {"revoked": rotated["keyId"]}
    revoked = stack.api("GET", "/api/whoami", key=rotated["key"])
    assert revoked.status_code == 401 and "revoked" in body(revoked)["error"]["message"]
    states = {k["keyId"]: k["revoked"] for k in ok(stack.api("GET", "/api/keys"))["keys"]}
    assert states[issued["keyId"]] is True and states[rotated["keyId"]] is True
    assert stack.api("DELETE", "/api/keys/key_doesnotexist").status_code == 404
    # another tenant's key ids are not found either
    theirs = ok(stack.api("GET", "/api/keys", key=API_KEY_B))["keys"][0]["keyId"]
    assert stack.api("DELETE", f"/api/keys/{theirs}").status_code == 404
    assert stack.api("GET", "/api/whoami", key=API_KEY_B).status_code == 200


def test_the_platform_manages_a_tenants_keys(any_stack: Stack) -> None:
    stack = any_stack
    issued = ok(stack.api("POST", "/api/platform/tenants/tenant_b/keys", key=PLATFORM,
                          json={"role": "deployer"}), 201)  # fmt: skip
    assert ok(stack.api("GET", "/api/whoami", key=issued["key"])) == {
        "tenant": "tenant_b", "role": "deployer", "keyId": issued["keyId"]}
    listed = ok(stack.api("GET", "/api/platform/tenants/tenant_b/keys", key=PLATFORM))["keys"]
    assert issued["keyId"] in [k["keyId"] for k in listed]
    rotated = ok(stack.api("POST", f"/api/platform/tenants/tenant_b/keys/{issued['keyId']}/rotate", key=PLATFORM), 201)
    assert ok(stack.api("DELETE", f"/api/platform/tenants/tenant_b/keys/{rotated['keyId']}", key=PLATFORM)) == {
        "revoked": rotated["keyId"]}
    assert stack.api("GET", "/api/whoami", key=rotated["key"]).status_code == 401
    assert stack.api("POST", "/api/platform/tenants/nobody/keys", key=PLATFORM,
                     json={"role": "viewer"}).status_code == 404  # fmt: skip
    assert stack.api("POST", "/api/keys", json={"role": "root"}).status_code == 400


# -- roles on every operation -------------------------------------------------------------------------

SAMPLE_PARAMS = {"flowId": "support_line", "version": "1.0.0", "name": "office", "keyId": "key_0000000000000000",
                 "tenantId": "demo", "phoneNumber": "+15550007777", "departmentId": "sales", "agentId": "ann",
                 "kind": "sweep", "callSid": "CA" + "0" * 32}  # fmt: skip
ON_DEMO = {"phoneNumbers": [DEMO_NUMBER]}
SAMPLE_BODIES: dict[str, Any] = {"put_flow": small_flow("support_line"), "deploy": ON_DEMO, "rollback": ON_DEMO,
                                 "promote": ON_DEMO, "register_number": {"phoneNumber": "+15550007777"},
                                 "issue_key": {"role": "viewer"}, "put_schedule": {"timezone": "UTC"}, "publish": {},
                                 "execute": {}}  # fmt: skip
# task operations take the routing timers' credential, never an API key (tests/functions/test_routing_api.py)
TENANT_OPERATIONS = [op for op in ops.operations() if op.permission not in ("public", "platform", "task")]


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_refuses_the_roles_that_may_not_run_it(any_stack: Stack, role: str) -> None:
    stack = any_stack
    key = key_with_role(stack, role)
    for op in TENANT_OPERATIONS:
        path = op.path.format(**SAMPLE_PARAMS)
        query = "?from=1.0.0&to=draft" if op.name == "diff" else ""
        writes = stack.store.writes
        response = stack.api(op.method, path + query, json=SAMPLE_BODIES.get(op.name), key=key)
        if role == "agent" and op.permission == "status":
            # an agent key sets only its own agent's status (none is bound here); 503: no routing on this stack
            assert response.status_code in (403, 503), (role, op.name, body(response))
        elif op.permission in GRANTS[role]:
            assert response.status_code not in (401, 403), (role, op.name, body(response))
        else:
            assert response.status_code == 403, (role, op.name, body(response))
            error = body(response)["error"]
            assert error["code"] == "forbidden" and f"role {role} may not" in error["message"], error
            assert stack.store.writes == writes, (role, op.name)


def test_the_contracts_role_examples(any_stack: Stack) -> None:
    stack = any_stack
    viewer, editor, deployer, agent = (key_with_role(stack, r) for r in ("viewer", "editor", "deployer", "agent"))
    assert stack.api("GET", "/api/flows/support_line", key=viewer).status_code == 200
    assert stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), key=viewer).status_code == 403
    assert stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), key=editor).status_code == 200
    assert stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": [DEMO_NUMBER]},
                     key=editor).status_code == 403  # fmt: skip
    assert stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": [DEMO_NUMBER]},
                     key=deployer).status_code == 200  # fmt: skip
    assert stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), key=deployer).status_code == 403
    assert stack.api("GET", "/api/keys", key=editor).status_code == 403
    assert ok(stack.api("GET", "/api/whoami", key=agent))["role"] == "agent"
    assert stack.api("GET", "/api/flows", key=agent).status_code == 403


# -- the Twilio token: where it lives, how webhooks find it -------------------------------------------


def _everything_stored(stack: Stack, firestore_client: Any = None) -> str:
    if hasattr(stack.store, "_docs"):
        return json.dumps(stack.store._docs, default=str)
    docs: list[Any] = []

    def walk(collection: Any) -> None:
        for snap in collection.stream():
            docs.append(snap.to_dict())
            for sub in snap.reference.collections():
                walk(sub)

    client = stack.store.client
    for collection in client.collections():
        walk(collection)
    return json.dumps(docs, default=str)


def test_auth_tokens_never_reach_a_document_an_answer_or_a_log(any_stack: Stack,
                                                               caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    stack = any_stack
    caplog.set_level(logging.DEBUG)
    answers = [new_tenant(stack).get_data(as_text=True)]
    rotated = "tok-rotated-secret-value-4242aa"
    answers.append(stack.api("PUT", "/api/platform/tenants/newco/twilio", key=PLATFORM,
                             json={"twilioAccountSid": NEW_SID, "twilioAuthToken": rotated}).get_data(as_text=True))
    answers.append(new_tenant(stack, tenant_id="thief", token="tok-of-a-thief-9999999999").get_data(as_text=True))
    answers.append(stack.api("GET", "/api/platform/tenants", key=PLATFORM).get_data(as_text=True))
    stored = _everything_stored(stack)
    assert "newco" in stored and NEW_SID in stored  # the index is there...
    for token in (NEW_TOKEN, rotated, "tok-of-a-thief-9999999999", TOKEN_A, TOKEN_B):
        assert token not in stored, token  # ...the tokens are not
        assert all(token not in answer for answer in answers), token
        assert token not in caplog.text, token
        assert token not in repr(stack.svc.settings)
    assert stack.svc.tenants.secrets.get(secret_name(NEW_SID)) == rotated


def test_twilio_token_order_and_refusals(any_stack: Stack) -> None:
    stack = any_stack
    ok(new_tenant(stack), 201)
    svc = stack.svc
    assert svc.twilio_token(ACCOUNT_A) == TOKEN_A  # the platform account
    assert svc.twilio_token(ACCOUNT_B) == TOKEN_B  # TWILIO_SUBACCOUNT_TOKENS, still honoured
    assert svc.twilio_token(NEW_SID) == NEW_TOKEN  # linked through the platform API
    assert svc.twilio_token("AC" + "9" * 32) is None
    reads = stack.store.reads
    for forged in ("", "a/b", "__x__", "AC../../x", "AC" + "1" * 40):
        assert svc.twilio_token(forged) is None
    assert stack.store.reads == reads  # not even looked up
    # number ownership checks (IVR_VERIFY_NUMBERS=twilio) see linked accounts too
    from common.bootstrap import _LinkedSettings

    linked = _LinkedSettings(lookup=svc.twilio_token)
    assert linked.auth_token_for(NEW_SID) == NEW_TOKEN


class Clock:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def test_other_instances_see_a_new_token_within_the_cache_time(any_stack: Stack) -> None:
    stack = any_stack
    ok(new_tenant(stack), 201)
    clock = Clock()
    other = TwilioTokens(stack.svc.settings, stack.store, stack.svc.tenants.secrets, clock=clock)  # another instance
    assert other.token(NEW_SID) == NEW_TOKEN
    rotated = "tok-rotated-by-the-platform-0001"
    ok(stack.api("PUT", "/api/platform/tenants/newco/twilio", key=PLATFORM,
                 json={"twilioAccountSid": NEW_SID, "twilioAuthToken": rotated}))  # fmt: skip
    reads = stack.store.reads
    assert other.token(NEW_SID) == NEW_TOKEN  # cached
    assert stack.store.reads == reads
    clock.at += stack.svc.settings.token_cache_seconds + 0.1
    assert other.token(NEW_SID) == rotated


def test_an_outage_uses_the_last_token_seen_and_never_raises(any_stack: Stack) -> None:
    stack = any_stack
    ok(new_tenant(stack), 201)
    clock = Clock()

    class DownSecrets:
        def get(self, name: str) -> str | None:
            raise StoreUnavailable("secret manager down")

    tokens = TwilioTokens(stack.svc.settings, stack.store, stack.svc.tenants.secrets, clock=clock)
    assert tokens.token(NEW_SID) == NEW_TOKEN
    tokens.secrets = DownSecrets()  # type: ignore[assignment]
    clock.at += 3600
    assert tokens.token(NEW_SID) == NEW_TOKEN  # stale beats a 403 for every call of the tenant
    fresh = TwilioTokens(stack.svc.settings, stack.store, DownSecrets(), clock=clock)  # type: ignore[arg-type]
    assert fresh.token(NEW_SID) is None


def test_a_created_tenant_can_register_a_number_and_deploy(any_stack: Stack) -> None:
    stack = any_stack
    key = ok(new_tenant(stack), 201)["adminKey"]["key"]
    ok(stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), key=key))
    number = ok(stack.api("POST", "/api/numbers", json={"phoneNumber": "+15550006666"}, key=key), 201)
    assert stack.store.get_number(number["phoneNumber"]).account_sid == NEW_SID
    ok(stack.api("POST", "/api/flows/menu_flow/deploy", json={"phoneNumbers": ["+15550006666"]}, key=key))
    assert key != API_KEY_A
