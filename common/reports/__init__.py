"""Billing, cost, funnel, queue and call volume reports over the call events; webhook latency.

- ``sql``: the BigQuery view files Terraform deploys (terraform/modules/platform/sql), transpiled to
  DuckDB; the price table is one of them (platform_prices.sql).
- ``events_file``: the local DuckDB file the embedded stack's events land in.
- ``local``: the reports over a DuckDB connection, as JSON-ready rows.
- ``bigquery``: the same reports over the deployed views in BigQuery.
- ``render``: terminal tables and the funnel and volume charts (SVG, or HTML holding it).
- ``webhook_recorder`` / ``webhook_metrics``: webhook latency and fallback answers, from this
  process's bounded recorder or from Cloud Monitoring's log-based metrics.
Docs: docs/reports.md, docs/monitoring.md.
"""
