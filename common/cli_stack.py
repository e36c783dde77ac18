"""``ivr run`` and ``ivr demo``: the local stack in this process, and everything it starts stops with it.

    ivr run [--port 8080] [--store memory|firestore-emulator] [--server werkzeug|gunicorn] [--threads N]
    ivr demo

``--server werkzeug`` (the default) serves on a thread per connection in this process, so Ctrl-C and
the signals below stop it at once; ``--server gunicorn`` serves as Cloud Functions does (one gthread
worker, ``--threads`` threads, default $THREADS else 4 per CPU), what load tests should measure.

SIGTERM, SIGINT (Ctrl-C) and SIGHUP all stop ``ivr run`` the same way: the server shuts down and the
Firestore emulator it started is stopped with its whole process group (the JVM included) before the
command returns. Python's default for SIGTERM is to die at once without running ``finally`` or
``atexit``, which left the emulator running; a handler turns those signals into ``StopRequested``.
Should this process die without running any code (SIGKILL), the emulator's own watchdog stops it
(see ``common.adapters.emulator``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from common.cli_common import UsageError

DEMO_SCRIPT = ("silence", "speech:Support, please.", "agent:answer:45")
STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None)


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived; raised in the main thread so every ``finally`` runs."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals() -> None:
    """While cleaning up, a second Ctrl-C must not cut the emulator's shutdown short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _start_emulator() -> Any:
    from common.adapters.emulator import EmulatorUnavailable, FirestoreEmulator, warm_up

    emulator = FirestoreEmulator()
    try:
        emulator.start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "ivr-local")
        # A cold JVM answers its first requests in over a second, past the store's deadline: seeding
        # the demo tenant would fail. Pay that once here, with the client's own generous timeouts.
        from google.cloud import firestore

        client = firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
        try:
            warm_up(client)
        finally:
            client.close()
    except EmulatorUnavailable as exc:
        raise UsageError(str(exc)) from exc
    except BaseException:
        emulator.stop()
        raise
    return emulator


def _build_stack(port: int, store: str) -> tuple[Any, dict[str, Any]]:
    """Services from the environment with the demo tenant seeded and installed: (services, seeded)."""
    from common import bootstrap, config

    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("IVR_NUMBER_CACHE_SECONDS", "0")
    env.setdefault("IVR_EVENTS", "duckdb")  # the local events file `ivr report` reads (.ivr/events.duckdb)
    env["IVR_STORE"] = store
    svc = bootstrap.build(config.from_env(env))
    seeded = bootstrap.seed_demo(svc, env.get("IVR_API_KEY", config.DEV_API_KEY),
                                 number=env.get("IVR_DEMO_NUMBER", bootstrap.DEMO_NUMBER))  # fmt: skip
    bootstrap.install(svc)
    return svc, seeded


def _department_lines(svc: Any, tenant: str) -> list[str]:
    from common import routing_setup

    lines = getattr(routing_setup, "department_banner_lines", None)
    if lines is None:
        return []
    try:
        return list(lines(svc, tenant))
    except Exception:  # the banner is a courtesy: it never stops the stack from starting
        logging.getLogger("ivr.run").exception("could not list the departments for the banner")
        return []


def banner(svc: Any, seeded: dict[str, Any], port: int, store: str, serving: str) -> str:
    settings = svc.settings
    where = f"Firestore emulator on {os.environ['FIRESTORE_EMULATOR_HOST']}" if store == "firestore" else "memory"
    demo = f"tenant '{seeded['tenant']}': flow '{seeded['flowId']}' v{seeded['version']} on {seeded['number']}"
    departments = "".join(f"\n  {line}" for line in _department_lines(svc, seeded["tenant"]))
    return f"""ivr local stack on http://127.0.0.1:{port} (store: {where}), served by {serving}
  webhooks   POST /webhook/voice/incoming | step | status | fallback
  admin API  /api/flows/{{id}}, /api/flows/{{id}}/deploy, /api/flows/{{id}}/execute, /api/numbers
  console    http://127.0.0.1:{port}/console (sign in with the API key below)
  demo       {demo}{departments}
  API key    {seeded["apiKey"]}          (env IVR_API_KEY overrides)
  Twilio     account {settings.twilio_account_sid}, auth token {settings.twilio_auth_token}
             (env TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN override; requests are signature-checked)

Try a call:  .venv/bin/ivr call {seeded["number"]} --input 2 --url http://127.0.0.1:{port}
Real phone:  expose the port with a tunnel (e.g. `ngrok http {port}`), restart with
  PUBLIC_BASE_URL=https://<tunnel-host> TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=<your token>
  IVR_DEMO_NUMBER=<your Twilio number>, and in the Twilio console set that number's
  "A call comes in" webhook to https://<tunnel-host>/webhook/voice/incoming (POST), its status
  callback to .../webhook/voice/status and its fallback URL to .../webhook/voice/fallback.
Ctrl-C (or SIGTERM) stops it, and the emulator with it."""  # fmt: skip


