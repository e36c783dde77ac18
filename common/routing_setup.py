"""Wiring of department routing: the RoutingService on real or embedded adapters, lazily.

Read with ``common/bootstrap.py`` (the one place that wires the rest). Settings come from the
environment, like ``common/config.py``:

    IVR_TASKS                embedded (default: an in-process timer thread) | cloudtasks (its client is
                             built on a thread at start-up, off the webhooks: see ``warm_up``)
    IVR_TASKS_QUEUE          projects/P/locations/L/queues/Q (cloudtasks)
    IVR_TASKS_SERVICE_ACCOUNT  the service account whose OIDC token every task carries (cloudtasks)
    IVR_TASKS_AUDIENCE       the audience of that token (default: the task's URL)
    IVR_TASKS_EMULATOR_HOST  host:port of gcloud-tasks-emulator instead of Cloud Tasks (local)
    IVR_TASK_SECRET          shared secret the task endpoints accept from the embedded timers and the
                             emulator (X-Ivr-Task-Secret); production accepts OIDC tokens only
    IVR_CALL_CONTROL         twilio (default outside a local stack) | none (laptop: the hold loop alone
                             brings a waiting caller to their agent)
    IVR_TWILIO_API_BASE      origin of Twilio's REST API (default Twilio's; a local stand-in in tests)
    IVR_HOLD_MUSIC_URL       music a department without its own plays while callers wait

The routing store follows IVR_STORE (memory | firestore) like the main store.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.adapters.call_control import CallControl, NullCallControl
from common.adapters.ports import Store
from common.adapters.routing_store import RoutingStore
from common.adapters.timers import Timers
from common.config import ConfigError, Settings
from common.core.queue_twiml import QueueUrls
from common.service.routing import RoutingService
from common.service.routing_base import CallInfo, RoutingDeps, ScheduleOpen

DEFAULT_HOLD_MUSIC = "https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
DEV_TASK_SECRET = "dev-task-secret-not-secret"


@dataclass(frozen=True)
class RoutingSettings:
    tasks: str = "embedded"
    tasks_queue: str | None = None
    tasks_service_account: str | None = None
    tasks_audience: str | None = None
    tasks_emulator_host: str | None = None
    task_secret: str | None = DEV_TASK_SECRET
    call_control: str = "none"
    twilio_api_base: str | None = None
    hold_music_url: str = DEFAULT_HOLD_MUSIC

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, environment: str = "local") -> RoutingSettings:
        env = dict(os.environ if env is None else env)
        tasks = env.get("IVR_TASKS", "embedded")
        if tasks not in ("embedded", "cloudtasks"):
            raise ConfigError(f"IVR_TASKS={tasks!r}: use 'embedded' or 'cloudtasks'")
        if tasks == "cloudtasks" and not env.get("IVR_TASKS_QUEUE"):
            raise ConfigError("IVR_TASKS=cloudtasks needs IVR_TASKS_QUEUE=projects/P/locations/L/queues/Q")
        control = env.get("IVR_CALL_CONTROL", "none" if environment == "local" else "twilio")
        if control not in ("twilio", "none"):
            raise ConfigError(f"IVR_CALL_CONTROL={control!r}: use 'twilio' or 'none'")
        local = environment == "local"
        return cls(
            tasks=tasks, tasks_queue=env.get("IVR_TASKS_QUEUE") or None,
            tasks_service_account=env.get("IVR_TASKS_SERVICE_ACCOUNT") or None,
            tasks_audience=env.get("IVR_TASKS_AUDIENCE") or None,
            tasks_emulator_host=env.get("IVR_TASKS_EMULATOR_HOST") or None,
            # Outside a laptop stack there is no default secret: only OIDC tokens open the task endpoints.
            task_secret=env.get("IVR_TASK_SECRET") or (DEV_TASK_SECRET if local else None),
            call_control=control, twilio_api_base=env.get("IVR_TWILIO_API_BASE") or None,
            hold_music_url=env.get("IVR_HOLD_MUSIC_URL") or DEFAULT_HOLD_MUSIC,
        )  # fmt: skip


def call_lookup_from(store: Store) -> Callable[[str], CallInfo | None]:
    """What routing may know of a call, from the call document (one read)."""

    def lookup(call_sid: str) -> CallInfo | None:
        found = store.read_call(call_sid) if call_sid else None
        if found is None:
            return None
        record = found[0]
        trigger = record.state.trigger
        return CallInfo(tenant_id=record.tenant_id, account_sid=record.account_sid, status=record.status,
                        caller=str(trigger.get("From", "")), called=record.number)  # fmt: skip

    return lookup


def build_routing(settings: Settings, store: Store, now: Callable[[], datetime], *,
                  routing: RoutingSettings | None = None, routing_store: RoutingStore | None = None,
                  timers: Timers | None = None, call_control: CallControl | None = None,
                  schedule_open: ScheduleOpen | None = None,
                  token_for: Callable[[str], str | None] | None = None) -> RoutingService:  # fmt: skip
    """The routing service for one process. Adapters not given are built from ``routing`` settings.
    Embedded timers deliver in process to the service's own task handler (a laptop has no queue)."""
    routing = routing or RoutingSettings.from_env(environment=settings.environment)
    if routing_store is None:
        if settings.store == "firestore":
            from common.adapters.routing_firestore import FirestoreRoutingStore

            routing_store = FirestoreRoutingStore()
        else:
            from common.adapters.routing_store import MemoryRoutingStore

            routing_store = MemoryRoutingStore()
    if call_control is None:
        if routing.call_control == "twilio":
            from common.adapters.call_control import TwilioCallControl

            call_control = TwilioCallControl(token_for or settings.auth_token_for, api_base=routing.twilio_api_base)
        else:
            call_control = NullCallControl()
    holder: dict[str, RoutingService] = {}
    if timers is None:
        timers = _timers(settings, routing, now, lambda path, payload: holder["service"].handle_task(
            path.rstrip("/").rsplit("/", 1)[-1], payload))  # fmt: skip
    deps = RoutingDeps(store=routing_store, timers=timers, calls=call_control,
                       urls=QueueUrls(settings.public_base_url, routing.hold_music_url), clock=now,
                       call_lookup=call_lookup_from(store),
                       schedule_open=schedule_open or (lambda tenant, schedule, at: None))  # fmt: skip
    service = RoutingService(deps)
    holder["service"] = service
    return service


