"""The local events file: where the embedded stack's call events land, in DuckDB.

Rules owned here:
- The file is ``$IVR_EVENTS_DUCKDB``, else ``.ivr/events.duckdb`` under the current directory (the
  events contract). It holds the table ``call_events`` with the contract's columns, the same as the
  BigQuery table (``terraform/modules/platform/schemas/call_events.json``); the stack's event sink
  writes it, the reports only read it.
- Reading never creates the file and never writes to it: the report views are temporary views of the
  reading connection. A file that does not exist yet, or has no ``call_events`` table, is
  ``NoEventsFile`` with a message saying how events get there.
- DuckDB lets one process write a file and no other process open it meanwhile: a file locked by a
  running stack is retried briefly, then ``EventsFileBusy`` says who holds it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from common.core import events

DEFAULT_PATH = Path(".ivr") / "events.duckdb"
ENV_VAR = "IVR_EVENTS_DUCKDB"
LOCK_RETRY_SECONDS = 2.0

#: The table, for a file made here (tests, the benchmark, a sink that has none yet): the same DDL the
#: event schema generates (common/core/events.py is the one source of the columns).
CALL_EVENTS_DDL = events.duckdb_ddl()
COLUMNS = tuple(column.name for column in events.COLUMNS)


class ReportError(Exception):
    """A report that cannot be made; the message says why and what to do."""


class NoEventsFile(ReportError):
    pass


class EventsFileBusy(ReportError):
    pass


def events_path(given: str | os.PathLike[str] | None = None) -> Path:
    if given:
        return Path(given)
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def _no_file_message(path: Path) -> str:
    return (f"no call events yet: {path} does not exist. The local stack writes it as calls run "
            f"(`ivr run`, then `ivr call +13072249663 -i 1` or `ivr demo`); "
            f"set {ENV_VAR} to read another file.")  # fmt: skip


def connect(path: Path, read_only: bool = True) -> Any:
    """A DuckDB connection on the events file, in UTC, with its ``call_events`` table checked."""
    import duckdb

    if not path.is_file():
        raise NoEventsFile(_no_file_message(path))
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ReportError(f"cannot open {path}: {exc}") from exc
            if time.monotonic() > deadline:
                raise EventsFileBusy(f"{path} is held by another process (a running `ivr run` writing events?): "
                                     "stop it or wait for its writes to finish, then retry") from exc  # fmt: skip
            time.sleep(0.1)
        except duckdb.Error as exc:
            raise ReportError(f"cannot open {path} as a DuckDB file: {exc}") from exc
    connection.execute("SET TimeZone = 'UTC'")
    tables = {row[0] for row in connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}  # fmt: skip
    if "call_events" not in tables:
        connection.close()
        raise NoEventsFile(f"no call events yet: {path} has no call_events table. " + _no_file_message(path)
                           .split(". ", 1)[1])  # fmt: skip
    return connection
