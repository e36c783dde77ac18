"""HTTP plumbing of the event sweeper: POST /api/events/sweep[?olderThanSeconds=N&limit=M].

Cloud Scheduler starts it every minute (terraform/modules/platform/events_sweeper.tf) with an OIDC
token of the sweeper's own service account, through the load balancer to ``deploy_flow``; the
platform admin key opens it too (``ivr run`` has one), for a hand-run sweep.

Rules owned here:
- The caller is checked before anything is read: the platform admin key (``Authorization: Bearer``),
  else the routing timers' check (``common/web/task_auth.py``: a Google-signed OIDC token for
  ``IVR_TASKS_AUDIENCE``, or a laptop stack's shared secret) with one account:
  ``IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT`` when set (then the tasks' account is refused here, and the
  sweeper's is refused by the task endpoints: each identity opens one door), else
  ``IVR_TASKS_SERVICE_ACCOUNT``. 401/403 with what is accepted; POST only (405); any other path
  under the prefix is 404.
- ``olderThanSeconds`` (default ``IVR_EVENTS_SWEEP_SECONDS``, 0-86400) and ``limit`` (calls per run,
  default 200, 1-1000) are checked (``SweepQuery``; an unknown parameter too): 400 naming
  ``query.<name>``. The operation is declared in ``OPERATIONS`` (the OpenAPI document, the fuzz test).
- A run republishes every outbox holding an event older than that (``EventOutbox.sweep``: oldest
  first, acknowledged like the dispatcher does): the calls' and then the queue entries' and agents'
  (``routing_documents``; ``limit`` applies to each), logs one structured line (``kind: events_sweep``,
  ``oldest_unpublished_seconds``, ``republished``, ``unpublished``, ``calls``) for the log-based
  metric and its alert, and answers the same summary. Idempotent: a second run republishes only what
  is still there, and a republished event has its id, so readers drop the copy.
- A store that does not answer is 503 with Retry-After (the scheduler retries); a publisher that
  fails is still 200 with ``unpublished`` > 0: the events stay in the outboxes for the next run.
- With events off (``IVR_EVENTS=off``) the answer is 200 with ``events: off`` and nothing read, so a
  scheduler job on such a stack does not retry forever.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.adapters.ports import StoreUnavailable
from common.service.admin import ApiError, parse
from common.service.operations import Operation, Query

SWEEPER_ACCOUNT = "IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT"
PREFIX = "/api/events"
SWEEP = PREFIX + "/sweep"
MAX_LIMIT = 1000
Reply = tuple[str, int, dict[str, str]]

log = logging.getLogger("ivr.events")


class SweepQuery(Query):
    older_than_seconds: float | None = Field(None, alias="olderThanSeconds", ge=0, le=86_400, allow_inf_nan=False,
                                             description="republish outboxes with an event at least this old "
                                                         "(default IVR_EVENTS_SWEEP_SECONDS)")  # fmt: skip
    limit: int = Field(200, ge=1, le=MAX_LIMIT, description="calls swept in this run, oldest first")


class SweepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: str = Field(description="where events go here: pubsub, duckdb, memory or off")
    calls: int
    routing_documents: int = Field(0, description="queue entries and agents whose outbox was republished")
    republished: int
    unpublished: int = 0
    oldest_unpublished_seconds: float = 0.0
    older_than_seconds: float | None = None
    more: bool = Field(False, description="the limit was reached: more calls wait")
    caller: str = Field(description="platform, oidc or secret")
    message: str | None = None


OPERATIONS: tuple[Operation, ...] = (
    Operation("events_sweep", "POST", SWEEP, "task", "Republish the events left unpublished in call, queue "
              "entry and agent outboxes (Cloud Scheduler with the sweeper's OIDC token, or the platform admin key)",
              query=SweepQuery, response=SweepResult, errors=(503,)),
)  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return json.dumps(body), status, {"Content-Type": "application/json", **(headers or {})}


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Reply:
    return _json(exc.body(), exc.status, headers)


def caller(request: Any, svc: Any) -> str:
    """How the request is allowed: "platform", "oidc" or "secret"; ApiError 401/403/503 otherwise."""
    if svc.tenants.is_platform_key(request.headers.get("Authorization")):
        return "platform"
    try:
        return sweeper_auth(svc).check(request.headers, SWEEP).how
    except ApiError as exc:
        if exc.status in (401, 403):
            exc.message += "; or the platform admin key (Authorization: Bearer)"
        raise


def sweeper_auth(svc: Any) -> Any:
    """The routing timers' TaskAuth, for the sweeper's own account when one is configured."""
    from common.web.routing_api import task_auth
    from common.web.task_auth import TaskAuth

    tasks = task_auth(svc)
    account = getattr(svc.settings, "events_sweeper_service_account", None) or os.environ.get(SWEEPER_ACCOUNT)
    if not account:
        return tasks
    return TaskAuth(dataclasses.replace(tasks.settings, tasks_service_account=account), tasks.base_url, tasks.certs)


def handle(request: Any, svc: Any) -> Reply:
    path = request.path.rstrip("/")
    if path != SWEEP:
        return _error(ApiError(404, "not_found", f"nothing at {path}; the events API is POST {SWEEP}"))
    if request.method != "POST":
        return _error(ApiError(405, "method_not_allowed", f"use POST {SWEEP}"), {"Allow": "POST"})
    try:
        how = caller(request, svc)
        query = parse(SweepQuery, request.args.to_dict(), where="query")
        older = query.older_than_seconds if query.older_than_seconds is not None else svc.settings.events_sweep_seconds
        limit = query.limit
    except ApiError as exc:
        return _error(exc)
    outbox = getattr(svc, "events", None)
    if outbox is None:
        return _json({"events": "off", "calls": 0, "routing_documents": 0, "republished": 0, "unpublished": 0,
                      "caller": how,
                      "message": "events are off on this stack (IVR_EVENTS=off): nothing to sweep"})  # fmt: skip
    try:
        summary = outbox.sweep(older, limit)
    except StoreUnavailable as exc:
        log.warning("events sweep: the store did not answer: %s", exc)
        return _error(ApiError(503, "unavailable", "the store did not answer; retry"), {"Retry-After": "30"})
    level = logging.WARNING if summary["unpublished"] else logging.INFO
    log.log(level, "events sweep: %d events of %d calls and %d queue entries or agents republished, %d left; "
            "oldest unpublished %.0f s", summary["republished"], summary["calls"], summary["routing_documents"],
            summary["unpublished"], summary["oldest_unpublished_seconds"],
            extra={"kind": "events_sweep", **summary})  # fmt: skip
    return _json({**summary, "events": svc.settings.events, "caller": how})
