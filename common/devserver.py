"""The local stack: all four functions in one process, under the same paths as production.

Each function is loaded from its own ``functions/<name>/main.py`` with functions-framework's
``create_app`` (exactly what Cloud Functions runs) and mounted under one WSGI dispatcher by path.

The dispatcher passes the environ through as the server built it, with one correction. werkzeug's
development server (what ``ivr run`` serves with) gets the request line from http.server already
decoded as latin-1, then applies the WSGI "encoding dance" (``text.encode("utf-8").decode("latin-1")``,
meant for text decoded as UTF-8) to RAW_URI, REQUEST_URI, QUERY_STRING and PATH_INFO: every raw
non-ASCII byte of the request target is encoded twice (``?d=José`` sent as raw UTF-8 arrives as
``?d=JosÃ\x83Â©``). The signature check rebuilds the URL from RAW_URI, so such a request was refused
with 403, and a signature over the mangled text was accepted. ``pep3333_environ`` undoes the extra
layer for requests from that server only (it marks its environ with ``werkzeug.socket``), leaving
every field as PEP 3333 says: the request's bytes as latin-1. gunicorn, which serves Cloud
Functions, builds these fields correctly (and refuses a raw non-ASCII request target with 400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"

#: (path prefix, function) in match order: the first prefix that matches wins.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/webhook/voice/step", "flow_step"),
    ("/webhook/departments/", "flow_step"),
    ("/webhook/voice/", "incoming_call"),
    ("/api/departments/route", "route_department"),  # as the load balancer routes them
    ("/api/departments/tasks/", "route_department"),
    ("/api/", "deploy_flow"),
    ("/console", "deploy_flow"),  # the operations console, same origin as the admin API
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_functions(functions_dir: Path = FUNCTIONS) -> dict[str, WsgiApp]:
    import functions_framework

    apps: dict[str, WsgiApp] = {}
    for _, name in ROUTES:
        if name not in apps:
            apps[name] = functions_framework.create_app(name, str(functions_dir / name / "main.py"))
    return apps


def pep3333_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """Undo werkzeug's development server's second UTF-8 encoding of the request target (see above)."""
    raw = environ.get("RAW_URI")
    if "werkzeug.socket" not in environ or not isinstance(raw, str) or raw.isascii():
        return environ  # another server, or nothing a second encoding could have changed
    try:
        target = raw.encode("latin-1").decode("utf-8")  # = the request target's bytes as latin-1
    except (UnicodeEncodeError, UnicodeDecodeError):
        return environ  # not what the dance produces: leave it alone
    parts = urlsplit(target)
    path = f"/{parts.netloc}{parts.path}" if not parts.scheme and parts.netloc else parts.path
    environ.update({"RAW_URI": target, "REQUEST_URI": target, "QUERY_STRING": parts.query,
                    "PATH_INFO": unquote_to_bytes(path).decode("latin-1")})  # fmt: skip
    return environ


class Dispatcher:
    def __init__(self, apps: dict[str, WsgiApp]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ = pep3333_environ(environ)
        path = environ.get("PATH_INFO", "")
        for prefix, name in ROUTES:
            if path.startswith(prefix):
                return self.apps[name](environ, start_response)
        body = (b"ivr local stack. Webhooks: POST /webhook/voice/{incoming,step,status,fallback}, "
                b"/webhook/departments/<kind>; "
                b"admin API: /api/flows/{id}, /api/numbers. See README.md.\n")  # fmt: skip
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


def make_app() -> Dispatcher:
    return Dispatcher(load_functions())


def serve(host: str, port: int, app: Dispatcher) -> None:
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
