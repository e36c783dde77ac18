"""Structural tests of the report views (terraform/modules/platform/bigquery_views.tf): every view
file of sql/ is deployed, once, by the module's dataset, after the views it reads; the SQL itself is
tested on DuckDB in tests/reports/."""

from __future__ import annotations

import re
import sys

import pytest
from hcl_tree import PLATFORM, ROOT, block, locals_, resource, resources

sys.path.insert(0, str(ROOT))
from common.reports import sql  # the repository root is not on sys.path of these tests

SQL_DIR = PLATFORM / "sql"
LAYERS = (  # resource name, the local it iterates, the resource it must wait for
    ("report_view_base", "report_views_base", "${google_bigquery_table.call_events}"),
    ("report_view_calls", "report_views_calls", "${google_bigquery_table.report_view_base}"),
    ("report_view_summaries", "report_views_summaries", "${google_bigquery_table.report_view_calls}"),
)
PLACEHOLDER = re.compile(r"[$%]\{([^}]*)\}")
QUALIFIED = re.compile(r"`([^`]*\.[^`]*)`")


def deployed() -> dict[str, int]:
    """view name -> layer index, from the three locals the view resources iterate."""
    out: dict[str, int] = {}
    for index, (_, local, _) in enumerate(LAYERS):
        for name in locals_(PLATFORM)[local]:
            assert name not in out, f"view {name} is deployed twice"
            out[name] = index
    return out


def test_every_view_file_is_deployed_and_every_deployed_view_has_a_file() -> None:
    files = {p.stem for p in SQL_DIR.glob("*.sql")}
    assert files, "no view files in terraform/modules/platform/sql"
    assert set(deployed()) == files


@pytest.mark.parametrize("name, local, waits_for", LAYERS)
def test_view_resources_read_their_file_into_the_modules_dataset(name: str, local: str, waits_for: str) -> None:
    body = resource(PLATFORM, "google_bigquery_table", name)
    assert body["for_each"] == f"${{local.{local}}}"
    assert body["table_id"] == "${each.key}"
    assert body["dataset_id"] == "${google_bigquery_dataset.analytics.dataset_id}"
    assert body["project"] == "${google_bigquery_dataset.analytics.project}"
    view = block(body, "view")
    assert view["query"] == '${templatefile("${path.module}/sql/${each.key}.sql", local.report_sql_vars)}'
    assert view["use_legacy_sql"] is False
    assert body["depends_on"] == [waits_for]
    assert body["deletion_protection"] is True
    for description in locals_(PLATFORM)[local].values():
        assert 10 < len(description) <= 1024  # BigQuery's limit on a table description


def test_the_sql_is_templated_with_the_modules_project_and_dataset() -> None:
    assert locals_(PLATFORM)["report_sql_vars"] == {
        "project": "${google_bigquery_dataset.analytics.project}",
        "dataset": "${google_bigquery_dataset.analytics.dataset_id}",
    }
    assert resource(PLATFORM, "google_bigquery_table", "call_events")["table_id"] == sql.TABLE


@pytest.mark.parametrize("path", sorted(SQL_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_view_files_name_tables_only_through_the_template(path: object) -> None:
    text = path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    # templatefile fails on any other interpolation or directive, and a literal project or dataset
    # would read another environment's data.
    assert set(PLACEHOLDER.findall(text)) <= {"project", "dataset"}, "only ${project} and ${dataset}"
    for name in QUALIFIED.findall(text):
        assert re.fullmatch(r"\$\{project\}\.\$\{dataset\}\.\w+", name), f"{name}: use `${{project}}.${{dataset}}.X`"


def test_each_view_is_created_after_the_views_it_reads() -> None:
    layer_of = deployed()
    for view in sql.load(SQL_DIR):
        for read in view.reads:
            if read == sql.TABLE:
                continue
            assert layer_of[read] < layer_of[view.name], f"{view.name} reads {read}: not in an earlier layer"
    # and no layer waits longer than it must: each view is in the lowest layer it can be in
    assert [sorted(names) for names in sql.layers(sql.load(SQL_DIR))] == \
        [sorted(n for n, i in layer_of.items() if i == index) for index in range(len(LAYERS))]  # fmt: skip


def test_no_other_resource_deploys_a_view() -> None:
    tables = resources(PLATFORM)["google_bigquery_table"]
    with_views = {name for name, body in tables.items() if "view" in body}
    assert with_views == {name for name, _, _ in LAYERS}
