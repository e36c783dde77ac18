"""route_department: a live call joins a department's queue (POST /api/departments/route, API key), and
the routing timers' task handlers (POST /api/departments/tasks/{kind}, the tasks' OIDC token)."""

import functions_framework

from common import observability
from common.bootstrap import services
from common.web import routing_api, unrouted

observability.install("route_department")
unrouted.install(functions_framework)


@functions_framework.http
@observability.observed("route_department")
def route_department(request):  # type: ignore[no-untyped-def]
    return routing_api.handle_function(request, services())
