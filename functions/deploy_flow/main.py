"""deploy_flow: the admin API under /api/ (docs/api.md; GET /api/openapi.json): flows, versions, deployments,
numbers, schedules and keys with tenant API keys by role, and /api/platform/* with the platform admin key."""

import functions_framework

from common.bootstrap import services
from common.web import api


@functions_framework.http
def deploy_flow(request):  # type: ignore[no-untyped-def]
    return api.handle(request, services())
