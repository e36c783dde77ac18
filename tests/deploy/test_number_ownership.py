"""A tenant may claim a number only if Twilio lists it on the tenant's account (asked over Twilio's REST API,
answered here by a local HttpClient so the real twilio library builds and parses the requests)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response

from common import config
from common.adapters.memory import MemoryStore
from common.adapters.twilio_numbers import TwilioNumberOwnership
from tests.deploy.conftest import ACCOUNT_A, ACCOUNT_B, DEMO_NUMBER, TENANT_B, env, make_stack


class FakeTwilioApi(HttpClient):
    """Answers IncomingPhoneNumbers list requests from a table of account -> numbers."""

    def __init__(self, owned: dict[str, set[str]], fail: bool = False) -> None:
        super().__init__(logger=logging.getLogger("fake-twilio"), is_async=False)
        self.owned, self.fail = owned, fail
        self.requests: list[tuple[str, str, dict[str, Any], tuple[str, str] | None]] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> Response:  # fmt: skip
        self.requests.append((method, uri, dict(params or {}), auth))
        if self.fail:
            return Response(500, json.dumps({"code": 20500, "message": "Internal Server Error", "status": 500}))
        account = uri.split("/Accounts/", 1)[1].split("/", 1)[0]
        wanted = unquote(str((params or {}).get("PhoneNumber", "")))
        numbers = [n for n in sorted(self.owned.get(account, set())) if n == wanted]
        page = {"incoming_phone_numbers": [{"phone_number": n, "sid": "PN" + "0" * 32, "account_sid": account}
                                           for n in numbers],
                "next_page_uri": None, "page": 0, "page_size": 1, "uri": uri, "first_page_uri": uri,
                "previous_page_uri": None, "start": 0, "end": len(numbers)}  # fmt: skip
        return Response(200, json.dumps(page))


SETTINGS = config.from_env(env())  # account A, and sub-account B with its token


@pytest.mark.parametrize(("account", "number", "expected"), [
    (ACCOUNT_A, "+13072240002", True),
    (ACCOUNT_A, "+14155550111", False),
    (ACCOUNT_B, "+14155550111", True),
    ("AC" + "c" * 32, "+14155550111", None),  # no token for that account: cannot ask
])  # fmt: skip
def test_ownership_is_read_from_the_accounts_incoming_numbers(account: str, number: str, expected: bool | None) -> None:
    api = FakeTwilioApi({ACCOUNT_A: {"+13072240002"}, ACCOUNT_B: {"+14155550111"}})
    assert TwilioNumberOwnership(SETTINGS, http_client=api).owns(account, number) is expected
    if expected is not None:
        method, uri, params, auth = api.requests[0]
        assert method == "GET" and uri.endswith(f"/Accounts/{account}/IncomingPhoneNumbers.json")
        assert params["PhoneNumber"] == number
        assert auth == (account, SETTINGS.auth_token_for(account))


def test_a_twilio_error_means_unknown_not_owned() -> None:
    api = FakeTwilioApi({}, fail=True)
    assert TwilioNumberOwnership(SETTINGS, http_client=api).owns(ACCOUNT_A, "+13072240002") is None


def test_a_tenant_cannot_claim_a_number_of_another_account() -> None:
    api = FakeTwilioApi({ACCOUNT_A: {DEMO_NUMBER, "+13072240002"}, ACCOUNT_B: {"+14155550111"}})
    stack = make_stack(MemoryStore(), ownership=TwilioNumberOwnership(SETTINGS, http_client=api))
    status, body = stack.api("POST", "/api/numbers", {"phoneNumber": "+13072240002"}, tenant=TENANT_B)
    assert status == 422 and body["error"]["code"] == "number_not_owned"
    assert stack.svc.store.get_number("+13072240002") is None
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+14155550111"}, tenant=TENANT_B)[0] == 201
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+13072240002"})[0] == 201
    api.fail = True
    status, body = stack.api("POST", "/api/numbers", {"phoneNumber": "+13072240003"})
    assert status == 503 and body["error"]["code"] == "ownership_unknown"
    assert stack.svc.store.get_number("+13072240003") is None
