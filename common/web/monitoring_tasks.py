"""HTTP plumbing of the monitoring task: POST /api/monitoring/tasks/queue-metrics.

Cloud Scheduler starts it once a minute (terraform/modules/platform/monitoring_queue.tf) with an
OIDC token of the tasks' service account, through the load balancer to ``deploy_flow``.

Rules owned here:
- The caller is checked exactly as the routing timers' are (``common/web/task_auth.py``: an OIDC token
  of ``IVR_TASKS_SERVICE_ACCOUNT`` for ``IVR_TASKS_AUDIENCE``, or a laptop stack's shared secret),
  before anything is read; POST only (405 says so), any other path under the prefix is 404.
- Without department routing on the stack there is nothing to measure: 200 with ``departments: 0``
  and nothing written (a scheduler job must not retry forever on a stack without departments).
- The answer is the run's summary as JSON. A failed metrics write is still 200 (reported as
  ``written: false``): a retry would only write older values than the next run.
- One exporter per process and container, so the department list is re-read every few minutes,
  not every minute.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from common.adapters.metrics import sink_from_env
from common.service.admin import ApiError
from common.service.queue_metrics import TOP, QueueMetrics

PREFIX = "/api/monitoring/tasks/"
QUEUE_METRICS = PREFIX + "queue-metrics"
Reply = tuple[str, int, dict[str, str]]

_lock = threading.Lock()
_exporters: dict[int, tuple[Any, QueueMetrics]] = {}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return json.dumps(body), status, {"Content-Type": "application/json", **(headers or {})}


def exporter(svc: Any) -> QueueMetrics | None:
    routing = getattr(svc, "routing", None)
    if routing is None:
        return None
    with _lock:
        held = _exporters.get(id(svc))
        if held is None or held[0] is not svc:
            top = int(os.environ.get("IVR_QUEUE_METRICS_TOP") or TOP)
            made = QueueMetrics(svc.store, routing.store, sink_from_env(os.environ), svc.calls.now, top=top)
            _exporters.clear()  # one container per process (tests install new ones)
            held = _exporters[id(svc)] = (svc, made)
        return held[1]


def handle(request: Any, svc: Any) -> Reply:
    path = request.path.rstrip("/")
    if path != QUEUE_METRICS:
        return _json({"error": "not_found", "message": f"no monitoring task at {path}; the one task is "
                      f"POST {QUEUE_METRICS}"}, 404)  # fmt: skip
    if request.method != "POST":
        return _json({"error": "method_not_allowed", "message": f"use POST {QUEUE_METRICS}"}, 405, {"Allow": "POST"})
    from common.web.routing_api import task_auth

    try:
        caller = task_auth(svc).check(request.headers, path)
    except ApiError as exc:
        return _json({"error": exc.code, "message": exc.message}, exc.status)
    job = exporter(svc)
    if job is None:
        return _json({"departments": 0, "written": False, "message": "department routing is not configured"})
    summary = job.run()
    summary["caller"] = caller.how
    return _json(summary)
