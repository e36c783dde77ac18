"""Start and stop Google's Firestore emulator for tests, benchmarks and local runs.

Standard library only, so importing this module costs nothing::

    with FirestoreEmulator() as emulator:          # free port, own process group, waits for "Ok"
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        ...
        emulator.reset("ivr-test")                 # empty the (default) database between tests

The launcher is a shell script that runs java as its child (no exec); it is started in its own
process group so that ``stop()``, ``kill()`` and ``pause()`` reach the JVM too (killing only the
wrapper leaves java listening on the port). ``warm_up(client)`` pays the JVM's slow first requests
before anything time-bounded runs.

A process that dies without running any code (SIGKILL, a crash) cannot stop its emulator, so each
emulator has a watchdog: a small process that holds the read end of a pipe whose write end only this
process has. When this process is gone, however it went, the pipe reads end-of-file and the watchdog
stops the emulator's process group (SIGTERM, then SIGKILL after 5 s). ``stop()`` ends the watchdog first.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.adapters.process_group import ProcessGroup

ENV_LAUNCHER = "IVR_FIRESTORE_EMULATOR_BIN"
DEB_PACKAGE = "google-cloud-cli-firestore-emulator"
KNOWN_PATHS = (
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
    "/opt/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
    "~/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
)
INSTALL_HINT = (
    f"install it with `apt-get install {DEB_PACKAGE}` (Google's Cloud SDK apt source) plus a Java 17 "
    f"runtime (`apt-get install openjdk-17-jre-headless`), or point {ENV_LAUNCHER} at a "
    "cloud_firestore_emulator launcher"
)


#: stops an emulator whose starter died (standard library only: it runs as a plain script)
WATCHDOG = Path(__file__).with_name("emulator_watchdog.py")


class EmulatorUnavailable(RuntimeError):
    """The emulator (or the Java runtime it needs) is not installed, or it did not start."""


class _PortTaken(Exception):
    """Another process bound a chosen port first."""


def _usable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _from_dpkg() -> str | None:
    if shutil.which("dpkg") is None:
        return None
    try:
        out = subprocess.run(["dpkg", "-L", DEB_PACKAGE], capture_output=True, text=True, timeout=10,
                             check=False).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.strip().endswith("cloud_firestore_emulator") and _usable(line.strip()):
            return line.strip()
    return None


def find_launcher() -> str | None:
    """The ``cloud_firestore_emulator`` launcher: $IVR_FIRESTORE_EMULATOR_BIN, dpkg, known paths."""
    configured = os.environ.get(ENV_LAUNCHER)
    if configured:
        return configured if _usable(configured) else None
    found = _from_dpkg()
    if found:
        return found
    for candidate in KNOWN_PATHS:
        path = os.path.expanduser(candidate)
        if _usable(path):
            return path
    return None


# local only: never route the emulator's loopback address through an http_proxy from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_ports(count: int) -> list[int]:
    """Distinct ports free right now (all held open together while choosing, so never the same)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is free; a listener is not
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def warm_up(client: Any) -> float:
    """Exercise a fresh emulator through ``client`` (a google.cloud.firestore.Client); seconds taken.

    The emulator's first requests load most of its classes: about 1 s on two cores, more under load,
    which is what FirestoreStore allows a whole read. Pay it here, with the client's own generous
    timeouts, before anything measured or time-bounded runs. Leaves no documents behind.
    """
    began = time.monotonic()
    collection = client.collection("__warmup")
    ref = collection.document("doc")
    ref.set({"n": 1, "m": {"a": [1]}})
    snap = ref.get()
    ref.update({"n": 2}, option=client.write_option(last_update_time=snap.update_time))
    with contextlib.suppress(Exception):  # the refusal path: a stale precondition
        ref.update({"n": 3}, option=client.write_option(last_update_time=snap.update_time))
    with contextlib.suppress(Exception):  # and an existing document
        ref.create({"n": 4})
    list(collection.order_by("n").limit(5).get())
    batch = client.batch()
    batch.set(collection.document("other"), {"n": 5})
    batch.delete(ref)
    batch.commit()
    list(client.get_all([ref, collection.document("other")]))
    collection.document("other").delete()
    return time.monotonic() - began


