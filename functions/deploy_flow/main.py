"""deploy_flow: the admin API under /api/ (docs/api.md; GET /api/openapi.json): flows, versions, deployments,
numbers, schedules and keys with tenant API keys by role, and /api/platform/* with the platform admin key;
and POST /api/monitoring/tasks/queue-metrics, the queue metrics export Cloud Scheduler starts every
minute (docs/monitoring.md)."""

import functions_framework

from common import observability
from common.bootstrap import services
from common.web import api, monitoring_tasks, unrouted

observability.install("deploy_flow")
unrouted.install(functions_framework)


@functions_framework.http
@observability.observed("deploy_flow")
def deploy_flow(request):  # type: ignore[no-untyped-def]
    if request.path.startswith(monitoring_tasks.PREFIX):
        return monitoring_tasks.handle(request, services())
    return api.handle(request, services())
