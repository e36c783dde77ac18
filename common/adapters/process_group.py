"""A local helper process run in its own process group: what the emulator launchers share.

Rules owned here:
- The launched process leads a new process group (``start_new_session``), and every signal goes to
  the whole group: Google's launchers are wrappers whose java child outlives them if only the
  wrapper is killed.
- ``stop`` is SIGCONT (a paused process cannot act on SIGTERM), SIGTERM, then SIGKILL for whatever
  lingers, and returns only once no live process of the group is left (zombies hold no port); it is
  idempotent and registered with atexit while the process runs.
- ``pause`` (SIGSTOP) returns once every thread of the group is stopped: the signal takes effect
  asynchronously, and a busy JVM answers for a few milliseconds after kill() has returned.

Standard library only.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies excluded where /proc shows them).

    The java child is orphaned when the launcher dies, so its zombie waits for init to reap it.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat[stat.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def group_running_threads(pgid: int) -> int:
    """Threads of group ``pgid`` not stopped (state T/t), zombie or dead (0 where /proc is absent)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    running = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[2]) != pgid:
                continue
            for task in (entry / "task").iterdir():
                task_stat = (task / "stat").read_text()
                if task_stat[task_stat.rindex(")") + 2] not in "TtZX":
                    running += 1
        except (OSError, ValueError):
            continue
    return running


class ProcessGroup:
    """The lifecycle half of a launcher; subclasses start ``self._proc`` (writing its output to
    ``self._log`` at ``self._log_path``) and say what ``host`` is."""

    port: int | None = None

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: str | None = None

    @property
    def host(self) -> str:
        if self.port is None:
            raise RuntimeError(f"the {type(self).__name__} has not been started")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The launcher's pid, which is also its process group id."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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

    def _group_gone(self, timeout: float) -> bool:
        """Wait until no live process of the group is left (zombies hold no port: they don't count)."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            self._proc.poll()  # reap the launcher, the group's leader
            if not group_alive(self._proc.pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL what lingers, return once it is gone; idempotent."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
        self._signal_group(signal.SIGTERM)
        if not self._group_gone(grace):
            self._signal_group(signal.SIGKILL)  # java may outlive the wrapper: sweep the group
            self._group_gone(grace)
        self._cleanup()

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP the process group: the port stays open but nothing answers (a hung backend)."""
        self._signal_group(signal.SIGSTOP)
        if self._proc is None:
            return
        deadline = time.monotonic() + timeout
        while group_running_threads(self._proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

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

    def __enter__(self) -> Any:
        return self.start()

    def start(self) -> Any:
        raise NotImplementedError

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()
