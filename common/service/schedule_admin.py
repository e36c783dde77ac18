"""Schedules through the admin API: put, get, list, delete, and whether one is open at an instant.

Rules owned here:
- A schedule is validated whole (422 ``schedule_invalid`` naming every problem); its name comes from
  the path. Each instance's schedule cache of the tenant is dropped on every change.
- A schedule cannot be deleted while what a number runs now reads it, as a deployment gate or from
  an hoursNode of the flow or its fallback (409 ``schedule_in_use``, naming the numbers).

``ScheduleAdmin`` is a part of ``DeploymentService`` (which checks schedules when deploying); it uses
the service's store, clock, schedule cache and ``_hours_schedules``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from common.adapters.ports import Deployment, ScheduleRecord, Store, Tenant
from common.core import schedules as sched
from common.service.admin import ApiError, invalid
from common.service.calls import ScheduleCache


class ScheduleAdmin:
    store: Store
    now: Callable[[], datetime]
    schedules: ScheduleCache

    def _hours_schedules(self, tenant: Tenant, flow_id: str | None, version: str | None) -> set[str]:
        raise NotImplementedError  # DeploymentService's

    def put_schedule(self, tenant: Tenant, name: str, body: Any, author: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "the body must be a schedule (a JSON object)")
        try:
            schedule = sched.Schedule.model_validate({**body, "name": name})
        except ValidationError as exc:
            raise invalid(exc, 422, "schedule_invalid", model=sched.Schedule) from exc
        record = ScheduleRecord(tenant_id=tenant.id, name=name, updated_by=author,
                                schedule=schedule.model_dump(mode="json", by_alias=True),
                                updated_at=self.now().isoformat())  # fmt: skip
        self.store.put_schedule(record)
        self.schedules.forget(tenant.id)
        return record.schedule

    def get_schedule(self, tenant: Tenant, name: str) -> sched.Schedule:
        record = self.store.get_schedule(tenant.id, name)
        if record is None:
            raise ApiError(404, "not_found", f"schedule '{name}' does not exist")
        return sched.Schedule.model_validate(record.schedule)

    def list_schedules(self, tenant: Tenant) -> list[dict[str, Any]]:
        return [r.schedule for r in self.store.list_schedules(tenant.id)]

    def delete_schedule(self, tenant: Tenant, name: str) -> None:
        self.get_schedule(tenant, name)
        users = sorted({
            number for d in self._current_deployments(tenant) for number in d.phone_numbers
            if name in d.schedules or name in self._hours_schedules(tenant, d.flow_id, d.version)
            or name in self._hours_schedules(tenant, d.fallback_flow, d.fallback_version)
        })  # fmt: skip
        if users:
            raise ApiError(409, "schedule_in_use", f"schedule '{name}' is used by what "
                           f"{', '.join(users)} run (deployment gate or hoursNode); redeploy them first")  # fmt: skip
        self.store.delete_schedule(tenant.id, name)
        self.schedules.forget(tenant.id)

    def _current_deployments(self, tenant: Tenant) -> list[Deployment]:
        seen: dict[str, Deployment] = {}
        for d in self.store.list_deployments(tenant.id, 1000):
            for number in d.phone_numbers:
                record = self.store.get_number(number)
                if record and record.deployment and record.deployment.id == d.id:
                    seen[d.id] = d
        return list(seen.values())

    def schedule_status(self, tenant: Tenant, name: str, at: str | None) -> dict[str, Any]:
        schedule = self.get_schedule(tenant, name)
        try:
            instant = datetime.fromisoformat(at) if at else self.now()
        except ValueError as exc:
            raise ApiError(400, "invalid_request", f"at={at!r} is not an ISO 8601 date-time") from exc
        if instant.tzinfo is None:
            raise ApiError(400, "invalid_request", "at needs a UTC offset, e.g. 2026-11-24T09:00:00-05:00")
        status = sched.status(schedule, instant)
        return {"schedule": name, "at": instant.isoformat(), **status.model_dump(mode="json", by_alias=True)}
