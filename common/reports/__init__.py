"""Billing, cost, funnel and queue reports over the call events.

- ``sql``: the BigQuery view files Terraform deploys (terraform/modules/platform/sql), transpiled to
  DuckDB; the price table is one of them (platform_prices.sql).
- ``events_file``: the local DuckDB file the embedded stack's events land in.
- ``local``: the reports over a DuckDB connection, as JSON-ready rows.
- ``render``: terminal tables and the funnel chart (HTML with inline SVG).
Docs: docs/reports.md.
"""
