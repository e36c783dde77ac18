"""Start and stop Google's Firestore emulator for tests, benchmarks and local runs.

Standard library only, so importing this module costs nothing::

    with FirestoreEmulator() as emulator:          # free port, own process group, waits for "Ok"
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        ...
        emulator.reset("ivr-test")                 # empty the (default) database between tests

The launcher is a shell script that execs java; it runs in its own process group so that ``stop()``
and ``kill()`` reach the JVM too (killing only the wrapper leaves java listening on the port).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

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


class EmulatorUnavailable(RuntimeError):
    """The emulator (or the Java runtime it needs) is not installed, or it did not start."""


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FirestoreEmulator:
    """One emulator process on 127.0.0.1:<free port>; ``host`` is what FIRESTORE_EMULATOR_HOST takes."""

    def __init__(self, launcher: str | None = None, port: int | None = None,
                 startup_timeout: float = 30.0) -> None:  # fmt: skip
        self.launcher = launcher
        self.port = port
        self.startup_timeout = startup_timeout
        self.started_in: float | None = None  # seconds from spawn to "Ok"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator has not been started")
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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
        if self.port is None:
            self.port = _free_port()
        fd, self._log_path = tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            [launcher, "start", "--host=127.0.0.1", f"--port={self.port}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the java child
        )
        atexit.register(self.stop)
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None
        url = f"http://{self.host}/"
        while True:
            if self._proc.poll() is not None:
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

    def output_tail(self, lines: int = 30) -> str:
        if self._log_path is None:
            return ""
        try:
            text = Path(self._log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL it if it lingers; idempotent."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=grace)
        self._signal_group(signal.SIGKILL)  # the java child may outlive the wrapper: always sweep
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=grace)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL the process group at once: an outage, for tests of failure handling."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5.0)
        self._cleanup()

    def _cleanup(self) -> None:
        self._proc = None
        atexit.unregister(self.stop)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = None

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    # -- data ------------------------------------------------------------------------------------

    def reset(self, project: str) -> None:
        """Delete every document of the project's (default) database."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents"
        request = urllib.request.Request(url, method="DELETE")
        with _OPENER.open(request, timeout=10.0) as response:
            response.read()
