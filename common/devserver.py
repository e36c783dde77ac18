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

Serving (``serve``): werkzeug's development server (one thread per connection, listen backlog 128
unless raised) or gunicorn, what functions-framework runs in production (one gthread worker with a
fixed number of threads, backlog 2048, keep-alive). A burst of arrivals larger than the listen
backlog is what made the development server reset connections; ``serve`` raises it for both.
With the memory store the stack must be one process (every webhook of a call has to find the
same memory), so gunicorn runs one worker and its threads; with Firestore several workers may share
the emulator. ``python -m common.devserver`` serves the local stack this way (see ``main``).

``GET /_local/counters`` (laptop stacks only: the environment is ``local``) answers the store's
read and write counters as JSON, so a load run can report store operations per call, and, for the
stacks ``local_app_factory`` builds, how many times each store method was called (``methods``: the
capacity plan maps them to Firestore collections), and the voice workers' jobs (``voiceWorkers``:
how many ran pinned on their request's CPU, how many took the shared queue). It is served by this
dispatcher, which only a local stack uses; deployed functions never route it.

``IVR_LOCAL_STALL=NUMBER[,NUMBER...]:SECONDS`` (stacks ``local_app_factory`` builds) makes every store
read and write of the calls to those numbers wait that long first: the stalling store of a load run
with faults (benchmarks/load_faults.py); other calls are not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"

STALL_ENV = "IVR_LOCAL_STALL"  # = common.loadgen.faults.STALL_ENV (not imported: it is off the webhook path)

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
COUNTERS_PATH = "/_local/counters"
SERVERS = ("werkzeug", "gunicorn")
DEFAULT_BACKLOG = 2048  # gunicorn's default; the kernel caps it at net.core.somaxconn
# Seconds an idle keep-alive connection stays open. A client that reuses a connection at the moment
# the server closes it gets a reset; under load the server's idle timer runs late and that window
# widens (1,000 paced calls with gunicorn's 5 s: 8 resets in 5,400 webhooks). Clients here idle up
# to a caller's longest wait between webhooks, so the local stack keeps connections longer.
DEFAULT_KEEPALIVE = 75


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
        if path == COUNTERS_PATH:
            return _counters(start_response)
        for prefix, name in ROUTES:
            if path.startswith(prefix):
                return self.apps[name](environ, start_response)
        body = (b"ivr local stack. Webhooks: POST /webhook/voice/{incoming,step,status,fallback}, "
                b"/webhook/departments/<kind>; "
                b"admin API: /api/flows/{id}, /api/numbers. See README.md.\n")  # fmt: skip
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


def _counters(start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The store's counters of this process, on a laptop stack only."""
    from common import bootstrap

    svc = bootstrap.services()
    if svc.settings.environment != "local":
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"Not found\n"]
    counts: dict[str, Any] = {"pid": os.getpid(), "store": type(svc.store).__name__,
                              "reads": getattr(svc.store, "reads", None),
                              "writes": getattr(svc.store, "writes", None)}  # fmt: skip
    routing_store = getattr(svc.routing, "store", None) if svc.routing is not None else None
    if routing_store is not None and routing_store is not svc.store and hasattr(routing_store, "reads"):
        counts["routing"] = {"store": type(routing_store).__name__, "reads": routing_store.reads,
                             "writes": getattr(routing_store, "writes", None)}  # fmt: skip
    from common.web import voice

    counts["voiceWorkers"] = {"soloJobs": voice.pool.solo_jobs, "queuedJobs": voice.pool.queued_jobs,
                              "threads": voice.pool.threads, "colocate": voice.pool.colocate}  # fmt: skip
    methods = {name: dict(calls) for name, calls in METHOD_CALLS.items() if calls}
    if methods:
        counts["methods"] = methods
    body = json.dumps(counts).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])  # fmt: skip
    return [body]


#: store ("store", "routing", "timers") -> method -> calls, for the stores ``count_methods`` wrapped
METHOD_CALLS: dict[str, dict[str, int]] = {}


