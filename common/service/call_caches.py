"""Per-instance caches of what the webhook path reads often and changes rarely: compiled flow
versions, numbers and schedules (re-exported by ``common.service.calls``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from common.adapters.ports import FlowVersion, PhoneNumber, Store
from common.core import engine, schedules, validation
from common.core.flow import CompiledFlow

log = logging.getLogger("ivr.calls")


class FlowCache:
    """Immutable flow versions, compiled once per process per (tenant, flow, version)."""

    def __init__(self, store: Store, max_entries: int = 512) -> None:
        self._store = store
        self._max = max_entries
        self._compiled: dict[tuple[str, str, str], CompiledFlow] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str, flow_id: str, version: str) -> CompiledFlow:
        key = (tenant_id, flow_id, version)
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        stored = self._store.get_version(tenant_id, flow_id, version)
        if stored is None:
            raise LookupError(f"flow {flow_id} version {version} of tenant {tenant_id} does not exist")
        compiled = self.compile(stored)
        with self._lock:
            if len(self._compiled) >= self._max:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = compiled
        return compiled

    @staticmethod
    def compile(version: FlowVersion) -> CompiledFlow:
        import json

        return validation.compile_flow(json.loads(version.document))


class NumberCache:
    """A short per-instance cache of number -> deployment, so the webhook path reads it rarely."""

    def __init__(self, store: Store, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store, self._seconds, self._clock = store, seconds, clock
        self._entries: dict[str, tuple[float, PhoneNumber | None]] = {}
        self._last: dict[str, PhoneNumber] = {}  # last record seen per number, whatever its age

    def last_known(self, number: str) -> PhoneNumber | None:
        """No I/O: what this instance last read for ``number`` (for the failure path)."""
        return self._last.get(number)

    def get(self, number: str) -> PhoneNumber | None:
        if self._seconds > 0:
            hit = self._entries.get(number)
            if hit is not None and self._clock() - hit[0] < self._seconds:
                return hit[1]
        found = self._store.get_number(number)
        if self._seconds > 0:
            self._entries[number] = (self._clock(), found)
        if found is not None:
            if len(self._last) >= 50_000:
                self._last.pop(next(iter(self._last)))
            self._last[number] = found
        return found

    def forget(self, number: str) -> None:
        self._entries.pop(number, None)


class ScheduleCache:
    """A tenant's schedules, parsed, cached per instance for a few seconds (like numbers)."""

    def __init__(self, store: Store, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store, self._seconds, self._clock = store, seconds, clock
        self._entries: dict[str, tuple[float, dict[str, schedules.Schedule]]] = {}

    def get(self, tenant_id: str) -> dict[str, schedules.Schedule]:
        hit = self._entries.get(tenant_id)
        if hit is not None and self._clock() - hit[0] < self._seconds:
            return hit[1]
        table = {}
        for record in self._store.list_schedules(tenant_id):
            try:
                table[record.name] = schedules.Schedule.model_validate(record.schedule)
            except ValueError:
                log.error("tenant %s schedule %s is unreadable; treated as closed", tenant_id, record.name)
        if self._seconds > 0:
            self._entries[tenant_id] = (self._clock(), table)
        return table

    def lookup(self, tenant_id: str) -> engine.ScheduleLookup:
        def is_open(name: str, at: datetime) -> bool | None:
            schedule = self.get(tenant_id).get(name)
            return None if schedule is None else schedules.is_open(schedule, at)

        return is_open

    def forget(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
