"""HTTP plumbing of the reports: billing, cost, funnel and queue reports of the caller's tenant.

    handle(request, svc) -> (body, status, headers)    any /api/reports* request (the admin API delegates)

    method  path                            who may  query
    GET     /api/reports/billing            read     month=YYYY-MM
    GET     /api/reports/costs              read     month=YYYY-MM
    GET     /api/reports/funnel/{flowId}    read     version=N (default: the highest with events)
    GET     /api/reports/queues             read     department=ID, date=YYYY-MM-DD
    GET     /api/reports/volume             read     by=hour|day, flow=ID, since=, until=YYYY-MM-DD
    GET     /api/reports/webhooks           read     minutes=1..60 (webhook latency, fallback answers)

Rules owned here:
- Keys and roles as everywhere in the admin API: 401 without a valid key, 403 for a role without
  ``read`` and for the platform admin key. A tenant sees only its own numbers: the tenant filter is
  the key's tenant, always, and no query parameter can change it.
- A query parameter the report does not take is 400 naming it (``tenant`` included), as is a value in
  the wrong form (``query.month``...), before anything is read.
- The answer is ``common.reports.local.answer``: the same JSON ``ivr report --json`` prints, rows
  with the views' column names. Never cached (``Cache-Control: no-store``): events keep arriving.
- Where the numbers come from: the local events file of a stack whose events go to DuckDB
  (``IVR_EVENTS=duckdb``, the laptop default) or to memory (the published rows, loaded per request);
  ``IVR_EVENTS=off`` has none, and answers the empty report with a note saying so.
  A stack that publishes to Pub/Sub (deployed) has its reports in BigQuery: the views Terraform
  deploys to dataset ``ivr_analytics`` (``IVR_BIGQUERY_DATASET``) of ``GOOGLE_CLOUD_PROJECT``, read
  by ``common.reports.bigquery`` with the same queries. No events yet is an empty report, not an
  error; a file held by a writer, or BigQuery not answering, is 503 with Retry-After.
- The webhooks report reads no events: the process's recorder on a local stack, Cloud Monitoring's
  log-based metrics when deployed (``common.reports.webhook_metrics``); platform-wide either way, as
  the metrics have no tenant label. Cloud Monitoring not answering is 503 with Retry-After.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from common.adapters.ports import StoreUnavailable
from common.reports import api_models as m
from common.reports.events_file import EventsFileBusy, NoEventsFile, ReportError, events_path
from common.reports.local import BadFilter, Reports, answer, open_reports, parse_day, parse_month
from common.service import ids
from common.service.admin import ApiError
from common.service.operations import Operation
from common.web.api import RETRY_AFTER_SECONDS, Reply, no_store_json, tenant_reader

log = logging.getLogger("ivr.api.reports")

PREFIX = "/api/reports"
DEFAULT_DATASET = "ivr_analytics"  # the dataset Terraform creates (events.tf); IVR_BIGQUERY_DATASET overrides it


#: Every operation of this module (GET, permission ``read``), for the operations table and OpenAPI.
OPERATIONS: tuple[Operation, ...] = (
    Operation("report_billing", "GET", PREFIX + "/billing", "read",
              "Monthly billing: calls, billable minutes, counted operations, estimated cost",
              query=m.MonthQuery, response=m.BillingAnswer),
    Operation("report_costs", "GET", PREFIX + "/costs", "read", "Cost per flow and version, in total and per call",
              query=m.MonthQuery, response=m.CostsAnswer),
    Operation("report_funnel", "GET", PREFIX + "/funnel/{flowId}", "read",
              "Per-node funnel of a flow version: callers, outcomes, hang-ups, time spent",
              query=m.FunnelQuery, response=m.FunnelAnswer),
    Operation("report_queues", "GET", PREFIX + "/queues", "read",
              "Department queues per UTC hour: offered, answered, abandoned, service level, waits",
              query=m.QueuesQuery, response=m.QueuesAnswer),
    Operation("report_volume", "GET", PREFIX + "/volume", "read",
              "Calls per UTC hour or day and flow: started, completed, failed, success rate, fallback answers",
              query=m.VolumeQuery, response=m.VolumeAnswer),
    Operation("report_webhooks", "GET", PREFIX + "/webhooks", "read",
              "Webhook latency (p50, p95 per function and route, per minute) and fallback answers by reason, "
              "platform-wide", query=m.WebhooksQuery, response=m.WebhooksAnswer),
)  # fmt: skip


@dataclass(frozen=True)
class _Route:
    report: str  # the report of common.reports.local.answer
    operation: Operation
    pattern: re.Pattern[str]

    @property
    def query(self) -> tuple[str, ...]:
        return tuple(self.operation.query.model_fields) if self.operation.query else ()


ROUTES = tuple(_Route(op.name.removeprefix("report_"), op,
                      re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", op.path) + "$"))
               for op in OPERATIONS)  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return no_store_json(body, status, headers)


def _principal(request: Any, svc: Any) -> Any:
    return tenant_reader(request, svc, f"read reports (GET {PREFIX}/...)")


def _route(method: str, path: str) -> tuple[_Route, dict[str, str]]:
    for route in ROUTES:
        match = route.pattern.match(path)
        if match:
            if method != "GET":
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}; use GET")
            params = match.groupdict()
            for name, value in params.items():
                problem = ids.path_problem(name, value)
                if problem:
                    raise ApiError(404, "not_found", problem)
            return route, params
    known = ", ".join(op.path for op in OPERATIONS)
    raise ApiError(404, "not_found", f"no report at {path}; the reports are {known}")


def _query(request: Any, op: _Route) -> dict[str, str | None]:
    names = list(request.args.keys())
    unknown = sorted({n for n in names if n not in op.query})
    if unknown:
        shown = ", ".join(repr(n) if n else "(a parameter without a name)" for n in unknown)
        takes = ", ".join(op.query) or "no parameters"
        raise ApiError(400, "invalid_request", f"query: {op.report} takes {takes}; unknown: {shown}",
                       [{"field": f"query.{n}", "message": "unknown parameter"} for n in unknown])  # fmt: skip
    repeated = sorted({n for n in names if len(request.args.getlist(n)) > 1})
    if repeated:
        raise ApiError(400, "invalid_request", f"query.{repeated[0]}: give it once",
                       [{"field": f"query.{n}", "message": "given more than once"} for n in repeated])  # fmt: skip
    values = {name: request.args.get(name, "") for name in op.query if name in request.args}
    empty = sorted(name for name, value in values.items() if value == "")
    if empty:
        raise ApiError(400, "invalid_request", f"query.{empty[0]}: empty; give a value or leave the parameter out",
                       [{"field": f"query.{n}", "message": "empty"} for n in empty])  # fmt: skip
    try:  # the reports' own checks first: their messages show the form expected
        parse_month(values.get("month"))
        for name in ("date", "since", "until"):
            parse_day(values.get(name), name)
    except BadFilter as exc:
        raise ApiError(400, "invalid_request", f"query.{exc.field}: {exc.detail}",
                       [{"field": f"query.{exc.field}", "message": exc.detail}]) from None  # fmt: skip
    if op.operation.query is not None:
        try:
            op.operation.query.model_validate(values)
        except ValidationError as exc:
            problems = [{"field": "query." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                        for e in exc.errors()]  # fmt: skip
            raise ApiError(400, "invalid_request", f"{problems[0]['field']}: {problems[0]['message']}",
                           problems) from None  # fmt: skip
    return {name: values.get(name) for name in op.query}


@contextmanager
def reports_of(svc: Any) -> Iterator[Reports]:
    """The reports of this stack's events (see the module's rules)."""
    kind = getattr(svc.settings, "events", None)
    if kind == "off":
        raise NoEventsFile("this stack exports no call events (IVR_EVENTS=off): set IVR_EVENTS=duckdb "
                           "(what `ivr run` does) to collect them")  # fmt: skip
    if kind == "pubsub":  # deployed: the events are in BigQuery, the reports are its views
        import os

        from common.reports.bigquery import BigQueryReports

        yield BigQueryReports(os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
                              os.environ.get("IVR_BIGQUERY_DATASET") or DEFAULT_DATASET)  # fmt: skip
        return
    if kind == "memory":
        rows = list(getattr(getattr(getattr(svc, "events", None), "publisher", None), "rows", []))
        import duckdb

        from common.adapters.events_sinks import insert_rows

        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        try:
            insert_rows(connection, rows)
            yield Reports(connection)
        finally:
            connection.close()
        return
    with open_reports(getattr(svc.settings, "events_duckdb", None) or events_path()) as reports:
        yield reports


def _webhooks(filters: dict[str, str | None]) -> Reply:
    import os

    from common.reports import webhook_metrics

    given = {k: v for k, v in filters.items() if v is not None}
    source = webhook_metrics.source_from_env(os.environ)
    try:
        body = webhook_metrics.answer(int(given.get("minutes") or 60), source,
                                      os.environ.get("GOOGLE_CLOUD_PROJECT", ""), filters=given)  # fmt: skip
    except Exception as exc:  # the client's errors are many types; none of them is the caller's fault
        log.error("API GET %s/webhooks: Cloud Monitoring did not answer: %s", PREFIX, exc)
        raise ApiError(503, "metrics_unavailable", "Cloud Monitoring did not answer; retry in a few "
                       "seconds") from exc  # fmt: skip
    return _json(body)


def _report(request: Any, svc: Any, op: _Route, params: dict[str, str]) -> Reply:
    principal = _principal(request, svc)
    filters: dict[str, str | None] = {**_query(request, op), "tenant": principal.tenant.id}
    if op.report == "webhooks":
        return _webhooks({k: v for k, v in filters.items() if k != "tenant"})
    if op.report == "funnel":
        filters["flow"] = params["flowId"]
    try:
        with reports_of(svc) as reports:
            return _json(answer(reports, op.report, filters))
    except BadFilter as exc:
        field = "path.flowId" if exc.field == "flow" and op.report == "funnel" else f"query.{exc.field}"
        raise ApiError(400, "invalid_request", f"{field}: {exc.detail}",
                       [{"field": field, "message": exc.detail}]) from exc  # fmt: skip
    except NoEventsFile as exc:
        return _json({**_empty_answer(op.report, filters), "note": str(exc)})
    except EventsFileBusy as exc:
        raise ApiError(503, "events_busy", str(exc)) from exc


def _empty_answer(name: str, filters: dict[str, str | None]) -> dict[str, Any]:
    """The report over no events, without DuckDB (a stack without events may not have it installed):
    the keys ``answer`` gives, with nothing in them."""
    body: dict[str, Any] = {"report": name, "filters": {k: v for k, v in filters.items() if v is not None}}
    if name == "funnel":
        body.update({"flow_id": filters.get("flow"), "flow_version": None, "versions": [], "nodes": []})
    else:
        body["rows"] = []
    return body


def handle(request: Any, svc: Any) -> Reply:
    path = request.path.rstrip("/") or "/"
    try:
        op, params = _route(request.method, path)
        return _report(request, svc, op, params)
    except ApiError as exc:
        headers = {"Allow": "GET"} if exc.status == 405 else {}
        if exc.status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return _json(exc.body(), exc.status, headers)
    except StoreUnavailable as exc:
        log.error("API %s %s: the store is unavailable: %s", request.method, path, exc)
        return _json(ApiError(503, "store_unavailable", "storage did not answer in time; retry in a few "
                              "seconds").body(), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    except ReportError as exc:
        log.error("API %s %s: the events cannot be read: %s", request.method, path, exc)
        return _json(ApiError(503, "events_unavailable", "the call events cannot be read right now; retry in a "
                              "few seconds").body(), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    except Exception:
        log.exception("API %s %s failed", request.method, path)
        return _json(ApiError(500, "internal", "unexpected error").body(), 500)
