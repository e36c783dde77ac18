"""The deployed view files, transpiled to DuckDB by sqlglot, over hand-worked events (report_events.py):
exact numbers, duplicates, late events, calls without call.completed and month boundaries."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_events import all_events, insert, scenario

from common.reports import sql
from common.reports.local import BadFilter, Reports

# The price table's rows (platform_prices.sql), written out again so that a changed price is a
# reviewed change here too.
FUNCTION, READ, WRITE, DELETE = 0.40 / 1e6, 0.06 / 1e5, 0.18 / 1e5, 0.02 / 1e5
PUBLISH, SUBSCRIPTION, STORAGE = 40 / 2**40, 50 / 2**40, 0.02 / 2**30
TWILIO_MINUTE = 0.0085


def platform_cost(steps: int, events: int) -> float:
    """call_costs.sql's counting rules: steps requests and reads, 2 writes a step, one TTL delete,
    1,000 bytes an event published and delivered, 500 bytes an event stored."""
    return (steps * (FUNCTION + READ + 2 * WRITE) + DELETE
            + events * 1000 * (PUBLISH + SUBSCRIPTION) + events * 500 * STORAGE)  # fmt: skip


def by(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


def test_every_view_file_runs_on_an_empty_table(connection: Any) -> None:
    insert(connection, [])
    views = sql.load()
    sql.create_views(connection, views)
    for view in views:
        if view.name != "platform_prices":
            assert connection.execute(f'SELECT COUNT(*) FROM "{view.name}"').fetchone() == (0,), view.name


def test_views_are_ordered_after_what_they_read() -> None:
    names = [v.name for v in sql.load()]
    for view in sql.load():
        for read in view.reads:
            if read != sql.TABLE:
                assert names.index(read) < names.index(view.name), f"{view.name} before {read}"
    assert set(names) == {"call_events_unique", "platform_prices", "call_costs", "billing_monthly", "flow_costs",
                          "node_funnel", "node_outcomes", "queue_hourly", "call_volume_hourly",
                          "call_volume_daily"}  # fmt: skip


def test_duplicates_are_counted_once(loaded: Any) -> None:
    table_rows = loaded.execute("SELECT COUNT(*) FROM call_events").fetchone()[0]
    Reports(loaded)
    unique = loaded.execute("SELECT COUNT(*) FROM call_events_unique").fetchone()[0]
    assert (table_rows, unique) == (len(all_events(scenario())) + 4, len(all_events(scenario())))


def test_billing_per_tenant_and_month(loaded: Any) -> None:
    rows = by(Reports(loaded).billing(), "tenant_id", "month")
    assert sorted(rows) == [("acme", "2026-10-01"), ("acme", "2026-11-01"), ("acme", "2026-12-01"),
                            ("globex", "2026-11-01")]  # fmt: skip
    nov = rows[("acme", "2026-11-01")]
    # A 61 s -> 2, B 45 s -> 1, D not completed -> 0, G H I J 111 s -> 2 each: 11 minutes.
    assert {k: nov[k] for k in ("calls", "calls_not_completed", "billable_minutes", "webhook_steps", "http_requests",
                                "recording_seconds", "transfers", "events")} == {
        "calls": 7, "calls_not_completed": 1, "billable_minutes": 11, "webhook_steps": 20, "http_requests": 1,
        "recording_seconds": 0, "transfers": 1, "events": 40}  # fmt: skip
    assert (nov["function_requests"], nov["firestore_reads"], nov["firestore_writes"], nov["firestore_deletes"]) == \
        (20, 20, 40, 7)  # fmt: skip
    assert nov["twilio_voice_usd"] == pytest.approx(11 * TWILIO_MINUTE)
    per_call = [(5, 15), (3, 5), (0, 2), (3, 5), (3, 4), (3, 4), (3, 5)]  # (steps, events): A B D G H I J
    assert nov["platform_cost_usd"] == pytest.approx(sum(platform_cost(s, e) for s, e in per_call), rel=1e-9)
    assert rows[("globex", "2026-11-01")]["billable_minutes"] == 0
    assert rows[("globex", "2026-11-01")]["platform_cost_usd"] == pytest.approx(platform_cost(2, 2), rel=1e-9)


def test_month_boundaries_follow_the_start_of_each_call(loaded: Any) -> None:
    rows = by(Reports(loaded).billing(tenant="acme"), "month")
    # C starts at 23:59:30 on 31 October; every later event of it is in November.
    assert (rows[("2026-10-01",)]["calls"], rows[("2026-10-01",)]["billable_minutes"]) == (1, 2)
    assert rows[("2026-10-01",)]["recording_seconds"] == 20
    # F starts at 00:00:00 on 1 December, 60 s exactly: one minute, not two.
    assert (rows[("2026-12-01",)]["calls"], rows[("2026-12-01",)]["billable_minutes"]) == (1, 1)
    assert Reports(loaded).billing(month="2026-11", tenant="acme")[0]["calls"] == 7


def test_a_late_completion_updates_the_month_the_call_started_in(connection: Any) -> None:
    calls = scenario()
    late = calls["C"].events.pop()  # call.completed, arriving days after the month closed
    insert(connection, all_events(calls))
    reports = Reports(connection)
    before = by(reports.billing(tenant="acme"), "month")
    october = before[("2026-10-01",)]
    assert (october["calls"], october["calls_not_completed"], october["billable_minutes"],
            october["webhook_steps"]) == (1, 1, 0, 0)  # fmt: skip

    insert(connection, [late])
    after = by(reports.billing(tenant="acme"), "month")
    october = after[("2026-10-01",)]
    assert (october["calls"], october["calls_not_completed"], october["billable_minutes"],
            october["webhook_steps"]) == (1, 0, 2, 4)  # fmt: skip
    november_after, november_before = after[("2026-11-01",)], before[("2026-11-01",)]
    for money in ("platform_cost_usd", "twilio_voice_usd"):
        assert november_after.pop(money) == pytest.approx(november_before.pop(money))
    assert november_after == november_before  # float sums may differ in the last digit, counts may not


def test_cost_per_flow_and_version(loaded: Any) -> None:
    rows = by(Reports(loaded).costs(month="2026-11"), "tenant_id", "flow_id", "flow_version")
    assert sorted(rows) == [("acme", "support", "3"), ("acme", "support", "4"), ("globex", "main", "1")]
    v3 = rows[("acme", "support", "3")]
    assert (v3["calls"], v3["billable_minutes"], v3["webhook_steps"], v3["events"]) == (6, 11, 20, 38)
    expected = sum(platform_cost(s, e) for s, e in [(5, 15), (3, 5), (3, 5), (3, 4), (3, 4), (3, 5)])
    assert v3["platform_cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert v3["platform_cost_per_call_usd"] == pytest.approx(expected / 6, rel=1e-9)
    assert v3["twilio_voice_per_call_usd"] == pytest.approx(11 * TWILIO_MINUTE / 6)
    v4 = rows[("acme", "support", "4")]
    assert (v4["calls"], v4["billable_minutes"], v4["platform_cost_usd"]) == (1, 0, pytest.approx(platform_cost(0, 2)))


def test_prices_apply_from_their_date(tmp_path: Path, connection: Any) -> None:
    """A new function price from 15 November prices D (20 November) and not the calls of 3 November."""
    directory = tmp_path / "sql"
    shutil.copytree(sql.SQL_DIR, directory)
    prices = directory / "platform_prices.sql"
    text = prices.read_text(encoding="utf-8")
    old = ("STRUCT('function_request', 'platform', 'request',\n         0.40 / 1000000, DATE '2026-01-01', "
           "CAST(NULL AS DATE),")  # fmt: skip
    assert old in text
    prices.write_text(text.replace(old, old.replace("CAST(NULL AS DATE),", "DATE '2026-11-15',") + "\n"
                      "         'https://cloud.google.com/functions/pricing'),\n"
                      "  STRUCT('function_request', 'platform', 'request',\n"
                      "         1.0, DATE '2026-11-15', CAST(NULL AS DATE),"), encoding="utf-8")  # fmt: skip
    calls = scenario()
    calls["D"].completed(30, 30, 2, "completed", "menu")
    insert(connection, all_events(calls))
    sql.create_views(connection, sql.load(directory))
    cost = dict(connection.execute("SELECT call_sid, platform_cost_usd FROM call_costs").fetchall())
    assert cost["CA_D"] == pytest.approx(2 * 1.0 + platform_cost(2, 3) - 2 * FUNCTION, rel=1e-9)
    assert cost["CA_A"] == pytest.approx(platform_cost(5, 15), rel=1e-9)


def test_price_table_has_one_dated_price_per_item_and_a_source(connection: Any) -> None:
    sql.create_views(connection, [v for v in sql.load() if v.name == "platform_prices"])
    rows = connection.execute("SELECT item, kind, usd_per_unit, effective_from, effective_to, source "
                              "FROM platform_prices").fetchall()  # fmt: skip
    items = {r[0] for r in rows}
    costs_sql = (sql.SQL_DIR / "call_costs.sql").read_text(encoding="utf-8")
    assert items == {i for i in items if f"'{i}'" in costs_sql}, "every price is used by call_costs.sql"
    for item, kind, price, start, end, source in rows:
        assert kind in ("platform", "pass_through") and price > 0 and source.startswith("https://"), item
        assert end is None or end > start, item
    assert [r[1] for r in rows if r[0] == "twilio_voice_minute"] == ["pass_through"]
    for item in items:
        periods = sorted((r[3], r[4]) for r in rows if r[0] == item)
        for (_, end), (next_start, _) in itertools.pairwise(periods):
            assert end is not None and end <= next_start, f"{item}: overlapping prices"


def test_funnel_per_node_of_a_flow_version(loaded: Any) -> None:
    funnel = Reports(loaded).funnel("support", "3")
    assert funnel["versions"] == ["3", "4"]
    nodes = funnel["nodes"]
    assert [n["node_id"] for n in nodes] == ["menu", "lookup", "voicemail", "transfer_sales"]
    menu = nodes[0]
    assert {k: menu[k] for k in ("node_type", "entered", "callers", "left", "hung_up", "ended")} == \
        {"node_type": "gather", "entered": 4, "callers": 3, "left": 3, "hung_up": 1, "ended": 1}  # fmt: skip
    assert (menu["seconds_total"], menu["seconds_average"]) == (pytest.approx(12.0), pytest.approx(4.0))
    assert [(o["outcome"], o["left"], o["seconds_total"]) for o in menu["outcomes"]] == \
        [("1", 1, 4.0), ("2", 1, 3.0), ("timeout", 1, 5.0)]  # fmt: skip
    lookup, voicemail, transfer = nodes[1:]
    assert (lookup["left"], lookup["seconds_average"], lookup["outcomes"][0]["outcome"]) == (1, 0.8, "success")
    assert (voicemail["ended"], voicemail["hung_up"], transfer["ended"], transfer["average_step"]) == (1, 0, 1, 3.0)


def test_funnel_defaults_to_the_highest_version_and_knows_unknown_flows(loaded: Any) -> None:
    reports = Reports(loaded)
    latest = reports.funnel("support")
    assert latest["flow_version"] == "4"
    assert [(n["node_id"], n["entered"], n["left"]) for n in latest["nodes"]] == [("menu", 1, 0)]
    assert reports.funnel("support", tenant="globex") == {"flow_id": "support", "flow_version": None,
                                                          "versions": [], "nodes": []}  # fmt: skip


def test_queues_per_department_and_hour(loaded: Any) -> None:
    rows = by(Reports(loaded).queues(tenant="acme", department="sales"), "hour")
    ten, eleven = rows[("2026-11-03T10:00:00Z",)], rows[("2026-11-03T11:00:00Z",)]
    # A answered 25 s (threshold 20), G answered 10 s, H abandoned 40 s, I voicemail; J answered 5 s.
    assert {k: ten[k] for k in ("offered", "answered", "abandoned", "left_other", "agent_offers",
                                "answered_within_service_level")} == {
        "offered": 4, "answered": 2, "abandoned": 1, "left_other": 1, "agent_offers": 2,
        "answered_within_service_level": 1}  # fmt: skip
    assert ten["service_level"] == pytest.approx(1 / 3)
    assert (ten["wait_average_seconds"], ten["wait_p90_seconds"]) == (17.5, pytest.approx(10 + 0.9 * 15))
    assert ten["abandon_wait_average_seconds"] == 40
    assert (eleven["offered"], eleven["service_level"], eleven["wait_p90_seconds"]) == (1, 1.0, 5.0)
    assert Reports(loaded).queues(day="2026-11-04") == []


@pytest.mark.parametrize("field, call", [
    ("month", lambda r: r.billing(month="2026-13")),
    ("month", lambda r: r.costs(month="November")),
    ("month", lambda r: r.billing(month="0000-01")),
    ("date", lambda r: r.queues(day="0000-01-01")),
    ("date", lambda r: r.queues(day="2026-02-30")),
    ("flow", lambda r: r.funnel("")),
])  # fmt: skip
def test_bad_filters_name_their_field(loaded: Any, field: str, call: Any) -> None:
    with pytest.raises(BadFilter) as caught:
        call(Reports(loaded))
    assert caught.value.field == field and field in str(caught.value)
