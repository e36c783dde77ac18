"""The local stack: all four functions in one process, under the same paths as production.

Each function is loaded from its own ``functions/<name>/main.py`` with functions-framework's
``create_app`` (exactly what Cloud Functions runs) and mounted under one WSGI dispatcher by path.
The dispatcher passes the environ through untouched, so the raw request target used for signature
checks is the one the client sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"

#: (path prefix, function) in match order: the first prefix that matches wins.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/webhook/voice/step", "flow_step"),
    ("/webhook/voice/", "incoming_call"),
    ("/api/departments/", "route_department"),
    ("/api/", "deploy_flow"),
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_functions(functions_dir: Path = FUNCTIONS) -> dict[str, WsgiApp]:
    import functions_framework

    apps: dict[str, WsgiApp] = {}
    for _, name in ROUTES:
        if name not in apps:
            apps[name] = functions_framework.create_app(name, str(functions_dir / name / "main.py"))
    return apps


class Dispatcher:
    def __init__(self, apps: dict[str, WsgiApp]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, name in ROUTES:
            if path.startswith(prefix):
                return self.apps[name](environ, start_response)
        body = (b"ivr local stack. Webhooks: POST /webhook/voice/{incoming,step,status,fallback}; "
                b"admin API: /api/flows/{id}, /api/numbers. See README.md.\n")  # fmt: skip
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


def make_app() -> Dispatcher:
    return Dispatcher(load_functions())


def serve(host: str, port: int, app: Dispatcher) -> None:
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
