"""The minimal webhook of benchmarks/webhook_step.py served as a Cloud Function: the same handler
(signature check + the menu TwiML) behind functions-framework's layers (its WSGI middleware, the
execution-id context, its view wrappers), so the benchmark can tell the framework's price from ours."""

import functions_framework
import webhook_step  # benchmarks/ is on sys.path: webhook_step.py loads this file

handler = webhook_step.minimal_handler()


@functions_framework.http
def minimal(request):  # type: ignore[no-untyped-def]
    return handler(request)
