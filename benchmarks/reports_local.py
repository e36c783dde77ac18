"""The local reports over 100,000 call events, and what the example flows cost per 1,000 calls.

    python benchmarks/reports_local.py [--events 100000] [--tenants 50] [--repeat 3]

1. Calls through the example flows over HTTP on an in-process stack (the function apps, signed
   webhooks, the embedded store) with the event outbox publishing to memory: events per call, webhook
   steps, and the cost per 1,000 calls from the views (call_costs / flow_costs, priced by
   platform_prices.sql).
2. Those calls cloned (new call sids, event ids, tenants and start times over November 2026, a few
   rows delivered twice) until the table holds --events rows; written as JSON lines, loaded into a
   DuckDB file, then every report timed as `ivr report` runs it: open the file, create the views,
   query. Prints the median and worst of --repeat runs, the peak RSS of the process, and DuckDB's own
   memory. Times depend on the machine: this prints them, it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "functions"))

import duckdb  # noqa: E402
from livestack import AFTER_HOURS_NUMBER, DEMO_NUMBER, LOOKUP_NUMBER, FakeFetcher, build_stack  # noqa: E402

from common import bootstrap  # noqa: E402
from common.adapters.events_sinks import insert_rows  # noqa: E402
from common.adapters.memory import MemoryStore  # noqa: E402
from common.reports.events_file import load_json_lines  # noqa: E402
from common.reports.local import Reports, open_reports  # noqa: E402

#: (flow, number, caller script): the example flows' usual paths
SCRIPTS = [
    ("support_line", DEMO_NUMBER, ["1"]),
    ("support_line", DEMO_NUMBER, ["2"]),
    ("support_line", DEMO_NUMBER, ["silence", "silence", "silence"]),
    ("account_lookup", LOOKUP_NUMBER, ["123456#"]),
    ("after_hours_voicemail", AFTER_HOURS_NUMBER, ["1"]),
]
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)


def example_calls() -> list[dict[str, Any]]:
    """Every event row the example calls published (each call once)."""
    fetcher = FakeFetcher()
    fetcher.answer("accounts", 200, {"name": "Ada", "balance": 42})
    stack = build_stack(MemoryStore(), fetcher=fetcher, IVR_EVENTS="memory")
    try:
        for _, number, inputs in SCRIPTS:
            stack.call(number, inputs)
        events = stack.svc.events
        assert events is not None, "the stack has no event outbox (IVR_EVENTS=memory)"
        events.drain()
        return list(events.publisher.rows)
    finally:
        bootstrap.install(None)


def print_example_costs(rows: list[dict[str, Any]]) -> None:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    insert_rows(connection, rows)
    reports = Reports(connection)
    print("example flows (one call per script; costs from platform_prices.sql, list prices, no free tier):")
    print(f"  {'flow':<24} {'calls':>5} {'events/call':>11} {'steps/call':>10} {'minutes/call':>12} "
          f"{'platform $/1k calls':>19} {'twilio voice $/1k':>17}")  # fmt: skip
    for row in sorted(reports.costs(), key=lambda r: str(r["flow_id"])):
        calls = row["calls"]
        print(f"  {row['flow_id']:<24} {calls:>5} {row['events'] / calls:>11.1f} {row['webhook_steps'] / calls:>10.1f} "
              f"{row['billable_minutes'] / calls:>12.1f} {1000 * row['platform_cost_per_call_usd']:>19.4f} "
              f"{1000 * row['twilio_voice_per_call_usd']:>17.2f}")  # fmt: skip
    total = connection.execute("SELECT COUNT(*), SUM(platform_cost_usd), SUM(function_requests), SUM(firestore_reads),"
                               " SUM(firestore_writes), SUM(events) FROM call_costs").fetchone()  # fmt: skip
    assert total is not None
    calls, cost, requests, reads, writes, events = total
    print(f"  all example calls: {calls} calls, {events / calls:.1f} events, {requests / calls:.1f} function requests, "
          f"{reads / calls:.1f} Firestore reads and {writes / calls:.1f} writes per call: "
          f"${1000 * cost / calls:.4f} platform cost per 1,000 calls")  # fmt: skip
    connection.close()


def synthetic(rows: list[dict[str, Any]], target: int, tenants: int, seed: int = 7) -> list[dict[str, Any]]:
    """Clones of the example calls until ``target`` rows; 1 % of the rows delivered twice."""
    by_call: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_call.setdefault(str(row["call_sid"]), []).append(row)
    templates = [sorted(r, key=lambda e: str(e["occurred_at"])) for r in by_call.values()]
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0
    while len(out) < target:
        template = templates[n % len(templates)]
        sid = "CA" + hashlib.sha256(f"bench{n}".encode()).hexdigest()[:32]
        start = MONTH_START + timedelta(seconds=rng.randrange(30 * 86400))
        first = datetime.fromisoformat(str(template[0]["occurred_at"]).replace("Z", "+00:00"))
        tenant = f"tenant{n % tenants:04d}"
        for index, event in enumerate(template):
            at = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
            clone = {**event, "call_sid": sid, "tenant_id": tenant,
                     "event_id": hashlib.sha256(f"{sid}:{index}:{event['type']}".encode()).hexdigest()[:32],
                     "occurred_at": (start + (at - first)).isoformat().replace("+00:00", "Z")}  # fmt: skip
            out.append(clone)
            if rng.random() < 0.01:
                out.append(clone)
        n += 1
    return out[:target]


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), max(seconds), result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = example_calls()
    print_example_costs(rows)
    rss_before = peak_rss_mib()

    with tempfile.TemporaryDirectory() as scratch:
        lines, database = Path(scratch) / "events.jsonl", Path(scratch) / "events.duckdb"
        began = time.perf_counter()
        events = synthetic(rows, args.events, args.tenants)
        with lines.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event) + "\n")
        print(f"\n{len(events):,} events ({len({e['call_sid'] for e in events}):,} calls, {args.tenants} tenants) "
              f"generated and written as JSON lines in {time.perf_counter() - began:.2f} s "
              f"({lines.stat().st_size / 2**20:.1f} MiB)")  # fmt: skip
        del events

        began = time.perf_counter()
        connection = load_json_lines(lines)
        loaded = time.perf_counter() - began
        connection.execute(f"ATTACH '{database}' AS target")
        connection.execute("CREATE TABLE target.call_events AS SELECT * FROM call_events")
        connection.close()
        copied = time.perf_counter() - began
        print(f"JSON lines loaded into DuckDB in {loaded:.2f} s, copied to a file in {copied:.2f} s "
              f"({database.stat().st_size / 2**20:.1f} MiB)")  # fmt: skip

        month = MONTH_START.strftime("%Y-%m")
        reports: list[tuple[str, Callable[[Reports], Any]]] = [
            ("billing --month", lambda r: r.billing(month=month)),
            ("costs", lambda r: r.costs()),
            ("funnel support_line", lambda r: r.funnel("support_line")),
            ("queues", lambda r: r.queues()),
        ]
        print(f"\n{'report (open + views + query)':<42} {'median s':>9} {'worst s':>8} {'rows':>6}")
        for name, run in reports:
            def once(run: Callable[[Reports], Any] = run) -> Any:
                with open_reports(database) as opened:
                    return run(opened)

            median, worst, result = timed(args.repeat, once)
            count = len(result["nodes"]) if isinstance(result, dict) else len(result)
            print(f"  {name:<40} {median:>9.3f} {worst:>8.3f} {count:>6}")
        for name, run in reports[:2]:
            def from_lines(run: Callable[[Reports], Any] = run) -> Any:
                with open_reports(lines) as opened:
                    return run(opened)

            median, worst, _ = timed(args.repeat, from_lines)
            print(f"  {name + ' (--events FILE.jsonl)':<40} {median:>9.3f} {worst:>8.3f}")
        with open_reports(database) as opened:
            opened.billing(month=month)
            used = opened.connection.execute("SELECT SUM(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
    print(f"\npeak RSS {peak_rss_mib():.0f} MiB (after the example calls: {rss_before:.0f} MiB); "
          f"DuckDB's buffers after a billing report: {used / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
