"""The embedded EventPublishers: a list in memory, and a local DuckDB file.

    MemoryPublisher()             keeps every published row (duplicates too) in ``rows``
    DuckDBSink(path)              appends rows to table call_events of a DuckDB file (``ivr run``'s default)
    insert_rows(connection, rows) the same insert, for anything that holds its own connection

Rules owned here:
- The DuckDB table is created from the generated DDL (common/core/events.py ``duckdb_ddl``), so its
  columns are the BigQuery table's; a file made before a column was added gets it (``ADDED_COLUMNS``,
  null in the older rows). Rows are appended as they come, duplicates included, exactly as
  the BigQuery subscription appends them: readers deduplicate by event_id (the views do).
- DuckDBSink opens the file for each batch and closes it again: DuckDB lets one process write a file
  at a time, and ``ivr report`` must be able to open it between batches. A batch is one transaction.
- ``fail`` (MemoryPublisher) makes publishing fail, for tests of the outbox and the sweeper.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.core.events import COLUMNS, duckdb_ddl

log = logging.getLogger("ivr.events")

_NAMES = [c.name for c in COLUMNS]
ADDED_COLUMNS = tuple(c for c in COLUMNS if c.name in {"event_index"})  # added after the first release
_STRUCT = "{" + ", ".join(f'"{c.name}": "{c.duckdb}"' for c in COLUMNS) + "}"  # from_json's shape of a row


class MemoryPublisher:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.fail = False
        self.calls = 0
        self._lock = threading.Lock()

    def publish(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        with self._lock:
            self.calls += 1
            if self.fail:
                return set()
            self.rows.extend(json.loads(json.dumps(r)) for r in rows)  # a copy, as if sent over the wire
            return {str(r["event_id"]) for r in rows}

    def unique(self) -> dict[str, dict[str, Any]]:
        """event_id -> row, the first copy of each (what the views keep)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for row in self.rows:
                out.setdefault(row["event_id"], row)
            return out


def insert_rows(connection: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (CallEvent rows, or the same columns decoded from a message) in one statement.

    The batch travels as one JSON text that DuckDB parses itself: binding each value from Python
    costs about 1 ms per row and holds the interpreter's lock meanwhile, slowing every webhook of a
    local stack while its events are written."""
    connection.execute(duckdb_ddl())
    for column in ADDED_COLUMNS:  # a file created before the column existed gains it (null in older rows)
        connection.execute(f"ALTER TABLE call_events ADD COLUMN IF NOT EXISTS {column.name} {column.duckdb}")
    if not rows:
        return
    batch = []
    for row in rows:
        record = {name: row.get(name) for name in _NAMES}
        if isinstance(record["data"], str):  # a message's data as JSON text
            record["data"] = json.loads(record["data"])
        batch.append(record)
    connection.execute(f"INSERT INTO call_events ({', '.join(_NAMES)}) "
                       f"SELECT unnest(from_json(?::JSON, '[{_STRUCT}]'), recursive := true)",
                       [json.dumps(batch, separators=(",", ":"))])  # fmt: skip


class DuckDBSink:
    #: the dispatcher waits this long for more rows before a batch: each batch opens and closes the file
    linger_seconds = 0.5

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def publish(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        if not rows:
            return set()
        import duckdb

        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = duckdb.connect(str(self.path))
                try:
                    insert_rows(connection, rows)
                finally:
                    connection.close()
        except Exception as exc:  # a locked or unwritable file: the rows stay in the outbox
            log.warning("events: could not append %d rows to %s: %s", len(rows), self.path, exc)
            return set()
        return {str(r["event_id"]) for r in rows}
