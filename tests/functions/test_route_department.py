"""route_department over HTTP (functions/route_department/main.py under functions-framework): a live
call joins a queue through POST /api/departments/route, and the task endpoints open only to the tasks'
OIDC token (a locally generated RSA key stands in for Google's, its certificate served by a fake
fetcher: no network) or, where it is configured, the shared secret. Refusals change nothing; a task
delivered twice applies once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from apikit import body
from livestack import API_KEY_A, B_NUMBER, BASE, TOKEN_B, client, wsgi_app
from routingkit import TASK_SECRET, TASKS_ACCOUNT, RoutedStack, routed

from common.core.routing_model import entry_id
from common.routing_setup import RoutingSettings
from common.web.task_auth import CertsCache, TaskAuth

__all__ = ["routed"]  # a fixture

GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v1/certs"
SID, OTHER_SID, B_SID = "CA" + "5" * 32, "CA" + "6" * 32, "CA" + "b" * 32


def sales(**settings: Any) -> dict[str, Any]:
    return {"name": "Sales", "joinWhenEmpty": "always", **settings}


def route_body(sid: str = SID, department: str = "sales", **extra: Any) -> dict[str, Any]:
    return {"callSid": sid, "department": department, "priority": "normal",
            "context": {"customerInfo": {"name": "Ada", "tier": "gold"}, "flowPath": ["start", "menu"]},
            **extra}  # fmt: skip


# -- joining ------------------------------------------------------------------------------------------


def test_route_joins_the_queue_with_position_and_wait(routed: RoutedStack) -> None:
    assert routed.api("PUT", "/api/departments/sales", json=sales()).status_code == 201
    first, second = routed.live_call(SID), routed.live_call(OTHER_SID)
    joined = routed.api("POST", "/api/departments/route", json=route_body(first, priority="low"))
    assert joined.status_code == 201, joined.get_data(as_text=True)
    assert body(joined) == {"outcome": "queued", "entryId": entry_id(first, "sales"), "department": "sales",
                            "status": "waiting", "priority": 10, "position": 1, "expectedWaitSeconds": 180,
                            "created": True}  # fmt: skip
    ahead = body(routed.api("POST", "/api/departments/route", json=route_body(second, priority=80)))
    assert (ahead["position"], ahead["priority"]) == (1, 80)  # higher priority first
    entry = routed.store.get_entry("demo", "sales", entry_id(first, "sales"))
    assert entry.context == {"customerInfo": {"name": "Ada", "tier": "gold"}, "flowPath": ["start", "menu"]}
    assert [sid for _, sid, url in routed.calls.redirects] == [first, second]  # to their hold loops
    assert all(url.startswith(BASE + "/") for _, _, url in routed.calls.redirects)

    writes = routed.store.writes
    again = routed.api("POST", "/api/departments/route", json=route_body(first, priority="high"))
    assert again.status_code == 200
    assert (body(again)["created"], body(again)["priority"], body(again)["position"]) == (False, 10, 2)
    assert routed.store.writes == writes and len(routed.calls.redirects) == 2


REFUSALS = [
    ("another tenant's call", {"callSid": B_SID}, 404, "callSid"),
    ("unknown call", {"callSid": "CA" + "9" * 32}, 404, "callSid"),
    ("ended call", {"callSid": OTHER_SID}, 409, "callSid"),
    ("unknown department", {"department": "billing"}, 404, "department"),
    ("Firestore's '..'", {"department": ".."}, 404, "department"),
    ("priority too high", {"priority": 1000}, 400, "priority"),
    ("priority negative", {"priority": -1}, 400, "priority"),
    ("priority word", {"priority": "urgent"}, 400, "priority"),
    ("no call sid", {"callSid": None}, 400, "callSid"),
    ("unknown field", {"queue": "x"}, 400, "queue"),
    ("context not an object", {"context": ["x"]}, 400, "context"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "status", "field"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_route_refusals_name_the_field_and_store_nothing(routed: RoutedStack, case: str, change: dict[str, Any],
                                                        status: int, field: str) -> None:  # fmt: skip
    assert routed.api("PUT", "/api/departments/sales", json=sales()).status_code == 201
    routed.live_call(SID)
    routed.live_call(B_SID, number=B_NUMBER, token=TOKEN_B, account="AC" + "b" * 32)
    routed.live_call(OTHER_SID)
    routed.hang_up(OTHER_SID)
    before, writes = routed.snapshot(), routed.store.writes
    sent = {k: v for k, v in {**route_body(), **change}.items() if v is not None}
    response = routed.api("POST", "/api/departments/route", json=sent)
    assert response.status_code == status, response.get_data(as_text=True)
    error = body(response)["error"]
    assert field in [d["field"] for d in error["details"]], error
    assert routed.snapshot() == before and routed.store.writes == writes
    assert routed.calls.redirects == []


def test_a_closed_queue_answers_409_with_the_outcome(routed: RoutedStack) -> None:
    assert routed.api("PUT", "/api/departments/sales", json=sales(joinWhenEmpty="available")).status_code == 201
    routed.live_call(SID)
    refused = routed.api("POST", "/api/departments/route", json=route_body())
    assert refused.status_code == 409
    assert body(refused)["error"]["details"] == {"outcome": "noAgents"}
    assert routed.store.get_entry("demo", "sales", entry_id(SID, "sales")) is None


# -- the task endpoints -------------------------------------------------------------------------------


@dataclass
class FakeGoogle:
    """Google's side of OIDC: a signing key, and its certificate served at Google's certs URL."""

    signer: Any
    certs: dict[str, str]
    fetched: list[tuple[str, float | None]] = field(default_factory=list)

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any:  # fmt: skip
        self.fetched.append((url, timeout))
        if url != GOOGLE_CERTS:
            return SimpleNamespace(status=404, data=b"", headers={})
        return SimpleNamespace(status=200, data=json.dumps(self.certs).encode(),
                               headers={"Cache-Control": "public, max-age=20000, must-revalidate"})  # fmt: skip

    def token(self, signer: Any = None, **claims: Any) -> str:
        from google.auth import jwt

        now = int(time.time())
        payload = {"iss": "https://accounts.google.com", "aud": BASE, "azp": "1234", "sub": "1234",
                   "email": TASKS_ACCOUNT, "email_verified": True, "iat": now, "exp": now + 600, **claims}  # fmt: skip
        return str(jwt.encode(signer or self.signer, {k: v for k, v in payload.items() if v is not None}).decode())


def rsa_signer(key_id: str) -> tuple[Any, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from google.auth import crypt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stand-in for Google")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    return crypt.RSASigner.from_string(pem, key_id=key_id), cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def google_keys() -> tuple[Any, str, Any]:
    signer, cert = rsa_signer("google-key-1")
    stranger, _ = rsa_signer("google-key-1")  # claims Google's key id, signed with another key
    return signer, cert, stranger


@pytest.fixture
def google(routed: RoutedStack, google_keys: tuple[Any, str, Any]) -> Iterator[FakeGoogle]:
    """Production's task auth (OIDC only, no secret) with the fake Google, on the routed stack."""
    signer, cert, _ = google_keys
    fake = FakeGoogle(signer, {"google-key-1": cert})
    settings = RoutingSettings(tasks="cloudtasks", tasks_queue="projects/p/locations/l/queues/q",
                               tasks_service_account=TASKS_ACCOUNT, tasks_audience=BASE, task_secret=None)  # fmt: skip
    svc: Any = routed.svc
    svc.task_auth = TaskAuth(settings, BASE, certs=CertsCache(fake))
    yield fake