def start_stack(port: int, store: str, quiet: bool = False) -> tuple[Any, Any]:
    """Build services, seed the demo tenant, serve on a thread with werkzeug. ``store``: memory, or
    firestore when FIRESTORE_EMULATOR_HOST already points at a running emulator. Returns (services, server)."""
    from werkzeug.serving import make_server

    from common import devserver

    svc, seeded = _build_stack(port, store)
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        server = make_server("127.0.0.1", port, devserver.make_app(), threaded=True)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from exc
    # make_server listened with a queue of 128: a burst of arrivals beyond it was reset. Listening
    # again resizes the queue (the kernel caps it at net.core.somaxconn).
    server.socket.listen(devserver.DEFAULT_BACKLOG)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=_sweep_forever, args=(svc,), daemon=True).start()
    if not quiet:
        print(banner(svc, seeded, server.server_port, store, "werkzeug, a thread per connection"), flush=True)
    return svc, server


def _serve_gunicorn(port: int, store: str, threads: int | None) -> None:
    """Serve in the foreground with gunicorn, as production does; the one worker builds the stack."""
    from common import devserver

    threads = threads or devserver.default_threads()

    def factory() -> Any:
        svc, seeded = _build_stack(port, store)
        threading.Thread(target=_sweep_forever, args=(svc,), daemon=True).start()
        print(banner(svc, seeded, port, store, f"gunicorn, 1 worker x {threads} threads"), flush=True)
        return devserver.make_app()

    try:
        with socket.socket() as probe:  # gunicorn retries a busy port for seconds, then exits quietly
            probe.bind(("127.0.0.1", port))
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from exc
    devserver.serve("127.0.0.1", port, app_factory=factory, server="gunicorn", threads=threads)


def _sweep_forever(svc: Any, every_seconds: float = 60.0) -> None:
    """The local stand-in for Firestore's TTL: finalise calls whose status callback never came."""
    while True:
        time.sleep(every_seconds)
        try:
            expired = svc.calls.expire_stale()
            if expired:
                logging.getLogger("ivr.sweep").info("expired %d call(s) without a status callback", expired)
        except Exception:  # a sweep failure must not stop the stack
            logging.getLogger("ivr.sweep").exception("sweep failed")


def cmd_run(args: argparse.Namespace) -> int:
    if args.store not in ("memory", "firestore-emulator"):
        raise UsageError(f"--store {args.store!r}: use memory or firestore-emulator")
    server_kind = getattr(args, "server", "werkzeug")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: give at least 1")
    port = args.port or int(os.environ.get("PORT", "8080"))
    if server_kind == "gunicorn":
        return _run_gunicorn(args.store, port, threads)
    server = emulator = None
    with stop_on_signals():
        try:
            if args.store == "firestore-emulator":
                emulator = _start_emulator()
            _, server = start_stack(port, "firestore" if emulator is not None else "memory")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt as stop:  # Ctrl-C, or StopRequested for SIGTERM / SIGHUP
            print(f"\nstopping ({stop.args[0] if stop.args else 'SIGINT'})", flush=True)
        finally:
            _ignore_stop_signals()
            if server is not None:
                server.shutdown()
            if emulator is not None:
                emulator.stop()
    return 0


def _run_gunicorn(store: str, port: int, threads: int | None) -> int:
    """gunicorn's master handles the signals itself (SIGTERM/SIGINT stop it, SIGHUP restarts the worker,
    which rebuilds a memory stack empty); it exits with SystemExit, after which the emulator stops."""
    emulator = None
    try:
        if store == "firestore-emulator":
            emulator = _start_emulator()
        _serve_gunicorn(port, "firestore" if emulator is not None else "memory", threads)
    except SystemExit as done:
        return int(done.code or 0) if isinstance(done.code, int | None) else 1
    finally:
        if emulator is not None:
            _ignore_stop_signals()
            emulator.stop()
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cmd_demo(args: argparse.Namespace) -> int:
    from common import callsim, config, routing_demo
    from common.cli_common import request

    port = free_port()
    svc, server = start_stack(port, "memory", quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        sim = callsim.TwilioCallSimulator(url, svc.settings.twilio_auth_token, svc.settings.twilio_account_sid,
                                          replays=1)  # fmt: skip
        print(f"Demo: a signed call over HTTP to the example support line on the local stack "
              f"(port {port}); caller script: {' '.join(DEMO_SCRIPT)}; every webhook sent twice.\n")  # fmt: skip
        result = sim.call("+13072249663", inputs=list(DEMO_SCRIPT))
        print("\n".join(result.transcript))
        stored = svc.store.read_call(result.call_sid)
        if stored is not None:
            record = stored[0]
            print(f"\nstored call: status={record.status} outcome={record.outcome} "
                  f"path={' -> '.join(record.state.path)}")  # fmt: skip
        print(f"{len(result.exchanges)} webhooks answered; problems: {result.problems or 'none'}")
        problems = list(result.problems)
        if svc.routing is not None:
            key = os.environ.get("IVR_API_KEY", config.DEV_API_KEY)
            print("\nDemo, part 2: a caller waits in the support queue while every support agent is away.\n")
            queued = routing_demo.run_queue_demo(
                callsim.TwilioCallSimulator(url, svc.settings.twilio_auth_token, svc.settings.twilio_account_sid),
                lambda method, path, body: request(url, method, path, body, key)[1], "+13072249663")  # fmt: skip
            problems += list(queued.problems)
            print(f"{len(queued.exchanges)} webhooks answered; problems: {queued.problems or 'none'}")
        print("\nThe calls' events are in .ivr/events.duckdb: try `ivr report funnel support_line`.")
        return 1 if problems else 0
    finally:
        server.shutdown()
