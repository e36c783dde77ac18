"""call_volume_hourly / call_volume_daily (the deployed view files, on DuckDB) over the hand-worked
events of report_events.py plus calls that fail in each way: exact numbers, duplicates, late events."""

from __future__ import annotations

from typing import Any

import pytest
from report_events import Call, all_events, at, insert, scenario

from common.reports.local import BadFilter, Reports


def failing_calls() -> dict[str, Call]:
    """Six calls of acme/support starting in the 12:00 hour of 3 November, each ending its own way."""
    calls: dict[str, Call] = {}

    def call(name: str, minute: int) -> Call:
        made = Call("acme", f"CA_{name}", "support", "3", at(f"2026-11-03T12:{minute:02d}:00Z"))
        made.started("+15005550100", "+13072249663")
        calls[name] = made
        return made

    call("K", 0).completed(20, 20, 40, "loop_guard", "menu")  # an engine guard
    call("L", 5).completed(20, 20, 101, "step_limit", "menu")  # the other engine guard
    call("M", 10).completed(15, 15, 3, "unhandled_outcome", "menu")  # no edge for what happened
    n = call("N", 15)  # an unhandled error: the caller heard the fallback, then hung up
    n.add("call.fallback", 4, reason="worker_error", region=None)
    n.completed(30, 30, 3, "caller_completed", "menu")
    o = call("O", 20)  # heard the fallback twice, its completion not arrived
    o.add("call.fallback", 4, reason="worker_timeout", region=None)
    o.add("call.fallback", 9, reason="fallback_url", region=None)
    call("P", 59).completed(30, 30, 2, "hangup_node", "bye")  # a success
    return calls


@pytest.fixture
def volume(connection: Any) -> Reports:
    failing = failing_calls()
    events = all_events(scenario()) + all_events(failing)
    insert(connection, [*events, failing["O"].events[1], failing["K"].events[-1]])  # delivered twice
    return Reports(connection)


COUNTS = ("calls_started", "calls_completed", "calls_failed", "calls_succeeded", "calls_in_progress",
          "failed_guard", "failed_unhandled_outcome", "failed_fallback", "fallback_answers")  # fmt: skip


def counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in COUNTS)


def test_hourly_counts_each_call_in_the_hour_it_started(volume: Reports) -> None:
    rows = {(r["tenant_id"], r["flow_id"], r["hour"]): r for r in volume.volume()}
    assert sorted(rows) == [
        ("acme", "support", "2026-10-31T23:00:00Z"), ("acme", "support", "2026-11-03T10:00:00Z"),
        ("acme", "support", "2026-11-03T11:00:00Z"), ("acme", "support", "2026-11-03T12:00:00Z"),
        ("acme", "support", "2026-11-20T09:00:00Z"), ("acme", "support", "2026-12-01T00:00:00Z"),
        ("globex", "main", "2026-11-05T08:00:00Z")]  # fmt: skip
    # A, B, G, H, I: completed, none failed (a caller hanging up is not a failure).
    ten = rows[("acme", "support", "2026-11-03T10:00:00Z")]
    assert counts(ten) == (5, 5, 0, 5, 0, 0, 0, 0, 0) and ten["success_rate"] == 1.0
    # K L guards, M unhandled outcome, N and O fallback (O twice, its first copy delivered twice), P ok.
    noon = rows[("acme", "support", "2026-11-03T12:00:00Z")]
    assert counts(noon) == (6, 5, 5, 1, 0, 2, 1, 2, 3)
    assert noon["success_rate"] == pytest.approx(1 / 6)
    # D has no completion: in progress, and no success rate for an hour with nothing finished.
    d = rows[("acme", "support", "2026-11-20T09:00:00Z")]
    assert counts(d) == (1, 0, 0, 0, 1, 0, 0, 0, 0) and d["success_rate"] is None
    # C started 30 s before November: October's last hour, though it ended in November.
    assert rows[("acme", "support", "2026-10-31T23:00:00Z")]["calls_succeeded"] == 1


def test_daily_rolls_up_the_hours_and_recomputes_the_rate(volume: Reports) -> None:
    rows = {(r["tenant_id"], r["day"]): r for r in volume.volume(by="day")}
    third = rows[("acme", "2026-11-03")]
    assert counts(third) == (12, 11, 5, 7, 0, 2, 1, 2, 3)
    assert third["success_rate"] == pytest.approx(7 / 12)  # not the mean of the hours' 1, 1 and 1/6
    assert counts(rows[("globex", "2026-11-05")])[:5] == (1, 1, 0, 1, 0)


def test_the_calls_are_the_billing_reports_calls(volume: Reports) -> None:
    for bill in volume.billing():
        month = bill["month"][:7]
        started = sum(r["calls_started"] for r in volume.volume(by="day", tenant=bill["tenant_id"])
                      if r["day"].startswith(month))  # fmt: skip
        assert started == bill["calls"], (bill["tenant_id"], month)


def test_filters_by_tenant_flow_and_days(volume: Reports) -> None:
    hours = volume.volume(tenant="acme", flow="support", since="2026-11-03", until="2026-11-03")
    assert [r["hour"][11:13] for r in hours] == ["10", "11", "12"]
    assert volume.volume(tenant="globex", flow="support") == []
    assert [r["day"] for r in volume.volume(by="day", since="2026-11-20")] == ["2026-11-20", "2026-12-01"]


def test_a_late_completion_moves_a_call_from_in_progress_to_its_outcome(connection: Any) -> None:
    failing = failing_calls()
    late_guard, late_ok = failing["K"].events.pop(), failing["P"].events.pop()
    insert(connection, all_events(failing))
    reports = Reports(connection)
    [before] = reports.volume()
    assert counts(before)[:5] == (6, 3, 4, 0, 2) and before["success_rate"] == 0.0  # L M N O failed; K P open
    insert(connection, [late_guard, late_ok, late_ok])
    [after] = reports.volume()
    assert counts(after) == (6, 5, 5, 1, 0, 2, 1, 2, 3)


@pytest.mark.parametrize("field, kwargs", [
    ("by", {"by": "week"}), ("since", {"since": "2026-11-31"}), ("until", {"until": "03/11/2026"}),
    ("until", {"since": "2026-11-04", "until": "2026-11-03"}),
])  # fmt: skip
def test_bad_volume_filters_name_their_field(volume: Reports, field: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(BadFilter) as caught:
        volume.volume(**kwargs)
    assert caught.value.field == field
