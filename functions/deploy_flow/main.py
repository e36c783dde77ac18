"""deploy_flow: the admin API (flows, numbers, deploy, execute), authenticated by tenant API keys."""

import functions_framework

from common.bootstrap import services
from common.web import api


@functions_framework.http
def deploy_flow(request):  # type: ignore[no-untyped-def]
    return api.handle(request, services())