def _waiting_caller(routed: RoutedStack) -> dict[str, Any]:
    ladder = [{"afterSeconds": 30, "action": "raisePriority", "by": 40}, {"afterSeconds": 600, "action": "timeout"}]
    assert routed.api("PUT", "/api/departments/sales", json=sales(escalation=ladder)).status_code == 201
    routed.live_call(SID)
    assert routed.api("POST", "/api/departments/route", json=route_body()).status_code == 201
    [payload] = [p for p in routed.timers.of_kind("escalate") if p["step"] == 0]
    routed.stack.clock.at += timedelta(seconds=31)
    return payload


def _priority(routed: RoutedStack) -> int:
    entry = routed.store.get_entry("demo", "sales", entry_id(SID, "sales"))
    assert entry is not None
    return int(entry.priority)


def test_a_task_delivered_twice_applies_once(routed: RoutedStack) -> None:
    payload = _waiting_caller(routed)
    first = routed.task("escalate", payload)
    assert (first.status_code, body(first)) == (200, {"result": "applied"})
    writes = routed.store.writes
    again = routed.task("escalate", payload)
    assert (again.status_code, body(again)) == (200, {"result": "nothing due"})
    assert _priority(routed) == 90 and routed.store.writes == writes
    swept = routed.task("sweep", {"tenant": "demo", "department": "sales"})
    assert swept.status_code == 200 and body(swept)["escalated"] == 0


def test_oidc_tokens_of_the_tasks_account_are_accepted(routed: RoutedStack, google: FakeGoogle) -> None:
    payload = _waiting_caller(routed)
    response = routed.task("escalate", payload, secret=None, headers={"Authorization": f"Bearer {google.token()}"})
    assert (response.status_code, body(response)) == (200, {"result": "applied"})
    again = routed.task("escalate", payload, secret=None, headers={"Authorization": f"Bearer {google.token()}"})
    assert body(again) == {"result": "nothing due"} and _priority(routed) == 90
    assert google.fetched == [(GOOGLE_CERTS, 3.0)]  # fetched once, then cached; with a short timeout


