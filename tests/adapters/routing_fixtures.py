"""A FirestoreRoutingStore on the session's Firestore emulator, and routing records to store in it.

Not a conftest: the routing contract's ``routing_store`` fixture and the Firestore routing tests
call ``firestore_routing_store`` with the session's emulator and client (tests/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.adapters.emulator import FirestoreEmulator
from common.adapters.routing_firestore import FirestoreRoutingStore
from common.adapters.routing_store import Agent, Department, QueueEntry
from common.core.routing_model import AgentSettings, DepartmentSettings, entry_id, iso

EMULATOR_PROJECT = "ivr-test"  # the project tests/conftest.py points the client at


def firestore_routing_store(emulator: FirestoreEmulator, client: Any) -> FirestoreRoutingStore:
    """An emptied emulator database and a fresh store on it."""
    emulator.reset(EMULATOR_PROJECT)
    return FirestoreRoutingStore(client)


# -- records -------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def department(dept: str = "sales", tenant: str = "acme", revision: int = 1, **settings: Any) -> Department:
    return Department(tenant_id=tenant, id=dept, settings=DepartmentSettings(**{"name": dept.title(), **settings}),
                      etag=f"etag-{revision}", revision=revision, updated_at=iso(NOW))  # fmt: skip


def agent(agent_id: str = "ann", depts: tuple[str, ...] = ("sales",), tenant: str = "acme", revision: int = 1,
          **live: Any) -> Agent:  # fmt: skip
    settings = AgentSettings(name=agent_id.title(), contact="+15551230000",
                             departments=tuple({"department": d, "tier": 1} for d in depts))  # fmt: skip
    return Agent(tenant_id=tenant, id=agent_id, settings=settings, department_ids=depts, etag="e",
                 revision=revision, **live)  # fmt: skip


def entry(call_sid: str, dept: str = "sales", priority: int = 50, arrived: float = 0, tenant: str = "acme",
          revision: int = 1, **fields: Any) -> QueueEntry:  # fmt: skip
    at = iso(NOW + timedelta(seconds=arrived))
    return QueueEntry(tenant_id=tenant, department_id=dept, id=entry_id(call_sid, dept), call_sid=call_sid,
                      account_sid="AC1", priority=priority, arrived_at=at, joined_at=at, revision=revision,
                      **fields)  # fmt: skip


def bump(record: Any, **changes: Any) -> Any:
    """The next revision of ``record`` with ``changes``: what a writer that read it commits."""
    return record.model_copy(update={**changes, "revision": record.revision + 1})
