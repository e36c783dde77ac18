"""The reports over a DuckDB connection: the deployed views' SQL, filtered, as JSON-ready rows.

    billing(month=None, tenant=None)             billing_monthly rows (a month is "YYYY-MM")
    costs(month=None, tenant=None)               flow_costs rows, most expensive first
    funnel(flow, version=None, tenant=None)      node_funnel + node_outcomes of one flow version
    queues(tenant=None, department=None, day=None)   queue_hourly rows
    volume(by="hour", tenant=None, flow=None, since=None, until=None)   call_volume_hourly / _daily rows
    prices()                                     platform_prices rows
    answer(reports, name, filters)               one report as JSON: {"report", "filters", rows/funnel}

Rules owned here:
- Every number comes from a view of ``common.reports.sql``; this module only filters, orders and
  converts (dates and timestamps to ISO text, so the rows are JSON as they are).
- Bad filters raise ``BadFilter`` naming the field and the expected form, before any query runs.
- The funnel runs three queries over the deduplicated events: it first makes ``call_events_unique``
  a temporary table of the connection (the same file's SQL, computed once), which halves its time
  over 100,000 events (benchmarks/reports_local.py); the other reports run one query and keep the view.
  So a ``Reports`` that has made a funnel answers from the events of that moment: open one per
  report (``open_reports``, the CLI and the API do).
- A funnel without ``version`` shows the flow's highest version that has events (numeric versions
  compare as numbers); the versions with events are listed with the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.reports import sql
from common.reports.events_file import ReportError, open_events

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
VOLUME_PERIODS = ("hour", "day")


class BadFilter(ReportError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.detail = field, message


def parse_month(value: str | None, field: str = "month") -> date | None:
    if value is None or value == "":
        return None
    match = MONTH.match(value)
    if not match or int(match.group(1)) < 1:  # there is no year 0
        raise BadFilter(field, f"{value[:40]!r} is not a month; write YYYY-MM, e.g. 2026-11")
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_day(value: str | None, field: str = "date") -> date | None:
    if value is None or value == "":
        return None
    try:
        if not DAY.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(field, f"{value[:40]!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-03") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # BigQuery's NUMERIC; the rows are JSON numbers
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class Reports:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.views = sql.load()
        sql.create_views(connection, self.views)
        self._materialized = False

    def _materialize_unique(self) -> None:
        """Compute ``call_events_unique`` once for several queries; the views that read it read the
        table instead (DuckDB binds a view's names when it is queried)."""
        if self._materialized:
            return
        unique = next(v for v in self.views if v.name == "call_events_unique")
        self.connection.execute('DROP VIEW IF EXISTS "call_events_unique"')
        self.connection.execute(f'CREATE TEMPORARY TABLE "call_events_unique" AS {unique.duckdb()}')
        self._materialized = True

    def _rows(self, query: str, params: list[Any]) -> list[dict[str, Any]]:
        cursor = self.connection.execute(query, params)
        names = [d[0] for d in cursor.description]
        return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]

    @staticmethod
    def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
        given = {k: v for k, v in filters.items() if v is not None}
        clause = " AND ".join(f"{column} = ?" for column in given)
        return (f"WHERE {clause}" if clause else ""), list(given.values())

    def event_count(self) -> int:
        return int(self.connection.execute("SELECT COUNT(*) FROM call_events").fetchone()[0])

    def billing(self, month: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where({"month": parse_month(month), "tenant_id": tenant})
        return self._rows(f"SELECT * FROM billing_monthly {where} ORDER BY month, tenant_id", params)

    def costs(self, month: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        where, params = self._where({"month": parse_month(month), "tenant_id": tenant})
        return self._rows(f"SELECT * FROM flow_costs {where} ORDER BY month, platform_cost_usd DESC, tenant_id, "
                          "flow_id, flow_version", params)  # fmt: skip

    def versions(self, flow: str, tenant: str | None = None) -> list[str]:
        where, params = self._where({"flow_id": flow, "tenant_id": tenant})
        query = f"SELECT DISTINCT flow_version FROM node_funnel {where}"
        found = [r["flow_version"] for r in self._rows(query, params)]
        return sorted(found, key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))

    def funnel(self, flow: str, version: str | None = None, tenant: str | None = None) -> dict[str, Any]:
        if not flow:
            raise BadFilter("flow", "name the flow (its id)")
        self._materialize_unique()
        versions = self.versions(flow, tenant)
        chosen = version if version is not None else (versions[-1] if versions else None)
        result: dict[str, Any] = {"flow_id": flow, "flow_version": chosen, "versions": versions, "nodes": []}
        if chosen is None:
            return result
        where, params = self._where({"flow_id": flow, "flow_version": chosen, "tenant_id": tenant})
        nodes = self._rows(f"SELECT * FROM node_funnel {where} ORDER BY average_step NULLS LAST, callers DESC, "
                           "node_id", params)  # fmt: skip
        outcomes = self._rows(f"SELECT * FROM node_outcomes {where} ORDER BY node_id, \"left\" DESC, outcome", params)
        by_node: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in outcomes:
            by_node.setdefault((row["tenant_id"], row["node_id"]), []).append(
                {k: row[k] for k in ("outcome", "left", "callers", "seconds_total", "seconds_average")})
        for node in nodes:
            node["outcomes"] = by_node.get((node["tenant_id"], node["node_id"]), [])
        result["nodes"] = nodes
        return result

    def queues(self, tenant: str | None = None, department: str | None = None,
               day: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        where, params = self._where({"tenant_id": tenant, "department_id": department})
        on_day = parse_day(day)
        if on_day is not None:
            where += (" AND " if where else "WHERE ") + "CAST(hour AS DATE) = ?"
            params.append(on_day)
        return self._rows(f"SELECT * FROM queue_hourly {where} ORDER BY hour, tenant_id, department_id", params)

    def volume(self, by: str | None = None, tenant: str | None = None, flow: str | None = None,
               since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Calls per hour (or day) of their start; ``since``/``until`` are UTC days, both included."""
        period = by or "hour"
        if period not in VOLUME_PERIODS:
            raise BadFilter("by", f"{period[:40]!r} is not a period; use hour or day")
        first, last = parse_day(since, "since"), parse_day(until, "until")
        if first is not None and last is not None and last < first:
            raise BadFilter("until", f"{until} is before since {since}")
        where, params = self._where({"tenant_id": tenant, "flow_id": flow})
        column, view = ("hour", "call_volume_hourly") if period == "hour" else ("day", "call_volume_daily")
        for bound, operator in ((first, ">="), (last, "<=")):
            if bound is not None:
                where += (" AND " if where else "WHERE ") + f"CAST({column} AS DATE) {operator} ?"
                params.append(bound)
        return self._rows(f"SELECT * FROM {view} {where} ORDER BY {column}, tenant_id, flow_id NULLS FIRST", params)

    def prices(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM platform_prices ORDER BY kind DESC, item, effective_from", [])


REPORTS = ("billing", "costs", "funnel", "queues", "volume")


def answer(reports: Reports, name: str, filters: dict[str, str | None]) -> dict[str, Any]:
    """The JSON of one report, the same for ``ivr report --json`` and ``GET /api/reports/...``:
    ``{"report": name, "filters": {...given...}, "rows": [...]}``; the funnel's keys instead of rows."""
    given = {k: v for k, v in filters.items() if v is not None}
    body: dict[str, Any] = {"report": name, "filters": given}
    if name == "billing":
        body["rows"] = reports.billing(month=given.get("month"), tenant=given.get("tenant"))
    elif name == "costs":
        body["rows"] = reports.costs(month=given.get("month"), tenant=given.get("tenant"))
    elif name == "funnel":
        body.update(reports.funnel(str(given.get("flow") or ""), version=given.get("version"),
                                   tenant=given.get("tenant")))  # fmt: skip
    elif name == "queues":
        body["rows"] = reports.queues(tenant=given.get("tenant"), department=given.get("department"),
                                      day=given.get("date"))  # fmt: skip
    elif name == "volume":
        body["rows"] = reports.volume(by=given.get("by"), tenant=given.get("tenant"), flow=given.get("flow"),
                                      since=given.get("since"), until=given.get("until"))  # fmt: skip
    else:
        raise BadFilter("report", f"{name[:40]!r} is not a report; one of {', '.join(REPORTS)}")
    return body


@contextmanager
def open_reports(path: str | Path | None = None) -> Iterator[Reports]:
    """Reports over the local events file, or over ``path``: a DuckDB file or JSON lines
    (see ``common.reports.events_file``)."""
    connection = open_events(path)
    try:
        yield Reports(connection)
    finally:
        connection.close()
