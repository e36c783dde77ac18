"""The emulator harness: finding the launcher, a clear refusal, stopping the JVM too, CI never skipping."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from common.adapters import emulator as emu
from common.adapters.emulator import EmulatorUnavailable, FirestoreEmulator

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.emulator
def test_stop_ends_the_java_child_too(firestore_emulator: FirestoreEmulator) -> None:
    # firestore_emulator: only to skip (or fail on CI) when the emulator is not installed
    emulator = FirestoreEmulator().start()
    pgid = emulator.pid
    assert pgid is not None
    assert _java_in_group(pgid)  # the launcher script does not exec: java is its child
    with urllib.request.urlopen(f"http://{emulator.host}/", timeout=2) as response:
        assert response.read().strip() == b"Ok"
    host = emulator.host
    emulator.stop()
    assert not emu.group_alive(pgid) and not _java_in_group(pgid)  # not just the launcher script
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{host}/", timeout=2)
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
