"""Faults a load run can put next to healthy calls: slow and dead HTTP-node APIs, a stalling store.

    api = FaultApi().start()              127.0.0.1 only: api.url("ok"), api.url("slow"), api.hang_url,
                                          api.refused_url; api.stop()
    flows = fault_flows(api)              flow id -> flow document: one httpRequestNode each
    install_stall(store, "+1307..:3")     (in the served process) that number's calls wait 3 s per
                                          store operation (``IVR_LOCAL_STALL``, common/devserver.py)

Rules owned here:
- ``FaultApi`` answers ``/ok`` at once and ``/slow`` after ``slow_seconds`` (3 s: longer than the
  webhook gives a request), each with a small JSON body, from two ports: the healthy API and the slow
  one are different hosts, as a tenant's APIs are (each gets its own part of the tenant's HTTP
  slots, common/service/http_slots.py); ``hang_url`` accepts connections and never
  answers a byte (they are held until ``stop``); ``refused_url`` names a port bound but never
  listening, so a connection is refused. All on 127.0.0.1: load tests never leave the machine.
- ``fault_flows`` builds one flow per API: start, the request, then a line that says which outcome
  the node took ("The lookup worked." or "The lookup failed."), then goodbye, so a caller's transcript
  shows it. Healthy calls use ``http_ok``; the others each touch one fault.
- ``install_stall`` wraps a store's call methods on the instance (every holder of the store sees
  it): a call created for a stalled number is remembered, and each of its reads and writes sleeps
  ``seconds`` before it reaches the store, outside the store's lock, as a backend stalling on that
  call's documents would. Other calls are not touched.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OK_TEXT = "The lookup worked."
FAILED_TEXT = "The lookup failed."
FAULT_FLOWS = ("http_ok", "http_slow", "http_hang", "http_refused")
STALL_ENV = "IVR_LOCAL_STALL"


class FaultApi:
    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.slow_seconds = slow_seconds
        self._server: ThreadingHTTPServer | None = None  # /slow (and /ok)
        self._ok_server: ThreadingHTTPServer | None = None  # /ok: the healthy API's own port
        self._hang: socket.socket | None = None
        self._refused: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self.requests: dict[str, int] = {"ok": 0, "slow": 0, "hang": 0}
        self._lock = threading.Lock()

    def start(self) -> FaultApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                name = self.path.split("?", 1)[0].strip("/")
                if name not in ("ok", "slow"):
                    self.send_error(404)
                    return
                with api._lock:
                    api.requests[name] += 1
                if name == "slow":
                    api._stopping.wait(api.slow_seconds)
                body = json.dumps({"status": "active", "name": name}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller gave up (its deadline passed): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server, self._ok_server = (ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2))
        for server, name in ((self._server, "fault-api"), (self._ok_server, "fault-api-ok")):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
        self._hang = socket.socket()
        self._hang.bind(("127.0.0.1", 0))
        self._hang.listen(256)
        threading.Thread(target=self._hold, name="fault-api-hang", daemon=True).start()
        self._refused = socket.socket()
        self._refused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return self

    def _hold(self) -> None:
        assert self._hang is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._hang.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                self.requests["hang"] += 1
                self._held.append(conn)

    def url(self, name: str) -> str:
        server = self._ok_server if name == "ok" else self._server
        assert server is not None, "start() first"
        return f"http://127.0.0.1:{server.server_address[1]}/{name}"

    @property
    def hang_url(self) -> str:
        assert self._hang is not None, "start() first"
        return f"http://127.0.0.1:{self._hang.getsockname()[1]}/hang"

    @property
    def refused_url(self) -> str:
        assert self._refused is not None, "start() first"
        return f"http://127.0.0.1:{self._refused.getsockname()[1]}/refused"

    def stop(self) -> None:
        self._stopping.set()
        for server in (self._server, self._ok_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        for sock in [self._hang, self._refused, *self._held]:
            if sock is not None:
                sock.close()


def _flow(flow_id: str, url: str) -> dict[str, Any]:
    def node(node_id: str, kind: str, data: dict[str, Any], y: int) -> dict[str, Any]:
        return {"id": node_id, "type": kind, "position": {"x": 0, "y": y}, "data": data}

    return {
        "id": flow_id, "name": f"Load test: {flow_id}",
        "description": "One HTTP request, then what its outcome was (common/loadgen/faults.py).",
        "settings": {"voice": "Polly.Joanna", "language": "en-US", "timezone": "UTC"},
        "nodes": [node("start", "startNode", {}, 0),
                  node("lookup", "httpRequestNode", {"method": "GET", "url": url, "timeoutSeconds": 5,
                                                     "saveAs": "lookup"}, 100),
                  node("worked", "sayNode", {"text": OK_TEXT}, 200),
                  node("failed", "sayNode", {"text": FAILED_TEXT}, 200),
                  node("bye", "hangupNode", {"message": "Goodbye."}, 300)],
        "edges": [{"id": "e1", "source": "start", "target": "lookup"},
                  {"id": "e2", "source": "lookup", "sourceHandle": "success", "target": "worked"},
                  {"id": "e3", "source": "lookup", "sourceHandle": "failed", "target": "failed"},
                  {"id": "e4", "source": "worked", "target": "bye"},
                  {"id": "e5", "source": "failed", "target": "bye"}],
    }  # fmt: skip


def fault_flows(api: FaultApi) -> dict[str, dict[str, Any]]:
    """Flow id -> flow: ``http_ok`` (the healthy API) and one flow per fault."""
    urls = {"http_ok": api.url("ok"), "http_slow": api.url("slow"), "http_hang": api.hang_url,
            "http_refused": api.refused_url}  # fmt: skip
    return {flow_id: _flow(flow_id, urls[flow_id]) for flow_id in FAULT_FLOWS}


def parse_stall(spec: str) -> tuple[frozenset[str], float]:
    """``"+13072240010,+13072240011:3"`` -> ({numbers}, 3.0). Raises ValueError naming the problem."""
    numbers, sep, seconds = spec.rpartition(":")
    if not sep or not numbers:
        raise ValueError(f"{STALL_ENV}={spec!r}: use NUMBER[,NUMBER...]:SECONDS")
    try:
        delay = float(seconds)
    except ValueError:
        raise ValueError(f"{STALL_ENV}={spec!r}: {seconds!r} is not a number of seconds") from None
    found = frozenset(n.strip() for n in numbers.split(",") if n.strip())
    if delay < 0 or not all(n.startswith("+") for n in found):
        raise ValueError(f"{STALL_ENV}={spec!r}: E.164 numbers and seconds of 0 or more")
    return found, delay


def install_stall(store: Any, spec: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """Make the calls to the numbers of ``spec`` (``parse_stall``) wait before each store operation."""
    numbers, delay = parse_stall(spec)
    stalled: set[str] = set()
    lock = threading.Lock()

    def is_stalled(call_sid: str) -> bool:
        with lock:
            return call_sid in stalled

    real_save, real_read = store.save_call, store.read_call

    def save_call(call: Any, token: Any) -> Any:
        if call.number in numbers:
            with lock:
                stalled.add(call.call_sid)
        if is_stalled(call.call_sid):
            sleep(delay)
        return real_save(call, token)

    def read_call(call_sid: str) -> Any:
        if is_stalled(call_sid):
            sleep(delay)
        return real_read(call_sid)

    store.save_call, store.read_call = save_call, read_call
    if hasattr(store, "create_call"):
        store.create_call = lambda call: save_call(call, None) is not None
    if hasattr(store, "write_call"):
        store.write_call = lambda call, token: token is not None and save_call(call, token) is not None
