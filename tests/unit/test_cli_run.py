"""``ivr run --server gunicorn``: the local stack served as production serves it, in a subprocess
like a user starts it, answering a signed call over HTTP and stopping cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from common import callsim
from common.config import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is up
    except OSError:
        return False


def _env() -> dict[str, str]:
    drop = ("FIRESTORE_EMULATOR_HOST", "PORT", "IVR_API_KEY", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID",
            "PUBLIC_BASE_URL", "IVR_DEMO_NUMBER")  # fmt: skip
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_gunicorn_serves_a_call_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    with (tmp_path / "stderr.log").open("wb") as log:
        run = subprocess.Popen([sys.executable, "-m", "common.cli", "run", "--server", "gunicorn", "--threads", "4",
                                "--port", str(port)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=log,
                               start_new_session=True, text=True)  # fmt: skip
    try:
        assert run.stdout is not None
        banner = run.stdout.readline()
        expected = f"ivr local stack on http://127.0.0.1:{port} (store: memory), served by gunicorn, 1 worker x 4 threads"  # noqa: E501
        assert banner.rstrip("\n") == expected, banner + (tmp_path / "stderr.log").read_text()
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}/"):
            assert time.monotonic() < deadline, "the stack did not answer within 30 s"
            time.sleep(0.1)
        sim = callsim.TwilioCallSimulator(f"http://127.0.0.1:{port}", DEV_AUTH_TOKEN, DEV_ACCOUNT_SID)
        result = sim.call("+13072249663", inputs=["2"])
        assert result.problems == [] and any("Goodbye" in line for line in result.transcript), result.transcript
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0
        assert not _answers(f"http://127.0.0.1:{port}/")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def test_a_busy_port_is_a_usage_error_not_a_silent_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "common.cli", "run", "--server", "gunicorn", "--port", str(port)],
                              cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "pick another --port" in done.stderr


@pytest.mark.parametrize("threads", ["0", "-3"])
def test_threads_below_one_are_refused(threads: str) -> None:
    done = subprocess.run([sys.executable, "-m", "common.cli", "run", "--server", "gunicorn", "--threads", threads],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and f"--threads {threads}: give at least 1" in done.stderr


def test_ivr_demo_plays_a_call_and_a_caller_waiting_for_an_agent(tmp_path: Path) -> None:
    events = tmp_path / "events.duckdb"
    done = subprocess.run([sys.executable, "-m", "common.cli", "demo"], cwd=tmp_path, timeout=180,
                          env={**_env(), "IVR_EVENTS_DUCKDB": str(events), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("problems: none") == 2
    waiting = out.index("You are next in line. Your expected wait is about")
    assert waiting < out.index("(agent sean goes available") < out.rindex("AGENT presses 1")
    import duckdb

    with duckdb.connect(str(events), read_only=True) as db:
        started = db.execute("select count(*) from call_events where type = 'call.started'").fetchone()
    assert started == (2,)
