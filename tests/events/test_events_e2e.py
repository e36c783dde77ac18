"""End to end on the embedded default: simulated calls over HTTP (common/callsim.py) through the
function apps, events to the local DuckDB file (IVR_EVENTS=duckdb, what ``ivr run`` writes), read
back with the reports (common/reports, read only): call.started ... call.completed with Twilio's
billable seconds, the billing and the funnel. And how many events each example flow's calls export."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from event_scripts import SALES, SALES_TYPES
from livestack import AFTER_HOURS_NUMBER, CLOSED_AT, DEMO_NUMBER, LOOKUP_NUMBER, OPEN_AT, Stack, build_stack

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.reports.local import open_reports

ACCOUNT = json.dumps({"status": "active", "name": "Ada", "balance": "42.50"})
RECORDING = "record:https://api.twilio.com/2010-04-01/Accounts/ACa/Recordings/RE1:20"


@pytest.fixture
def duckdb_stack(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    path = tmp_path / ".ivr" / "events.duckdb"
    stack = build_stack(MemoryStore(), IVR_EVENTS="duckdb", IVR_EVENTS_DUCKDB=str(path))
    yield stack, path
    bootstrap.install(None)


def test_a_simulated_call_lands_in_the_local_duckdb_file(duckdb_stack: tuple[Stack, Path]) -> None:
    stack, path = duckdb_stack
    result = stack.call(DEMO_NUMBER, SALES)
    assert stack.svc.events is not None
    stack.svc.events.drain(timeout=30)
    status = next(e for e in result.exchanges if e.url.endswith("/webhook/voice/status"))
    billable = int(status.params["CallDuration"])
    with open_reports(path) as reports:
        rows = reports.connection.execute(
            "SELECT type, billable_seconds, data->>'$.end_reason' FROM call_events_unique WHERE call_sid = ? "
            "ORDER BY occurred_at, event_id", [result.call_sid]).fetchall()  # fmt: skip
        assert sorted(r[0] for r in rows) == sorted(SALES_TYPES)
        completed = next(r for r in rows if r[0] == "call.completed")
        assert completed[1] == billable and completed[2] == "hangup_node"
        month = stack.clock.at.strftime("%Y-%m")
        [bill] = reports.billing(month=month, tenant="demo")
        assert (bill["calls"], bill["calls_not_completed"]) == (1, 0)
        assert bill["billable_minutes"] == math.ceil(billable / 60) and bill["webhook_steps"] == 4
        funnel = reports.funnel("support_line", tenant="demo")
        entered = {n["node_id"]: n for n in funnel["nodes"]}
        assert {"start", "greeting", "menu", "route", "to_sales", "bye"} <= set(entered)
    assert stack.stored(result.call_sid).outbox == []


# (number, when, inputs, events exported): the example flows' calls as tests/e2e plays them.
EXAMPLE_CALLS = {
    "support_line: sales, answered": (DEMO_NUMBER, None, SALES, 18),
    "support_line: hangs up at the menu": (DEMO_NUMBER, None, [], 8),
    "support_line: noInput three times": (DEMO_NUMBER, None, ["silence", "silence", "silence"], 13),
    "support_line: transfer noAnswer, voicemail recorded": (DEMO_NUMBER, None, ["2", "queue:leave", RECORDING], 21),
    "account_lookup: active, balance": (LOOKUP_NUMBER, None, ["123456#"], 18),
    "after_hours_voicemail: open, front desk answers": (AFTER_HOURS_NUMBER, OPEN_AT, ["queue:bridged"], 12),
    "after_hours_voicemail: closed, message left": (AFTER_HOURS_NUMBER, CLOSED_AT, ["1", RECORDING], 17),
}  # fmt: skip


@pytest.mark.parametrize("case", list(EXAMPLE_CALLS))
def test_events_per_call_of_the_example_flows(events_stack: Stack, case: str) -> None:
    number, at, inputs, expected = EXAMPLE_CALLS[case]
    if at is not None:
        events_stack.clock.at = at
    events_stack.fetcher.answer("/v1/accounts/", 200, ACCOUNT, None)
    result = events_stack.call(number, inputs)
    assert result.problems == []
    assert events_stack.svc.events is not None
    events_stack.svc.events.drain()
    rows = events_stack.svc.events.publisher.unique()
    types = [r["type"] for r in rows.values()]
    assert types.count("call.started") == 1 and types[-1] == "call.completed"
    assert types.count("node.entered") - types.count("node.left") in (0, 1)  # a hangup node is never left
    assert len(rows) == expected, types
