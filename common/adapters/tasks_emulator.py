"""Start and stop gcloud-tasks-emulator (Cloud Tasks over plaintext gRPC) for tests and local stacks.

Standard library only, so importing this module costs nothing::

    queue = "projects/ivr-local/locations/local/queues/ivr-timers"
    with TasksEmulator(queues=[queue]) as emulator:       # free port, own process group, waits for it
        timers = CloudTasksTimers(queue, "http://127.0.0.1:8080", emulator_host=emulator.host,
                                  headers={"X-Ivr-Task-Secret": secret})

The queues are created at start (the emulator's ``-d``): CreateTask on a queue it does not know
answers FAILED_PRECONDITION. The process runs in its own process group and ``stop()`` signals the
whole group, like the Firestore emulator's launcher. Readiness is the gRPC port accepting
connections while the process is alive (the port is checked free before the start, so the answer
cannot come from someone else).

What to know about gcloud-tasks-emulator 0.6.2 (common/adapters/timers.py lists how it differs from
Cloud Tasks): it listens on every interface (``[::]``), not only loopback, so a laptop stack
exposes its queue to the local network; it logs every pending task every 0.1 s at INFO, so it is
started with ``-q``; a task whose handler fails is retried every 0.1 s, forever unless limited, so
``max_retries`` defaults to 5. Its dispatches use urllib, which honours proxy variables: they are
removed from its environment, so tasks for 127.0.0.1 never go through a proxy.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common.adapters.emulator import EmulatorUnavailable
from common.adapters.process_group import ProcessGroup

ENV_LAUNCHER = "IVR_TASKS_EMULATOR_BIN"
SCRIPT = "gcloud-tasks-emulator"
INSTALL_HINT = (
    f"install it with `pip install --no-deps gcloud-tasks-emulator==0.6.2` (make install does), or point "
    f"{ENV_LAUNCHER} at a {SCRIPT} script"
)
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class TasksEmulatorUnavailable(EmulatorUnavailable):
    """gcloud-tasks-emulator is not installed, or it did not start."""


def find_launcher() -> list[str] | None:
    """The command that runs the emulator: $IVR_TASKS_EMULATOR_BIN, the venv's script, PATH, -m."""
    configured = os.environ.get(ENV_LAUNCHER)
    if configured:
        return [configured] if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    beside = Path(sys.executable).with_name(SCRIPT)  # .venv/bin/gcloud-tasks-emulator
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    on_path = shutil.which(SCRIPT)
    if on_path:
        return [on_path]
    if importlib.util.find_spec("gcloud_tasks_emulator") is not None:
        return [sys.executable, "-m", "gcloud_tasks_emulator"]
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TasksEmulator(ProcessGroup):
    """One gcloud-tasks-emulator on <free port>; ``host`` is what CloudTasksTimers(emulator_host=) takes."""

    def __init__(self, queues: Sequence[str] = (), port: int | None = None, max_retries: int = 5,
                 startup_timeout: float = 20.0, launcher: list[str] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.queues = list(queues)
        self.port = port
        self.max_retries = max_retries
        self.startup_timeout = startup_timeout
        self.launcher = launcher
        self.started_in: float | None = None

    def start(self) -> TasksEmulator:
        if self._proc is not None:
            raise RuntimeError("the tasks emulator is already started")
        command = self.launcher or find_launcher()
        if command is None:
            where = f"${ENV_LAUNCHER} ({os.environ[ENV_LAUNCHER]!r}) is not an executable file" \
                if os.environ.get(ENV_LAUNCHER) else f"{SCRIPT} was not found"
            raise TasksEmulatorUnavailable(f"Cloud Tasks emulator unavailable: {where}; {INSTALL_HINT}")
        self.launcher = command
        fixed = self.port is not None
        port = self.port if fixed else _free_port()
        if _answers(int(port or 0)):  # else readiness might be someone else's listener
            raise TasksEmulatorUnavailable(f"the Cloud Tasks emulator could not start: port {port} is taken")
        self.port = port
        args = [*command, "start", "-q", "-p", str(port), "-r", str(self.max_retries)]
        for queue in self.queues:
            args += ["-d", queue]
        env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
        fd, self._log_path = tempfile.mkstemp(prefix="tasks-emulator-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True)  # fmt: skip
        atexit.register(self.stop)
        try:
            self._wait_ready(began)
        except BaseException:  # the error already quotes the output, which stop() deletes
            self.stop()
            if not fixed:
                self.port = None
            raise
        self.started_in = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None and self.port is not None
        while True:
            if self._proc.poll() is not None:
                raise TasksEmulatorUnavailable(
                    f"the Cloud Tasks emulator exited with code {self._proc.returncode} before listening on "
                    f"{self.host}; its output ends with:\n{self.output_tail()}")  # fmt: skip
            if _answers(self.port):
                return
            if time.monotonic() - began > self.startup_timeout:
                raise TasksEmulatorUnavailable(
                    f"the Cloud Tasks emulator did not listen on {self.host} within "
                    f"{self.startup_timeout:.0f} s; its output ends with:\n{self.output_tail()}")  # fmt: skip
            time.sleep(0.05)
