"""A local stack per test: services on a chosen store, a movable clock, an HTTP client, a Twilio caller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from common import bootstrap, callsim, config, devserver
from common.adapters.memory import MemoryStore
from common.adapters.ports import Tenant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = "https://ivr.example.test"
OTHER_ACCOUNT = "AC" + "b" * 32
OTHER_TOKEN = "other-tenant-token"


@dataclass
class Stack:
    svc: bootstrap.Services
    client: Client
    clock: list[datetime]
    keys: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, path: str, body: Any = None, tenant: str = "demo",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        auth = {"Authorization": f"Bearer {self.keys[tenant]}", **(headers or {})}
        reply = self.client.open(path, method=method, json=body, headers=auth)
        text = reply.get_data(as_text=True)
        return reply.status_code, (json.loads(text) if text else None)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        assert url.startswith(BASE)
        path_and_query = url[len(BASE) :]
        path, _, query = path_and_query.partition("?")
        raw = {"REQUEST_URI": path_and_query, "RAW_URI": path_and_query}
        reply = self.client.post(path, query_string=query, data=params, headers=headers, environ_overrides=raw)
        return reply.status_code, reply.get_data(as_text=True)

    def caller(self, account: str | None = None, token: str | None = None) -> callsim.TwilioCallSimulator:
        return callsim.TwilioCallSimulator(BASE, token or self.svc.settings.twilio_auth_token,
                                           account or self.svc.settings.twilio_account_sid, post=self.post)  # fmt: skip


@pytest.fixture(scope="session")
def wsgi_app() -> devserver.Dispatcher:
    return devserver.make_app()


def make_stack(store: Any, app: devserver.Dispatcher, fetcher: Any = None, ownership: Any = None) -> Stack:
    clock = [datetime(2026, 11, 24, 15, 0, tzinfo=UTC)]  # a Tuesday, 10:00 in New York
    settings = config.from_env({"PUBLIC_BASE_URL": BASE, "IVR_NUMBER_CACHE_SECONDS": "0",
                                "TWILIO_SUBACCOUNT_TOKENS": json.dumps({OTHER_ACCOUNT: OTHER_TOKEN})})  # fmt: skip
    svc = bootstrap.build(settings, store=store, now=lambda: clock[0], fetcher=fetcher, ownership=ownership,
                          routing=None)
    seeded = bootstrap.seed_demo(svc)
    other = svc.admin.create_tenant(Tenant(id="other", name="Other Co", twilio_account_sid=OTHER_ACCOUNT))
    bootstrap.install(svc)
    return Stack(svc, Client(app), clock, {"demo": seeded["apiKey"], "other": other})


@pytest.fixture
def stack(wsgi_app: devserver.Dispatcher) -> Iterator[Stack]:
    yield make_stack(MemoryStore(), wsgi_app)
    bootstrap.install(None)


def example(name: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    document.update(changes)
    return document


BUSINESS_HOURS = {
    "timezone": "America/New_York",
    "weekly": {day: [{"start": "09:00", "end": "17:00"}]
               for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "holidays": [{"type": "nthWeekday", "month": 11, "weekday": "thursday", "nth": 4, "name": "Thanksgiving"}],
}  # fmt: skip
