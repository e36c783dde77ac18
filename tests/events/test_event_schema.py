"""The event schema (common/core/events.py): generated files current, ids deterministic, data typed,
and call events derived from what the engine records (common/core/call_events.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.core import events
from common.core.call_events import CallFacts, derive

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from generate_event_schemas import stale  # noqa: E402

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_checked_in_generated_files_are_current() -> None:
    assert stale() == [], "run python tools/generate_event_schemas.py"


def test_bigquery_columns_are_the_contracts() -> None:
    columns = {c["name"]: (c["type"], c["mode"]) for c in events.bigquery_schema()}
    assert columns == {
        "event_id": ("STRING", "REQUIRED"), "schema_version": ("INT64", "REQUIRED"), "type": ("STRING", "REQUIRED"),
        "tenant_id": ("STRING", "REQUIRED"), "call_sid": ("STRING", "NULLABLE"), "flow_id": ("STRING", "NULLABLE"),
        "flow_version": ("STRING", "NULLABLE"), "node_id": ("STRING", "NULLABLE"),
        "department_id": ("STRING", "NULLABLE"), "agent_id": ("STRING", "NULLABLE"),
        "occurred_at": ("TIMESTAMP", "REQUIRED"), "billable_seconds": ("INT64", "NULLABLE"),
        "data": ("JSON", "NULLABLE"), "event_index": ("INT64", "NULLABLE"),
    }  # fmt: skip
    assert [c["name"] for c in events.bigquery_schema()][-1] == "event_index"  # added last: BigQuery appends


def test_event_index_is_the_position_in_the_calls_stream() -> None:
    facts = CallFacts("t", "CA1", "f", "1")
    turn = [{"type": "call.started", "at": "2026-11-03T10:00:00+00:00", "data": {"From": "+1", "To": "+2"}},
            {"type": "node.entered", "at": "2026-11-03T10:00:00+00:00", "nodeId": "greet", "data": {"type": "say"}},
            {"type": "node.entered", "at": "2026-11-03T10:00:00+00:00", "nodeId": "menu", "data": {"type": "g"}}]
    rows, cursor = derive(turn, facts, {"count": 5}, None)
    assert [(r.type, r.node_id, r.event_index) for r in rows] == [
        ("call.started", None, 5), ("node.entered", "greet", 6), ("node.left", "greet", 7),
        ("node.entered", "menu", 8)]  # fmt: skip
    assert rows[0].row()["event_index"] == 5 and cursor["count"] == 9


def test_call_fallback_carries_reason_and_region() -> None:
    facts = CallFacts("t", "CA1", "f", "1")
    raw = [{"type": "call.fallback", "at": "2026-11-03T10:00:00+00:00", "nodeId": "menu",
            "data": {"reason": "worker_timeout", "region": "us-east1"}},
           {"type": "call.fallback", "at": "2026-11-03T10:00:01+00:00", "data": {"reason": "fallback_url"}}]
    rows, _ = derive(raw, facts, None, None)
    assert [(r.type, r.node_id, r.data) for r in rows] == [
        ("call.fallback", "menu", {"reason": "worker_timeout", "region": "us-east1"}),
        ("call.fallback", None, {"reason": "fallback_url", "region": None})]  # fmt: skip
    with pytest.raises(ValueError, match="reason"):
        events.build("call.fallback", source="CA1", index=0, tenant_id="t", occurred_at=AT, data={})


def test_a_duckdb_file_made_before_event_index_gains_the_column() -> None:
    import duckdb

    from common.adapters.events_sinks import insert_rows

    connection = duckdb.connect()
    old = events.duckdb_ddl().replace(",\n  event_index BIGINT", "")
    assert "event_index" not in old
    connection.execute(old)
    row = events.build("decision.matched", source="CA1", index=7, tenant_id="t", occurred_at=AT,
                       data={"rule": "r1"}).row()  # fmt: skip
    insert_rows(connection, [row])
    assert connection.execute("SELECT event_index FROM call_events").fetchall() == [(7,)]


def test_event_ids_are_deterministic_and_distinct() -> None:
    one = events.event_id("CA1", 3, "node.entered")
    assert one == events.event_id("CA1", 3, "node.entered") and len(one) == 32
    assert len({one, events.event_id("CA1", 4, "node.entered"), events.event_id("CA2", 3, "node.entered"),
                events.event_id("CA1", 3, "node.left")}) == 4  # fmt: skip


def test_data_is_typed_per_type() -> None:
    ok = events.build("decision.matched", source="CA1", index=0, tenant_id="t", occurred_at=AT, data={"rule": "r1"})
    assert ok.row()["data"] == {"rule": "r1"} and ok.row()["occurred_at"] == "2026-11-03T10:00:00.000000Z"
    with pytest.raises(ValueError, match="rule"):
        events.build("decision.matched", source="CA1", index=0, tenant_id="t", occurred_at=AT, data={})
    with pytest.raises(ValueError, match="unknown event type"):
        events.build("call.exploded", source="CA1", index=0, tenant_id="t", occurred_at=AT)


def test_node_left_is_derived_across_turns_with_outcome_and_duration() -> None:
    facts = CallFacts("t", "CA1", "f", "1")
    first: list[dict[str, Any]] = [{"type": "call.started", "at": "2026-11-03T10:00:00+00:00", "nodeId": None,
              "data": {"From": "+1555", "To": "+1666"}},
             {"type": "node.entered", "at": "2026-11-03T10:00:00+00:00", "nodeId": "menu",
              "data": {"type": "collectNode"}}]  # fmt: skip
    rows, cursor = derive(first, facts, None, None)
    assert [r.type for r in rows] == ["call.started", "node.entered"] and cursor["count"] == 2
    second = [{"type": "input.accepted", "at": "2026-11-03T10:00:04.5+00:00", "nodeId": "menu",
               "data": {"variable": "choice", "attempt": 1}},
              {"type": "node.entered", "at": "2026-11-03T10:00:04.5+00:00", "nodeId": "bye",
               "data": {"type": "hangupNode"}}]  # fmt: skip
    rows2, _ = derive(second, facts, cursor, None)
    assert [(r.type, r.node_id) for r in rows2] == [("input.accepted", "menu"), ("node.left", "menu"),
                                                    ("node.entered", "bye")]  # fmt: skip
    assert rows2[1].data == {"outcome": "success", "duration_ms": 4500}
    again, _ = derive(second, facts, cursor, None)
    assert [r.event_id for r in again] == [r.event_id for r in rows2]  # the same turn, the same ids
