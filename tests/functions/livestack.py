"""A live stack for the HTTP tests: every Cloud Function behind the local dispatcher, a chosen store,
a frozen clock, a fake HTTP fetcher, two Twilio accounts and two tenants.

    stack = build_stack(store)            # seeds tenant A (demo) and tenant B, installs the container
    stack.signed_post("/webhook/voice/incoming", params)          # signed with account A's token
    stack.sim().call(DEMO_NUMBER, inputs=["1"])                   # the Twilio-like call simulator
    stack.api("PUT", "/api/flows/x", json=flow)                   # the admin API with tenant A's key

The function apps are loaded once per process (``wsgi_app``): they call ``bootstrap.services()`` per
request, so ``bootstrap.install`` swaps what they serve. Requests go through werkzeug's test client
with the raw request target kept exactly as given (REQUEST_URI/RAW_URI), like a real WSGI server.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twilio.request_validator import RequestValidator
from werkzeug.test import Client, TestResponse

from common import bootstrap, callsim, config, devserver
from common.adapters.ports import NumberOwnership, Tenant
from common.core import twiml

BASE = "https://ivr.example.test"
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday, 15:00 UTC (10:00 New York, 15:00 London)

ACCOUNT_A = "AC" + "a" * 32
TOKEN_A = "auth-token-of-account-a-00000000"
ACCOUNT_B = "AC" + "b" * 32  # tenant B's own Twilio sub-account (TWILIO_SUBACCOUNT_TOKENS)
TOKEN_B = "auth-token-of-account-b-11111111"

TENANT_A = bootstrap.DEMO_TENANT
API_KEY_A = config.DEV_API_KEY
TENANT_B = "tenant_b"
API_KEY_B = "ivr_tenant_b_key_for_tests_only"

DEMO_NUMBER = bootstrap.DEMO_NUMBER  # tenant A: support_line
LOOKUP_NUMBER = "+13072240001"  # tenant A: account_lookup
AFTER_HOURS_NUMBER = "+13072240002"  # tenant A: after_hours_voicemail
B_NUMBER = "+14155550199"  # tenant B: support_line
UNKNOWN_NUMBER = "+19998887777"

STEP_FRAGMENT = "#" + twiml.CONNECTION_OVERRIDES
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'


def env(**extra: str) -> dict[str, str]:
    values = {
        "PUBLIC_BASE_URL": BASE,
        "IVR_NUMBER_CACHE_SECONDS": "0",
        "TWILIO_ACCOUNT_SID": ACCOUNT_A,
        "TWILIO_AUTH_TOKEN": TOKEN_A,
        "TWILIO_SUBACCOUNT_TOKENS": json.dumps({ACCOUNT_B: TOKEN_B}),
        "IVR_API_KEY_PEPPER": "test-pepper",
    }
    values.update(extra)
    return values


def sign(url: str, params: Mapping[str, str], token: str = TOKEN_A) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(params)))


# -- fakes --------------------------------------------------------------------------------------------

Answer = tuple[int, str, str | None]


@dataclass
class FakeFetcher:
    """HttpFetcher answering by URL substring; ``delay`` sleeps like a slow API (bounded by timeout)."""

    routes: list[tuple[str, Answer | Callable[[str, float], Answer]]] = field(default_factory=list)
    default: Answer = (404, '{"error": "no such route"}', None)
    delay: float = 0.0
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, match: str, status: int, body: Any = "", error: str | None = None) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.routes.insert(0, (match, (status, text, error)))

    def fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
              timeout: float) -> Answer:  # fmt: skip
        with self._lock:
            self.requests.append((method, url, timeout))
        if self.delay:
            time.sleep(min(self.delay, timeout))
            if self.delay >= timeout:
                return 0, "", f"timed out after {timeout:.1f}s"
        for match, found in self.routes:
            if match in url:
                return found(url, timeout) if callable(found) else found
        return self.default


class ExplodingStore:
    """A store whose every method raises: proves a code path never touches storage."""

    reads = 0
    writes = 0

    def __getattr__(self, name: str) -> Any:
        def boom(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"the store was used: {name}{args!r}")

        return boom


# -- the WSGI stack -----------------------------------------------------------------------------------


@functools.cache
def wsgi_app() -> devserver.Dispatcher:
    """All four functions, each loaded from functions/<name>/main.py by functions-framework."""
    return devserver.make_app()


def client(app: Any = None) -> Client:
    return Client(app or wsgi_app(), use_cookies=False)


def target_of(url: str) -> str:
    assert url.startswith(BASE + "/"), f"{url} is not under {BASE}"
    return url[len(BASE) :].split("#", 1)[0]


def transport(app: Any = None) -> callsim.Post:
    """callsim's ``post(url, params, headers) -> (status, text)`` over the test client, raw query kept."""

    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client(app).post(target_of(url), data=params, headers=headers, base_url=BASE)
        return response.status_code, response.get_data(as_text=True)

    return post


