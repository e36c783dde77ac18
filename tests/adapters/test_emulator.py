"""The emulator harness: finding the launcher, a clear refusal, stopping the JVM too, CI never skipping."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from common.adapters import emulator as emu
from common.adapters.emulator import EmulatorUnavailable, FirestoreEmulator
from common.adapters.process_group import group_alive

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _java_in_group(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and os.getpgid(int(entry.name)) == pgid
                    and b"java" in (entry / "cmdline").read_bytes()):  # a zombie's cmdline is empty
                return True
        except OSError:
            continue
    return False


def test_launcher_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "cloud_firestore_emulator"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(emu.ENV_LAUNCHER, str(fake))
    assert emu.find_launcher() == str(fake)
    monkeypatch.setenv(emu.ENV_LAUNCHER, str(tmp_path / "missing"))
    assert emu.find_launcher() is None  # an explicit setting is not second-guessed


def test_missing_launcher_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(emu.ENV_LAUNCHER, str(tmp_path / "missing"))
    with pytest.raises(EmulatorUnavailable) as info:
        FirestoreEmulator().start()
    message = str(info.value)
    assert "apt-get install google-cloud-cli-firestore-emulator" in message
    assert "Java 17" in message and emu.ENV_LAUNCHER in message


def test_a_launcher_that_dies_is_reported_with_its_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA", "sh")  # this fake needs no Java
    fake = tmp_path / "cloud_firestore_emulator"
    fake.write_text("#!/bin/sh\necho 'Unable to access jarfile'\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmulatorUnavailable, match=r"(?s)exited with code 3.*Unable to access jarfile"):
        FirestoreEmulator(launcher=str(fake), startup_timeout=10).start()


def _root_answers_ok(host: str, attempts: int = 5) -> bool:
    """The emulator answered "Ok" to start(); a JVM short of CPU may still reset one connection."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(f"http://{host}/", timeout=2) as response:
                return bool(response.read().strip() == b"Ok")
        except ConnectionResetError:
            time.sleep(0.5 * (attempt + 1))
    return False


def _no_http_answer(host: str) -> bool:
    """Nothing answers HTTP at ``host`` any more. A refused connection is the usual sign; the freed
    port may also be taken by another socket of this machine meanwhile, which resets the connection
    (seen on CI): that is no answer either. Only an HTTP response would be one."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=2):
            return False
    except urllib.error.HTTPError:
        return False  # an HTTP error status is still an answer
    except (OSError, http.client.HTTPException):
        return True


@pytest.mark.emulator
def test_stop_ends_the_java_child_too(firestore_emulator: FirestoreEmulator) -> None:
    # firestore_emulator: only to skip (or fail on CI) when the emulator is not installed
    emulator = FirestoreEmulator().start()
    pgid = emulator.pid
    assert pgid is not None
    assert _java_in_group(pgid)  # the launcher script does not exec: java is its child
    assert _root_answers_ok(emulator.host)
    host = emulator.host
    emulator.stop()
    assert not group_alive(pgid) and not _java_in_group(pgid)  # not just the launcher script
    assert _no_http_answer(host)
    emulator.stop()  # idempotent


@pytest.mark.emulator
def test_a_taken_port_is_reported(firestore_emulator: FirestoreEmulator) -> None:
    port = int(firestore_emulator.host.rsplit(":", 1)[1])
    with pytest.raises(EmulatorUnavailable, match=f"port {port} is taken"):
        FirestoreEmulator(port=port).start()


def _run_firestore_test_without_emulator(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "FIRESTORE_EMULATOR_HOST")}
    env[emu.ENV_LAUNCHER] = "/nonexistent/cloud_firestore_emulator"
    if ci:
        env["CI"] = "true"
    target = "tests/adapters/test_firestore_specifics.py::test_counters_count_documents"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", target],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_without_the_emulator_a_developer_skips_with_the_hint() -> None:
    result = _run_firestore_test_without_emulator(ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "apt-get install" in result.stdout


def test_without_the_emulator_ci_fails() -> None:
    result = _run_firestore_test_without_emulator(ci=True)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "CI=true" in result.stdout and "apt-get install" in result.stdout


# --- the emulator goes with whoever started it -----------------------------------------------------------


def _cmdlines() -> dict[int, tuple[str, str, int]]:
    """pid -> (state, command line, process group) for every live process (zombies excluded)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            state, _ppid, group = stat[stat.rindex(")") + 2:].split()[:3]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state not in ("Z", "X"):
            found[int(entry.name)] = (state, cmdline, int(group))
    return found


