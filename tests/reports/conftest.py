"""Fixtures of the report tests: a DuckDB connection (UTC) holding the hand-worked events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from report_events import all_events, insert, scenario


@pytest.fixture
def connection() -> Iterator[Any]:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    yield conn
    conn.close()


@pytest.fixture
def calls() -> dict[str, Any]:
    return scenario()


@pytest.fixture
def loaded(connection: Any, calls: dict[str, Any]) -> Any:
    """Every fixture event, a few of them delivered twice (Pub/Sub's at-least-once)."""
    a, g = calls["A"], calls["G"]
    duplicates = [a.events[-1], a.events[3], a.events[3], g.events[3]]  # completion, menu left, answered
    insert(connection, all_events(calls) + duplicates)
    return connection