class FirestoreEmulator(ProcessGroup):
    """One emulator process on 127.0.0.1:<free port>; ``host`` is what FIRESTORE_EMULATOR_HOST takes."""

    def __init__(self, launcher: str | None = None, port: int | None = None,
                 startup_timeout: float = 30.0) -> None:  # fmt: skip
        super().__init__()
        self.launcher = launcher
        self.port = port
        self.startup_timeout = startup_timeout
        self.started_in: float | None = None  # seconds from spawn to "Ok"
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._last_output = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FirestoreEmulator:
        if self._proc is not None:
            raise RuntimeError("the emulator is already started")
        launcher = self.launcher or find_launcher()
        if launcher is None:
            where = f"${ENV_LAUNCHER} ({os.environ[ENV_LAUNCHER]!r}) is not an executable file" \
                if os.environ.get(ENV_LAUNCHER) else "the cloud_firestore_emulator launcher was not found"
            raise EmulatorUnavailable(f"Firestore emulator unavailable: {where}; {INSTALL_HINT}")
        if shutil.which(os.environ.get("JAVA", "java")) is None:
            raise EmulatorUnavailable(f"Firestore emulator unavailable: no `java` on PATH; {INSTALL_HINT}")
        self.launcher = launcher
        # The emulator also opens a WebSocket server, on a random port unless told: give it one, or it
        # may take the port just chosen for the API. Another process may still take a chosen port
        # before the JVM binds it: then start again on fresh ports.
        fixed_port = self.port is not None
        attempts = 1 if fixed_port else 3
        if fixed_port and not _port_free(int(self.port or 0)):  # else "Ok" might come from its owner
            raise EmulatorUnavailable(f"the Firestore emulator could not start: port {self.port} is taken")
        for attempt in range(1, attempts + 1):
            api_port, ws_port = _free_ports(2)
            self.port = self.port if fixed_port else api_port
            try:
                self._spawn(launcher, ws_port)
                return self
            except _PortTaken:
                if attempt == attempts:
                    if not fixed_port:
                        self.port = None
                    what = f"port {self.port} is taken" if fixed_port else \
                        f"another process took its ports {attempts} times"
                    raise EmulatorUnavailable(
                        f"the Firestore emulator could not start: {what}; its output ended with:\n"
                        f"{self._last_output}"
                    ) from None
        raise AssertionError("unreachable")

    def _spawn(self, launcher: str, ws_port: int) -> None:
        fd, self._log_path = tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            [launcher, "start", "--host=127.0.0.1", f"--port={self.port}", f"--websocket_port={ws_port}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the java child
        )
        atexit.register(self.stop)
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, str(WATCHDOG), str(self._proc.pid)], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            self._wait_ready(began)
        except BaseException:
            self._last_output = self.output_tail()
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None
        url = f"http://{self.host}/"
        while True:
            if self._proc.poll() is not None:
                if "Address already in use" in self.output_tail(200):
                    raise _PortTaken()
                raise EmulatorUnavailable(
                    f"the Firestore emulator exited with code {self._proc.returncode} before answering "
                    f"on {url}; its output ends with:\n{self.output_tail()}")  # fmt: skip
            try:
                with _OPENER.open(url, timeout=1.0) as response:
                    if response.read().decode(errors="replace").strip() == "Ok":
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() - began > self.startup_timeout:
                raise EmulatorUnavailable(
                    f"the Firestore emulator did not answer 'Ok' on {url} within "
                    f"{self.startup_timeout:.0f} s; its output ends with:\n{self.output_tail()}"
                )
            time.sleep(0.05)

    @property
    def watchdog_pid(self) -> int | None:
        return None if self._watchdog is None else self._watchdog.pid

    def _end_watchdog(self) -> None:
        if self._watchdog is None:
            return
        self._watchdog.kill()  # not through its pipe: it would signal the group while we do
        self._watchdog.wait()
        if self._watchdog.stdin is not None:
            self._watchdog.stdin.close()
        self._watchdog = None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL what lingers, return once it is gone; idempotent."""
        self._end_watchdog()
        super().stop(grace)

    def kill(self) -> None:
        """SIGKILL the process group at once: an outage, for tests of failure handling."""
        self._end_watchdog()
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._group_gone(5.0)
        self._cleanup()

    # -- data ------------------------------------------------------------------------------------

    def reset(self, project: str) -> None:
        """Delete every document of the project's (default) database."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents"
        request = urllib.request.Request(url, method="DELETE")
        with _OPENER.open(request, timeout=10.0) as response:
            response.read()