def _emulator_groups(port: int) -> set[int]:
    return {group for _, cmd, group in _cmdlines().values() if f"--port={port}" in cmd and "firestore" in cmd.lower()}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer, even 404, means it is up
    except OSError:
        return False


def _ignores(pid: int, *signals: signal.Signals) -> bool:
    """Whether process ``pid`` ignores every one of ``signals`` (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return all(mask >> (int(sig) - 1) & 1 for sig in signals)
    return False


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def test_the_watchdog_stops_a_group_once_its_starter_is_gone() -> None:
    # No emulator needed: a stand-in group (a shell and its sleeping child, like the launcher and java).
    group = subprocess.Popen(["sh", "-c", "sleep 120; true"], start_new_session=True)
    watchdog = subprocess.Popen([sys.executable, str(emu.WATCHDOG), str(group.pid)], stdin=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
    try:
        _wait(lambda: len([p for p in _cmdlines().values() if p[2] == group.pid]) == 2, 10, "the stand-in group")
        _wait(lambda: _ignores(watchdog.pid, signal.SIGTERM, signal.SIGINT, signal.SIGHUP), 10, "the watchdog")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            watchdog.send_signal(sig)  # ignored: only the end of its pipe ends it
        time.sleep(0.3)
        assert watchdog.poll() is None and group_alive(group.pid)
        assert watchdog.stdin is not None
        watchdog.stdin.close()  # what the kernel does when the starter dies
        assert watchdog.wait(timeout=10) == 0
        group.wait(timeout=10)
        _wait(lambda: not group_alive(group.pid), 10, "the group to go")  # the sleeping child too
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.pid, signal.SIGKILL)
        watchdog.kill()
        watchdog.wait()
        group.wait()


@pytest.mark.emulator
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_ivr_run_takes_its_emulator_along_when_stopped(firestore_emulator: FirestoreEmulator, tmp_path: Path,
                                                       sig: signal.Signals) -> None:  # fmt: skip
    # firestore_emulator: only to skip (or fail on CI) when the emulator is not installed
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("FIRESTORE_EMULATOR_HOST", "PORT")}
    with (tmp_path / "stderr.log").open("wb") as log:
        run = subprocess.Popen([sys.executable, "-m", "common.cli", "run", "--store", "firestore-emulator",
                                "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log,
                               start_new_session=True, text=True)  # fmt: skip
    groups: set[int] = set()
    try:
        assert run.stdout is not None
        banner = run.stdout.readline()
        assert banner.startswith(f"ivr local stack on http://127.0.0.1:{port} (store: Firestore emulator on "), \
            banner + (tmp_path / "stderr.log").read_text()  # fmt: skip
        emulator_host = banner.split("Firestore emulator on ", 1)[1].split(")")[0]
        emulator_port = int(emulator_host.rsplit(":", 1)[1])
        _wait(lambda: _answers(f"http://127.0.0.1:{port}/"), 30, "the stack to answer")
        assert _answers(f"http://{emulator_host}/")
        groups = _emulator_groups(emulator_port)
        assert len(groups) == 1 and _java_in_group(next(iter(groups)))
        watchdogs = [pid for pid, (_, cmd, _) in _cmdlines().items() if "emulator_watchdog.py" in cmd
                     and cmd.split()[-1] == str(next(iter(groups)))]  # fmt: skip
        assert len(watchdogs) == 1

        run.send_signal(sig)
        assert run.wait(timeout=60) == 0
        rest = run.stdout.read()
        assert f"stopping ({sig.name})" in rest

        group = next(iter(groups))
        assert not group_alive(group) and not _java_in_group(group)  # gone when ivr run returned
        assert _emulator_groups(emulator_port) == set()
        assert watchdogs[0] not in _cmdlines()
        assert not _answers(f"http://{emulator_host}/")
        assert not _answers(f"http://127.0.0.1:{port}/")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


STARTER = """
import sys, time
from common.adapters.emulator import FirestoreEmulator
emulator = FirestoreEmulator().start()
print(emulator.host, emulator.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.emulator
def test_an_emulator_whose_starter_is_killed_is_stopped_by_its_watchdog(firestore_emulator: FirestoreEmulator) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    group = 0
    try:
        assert starter.stdout is not None
        host, pid = starter.stdout.readline().split()
        group = int(pid)
        assert _answers(f"http://{host}/") and _java_in_group(group)
        starter.kill()  # SIGKILL: no handler, no finally, no atexit runs
        starter.wait()
        _wait(lambda: not group_alive(group), 20, "the watchdog to stop the emulator")
        assert not _java_in_group(group)
        assert not _answers(f"http://{host}/")
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
