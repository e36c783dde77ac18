"""The reports over the deployed BigQuery views: the same queries as over DuckDB, sent to BigQuery.

    BigQueryReports(project, dataset).billing(month="2026-11", tenant="acme")    (every Reports method)
    bigquery_sql("SELECT * FROM billing_monthly WHERE tenant_id = ?", views)    the text BigQuery runs

Rules owned here:
- Terraform deploys the view files to the dataset (bigquery_views.tf); this reader queries those
  views, so the numbers are what an analyst reads there and what the DuckDB tests check. It reuses
  ``common.reports.local.Reports`` whole (filters, ordering, the funnel's three queries): only where a
  query is sent differs. Each query is the DuckDB text translated by sqlglot (identifiers quoted the
  BigQuery way, NULL ordering kept: BigQuery sorts NULLs first by default, DuckDB last) with every
  view name qualified as `project.dataset.view`.
- Values travel as positional query parameters (``?``), never in the text: STRING, INT64, FLOAT64,
  DATE or TIMESTAMP by their Python type. The tenant filter is always one of them.
- google-cloud-bigquery is imported on the first query (never at import: the admin API's first
  request and the webhooks do not pay for it). Without the package the report says which to install.
  A client can be passed in, and the job configuration builder too: the tests pass fakes that record
  the SQL and parameters sent.
- Each query is bounded: ``maximum_bytes_billed`` (default 10 GiB) makes BigQuery refuse a query
  that would scan more rather than bill it, and the answer waits at most ``timeout`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from common.reports import sql
from common.reports.events_file import ReportError
from common.reports.local import Reports, _plain

PIN = "google-cloud-bigquery==3.47.0"
MAX_BYTES_BILLED = 10 * 2**30
Parameter = tuple[str, Any]  # (BigQuery type, value)


def parameter_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, date):
        return "DATE"
    return "STRING"


def bigquery_sql(query: str, names: Sequence[str], project: str, dataset: str) -> str:
    """The DuckDB query of ``Reports`` as BigQuery runs it, its views and table qualified."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query, read="duckdb")
    for table in tree.find_all(exp.Table):
        if table.name in names and not table.args.get("db"):
            table.set("db", exp.to_identifier(dataset))
            table.set("catalog", exp.to_identifier(project))
    return tree.sql(dialect="bigquery")


def job_config(parameters: Sequence[Parameter], max_bytes: int = MAX_BYTES_BILLED) -> Any:
    """The QueryJobConfig of one query: positional parameters and the bytes it may bill."""
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise ReportError(f"reading the reports from BigQuery needs the {PIN} package in this function") from exc
    return bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter(None, kind, value)
                                                     for kind, value in parameters],
                                   maximum_bytes_billed=max_bytes, use_legacy_sql=False)  # fmt: skip


class BigQueryReports(Reports):
    def __init__(self, project: str, dataset: str, client: Any = None,
                 config: Callable[[Sequence[Parameter]], Any] = job_config, timeout: float = 30.0,
                 location: str | None = None) -> None:  # fmt: skip
        if not project or not dataset:
            raise ReportError("reading the reports from BigQuery needs GOOGLE_CLOUD_PROJECT and the dataset's name")
        self.project, self.dataset, self._client, self.config = project, dataset, client, config
        self.timeout, self.location = timeout, location
        self.views = sql.load()
        self.names = (sql.TABLE, *(view.name for view in self.views))
        self._materialized = True  # BigQuery plans the views itself: nothing to compute beforehand

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import bigquery
            except ImportError as exc:
                raise ReportError(f"reading the reports from BigQuery needs the {PIN} package") from exc
            self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    def _rows(self, query: str, params: list[Any]) -> list[dict[str, Any]]:
        text = bigquery_sql(query, self.names, self.project, self.dataset)
        config = self.config([(parameter_type(value), value) for value in params])
        try:
            job = self.client.query(text, job_config=config, timeout=self.timeout)
            found = list(job.result(timeout=self.timeout))
        except ReportError:
            raise
        except Exception as exc:  # the client's errors are many types: permission, quota, a bad query
            raise ReportError(f"BigQuery did not answer the query on {self.project}.{self.dataset}: {exc}") from exc
        return [{name: _plain(value) for name, value in row.items()} for row in found]

    def event_count(self) -> int:
        [row] = self._rows(f"SELECT COUNT(*) AS events FROM {sql.TABLE}", [])
        return int(row["events"])