def _refusals(google: FakeGoogle, stranger: Any) -> list[tuple[str, dict[str, str], int, str]]:
    bearer = lambda **claims: {"Authorization": f"Bearer {google.token(**claims)}"}  # noqa: E731
    return [
        ("no credential", {}, 401, "accept an OIDC token of " + TASKS_ACCOUNT),
        ("the laptop secret in production", {"X-Ivr-Task-Secret": TASK_SECRET}, 403, "does not accept"),
        ("an API key", {"Authorization": f"Bearer {API_KEY_A}"}, 403, "an API key cannot call"),
        ("basic auth", {"Authorization": "Basic dXNlcjpwYXNz"}, 401, "accept an OIDC token"),
        ("not a JWT", {"Authorization": "Bearer abc.def.ghi"}, 401, "not a Google-signed OIDC token"),
        ("another account", bearer(email="someone@evil.example"), 403, "someone@evil.example"),
        ("no email", bearer(email=None), 403, "no account"),
        ("email not verified", bearer(email_verified=False), 403, "not verified"),
        ("wrong audience", bearer(aud="https://elsewhere.example"), 401, "audience"),
        ("expired", bearer(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), 401, "does not verify"),
        ("not Google's issuer", bearer(iss="https://issuer.example"), 401, "issuer"),
        ("signed by another key", {"Authorization": f"Bearer {google.token(signer=stranger)}"}, 401,
         "does not verify"),
    ]  # fmt: skip


def test_nobody_else_can_call_the_task_endpoints(routed: RoutedStack, google: FakeGoogle,
                                                 google_keys: tuple[Any, str, Any]) -> None:  # fmt: skip
    payload = _waiting_caller(routed)
    before, writes = routed.snapshot(), routed.store.writes
    for case, headers, status, fragment in _refusals(google, google_keys[2]):
        response = routed.task("escalate", payload, secret=None, headers=headers)
        assert response.status_code == status, (case, response.get_data(as_text=True))
        assert fragment in body(response)["error"]["message"], (case, body(response))
    assert routed.snapshot() == before and routed.store.writes == writes and _priority(routed) == 50


def test_the_shared_secret_where_it_is_set(routed: RoutedStack) -> None:
    payload = _waiting_caller(routed)
    before = routed.snapshot()
    for secret, status in (("wrong", 401), ("", 401), (TASK_SECRET + "x", 401)):
        assert routed.task("escalate", payload, secret=secret).status_code == status
    no_account: Any = routed.svc
    no_account.routing_settings = RoutingSettings(task_secret=TASK_SECRET)  # a laptop: no tasks account
    token = routed.task("escalate", payload, secret=None, headers={"Authorization": "Bearer a.b.c"})
    assert token.status_code == 403 and "accepts no OIDC tokens" in body(token)["error"]["message"]
    assert routed.snapshot() == before
    assert routed.task("escalate", payload).status_code == 200


def test_bad_task_payloads_are_400_after_authentication(routed: RoutedStack) -> None:
    _waiting_caller(routed)
    before = routed.snapshot()
    cases = [("escalate", {"tenant": "demo", "department": "sales"}, "entry"),
             ("escalate", {"tenant": "demo", "department": "sales", "entry": "e", "step": -1}, "step"),
             ("sweep", {"tenant": "..", "department": "sales"}, "tenant"),
             ("sweep", {"tenant": "demo", "department": "__x__"}, "department")]  # fmt: skip
    for kind, payload, name in cases:
        response = routed.task(kind, payload)
        assert response.status_code == 400 and body(response)["error"]["details"][0]["field"] == name
    assert routed.task("nap", {}).status_code == 404
    assert routed.task("sweep", [1, 2]).status_code == 400
    form = "application/x-www-form-urlencoded"
    not_json = routed.api("POST", "/api/departments/tasks/sweep", data="tenant=demo", key=None, content_type=form,
                          headers={"X-Ivr-Task-Secret": TASK_SECRET})  # fmt: skip
    assert not_json.status_code == 415
    assert routed.snapshot() == before


def test_the_function_serves_only_route_and_tasks(routed: RoutedStack) -> None:
    function = client(wsgi_app().apps["route_department"])
    auth = {"Authorization": f"Bearer {API_KEY_A}"}
    for method, path in (("GET", "/api/departments"), ("PUT", "/api/departments/sales"), ("GET", "/api/agents"),
                         ("GET", "/api/flows")):  # fmt: skip
        response = function.open(path, method=method, headers=auth, base_url=BASE, json={"name": "Sales"})
        assert response.status_code == 405 and response.headers["Allow"] == ""
        assert "serves only POST /api/departments/route" in body(response)["error"]["message"]
    assert routed.store.list_departments("demo") == []
    wrong = function.get("/api/departments/route", headers=auth, base_url=BASE)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")
    assert function.post("/api/departments/route", json=route_body(), base_url=BASE).status_code == 401
