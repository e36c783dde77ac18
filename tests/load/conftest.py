"""A local stack served in its own process the way load tests use it (``python -m common.devserver``):
gunicorn or werkzeug on a free port, the memory store, the demo tenant seeded.

    served("gunicorn", threads=32) -> "http://127.0.0.1:PORT"    (stopped when the test ends)
    served(extra_env={"IVR_LOCAL_STALL": "+13072240014:3"})       (more environment for the stack)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served() -> Iterator[Callable[..., str]]:
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(server: str = "gunicorn", threads: int = 32, backlog: int | None = None,
              extra_env: dict[str, str] | None = None) -> str:  # fmt: skip
        port = _free_port()
        command = [sys.executable, "-m", "common.devserver", "--port", str(port), "--server", server,
                   "--threads", str(threads)]  # fmt: skip
        if backlog is not None:
            command += ["--backlog", str(backlog)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "FIRESTORE_EMULATOR"))}
        env.update(extra_env or {})
        # Its log goes to a file: a pipe nobody reads fills up and blocks the server mid-request.
        log = tempfile.TemporaryFile()  # noqa: SIM115  # closed when the fixture ends
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
        logs.append(log)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"the server exited: {log.read().decode()[-2000:]}")
            try:
                if requests.get(f"{url}/_local/counters", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the {server} stack did not answer on {url} within 30 s")

    yield start
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers
        except ProcessLookupError:
            continue
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    for log in logs:
        log.close()
