"""route_department: POST /api/departments/route.

A placeholder until department routing lands (departments, agent availability, priority queues,
escalation). Until then transfer nodes to a department enqueue the caller in a Twilio queue named
after the tenant and department (see common/core/twiml.py), and this endpoint answers 501 with a
clear error rather than pretending to route.
"""

import json

import functions_framework


@functions_framework.http
def route_department(request):  # type: ignore[no-untyped-def]
    body = {"error": {"code": "not_implemented",
                      "message": "department routing is not available yet; transfers to a department "
                                 "currently wait in a Twilio queue named <tenant>.<department>"}}
    return json.dumps(body), 501, {"Content-Type": "application/json"}
