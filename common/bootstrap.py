"""The one place that wires adapters to services: real (Firestore) or embedded (memory), lazily.

Nothing happens at import. ``services()`` builds the process-wide container on first use and reuses
it; functions call it per request, tests build their own with ``build``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from common.adapters.ports import EventPublisher, HttpFetcher, NumberOwnership, Store, Tenant
from common.adapters.secrets import SecretStore
from common.config import DEV_API_KEY, Settings, from_env
from common.service.admin import AdminService
from common.service.calls import CallService, FlowCache, NumberCache, ScheduleCache
from common.service.deployments import DeploymentService
from common.service.event_outbox import EventOutbox
from common.service.inventory import InventoryService
from common.service.tenants import TenantService
from common.service.twilio_requests import TwilioApi
from common.service.twilio_tokens import TwilioTokens

if TYPE_CHECKING:
    from common.routing_setup import RoutingSettings
    from common.service.routing import RoutingService

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
    tenants: TenantService
    tokens: TwilioTokens
    #: department routing (None: transfers to a department wait in a Twilio queue, as before routing)
    routing: RoutingService | None = None
    routing_settings: RoutingSettings | None = None
    #: the call event outbox and its publisher (None: IVR_EVENTS=off)
    events: EventOutbox | None = None

    def twilio_token(self, account_sid: str) -> str | None:
        """The auth token that verifies webhooks signed by ``account_sid``, or None for an account
        nobody linked. Never raises (see ``common.service.twilio_tokens`` for the order and caching)."""
        return self.tokens.token(account_sid)


@dataclass(frozen=True)
class _LinkedSettings(Settings):
    """Settings whose ``auth_token_for`` also knows the accounts linked through the platform API, for
    the adapters that ask settings for a token (TwilioNumberOwnership)."""

    lookup: Callable[[str], str | None] | None = None

    def auth_token_for(self, account_sid: str) -> str | None:
        return self.lookup(account_sid) if self.lookup else super().auth_token_for(account_sid)


def _secret_store(settings: Settings) -> SecretStore:
    if settings.secrets == "secretmanager":
        from common.adapters.secrets import SecretManagerStore

        return SecretManagerStore(settings.secrets_project)
    from common.adapters.secrets import MemorySecretStore

    return MemorySecretStore()


def event_publisher(settings: Settings) -> EventPublisher | None:
    """The publisher IVR_EVENTS names; its client libraries are imported on its first publish."""
    if settings.events == "pubsub":
        from common.adapters.pubsub import PubSubPublisher

        return PubSubPublisher(settings.events_topic)
    if settings.events == "duckdb":
        from common.adapters.events_sinks import DuckDBSink

        return DuckDBSink(settings.events_duckdb)
    if settings.events == "memory":
        from common.adapters.events_sinks import MemoryPublisher

        return MemoryPublisher()
    return None


def _eventing_routing_store(settings: Settings, events: EventOutbox | None) -> Any:
    """With events on, the routing store (as build_routing would choose it) exporting the queue and
    agent events of its commits; None (build_routing's own choice) with events off."""
    if events is None:
        return None
    from common.service.queue_events_store import EventingRoutingStore

    if settings.store == "firestore":
        from common.adapters.routing_firestore import FirestoreRoutingStore

        return EventingRoutingStore(FirestoreRoutingStore(), events)
    from common.adapters.routing_store import MemoryRoutingStore

    return EventingRoutingStore(MemoryRoutingStore(), events)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: Settings, store: Store | None = None, now: Callable[[], datetime] = _utc_now,
          fetcher: HttpFetcher | None = None, ownership: NumberOwnership | None = None,
          secrets: SecretStore | None = None,
          routing: RoutingService | Literal["auto"] | None = "auto",
          publisher: EventPublisher | Literal["auto"] | None = "auto") -> Services:  # fmt: skip
    """``routing="auto"`` builds department routing from the environment (common/routing_setup.py);
    None leaves it out (department transfers then wait in a Twilio queue). ``publisher="auto"`` is
    the one ``settings.events`` names; None exports no events."""
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
    secrets = secrets if secrets is not None else _secret_store(settings)
    tokens = TwilioTokens(settings, store, secrets)
    if ownership is None:
        from common.adapters.twilio_numbers import TrustingOwnership, TwilioNumberOwnership

        linked = _LinkedSettings(**{f.name: getattr(settings, f.name) for f in fields(settings)}, lookup=tokens.token)
        ownership = TwilioNumberOwnership(linked) if settings.verify_numbers else TrustingOwnership()
    flows = FlowCache(store)
    numbers = NumberCache(store, settings.number_cache_seconds)
    calendars = ScheduleCache(store, settings.number_cache_seconds)
    routing_settings = None
    publisher = event_publisher(settings) if publisher == "auto" else publisher
    events = EventOutbox(store, publisher, now) if publisher is not None else None
    if routing == "auto":
        from common.routing_setup import RoutingSettings, build_routing

        routing_settings = RoutingSettings.from_env(environment=settings.environment)
        routing = build_routing(settings, store, now, routing=routing_settings, token_for=tokens.token,
                                routing_store=_eventing_routing_store(settings, events),
                                schedule_open=lambda tenant, name, at: calendars.lookup(tenant)(name, at))  # fmt: skip
    calls = CallService(store, settings, fetcher, now, flows, numbers, calendars, routing=routing, events=events)
    calls.twilio = TwilioApi(tokens.token)  # a flow's SMS and recordings go out with the call's account token
    admin = AdminService(store, settings, now, flows, numbers, ownership)
    deployments = DeploymentService(store, settings, now, flows, numbers, calendars)
    if routing is not None:
        deployments.departments_of = lambda tenant_id: {d.id for d in routing.store.list_departments(tenant_id)}
    inventory = InventoryService(store, now, numbers)
    tenants = TenantService(store, settings, now, secrets, tokens)
    return Services(settings, store, calls, admin, deployments, inventory, tenants, tokens, routing, routing_settings,
                    events)


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
    """A demo tenant whose example support flow is deployed to the demo number, with departments sales
    and support and two agents each when routing is wired."""
    tenant = Tenant(id=DEMO_TENANT, name="Demo company", twilio_account_sid=svc.settings.twilio_account_sid)
    svc.admin.create_tenant(tenant, api_key, label="dev")
    flow = json.loads((EXAMPLES / flow_file).read_text(encoding="utf-8"))
    svc.admin.put_flow(tenant, flow["id"], flow, None, author="seed")
    svc.admin.register_number(tenant, {"phoneNumber": number})
    routing = None
    if svc.routing is not None:  # before the deploy: publishing checks the flow's departments exist
        from common.routing_demo import seed_routing_demo  # it imports this module

        routing = seed_routing_demo(svc)
    deployed = svc.deployments.deploy(tenant, flow["id"], {"phoneNumbers": [number]}, author="seed")
    result = {"tenant": tenant.id, "apiKey": api_key, "number": number, **deployed}
    if routing is not None:
        result["routing"] = routing
    return result
