"""Stop an emulator's process group once the process that started it is gone.

    python emulator_watchdog.py PGID      (stdin: the read end of a pipe only the starter writes to)

End-of-file on stdin means the starter exited, however it went (SIGKILL included): the group gets
SIGCONT (a paused JVM cannot act on SIGTERM), SIGTERM, and SIGKILL if anything is left after 5 s.
The watchdog runs in its own session and ignores the stop signals, so a Ctrl-C meant for the
terminal cannot end it before the emulator. Standard library only: it runs as a plain script.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _signal(group: int, sig: int) -> bool:
    """Send ``sig`` (0: none, only look); whether the group still exists."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # not ours (any more): nothing to stop
        return False
    return True


def main(group: int, grace: float = 5.0) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    sys.stdin.buffer.read()
    if not (_signal(group, signal.SIGCONT) and _signal(group, signal.SIGTERM)):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not _signal(group, 0):
            return
    _signal(group, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]))
