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
- Any export reads too (``open_events``): a DuckDB file (recognised by its header, whatever its name),
  or JSON lines, one row per line with the contract's columns (``data`` an object or JSON text, as
  BigQuery's export and Pub/Sub messages carry it). JSON lines are loaded into an in-memory DuckDB
  table of the same DDL, so the views cannot tell the difference; a line that does not fit the
  columns is a ``ReportError`` naming the file and what DuckDB refused.
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


#: DuckDB's file header: a 64-bit checksum, then the magic bytes.
_DUCKDB_MAGIC = b"DUCK"


def is_duckdb_file(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(12)[8:12] == _DUCKDB_MAGIC


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


def _json_columns() -> str:
    """read_json's ``columns`` struct: the table's columns, ``data`` read as JSON whatever it holds."""
    types = {column.name: ("JSON" if column.name == "data" else "VARCHAR") for column in events.COLUMNS}
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"


def load_json_lines(path: Path) -> Any:
    """An in-memory DuckDB connection whose ``call_events`` table holds the rows of a JSON lines file."""
    import duckdb

    if not path.is_file():
        raise NoEventsFile(f"{path} does not exist")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(CALL_EVENTS_DDL)
    # ``data`` may be an object or a JSON text in a string (Pub/Sub's and BigQuery's JSON exports):
    # a string is parsed once more, so both end as the same JSON value.
    data = "CASE WHEN json_type(data) = 'VARCHAR' THEN CAST(data ->> '$' AS JSON) ELSE data END"
    select = ", ".join(data if name == "data" else name for name in COLUMNS)
    try:
        connection.execute(f"INSERT INTO call_events ({', '.join(COLUMNS)}) SELECT {select} FROM "
                           f"read_json(?, format = 'newline_delimited', columns = {_json_columns()})",
                           [str(path)])  # fmt: skip
    except duckdb.Error as exc:
        connection.close()
        raise ReportError(f"{path}: not call events as JSON lines (one object a line with the columns "
                          f"{', '.join(COLUMNS)}): {str(exc).splitlines()[0][:300]}") from exc  # fmt: skip
    return connection


def open_events(given: str | os.PathLike[str] | None = None) -> Any:
    """A connection on the events: the local file (``events_path``), or ``given``, a DuckDB file or
    JSON lines."""
    path = events_path(given)
    if given and path.is_file() and not is_duckdb_file(path):
        return load_json_lines(path)
    return connect(path)
