"""The view files events owns (node_funnel.sql, queue_hourly.sql), deployed as they are, on DuckDB
through sqlglot (common/reports/sql.py) over rows built by the event schema itself
(common/core/events.py ``build``): the funnel's order within one webhook comes from event_index,
and service level per department and hour from the events' own service_level_seconds. Exact
numbers, every row inserted twice (at-least-once delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from common.adapters.events_sinks import insert_rows
from common.core.events import build
from common.reports import sql

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


class Call:
    """One call's rows in stream order, as call_events.derive numbers them (index = position)."""

    def __init__(self, sid: str, start: datetime) -> None:
        self.sid, self.start, self.rows = sid, start, []  # type: ignore[var-annotated]

    def add(self, type_: str, seconds: float, node: str | None = None, **data: Any) -> None:
        columns = {k: data.pop(k) for k in ("department_id", "agent_id") if k in data}
        self.rows.append(build(type_, source=self.sid, index=len(self.rows), tenant_id="acme",
                               occurred_at=self.start + timedelta(seconds=seconds), call_sid=self.sid,
                               flow_id="support", flow_version="3", node_id=node, data=data, **columns).row())


def connection_with(rows: list[dict[str, Any]]) -> Any:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    insert_rows(connection, rows + [dict(r) for r in reversed(rows)])  # every event twice
    sql.create_views(connection)
    return connection


def greeting_call(sid: str, start: datetime) -> Call:
    """The first webhook enters start, greet and menu at one instant; the caller answers 4 s later."""
    call = Call(sid, start)
    call.add("call.started", 0, **{"from": "+15550001", "to": "+15550002", "environment": "production"})
    call.add("node.entered", 0, "start", node_type="startNode")
    call.add("node.left", 0, "start", outcome="next", duration_ms=0)
    call.add("node.entered", 0, "greet", node_type="sayNode")
    call.add("node.left", 0, "greet", outcome="next", duration_ms=0)
    call.add("node.entered", 0, "menu", node_type="collectNode")
    call.add("input.accepted", 4, "menu", variable="choice", attempt=1)
    call.add("node.left", 4, "menu", outcome="success", duration_ms=4000)
    call.add("node.entered", 4, "bye", node_type="hangupNode")
    call.add("call.completed", 5, "bye", duration_seconds=5, end_reason="hangup_node", webhook_steps=3,
             ended_at_node="bye", call_status="completed")
    return call


def test_the_funnel_orders_one_webhooks_nodes_by_event_index() -> None:
    calls = [greeting_call(f"CA{n:02d}", T0 + timedelta(minutes=n)) for n in range(8)]
    rows = [r for c in calls for r in c.rows]
    # Within the first webhook the ids alone would put greet or menu before start in some calls:
    # the order the view used before event_index existed.
    first = [[r for r in c.rows if r["type"] == "node.entered" and r["occurred_at"] == c.rows[0]["occurred_at"]]
             for c in calls]  # fmt: skip
    first_by_id = [min(entered, key=lambda r: r["event_id"])["node_id"] for entered in first]
    assert set(first_by_id) != {"start"}
    connection = connection_with(rows)
    found = connection.execute("SELECT node_id, average_step, entered, callers, \"left\", ended FROM node_funnel "
                               "ORDER BY average_step").fetchall()  # fmt: skip
    assert found == [("start", 1.0, 8, 8, 8, 0), ("greet", 2.0, 8, 8, 8, 0), ("menu", 3.0, 8, 8, 8, 0),
                     ("bye", 4.0, 8, 8, 0, 8)]  # fmt: skip
    outcomes = connection.execute("SELECT node_id, outcome, \"left\", seconds_total FROM node_outcomes "
                                  "ORDER BY node_id, outcome").fetchall()  # fmt: skip
    assert outcomes == [("greet", "next", 8, 0.0), ("menu", "success", 8, 32.0), ("start", "next", 8, 0.0)]


def test_rows_without_event_index_still_count_and_fall_back_to_time_order() -> None:
    call = greeting_call("CA_OLD", T0)
    for row in call.rows:
        row["event_index"] = None  # written before the column existed
    connection = connection_with(call.rows)
    found = dict(connection.execute("SELECT node_id, average_step FROM node_funnel").fetchall())
    assert found["bye"] == 4.0  # the later webhook still comes after the first
    assert sorted(found.values()) == [1.0, 2.0, 3.0, 4.0]  # within the first: a stable order by event_id


def visit(sid: str, department: str, start: datetime, outcome: str, wait: int, level: int | None) -> Call:
    call = Call(sid, start)
    call.add("queue.joined", 0, department_id=department, priority=50, position=1)
    if outcome == "answered":
        call.add("queue.offered", wait - 1, department_id=department, agent_id="ann")
        call.add("queue.answered", wait, department_id=department, agent_id="ann", wait_seconds=wait,
                 service_level_seconds=level)  # fmt: skip
    elif outcome == "abandoned":
        call.add("queue.abandoned", wait, department_id=department, wait_seconds=wait, service_level_seconds=level)
    else:
        call.add("queue.left", wait, department_id=department, outcome=outcome)
    return call


def test_service_level_per_department_and_hour_from_the_events_alone() -> None:
    ten, eleven = T0, T0 + timedelta(hours=1)
    calls = [
        visit("CA_A", "sales", ten + timedelta(minutes=1), "answered", 10, 20),   # within 20 s
        visit("CA_B", "sales", ten + timedelta(minutes=2), "answered", 25, 20),   # answered late
        visit("CA_C", "sales", ten + timedelta(minutes=3), "abandoned", 5, 20),   # hung up within: neither way
        visit("CA_D", "sales", ten + timedelta(minutes=4), "abandoned", 40, 20),  # hung up late: missed
        visit("CA_E", "sales", ten + timedelta(minutes=5), "voicemail", 60, None),
        visit("CA_F", "support", ten + timedelta(minutes=6), "answered", 30, 45),  # support's target is 45 s
        visit("CA_G", "sales", eleven + timedelta(minutes=1), "abandoned", 8, None),  # an older row: counts
        visit("CA_H", "sales", eleven + timedelta(minutes=2), "answered", 15, 20),
    ]
    connection = connection_with([r for c in calls for r in c.rows])
    query = ("SELECT department_id, strftime(hour, '%H'), offered, answered, abandoned, left_other, "
             "answered_within_service_level, service_level FROM queue_hourly ORDER BY department_id, hour")
    found = connection.execute(query).fetchall()
    assert [row[:7] for row in found] == [
        ("sales", "10", 5, 2, 2, 1, 1), ("sales", "11", 2, 1, 1, 0, 1), ("support", "10", 1, 1, 0, 0, 1)]
    assert [row[7] for row in found] == [pytest.approx(1 / 3), pytest.approx(1 / 2), 1.0]
