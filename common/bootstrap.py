"""The one place that wires adapters to services: real (Firestore) or embedded (memory), lazily.

Nothing happens at import. ``services()`` builds the process-wide container on first use and reuses
it; functions call it per request, tests build their own with ``build``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.adapters.ports import HttpFetcher, NumberOwnership, Store, Tenant
from common.config import DEV_API_KEY, Settings, from_env
from common.service.admin import AdminService
from common.service.calls import CallService, FlowCache, NumberCache, ScheduleCache
from common.service.deployments import DeploymentService
from common.service.inventory import InventoryService

DEMO_TENANT = "demo"
DEMO_NUMBER = "+13072249663"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class Services:
    settings: Settings
    store: Store
    calls: CallService
    admin: AdminService
    deployments: DeploymentService
    inventory: InventoryService


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: Settings, store: Store | None = None, now: Callable[[], datetime] = _utc_now,
          fetcher: HttpFetcher | None = None, ownership: NumberOwnership | None = None) -> Services:  # fmt: skip
    if store is None:
        if settings.store == "firestore":
            from common.adapters.firestore import FirestoreStore

            store = FirestoreStore()
        else:
            from common.adapters.memory import MemoryStore

            store = MemoryStore()
    if fetcher is None:
        from common.adapters.http_fetch import RequestsFetcher

        local = settings.environment == "local"  # only a laptop stack may fetch its own loopback
        fetcher = RequestsFetcher(allow_hosts=("127.0.0.1", "localhost") if local else ())
    if ownership is None:
        from common.adapters.twilio_numbers import TrustingOwnership, TwilioNumberOwnership

        ownership = TwilioNumberOwnership(settings) if settings.verify_numbers else TrustingOwnership()
    flows = FlowCache(store)
    numbers = NumberCache(store, settings.number_cache_seconds)
    calendars = ScheduleCache(store, settings.number_cache_seconds)
    calls = CallService(store, settings, fetcher, now, flows, numbers, calendars)
    admin = AdminService(store, settings, now, flows, numbers, ownership)
    deployments = DeploymentService(store, settings, now, flows, numbers, calendars)
    inventory = InventoryService(store, now, numbers)
    return Services(settings, store, calls, admin, deployments, inventory)


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build(from_env())
    return _services


def install(container: Services | None) -> None:
    """Replace the process-wide container (the local server and tests use this)."""
    global _services
    _services = container


def seed_demo(svc: Services, api_key: str = DEV_API_KEY, flow_file: str = "support_line.json",
              number: str = DEMO_NUMBER) -> dict[str, Any]:
    """A demo tenant whose example support flow is deployed to the demo number."""
    tenant = Tenant(id=DEMO_TENANT, name="Demo company", twilio_account_sid=svc.settings.twilio_account_sid)
    svc.admin.create_tenant(tenant, api_key, label="dev")
    flow = json.loads((EXAMPLES / flow_file).read_text(encoding="utf-8"))
    svc.admin.put_flow(tenant, flow["id"], flow, None, author="seed")
    svc.admin.register_number(tenant, {"phoneNumber": number})
    deployed = svc.deployments.deploy(tenant, flow["id"], {"phoneNumbers": [number]}, author="seed")
    return {"tenant": tenant.id, "apiKey": api_key, "number": number, **deployed}