def _timers(settings: Settings, routing: RoutingSettings, now: Callable[[], datetime],
            deliver: Callable[[str, dict[str, Any]], object]) -> Timers:  # fmt: skip
    if routing.tasks == "cloudtasks":
        from common.adapters.timers import CloudTasksTimers

        assert routing.tasks_queue is not None  # from_env refuses cloudtasks without a queue
        secret = routing.task_secret if routing.tasks_emulator_host else None  # the emulator sends no OIDC token
        headers = {"X-Ivr-Task-Secret": secret} if secret else None
        cloud = CloudTasksTimers(routing.tasks_queue, settings.public_base_url,
                                 service_account=routing.tasks_service_account, audience=routing.tasks_audience,
                                 emulator_host=routing.tasks_emulator_host, headers=headers)  # fmt: skip
        warm_up(cloud)
        return cloud
    from common.adapters.timers import EmbeddedTimers

    return EmbeddedTimers(deliver, clock=now)


def department_banner_lines(svc: Any, tenant_id: str) -> list[str]:
    """What ``ivr run``'s banner says about routing: each department of ``tenant_id`` with its strategy
    and agents (how many are available now). Empty when the stack has no routing. Lines start with the
    banner's label column (11 characters)."""
    routing = getattr(svc, "routing", None)
    if routing is None:
        return []
    departments = routing.admin.list_departments(tenant_id)
    if not departments:
        return ["routing    no departments yet: add one with `ivr departments put FILE.json`"]
    lines = []
    for d in departments:
        agents = routing.admin.list_agents(tenant_id, d["id"])
        available = sum(a["status"] == "available" for a in agents)
        names = ", ".join(a["id"] for a in agents) or "none"
        lines.append(f"{d['id']} ({d['name']}, {d['strategy']}): agents {names}; {available} available")
    lines.append(f"ivr departments live {departments[0]['id']} | POST /api/departments/route")
    return [("routing    " if i == 0 else " " * 11) + line for i, line in enumerate(lines)]


def warm_up(cloud: Any) -> threading.Thread:
    """Import google-cloud-tasks and build its client on a thread of its own, now, rather than in the
    first transfer's webhook: the import alone takes 0.5-2.5 s, which a caller's webhook (2.5 s budget)
    cannot spare. No RPC is made. A transfer that comes first waits on the client's lock, as before."""

    def build() -> None:
        try:
            cloud.client  # noqa: B018  (the property builds the client)
            cloud._rpc_kw()
        except Exception:  # the first schedule() tries again and reports its own failure
            logging.getLogger("ivr.routing").exception("warming up the Cloud Tasks client failed")

    thread = threading.Thread(target=build, name="cloudtasks-warm-up", daemon=True)
    thread.start()
    return thread