@dataclass
class Stack:
    svc: bootstrap.Services
    fetcher: FakeFetcher
    app: Any
    clock: FrozenClock

    @property
    def store(self) -> Any:
        return self.svc.store

    def post(self, target: str, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, **kwargs: Any) -> TestResponse:  # fmt: skip
        return client(self.app).post(target, data=dict(params or {}), headers=dict(headers or {}),
                                     base_url=BASE, **kwargs)  # fmt: skip

    def signed_post(self, target: str, params: Mapping[str, str], token: str = TOKEN_A,
                    sign_url: str | None = None, sign_params: Mapping[str, str] | None = None,
                    headers: Mapping[str, str] | None = None) -> TestResponse:  # fmt: skip
        """POST ``params`` to ``target`` (path + raw query), signed over ``sign_url`` (default: the
        URL as requested) and ``sign_params`` (default: the params), like Twilio would."""
        signature = sign(sign_url or BASE + target, params if sign_params is None else sign_params, token)
        return self.post(target, params, {"X-Twilio-Signature": signature, **dict(headers or {})})

    def sim(self, token: str = TOKEN_A, account: str = ACCOUNT_A, replays: int = 0,
            concurrent_replays: int = 0) -> callsim.TwilioCallSimulator:  # fmt: skip
        return callsim.TwilioCallSimulator(BASE, token, account, post=transport(self.app), replays=replays,
                                           concurrent_replays=concurrent_replays)  # fmt: skip

    def call(self, number: str, inputs: list[str], **kwargs: Any) -> callsim.CallResult:
        return self.sim(**kwargs).call(number, inputs=inputs)

    def stored(self, call_sid: str) -> Any:
        found = self.store.read_call(call_sid)
        assert found is not None, f"call {call_sid} was not stored"
        return found[0]

    def api(self, method: str, path: str, json: Any = None, key: str | None = API_KEY_A,
            headers: Mapping[str, str] | None = None, data: bytes | str | None = None) -> TestResponse:  # fmt: skip
        sent = dict(headers or {})
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        kwargs: dict[str, Any] = {"headers": sent, "base_url": BASE}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = "application/json"
        return client(self.app).open(path, method=method, **kwargs)


class FrozenClock:
    """The service's clock: frozen at ``at`` until a test moves it."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


#: Tenant A's business hours (after_hours_voicemail's hoursNode): weekdays 09:00-17:00 in London.
BUSINESS_HOURS = {"timezone": "Europe/London",
                  "weekly": {day: [{"start": "09:00", "end": "17:00"}]
                             for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}}  # fmt: skip
OPEN_AT = NOW  # Monday 15:00 in London
CLOSED_AT = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # a Saturday


def example(name: str) -> dict[str, Any]:
    return json.loads((bootstrap.EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def build_stack(store: Any, fetcher: Any = None, clock: FrozenClock | None = None, all_examples: bool = True,
                tenant_b_flow: bool = True, ownership: NumberOwnership | None = None,
                **extra_env: str) -> Stack:  # fmt: skip
    """Tenant A (the demo tenant, account A) runs support_line on DEMO_NUMBER and, when
    ``all_examples``, account_lookup and after_hours_voicemail on two more numbers; tenant B (its own
    sub-account B) runs support_line on B_NUMBER unless ``tenant_b_flow`` is False (then it owns
    nothing, for tests that count what another tenant can see). ``fetcher`` is any HttpFetcher (a
    FakeFetcher by default), ``ownership`` the NumberOwnership port (the bootstrap default when None).
    Installs the container for the function apps."""
    settings = config.from_env(env(**extra_env))
    fetcher = fetcher or FakeFetcher()
    clock = clock or FrozenClock()
    svc = bootstrap.build(settings, store=store, now=clock, fetcher=fetcher, ownership=ownership,
                          routing=None)  # fmt: skip  # kits attach routing
    bootstrap.seed_demo(svc)
    tenant_a = svc.admin.authenticate(f"Bearer {API_KEY_A}")
    if all_examples:
        svc.deployments.put_schedule(tenant_a, "business_hours", BUSINESS_HOURS, author="tests")
        for flow_name, number in (("account_lookup", LOOKUP_NUMBER), ("after_hours_voicemail", AFTER_HOURS_NUMBER)):
            deploy(svc, tenant_a, example(flow_name), number)
    tenant_b = Tenant(id=TENANT_B, name="Tenant B", twilio_account_sid=ACCOUNT_B)
    svc.admin.create_tenant(tenant_b, API_KEY_B, label="tests")
    if tenant_b_flow:
        deploy(svc, tenant_b, example("support_line"), B_NUMBER)
    bootstrap.install(svc)
    return Stack(svc, fetcher, wsgi_app(), clock)


def deploy(svc: bootstrap.Services, tenant: Tenant, flow: dict[str, Any], number: str) -> None:
    svc.admin.put_flow(tenant, flow["id"], flow, None, author="tests")
    svc.admin.register_number(tenant, {"phoneNumber": number})
    svc.deployments.deploy(tenant, flow["id"], {"phoneNumbers": [number]}, author="tests")


def warm_up(client: Any) -> None:
    """A freshly started emulator (a JVM) can take seconds to answer its first RPCs, longer than the
    store's production deadlines (1 s per read): make it serve once with a generous timeout first."""
    document = client.collection("warm_up").document("ping")
    document.set({"ok": True}, timeout=60)
    document.get(timeout=60)
    document.delete(timeout=60)


def problems_in(document: str) -> list[str]:
    """What Twilio would refuse in a webhook answer (empty when it is valid TwiML)."""
    return twiml.check(document)