def count_methods(label: str, store: Any) -> None:
    """Count the calls of each public method of ``store`` (this object only: the wrappers are its own
    attributes), under ``METHOD_CALLS[label]``. A counter per call, no lock: a lost increment under
    contention is a rounding error for a capacity estimate, and a lock would serialise the stack."""
    calls = METHOD_CALLS.setdefault(label, {})

    def counted(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return method(*args, **kwargs)

        return call

    for name in dir(type(store)):
        method = getattr(store, name, None)
        if not name.startswith("_") and callable(method) and not isinstance(method, type):
            setattr(store, name, counted(name, method))


def make_app() -> Dispatcher:
    return Dispatcher(load_functions())


def default_threads() -> int:
    """What functions-framework gives gunicorn in production: $THREADS, else 4 per CPU."""
    return int(os.environ.get("THREADS") or (os.cpu_count() or 1) * 4)


def serve(host: str, port: int, app: WsgiApp | None = None, *, app_factory: Callable[[], WsgiApp] | None = None,
          server: str = "werkzeug", threads: int | None = None, workers: int = 1,
          backlog: int = DEFAULT_BACKLOG, keepalive: int = DEFAULT_KEEPALIVE) -> None:  # fmt: skip
    """Serve until stopped (SIGINT/SIGTERM). Give ``app``, or ``app_factory`` to build the app in the
    serving process itself (gunicorn forks its workers: a factory builds the services there, with
    their threads and memory, instead of in a parent that serves nothing).

    ``threads``: gunicorn's threads per worker (default ``default_threads()``); werkzeug starts one
    thread per connection and ignores it. ``workers`` > 1 only with a store every process shares."""
    if server not in SERVERS:
        raise ValueError(f"server {server!r}: use {' or '.join(SERVERS)}")
    if workers < 1 or (threads is not None and threads < 1) or backlog < 1:
        raise ValueError("workers, threads and backlog must be at least 1")
    if server == "werkzeug":
        if workers != 1:
            raise ValueError("werkzeug serves in one process: workers must be 1 (use gunicorn for more)")
        _serve_werkzeug(host, port, app if app is not None else _built(app_factory), backlog)
    else:
        _serve_gunicorn(host, port, app, app_factory, threads or default_threads(), workers, backlog, keepalive)


def _built(app_factory: Callable[[], WsgiApp] | None) -> WsgiApp:
    if app_factory is None:
        raise ValueError("give app or app_factory")
    return app_factory()


def _serve_werkzeug(host: str, port: int, app: WsgiApp, backlog: int) -> None:
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    server.socket.listen(backlog)  # make_server listened with 128; listening again resizes the queue
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _serve_gunicorn(host: str, port: int, app: WsgiApp | None, app_factory: Callable[[], WsgiApp] | None,
                    threads: int, workers: int, backlog: int, keepalive: int) -> None:  # fmt: skip
    from gunicorn.app.base import BaseApplication

    options = {
        "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
        "backlog": backlog,
        # gthread stops accepting at worker_connections open connections (keep-alive ones count):
        # room for a whole burst plus the threads' own, so a burst waits in the queue, never refused.
        "worker_connections": max(1000, backlog + threads),
        "keepalive": keepalive,
        "timeout": 0,  # as in production without CLOUD_RUN_TIMEOUT_SECONDS: no worker heartbeat kill
        "limit_request_line": 0,  # functions-framework's setting: Twilio's URLs can be long
        "loglevel": os.environ.get("GUNICORN_LOG_LEVEL", "error"),
        "accesslog": None,
    }  # fmt: skip

    class LocalStack(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> WsgiApp:
            return app if app is not None else _built(app_factory)

    LocalStack().run()


def local_app_factory(port: int, store: str) -> Callable[[], WsgiApp]:
    """Build the local stack as ``ivr run`` does (settings from the environment, the demo tenant
    seeded, the container installed, the stale-call sweep running) in the process that serves it."""

    def factory() -> WsgiApp:
        import logging
        import threading
        import time

        from common import bootstrap, config

        env = dict(os.environ)
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        env["IVR_STORE"] = store
        svc = bootstrap.build(config.from_env(env))
        bootstrap.seed_demo(svc, env.get("IVR_API_KEY", config.DEV_API_KEY),
                            number=env.get("IVR_DEMO_NUMBER", bootstrap.DEMO_NUMBER))  # fmt: skip
        bootstrap.install(svc)
        if env.get(STALL_ENV):  # a load run's stalling store (common/loadgen/faults.py)
            from common.loadgen.faults import install_stall

            install_stall(svc.store, env[STALL_ENV])
        count_methods("store", svc.store)
        if svc.routing is not None and svc.routing.store is not svc.store:
            count_methods("routing", svc.routing.store)
        timers = getattr(getattr(svc.routing, "deps", None), "timers", None)
        if timers is not None:  # routing timers (Cloud Tasks in production)
            count_methods("timers", timers)

        def sweep() -> None:  # Firestore's TTL stands in for this in production
            while True:
                time.sleep(60)
                try:
                    svc.calls.expire_stale()
                except Exception:
                    logging.getLogger("ivr.sweep").exception("sweep failed")

        threading.Thread(target=sweep, daemon=True).start()
        return make_app()

    return factory


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m common.devserver``: the local stack served like production, for load tests.

    With ``--store firestore``, FIRESTORE_EMULATOR_HOST must point at a running emulator."""
    parser = argparse.ArgumentParser(prog="python -m common.devserver", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--server", choices=SERVERS, default="gunicorn")
    parser.add_argument("--threads", type=int, default=None,
                        help="gunicorn threads per worker (default: $THREADS, else 4 per CPU)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (memory store: 1)")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG, help="listen queue length")
    parser.add_argument("--keepalive", type=int, default=DEFAULT_KEEPALIVE,
                        help="seconds an idle keep-alive connection stays open (gunicorn)")
    parser.add_argument("--store", choices=("memory", "firestore"), default="memory")
    args = parser.parse_args(argv)
    if args.store == "memory" and args.workers != 1:
        parser.error("--store memory needs --workers 1: each worker process would have its own memory")
    if args.store == "firestore" and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        parser.error("--store firestore needs FIRESTORE_EMULATOR_HOST (start `ivr run --store firestore-emulator` "
                     "or the emulator yourself)")  # fmt: skip
    print(f"serving the local stack on http://{args.host}:{args.port} with {args.server} "
          f"(threads {args.threads or default_threads()}, workers {args.workers}, store {args.store})",
          file=sys.stderr, flush=True)  # fmt: skip
    serve(args.host, args.port, app_factory=local_app_factory(args.port, args.store), server=args.server,
          threads=args.threads, workers=args.workers, backlog=args.backlog, keepalive=args.keepalive)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
