"""GET /api/reports/*: the hand-worked events (report_events.py) behind the admin API of a live stack,
with tenant acme as the demo tenant (key A) and globex as tenant B: exact numbers, tenant scoping,
keys and roles, unknown and malformed query parameters."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from report_events import all_events, insert, scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
from livestack import API_KEY_A, API_KEY_B, TENANT_A, TENANT_B, Stack, build_stack

from common import bootstrap
from common.web import reports_api

TENANTS = {"acme": TENANT_A, "globex": TENANT_B}


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    calls = scenario()
    events = [{**e, "tenant_id": TENANTS[e["tenant_id"]]} for e in all_events(calls)]
    path = tmp_path / "events.duckdb"
    connection = duckdb.connect(str(path))
    insert(connection, [*events, events[14]])  # call A's completion delivered twice
    connection.close()
    return path


@pytest.fixture
def stack(events_file: Path, memory_store: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("IVR_EVENTS_DUCKDB", str(events_file))
    built = build_stack(memory_store, all_examples=False, IVR_EVENTS="duckdb", IVR_EVENTS_DUCKDB=str(events_file))
    yield built
    bootstrap.install(None)


def get(stack: Stack, path: str, key: str | None = API_KEY_A) -> tuple[int, Any, Any]:
    response = stack.api("GET", path, key=key)
    return response.status_code, json.loads(response.get_data(as_text=True)), response.headers


def test_billing_is_the_callers_tenant_only(stack: Stack) -> None:
    status, body, headers = get(stack, "/api/reports/billing?month=2026-11")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["filters"] == {"month": "2026-11", "tenant": TENANT_A}
    [row] = body["rows"]
    assert (row["tenant_id"], row["calls"], row["calls_not_completed"], row["billable_minutes"],
            row["webhook_steps"], row["events"]) == (TENANT_A, 7, 1, 11, 20, 40)  # fmt: skip
    status, body, _ = get(stack, "/api/reports/billing", key=API_KEY_B)
    assert status == 200 and [(r["tenant_id"], r["month"], r["calls"]) for r in body["rows"]] == \
        [(TENANT_B, "2026-11-01", 1)]  # fmt: skip


def test_costs_funnel_and_queues(stack: Stack) -> None:
    _, costs, _ = get(stack, "/api/reports/costs?month=2026-11")
    assert [(r["flow_id"], r["flow_version"], r["calls"], r["billable_minutes"]) for r in costs["rows"]] == \
        [("support", "3", 6, 11), ("support", "4", 1, 0)]  # fmt: skip
    status, funnel, _ = get(stack, "/api/reports/funnel/support?version=3")
    assert status == 200 and funnel["versions"] == ["3", "4"]
    assert [(n["node_id"], n["callers"], n["entered"], n["hung_up"]) for n in funnel["nodes"]] == \
        [("menu", 3, 4, 1), ("lookup", 1, 1, 0), ("voicemail", 1, 1, 0), ("transfer_sales", 1, 1, 0)]  # fmt: skip
    assert [(o["outcome"], o["left"]) for o in funnel["nodes"][0]["outcomes"]] == [("1", 1), ("2", 1), ("timeout", 1)]
    _, latest, _ = get(stack, "/api/reports/funnel/support")
    assert latest["flow_version"] == "4"
    _, queues, _ = get(stack, "/api/reports/queues?department=sales&date=2026-11-03")
    assert [(r["hour"], r["offered"], r["answered"], r["abandoned"]) for r in queues["rows"]] == \
        [("2026-11-03T10:00:00Z", 4, 2, 1, ), ("2026-11-03T11:00:00Z", 1, 1, 0)]  # fmt: skip
    assert queues["rows"][0]["service_level"] == pytest.approx(1 / 3)


def test_volume_per_hour_and_day_of_the_callers_tenant(stack: Stack) -> None:
    status, body, headers = get(stack, "/api/reports/volume?since=2026-11-03&until=2026-11-03")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["filters"] == {"since": "2026-11-03", "until": "2026-11-03", "tenant": TENANT_A}
    assert [(r["hour"], r["calls_started"], r["calls_completed"], r["calls_succeeded"], r["success_rate"])
            for r in body["rows"]] == [("2026-11-03T10:00:00Z", 5, 5, 5, 1.0), ("2026-11-03T11:00:00Z", 1, 1, 1, 1.0)]
    _, days, _ = get(stack, "/api/reports/volume?by=day&flow=support")
    assert [(r["day"], r["calls_started"], r["calls_in_progress"]) for r in days["rows"]] == \
        [("2026-10-31", 1, 0), ("2026-11-03", 6, 0), ("2026-11-20", 1, 1), ("2026-12-01", 1, 0)]  # fmt: skip
    _, other, _ = get(stack, "/api/reports/volume?by=day", key=API_KEY_B)
    assert [(r["tenant_id"], r["day"], r["calls_started"]) for r in other["rows"]] == [(TENANT_B, "2026-11-05", 1)]


def test_another_tenants_flow_has_no_funnel(stack: Stack) -> None:
    status, body, _ = get(stack, "/api/reports/funnel/support", key=API_KEY_B)
    assert status == 200 and (body["versions"], body["nodes"]) == ([], [])


@pytest.mark.parametrize("query, field", [
    ("?tenant=globex", "query.tenant"),
    ("?month=2026-11&monht=2026-12", "query.monht"),
    ("?=x", "query."),
])  # fmt: skip
def test_unknown_query_parameters_are_refused_by_name(stack: Stack, query: str, field: str) -> None:
    status, body, _ = get(stack, "/api/reports/billing" + query)
    assert status == 400
    assert [d["field"] for d in body["error"]["details"]] == [field]
    assert "unknown" in body["error"]["message"] and "month" in body["error"]["message"]


@pytest.mark.parametrize("path, field", [
    ("/api/reports/billing?month=2026-13", "query.month"),
    ("/api/reports/costs?month=November", "query.month"),
    ("/api/reports/queues?date=2026-02-30", "query.date"),
    ("/api/reports/billing?month=2026-11&month=2026-12", "query.month"),
    ("/api/reports/billing?month=", "query.month"),
    ("/api/reports/funnel/support?version=", "query.version"),
    ("/api/reports/volume?by=week", "query.by"),
    ("/api/reports/volume?since=2026-11-31", "query.since"),
    ("/api/reports/volume?since=2026-11-04&until=2026-11-03", "query.until"),
    ("/api/reports/volume?tenant=x", "query.tenant"),
])  # fmt: skip
def test_malformed_values_name_their_field(stack: Stack, path: str, field: str) -> None:
    status, body, _ = get(stack, path)
    assert status == 400 and body["error"]["details"][0]["field"] == field


def test_keys_roles_methods_and_paths(stack: Stack) -> None:
    assert get(stack, "/api/reports/billing", key=None)[0] == 401
    assert get(stack, "/api/reports/billing", key="ivr_wrong_key_0000000000")[0] == 401
    status, body, _ = get(stack, "/api/reports/nothing")
    assert status == 404 and "/api/reports/billing" in body["error"]["message"]
    assert get(stack, "/api/reports/funnel/a%20b")[0] == 404
    response = stack.api("POST", "/api/reports/billing", json={})
    assert (response.status_code, response.headers["Allow"]) == (405, "GET")


def test_no_events_yet_is_an_empty_report(memory_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "none.duckdb"
    monkeypatch.setenv("IVR_EVENTS_DUCKDB", str(missing))
    stack = build_stack(memory_store, all_examples=False, IVR_EVENTS="duckdb", IVR_EVENTS_DUCKDB=str(missing))
    try:
        status, body, _ = get(stack, "/api/reports/billing?month=2026-11")
        assert status == 200 and body["rows"] == [] and "does not exist" in body["note"]
        status, body, _ = get(stack, "/api/reports/funnel/support")
        assert status == 200 and body["nodes"] == [] and body["flow_version"] is None
        assert body["filters"] == {"flow": "support", "tenant": TENANT_A}
        reports_api.ROUTES[2].operation.response.model_validate(body)
        assert not missing.exists(), "reading never creates the file"
    finally:
        bootstrap.install(None)


def test_operations_table_lists_every_report() -> None:
    assert [(r.operation.name, r.operation.method, r.operation.path, r.operation.permission, r.query)
            for r in reports_api.ROUTES] == [
        ("report_billing", "GET", "/api/reports/billing", "read", ("month",)),
        ("report_costs", "GET", "/api/reports/costs", "read", ("month",)),
        ("report_funnel", "GET", "/api/reports/funnel/{flowId}", "read", ("version",)),
        ("report_queues", "GET", "/api/reports/queues", "read", ("department", "date")),
        ("report_volume", "GET", "/api/reports/volume", "read", ("by", "flow", "since", "until")),
        ("report_webhooks", "GET", "/api/reports/webhooks", "read", ("minutes",)),
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["/api/reports/billing", "/api/reports/costs?month=2026-11",
                                  "/api/reports/funnel/support?version=3", "/api/reports/queues",
                                  "/api/reports/volume", "/api/reports/volume?by=day"])  # fmt: skip
def test_answers_match_their_declared_models(stack: Stack, path: str) -> None:
    """The models are the OpenAPI schemas: a column a view gains or loses fails here first."""
    status, body, _ = get(stack, path)
    route, _ = reports_api._route("GET", path.split("?")[0])
    assert status == 200
    assert route.operation.response.model_validate(body).model_dump() == {"note": None, **body}


def test_webhooks_report_counts_the_requests_of_simulated_calls(stack: Stack) -> None:
    from urllib.parse import urlsplit

    from livestack import DEMO_NUMBER

    from common.reports.webhook_recorder import RECORDER

    RECORDER.clear()  # the process's recorder: other tests' requests are not this test's
    calls = [stack.call(DEMO_NUMBER, ["1"]), stack.call(DEMO_NUMBER, [])]
    sent: dict[str, int] = {}
    for call in calls:
        for exchange in call.exchanges:
            route = "voice." + urlsplit(exchange.url).path.rstrip("/").rsplit("/", 1)[-1]
            sent[route] = sent.get(route, 0) + 1
    fallback = stack.signed_post("/webhook/voice/fallback", {"CallSid": "CA" + "f" * 32, "To": DEMO_NUMBER,
                                                             "AccountSid": "AC" + "a" * 32, "ErrorCode": "11200"})
    assert fallback.status_code == 200
    status, body, headers = get(stack, "/api/reports/webhooks?minutes=5")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert (body["source"], body["scope"], body["minutes"], body["filters"]) == ("process", "platform", 5,
                                                                                 {"minutes": "5"})  # fmt: skip
    got: dict[str, int] = {}
    for row in body["latency"]:
        got[row["route"]] = got.get(row["route"], 0) + row["requests"]
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]
    assert got == {**sent, "voice.fallback": 1} and sent["voice.incoming"] == 2
    by_function = {f["function"]: f["requests"] for f in body["functions"]}
    # incoming_call serves the incoming call, its status callback and the fallback URL
    assert by_function["incoming_call"] == 2 + sent["voice.status"] + 1
    assert sum(by_function.values()) == sum(got.values())
    assert [(r["reason"], r["function"], r["answers"]) for r in body["fallbacks"]] == \
        [("fallback_url", "incoming_call", 1)]  # fmt: skip
    reports_api._route("GET", "/api/reports/webhooks")[0].operation.response.model_validate(body)
    assert get(stack, "/api/reports/webhooks?minutes=61")[1]["error"]["details"][0]["field"] == "query.minutes"
    assert get(stack, "/api/reports/webhooks?tenant=x")[0] == 400
    assert get(stack, "/api/reports/webhooks", key=None)[0] == 401


def test_webhooks_report_reads_cloud_monitoring_when_deployed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.reports import webhook_metrics

    asked: list[Any] = []

    class Client:
        def list_time_series(self, request: Any, timeout: float) -> list[Any]:
            asked.append(request)
            if "fallback" in request.filter:
                raise RuntimeError("503 Cloud Monitoring is unavailable")
            return []

    monkeypatch.setenv("IVR_METRICS", "cloudmonitoring")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "ivr-prod")
    monkeypatch.setattr(webhook_metrics.CloudMonitoringWebhooks, "client", property(lambda self: Client()))
    status, body, headers = get(stack, "/api/reports/webhooks")
    assert (status, body["error"]["code"], "Retry-After" in headers) == (503, "metrics_unavailable", True)
    assert [r.name for r in asked] == ["projects/ivr-prod", "projects/ivr-prod"]
