"""Department routing on a live stack, for the HTTP tests of the routing API and the CLI.

    from routingkit import routed, RoutedStack        # routed: a fixture, memory and Firestore emulator
    r = attach_routing(stack)                         # svc.routing on the stack's store (or the one given)
    r.api("PUT", "/api/departments/sales", json={...})
    r.task("escalate", payload)                       # with the laptop's shared secret

``attach_routing`` sets ``svc.routing`` (``build_routing`` with recording timers and call control, the
stack's frozen clock) and ``svc.routing_settings`` on the container the function apps serve, as the
bootstrap will once routing is wired in. ``app`` serves what production's load balancer does:
``/api/departments/route`` and ``/api/departments/tasks/*`` reach the route_department function, the
rest of ``/api/departments*`` and ``/api/agents*`` reach ``routing_api.handle`` (as the admin API
will delegate to it), everything else the local stack's functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from livestack import ACCOUNT_A, API_KEY_A, BASE, DEMO_NUMBER, Stack, build_stack, client, wsgi_app
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request, Response

from common import bootstrap
from common.adapters.ports import ApiKey, Role
from common.routing_setup import RoutingSettings, build_routing
from common.service.admin import hash_key
from common.web import routing_api

TASK_SECRET = "task-secret-of-the-tests"
TASKS_ACCOUNT = "ivr-tasks@ivr-test.iam.gserviceaccount.com"


@dataclass
class RecordingTimers:
    """Timers that record what routing schedules (a name once, like the port promises)."""

    scheduled: dict[str, tuple[datetime, str, dict[str, Any]]] = field(default_factory=dict)

    def schedule(self, name: str, at: datetime, path: str, payload: dict[str, Any]) -> bool:
        if name in self.scheduled:
            return False
        self.scheduled[name] = (at, path, payload)
        return True

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [payload for _, path, payload in self.scheduled.values() if path.endswith("/" + kind)]


@dataclass
class RecordingCallControl:
    redirects: list[tuple[str, str, str]] = field(default_factory=list)

    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        self.redirects.append((account_sid, call_sid, url))
        return True

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        return None


def routing_wsgi(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ.get("PATH_INFO", "")
    served_by_function = path.startswith(routing_api.FUNCTION_PATHS)
    if not served_by_function and path.startswith(("/api/departments", "/api/agents")):
        body, status, headers = routing_api.handle(Request(environ), bootstrap.services())
        return Response(body, status, headers)(environ, start_response)
    return wsgi_app()(environ, start_response)


@dataclass
class RoutedStack:
    stack: Stack
    store: Any  # the RoutingStore
    timers: RecordingTimers
    calls: RecordingCallControl
    settings: RoutingSettings

    @property
    def svc(self) -> bootstrap.Services:
        return self.stack.svc

    @property
    def service(self) -> Any:
        return self.svc.routing

    def api(self, method: str, path: str, json: Any = None, key: str | None = API_KEY_A,
            headers: Mapping[str, str] | None = None, data: bytes | str | None = None,
            content_type: str | None = None) -> TestResponse:  # fmt: skip
        sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **dict(headers or {})}
        kwargs: dict[str, Any] = {"headers": sent, "base_url": BASE}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = content_type or "application/json"
        return client(routing_wsgi).open(path, method=method, **kwargs)

    def task(self, kind: str, payload: Any, secret: str | None = TASK_SECRET,
             headers: Mapping[str, str] | None = None) -> TestResponse:  # fmt: skip
        sent = {**({"X-Ivr-Task-Secret": secret} if secret is not None else {}), **dict(headers or {})}
        return self.api("POST", f"/api/departments/tasks/{kind}", json=payload, key=None, headers=sent)

    def add_key(self, key: str, role: Role, key_id: str, tenant_id: str = bootstrap.DEMO_TENANT) -> str:
        """An API key of ``role`` for the tenant, as the keys API would store it; returns its id."""
        self.svc.store.put_api_key(ApiKey(key_hash=hash_key(key, self.svc.settings.api_key_pepper),
                                          tenant_id=tenant_id, role=role, key_id=key_id, label="tests"))  # fmt: skip
        return key_id

    def live_call(self, sid: str, number: str = DEMO_NUMBER, token: str | None = None,
                  account: str = ACCOUNT_A) -> str:  # fmt: skip
        """A call answered by the stack (its call document exists, active)."""
        params = {"CallSid": sid, "AccountSid": account, "From": "+15005550006", "To": number,
                  "Caller": "+15005550006", "Called": number, "Direction": "inbound", "ApiVersion": "2010-04-01",
                  "CallStatus": "ringing"}  # fmt: skip
        incoming = "/webhook/voice/incoming"
        response = self.stack.signed_post(incoming, params, token=token) if token else \
            self.stack.signed_post(incoming, params)  # fmt: skip
        assert response.status_code == 200, response.get_data(as_text=True)
        return sid

    def hang_up(self, sid: str, number: str = DEMO_NUMBER) -> None:
        params = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": number,
                  "CallStatus": "completed", "CallDuration": "30"}  # fmt: skip
        assert self.stack.signed_post("/webhook/voice/status", params).status_code == 200

    def snapshot(self, tenant_id: str = bootstrap.DEMO_TENANT) -> str:
        """Everything routing stores for the tenant's departments and agents (entries of each included)."""
        departments = self.store.list_departments(tenant_id)
        entries = {d.id: [e.model_dump(mode="json") for status in ("waiting", "assigned", "connected")
                          for e in self.store.list_entries(tenant_id, d.id, status)] for d in departments}  # fmt: skip
        return json.dumps({"departments": [d.model_dump(mode="json") for d in departments],
                           "agents": [a.model_dump(mode="json") for a in self.store.list_agents(tenant_id)],
                           "entries": entries}, sort_keys=True, default=str)  # fmt: skip


def attach_routing(stack: Stack, routing_store: Any = None, settings: RoutingSettings | None = None) -> RoutedStack:
    from common.adapters.routing_store import MemoryRoutingStore

    store = routing_store or MemoryRoutingStore()
    settings = settings or RoutingSettings(task_secret=TASK_SECRET, tasks_service_account=TASKS_ACCOUNT,
                                           tasks_audience=BASE)  # fmt: skip
    timers, calls = RecordingTimers(), RecordingCallControl()
    svc: Any = stack.svc
    svc.routing = build_routing(stack.svc.settings, stack.svc.store, stack.clock, routing=settings,
                                routing_store=store, timers=timers, call_control=calls)  # fmt: skip
    svc.routing_settings = settings
    return RoutedStack(stack, store, timers, calls, settings)


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def routed(request: pytest.FixtureRequest) -> Iterator[RoutedStack]:
    """The live stack with routing, on the embedded stores and on Google's Firestore emulator."""
    store = request.getfixturevalue(f"{request.param}_store")
    stack = build_stack(store, all_examples=False)
    routing_store = None
    if request.param == "firestore":
        from common.adapters.routing_firestore import FirestoreRoutingStore

        routing_store = FirestoreRoutingStore(request.getfixturevalue("firestore_client"))
    yield attach_routing(stack, routing_store)
    bootstrap.install(None)
