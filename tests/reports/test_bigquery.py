"""common/reports/bigquery.py: the reports read from the deployed BigQuery views. A fake client stands
in for BigQuery: it records the SQL and parameters sent and answers by running that very SQL (translated
back by sqlglot) on DuckDB over the hand-worked events and the same view files, so every report must
give the numbers the DuckDB reports give."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
import sqlglot

from common.reports import bigquery as bq
from common.reports.bigquery import BigQueryReports, bigquery_sql
from common.reports.events_file import ReportError
from common.reports.local import Reports
from common.web import reports_api

PROJECT, DATASET = "ivr-prod", "ivr_analytics"


@dataclass
class Job:
    rows: list[dict[str, Any]]

    def result(self, timeout: float) -> list[dict[str, Any]]:
        return self.rows


@dataclass
class DuckDBBigQuery:
    """``Client.query`` as the reader uses it, answered by DuckDB; every query sent is kept."""

    connection: Any
    sent: list[tuple[str, Any, float]] = field(default_factory=list)

    def query(self, text: str, job_config: Any, timeout: float) -> Job:
        self.sent.append((text, job_config, timeout))
        local = sqlglot.transpile(text.replace(f"`{PROJECT}`.{DATASET}.", ""), read="bigquery", write="duckdb")[0]
        cursor = self.connection.execute(local, [value for _, value in job_config])
        names = [d[0] for d in cursor.description]
        return Job([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])


@pytest.fixture
def client(loaded: Any) -> DuckDBBigQuery:
    Reports(loaded)  # the view files as DuckDB views: what Terraform deploys, where the fake runs the SQL sent
    return DuckDBBigQuery(loaded)


@pytest.fixture
def reader(client: DuckDBBigQuery) -> BigQueryReports:
    return BigQueryReports(PROJECT, DATASET, client=client, config=list, timeout=7.0)


def test_the_sql_sent_names_the_deployed_views_and_carries_values_as_parameters(
        reader: BigQueryReports, client: DuckDBBigQuery) -> None:  # fmt: skip
    reader.billing(month="2026-11", tenant="acme")
    [(text, params, timeout)] = client.sent
    assert text == ("SELECT * FROM `ivr-prod`.ivr_analytics.billing_monthly WHERE month = ? AND tenant_id = ? "
                    "ORDER BY month NULLS LAST, tenant_id NULLS LAST")  # fmt: skip
    assert (params, timeout) == ([("DATE", date(2026, 11, 1)), ("STRING", "acme")], 7.0)


def test_identifiers_are_quoted_the_bigquery_way() -> None:
    text = bigquery_sql('SELECT * FROM node_outcomes WHERE flow_id = ? ORDER BY node_id, "left" DESC, outcome',
                        ("node_outcomes",), PROJECT, DATASET)  # fmt: skip
    assert text == ("SELECT * FROM `ivr-prod`.ivr_analytics.node_outcomes WHERE flow_id = ? "
                    "ORDER BY node_id NULLS LAST, `left` DESC, outcome NULLS LAST")  # fmt: skip
    assert "`other`" not in bigquery_sql("SELECT 1 FROM other", ("node_outcomes",), PROJECT, DATASET)


@pytest.mark.parametrize("report", [
    lambda r: r.billing(), lambda r: r.billing(month="2026-11", tenant="acme"), lambda r: r.costs(month="2026-11"),
    lambda r: r.funnel("support", "3"), lambda r: r.funnel("support"),
    lambda r: r.queues(tenant="acme", day="2026-11-03"),
    lambda r: r.volume(), lambda r: r.volume(by="day", tenant="acme", since="2026-11-03", until="2026-11-30"),
])  # fmt: skip
def test_every_report_gives_the_duckdb_numbers(reader: BigQueryReports, loaded: Any, report: Any) -> None:
    assert rounded(report(reader)) == rounded(report(Reports(loaded)))


def rounded(value: Any) -> Any:
    """Floats to 12 significant digits: DuckDB sums floats in parallel, in no fixed order."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_the_funnel_runs_its_queries_on_the_views_without_temporary_tables(reader: BigQueryReports,
                                                                           client: DuckDBBigQuery) -> None:  # fmt: skip
    reader.funnel("support", "3", tenant="acme")
    assert [t.split(" WHERE ")[0] for t, _, _ in client.sent] == [
        "SELECT DISTINCT flow_version FROM `ivr-prod`.ivr_analytics.node_funnel",
        "SELECT * FROM `ivr-prod`.ivr_analytics.node_funnel",
        "SELECT * FROM `ivr-prod`.ivr_analytics.node_outcomes"]  # fmt: skip
    assert all(("STRING", "acme") in params for _, params, _ in client.sent)


def test_bigquery_errors_are_report_errors(loaded: Any) -> None:
    class Refusing:
        def query(self, text: str, job_config: Any, timeout: float) -> Any:
            raise RuntimeError("403 Access Denied: Table ivr-prod:ivr_analytics.billing_monthly")

    with pytest.raises(ReportError, match=r"BigQuery did not answer the query on ivr-prod\.ivr_analytics: 403"):
        BigQueryReports(PROJECT, DATASET, client=Refusing(), config=list).billing()
    with pytest.raises(ReportError, match="GOOGLE_CLOUD_PROJECT"):
        BigQueryReports("", DATASET)


def test_the_job_configuration_bounds_the_bytes_and_types_the_parameters() -> None:
    try:
        from google.cloud import bigquery
    except ImportError:  # the package is not installed: the deploy is told which one
        with pytest.raises(ReportError, match=re.escape(bq.PIN)):
            bq.job_config([("STRING", "acme")])
        return
    config = bq.job_config([("STRING", "acme"), ("DATE", date(2026, 11, 1)), ("INT64", 3)])
    assert isinstance(config, bigquery.QueryJobConfig)
    assert config.maximum_bytes_billed == 10 * 2**30 and config.use_legacy_sql is False
    assert [(p.name, p.type_, p.value) for p in config.query_parameters] == [
        (None, "STRING", "acme"), (None, "DATE", date(2026, 11, 1)), (None, "INT64", 3)]  # fmt: skip


def test_a_deployed_stack_reads_the_reports_from_bigquery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.delenv("IVR_BIGQUERY_DATASET", raising=False)
    svc = SimpleNamespace(settings=SimpleNamespace(events="pubsub"))
    with reports_api.reports_of(svc) as reports:
        assert isinstance(reports, BigQueryReports)
        assert (reports.project, reports.dataset, reports._client) == (PROJECT, "ivr_analytics", None)
    monkeypatch.setenv("IVR_BIGQUERY_DATASET", "ivr_analytics_staging")
    with reports_api.reports_of(svc) as reports:
        assert reports.dataset == "ivr_analytics_staging"
