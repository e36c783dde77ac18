"""The deploy tests' stack: tests/functions/livestack.py's one stack with tenant B owning nothing, seen
through thin adapters in the shape these tests use.

    stack.api("POST", "/api/numbers", {...}, tenant=TENANT_B) -> (status, json or None)
    stack.post(url, params, headers) -> (status, text)     # a full URL, raw query kept, like Twilio
    stack.caller(account, token)                            # the call simulator (account A by default)
    stack.clock.at += timedelta(hours=1)                    # livestack's FrozenClock

Base URL, accounts, tokens, tenants, keys and the clock are livestack's (re-exported here); only the
New York schedule below is this suite's own data: it is sent through the API, never seeded.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

_KIT = str(Path(__file__).resolve().parent.parent / "functions")
if _KIT not in sys.path:  # the same livestack module the functions and e2e suites import
    sys.path.insert(0, _KIT)

import livestack  # noqa: E402
from livestack import (  # noqa: E402,F401  (re-exported for the deploy tests)
    ACCOUNT_A,
    ACCOUNT_B,
    API_KEY_A,
    API_KEY_B,
    BASE,
    DEMO_NUMBER,
    TENANT_A,
    TENANT_B,
    TOKEN_A,
    TOKEN_B,
    FrozenClock,
    env,
)

from common import bootstrap, callsim  # noqa: E402
from common.adapters.memory import MemoryStore  # noqa: E402
from common.adapters.ports import NumberOwnership  # noqa: E402

#: API keys by tenant id, as the seeding in livestack.build_stack creates them.
KEYS = {TENANT_A: API_KEY_A, TENANT_B: API_KEY_B}


@dataclass
class DeployStack:
    live: livestack.Stack

    @property
    def svc(self) -> bootstrap.Services:
        return self.live.svc

    @property
    def clock(self) -> FrozenClock:
        return self.live.clock

    @property
    def client(self) -> Client:
        return livestack.client(self.live.app)

    @property
    def keys(self) -> dict[str, str]:
        return KEYS

    def api(self, method: str, path: str, body: Any = None, tenant: str = TENANT_A,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        reply = self.live.api(method, path, json=body, key=KEYS[tenant], headers=headers)
        text = reply.get_data(as_text=True)
        return reply.status_code, (json.loads(text) if text else None)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        return livestack.transport(self.live.app)(url, params, headers)

    def caller(self, account: str | None = None, token: str | None = None) -> callsim.TwilioCallSimulator:
        return self.live.sim(token=token or TOKEN_A, account=account or ACCOUNT_A)


def make_stack(store: Any, fetcher: Any = None, ownership: NumberOwnership | None = None) -> DeployStack:
    """Tenant A (demo) runs support_line on DEMO_NUMBER; tenant B exists with no flow, number or history."""
    return DeployStack(livestack.build_stack(store, fetcher=fetcher, ownership=ownership, all_examples=False,
                                             tenant_b_flow=False))  # fmt: skip


@pytest.fixture
def stack() -> Iterator[DeployStack]:
    yield make_stack(MemoryStore())
    bootstrap.install(None)


def example(name: str, **changes: Any) -> dict[str, Any]:
    document = livestack.example(name)
    document.update(changes)
    return document


#: Business hours in New York with Thanksgiving off (livestack seeds London hours only with all_examples).
BUSINESS_HOURS = {
    "timezone": "America/New_York",
    "weekly": {day: [{"start": "09:00", "end": "17:00"}]
               for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "holidays": [{"type": "nthWeekday", "month": 11, "weekday": "thursday", "nth": 4, "name": "Thanksgiving"}],
}  # fmt: skip
