"""Start and stop Google's Pub/Sub emulator for tests, benchmarks and local runs.

Standard library only, so importing this module costs nothing::

    with PubSubEmulator() as emulator:             # free port, own process group, waits for it
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
        ...
        emulator.pause(); emulator.resume()        # SIGSTOP/SIGCONT: a hung Pub/Sub
        emulator.stop(); emulator.start()          # an outage, and the service back (topics are lost)

The launcher (``cloud-pubsub-emulator``, from the google-cloud-cli-pubsub-emulator package) is a
shell script running java, started in its own process group like the Firestore emulator's
(common/adapters/process_group.py), so stop and pause reach the JVM. Ready means it answers HTTP on
its port (its REST surface: GET / answers "Ok"). Its state is in memory only: a restart forgets
every topic and subscription.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from common.adapters.emulator import EmulatorUnavailable
from common.adapters.process_group import ProcessGroup

ENV_LAUNCHER = "IVR_PUBSUB_EMULATOR_BIN"
DEB_PACKAGE = "google-cloud-cli-pubsub-emulator"
KNOWN_PATHS = ("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
               "/usr/share/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
               "~/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")  # fmt: skip
INSTALL_HINT = (f"install it with `apt-get install {DEB_PACKAGE}` (Google's Cloud SDK apt source) plus a Java "
                f"runtime, or point {ENV_LAUNCHER} at a cloud-pubsub-emulator launcher")  # fmt: skip
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


class PubSubEmulatorUnavailable(EmulatorUnavailable):
    """The Pub/Sub emulator (or Java) is not installed, or it did not start."""


def _usable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_launcher() -> str | None:
    """$IVR_PUBSUB_EMULATOR_BIN, else what dpkg lists for the package, else the usual SDK paths."""
    configured = os.environ.get(ENV_LAUNCHER)
    if configured:
        return configured if _usable(configured) else None
    if shutil.which("dpkg"):
        try:
            listed = subprocess.run(["dpkg", "-L", DEB_PACKAGE], capture_output=True, text=True, timeout=10,
                                    check=False).stdout  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            listed = ""
        for line in listed.splitlines():
            if line.strip().endswith("bin/cloud-pubsub-emulator") and _usable(line.strip()):
                return line.strip()
    for candidate in KNOWN_PATHS:
        if _usable(os.path.expanduser(candidate)):
            return os.path.expanduser(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class PubSubEmulator(ProcessGroup):
    """One emulator on 127.0.0.1:<port>; ``host`` is what PUBSUB_EMULATOR_HOST takes. The port is
    kept across stop() and start(), so clients built before an outage reach it again after."""

    def __init__(self, launcher: str | None = None, port: int | None = None, startup_timeout: float = 40.0) -> None:
        super().__init__()
        self.launcher = launcher
        self.port = port
        self.startup_timeout = startup_timeout
        self.started_in: float | None = None

    def start(self) -> PubSubEmulator:
        if self._proc is not None:
            raise RuntimeError("the Pub/Sub emulator is already started")
        launcher = self.launcher or find_launcher()
        if launcher is None:
            raise PubSubEmulatorUnavailable(f"Pub/Sub emulator unavailable: cloud-pubsub-emulator not found; "
                                            f"{INSTALL_HINT}")  # fmt: skip
        if shutil.which(os.environ.get("JAVA", "java")) is None:
            raise PubSubEmulatorUnavailable(f"Pub/Sub emulator unavailable: no `java` on PATH; {INSTALL_HINT}")
        self.launcher = launcher
        self.port = self.port or _free_port()
        if _listening(self.port):
            raise PubSubEmulatorUnavailable(f"the Pub/Sub emulator could not start: port {self.port} is taken")
        fd, self._log_path = tempfile.mkstemp(prefix="pubsub-emulator-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        began = time.monotonic()
        self._proc = subprocess.Popen([launcher, "--host=127.0.0.1", f"--port={self.port}"],
                                      stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)  # fmt: skip
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
                raise PubSubEmulatorUnavailable(
                    f"the Pub/Sub emulator exited with code {self._proc.returncode} before answering on {url}; "
                    f"its output ends with:\n{self.output_tail()}")  # fmt: skip
            try:
                with _OPENER.open(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() - began > self.startup_timeout:
                raise PubSubEmulatorUnavailable(
                    f"the Pub/Sub emulator did not answer on {url} within {self.startup_timeout:.0f} s; its "
                    f"output ends with:\n{self.output_tail()}")  # fmt: skip
            time.sleep(0.05)

    def _cleanup(self) -> None:
        port = self.port
        super()._cleanup()
        self.port = port  # the same address after a restart
