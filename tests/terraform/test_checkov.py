"""checkov's Terraform checks over terraform/, offline (`--skip-download`: no platform, no API key).

checkov resolves the module calls of both environments, so a check that only fails with dev's
values (deletion protection off, say) fails here too. A finding is either fixed or skipped inline
in the resource (`#checkov:skip=CKV_...:reason`); the skips, with their reasons, are listed below so
that adding one is a reviewed change of this file.

checkov runs from its own venv (`make install` puts it in .venv/checkov): its bc-python-hcl2 would
shadow the python-hcl2 that test_terraform.py imports. On CI a missing checkov fails the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"

# check id -> resources (as checkov names them, without the module path) that skip it on purpose.
EXPECTED_SKIPS = {
    "CKV_GCP_102": {"google_cloud_run_service_iam_member.public_invoker",
                    # the webhook functions' replicas in webhook_regions (regions_webhooks.tf), same reason
                    "module.webhook_replicas.google_cloud_run_service_iam_member.public_invoker"},
    "CKV_GCP_83": {"google_pubsub_topic.call_events", "google_pubsub_topic.call_events_dead_letter"},
    "CKV_GCP_81": {"google_bigquery_dataset.analytics"},
    # views: BigQuery refuses an encryption setting on a view (it reads the table's)
    "CKV_GCP_80": {"google_bigquery_table.call_events",
                   *(f'google_bigquery_table.report_view_base["{v}"]'
                     for v in ("call_events_unique", "platform_prices")),
                   *(f'google_bigquery_table.report_view_calls["{v}"]'
                     for v in ("call_costs", "call_volume_hourly", "node_funnel", "node_outcomes", "queue_hourly")),
                   *(f'google_bigquery_table.report_view_summaries["{v}"]'
                     for v in ("billing_monthly", "call_volume_daily", "flow_costs"))},
    "CKV_GCP_62": {"google_storage_bucket.function_sources"},
}

# Public functions: their invoker binding is the CKV_GCP_102 skip, once per function.
PUBLIC_FUNCTIONS = {"incoming_call", "flow_step", "deploy_flow", "route_department"}


def checkov_binary() -> str:
    candidates = [os.environ.get("IVR_CHECKOV"), str(ROOT / ".venv" / "checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("checkov")
    if found:
        return found
    message = "checkov is not installed: `make install` puts it in .venv/checkov (requirements-checkov.txt)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_checkov(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            checkov_binary(),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # No Prisma Cloud key, no telemetry: the scan needs nothing from the network.
        env={k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))},
    )
    # Exit 1 means "checks failed", reported below from the JSON; anything else is checkov itself.
    assert result.returncode in (0, 1), f"checkov exited {result.returncode}: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "terraform", (
        f"unexpected checkov report: {result.stdout[:500]}"
    )
    return report


@cache
def repository_report() -> dict[str, Any]:
    return run_checkov(TF)


def _short(resource: str) -> str:
    """`module.platform.module.functions["flow_step"].google_x.y[0]` -> `google_x.y`."""
    return re.sub(r"\[\d+\]$", "", resource.rsplit("].", 1)[-1].rsplit("module.platform.", 1)[-1])


def _where(check: dict[str, Any]) -> str:
    first, last = check["file_line_range"]
    return f"{check['check_id']} {check['resource']} ({check['file_path']}:{first}-{last}): {check['check_name']}"


def test_no_failed_checks() -> None:
    report = repository_report()
    results = report["results"]
    assert not results["parsing_errors"], f"checkov could not parse {results['parsing_errors']}"
    failed = [_where(c) for c in results["failed_checks"]]
    assert not failed, "checkov failed checks (fix them, or skip inline with the reason):\n" + "\n".join(failed)


def test_the_scan_covered_the_platform() -> None:
    summary = repository_report()["summary"]
    assert summary["resource_count"] >= 60, f"checkov scanned only {summary['resource_count']} resources"
    assert summary["passed"] >= 40, f"only {summary['passed']} checks passed: did checkov read the modules?"
    passed = {(c["check_id"], _short(c["resource"])) for c in repository_report()["results"]["passed_checks"]}
    # A few checks that must keep passing: they are what the resources were written for.
    for expected in (
        ("CKV_GCP_121", "google_bigquery_table.call_events"),  # deletion protection, dev included
        ("CKV_GCP_114", "google_storage_bucket.function_sources"),  # public access prevention
        ("CKV_GCP_29", "google_storage_bucket.function_sources"),  # uniform bucket-level access
        ("CKV_GCP_102", "google_cloud_run_service_iam_member.tasks_invoke_route_department"),  # not public
        ("CKV_GCP_124", "google_cloudfunctions2_function.this"),  # ingress not open to all
        ("CKV_GCP_49", "google_project_iam_member.tenant_token_accessor"),  # no impersonation role
    ):
        assert expected in passed, f"{expected} no longer passes"
    # route_department is public at the IAM level but not open to all traffic (ingress).
    passed_full = {(c["check_id"], c["resource"]) for c in repository_report()["results"]["passed_checks"]}
    route_department = 'module.platform.module.functions["route_department"].google_cloudfunctions2_function.this'
    assert ("CKV_GCP_124", route_department) in passed_full


def test_skips_are_the_reviewed_ones_and_give_reasons() -> None:
    skipped = repository_report()["results"]["skipped_checks"]
    found: dict[str, set[str]] = {}
    public_functions = set()
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= 40, f"{_where(check)} is skipped without a real reason: {reason!r}"
        found.setdefault(check["check_id"], set()).add(_short(check["resource"]))
        # checkov also reports a `count = 0` resource, without an index: only [0] is a real binding.
        if check["check_id"] == "CKV_GCP_102" and check["resource"].endswith("[0]"):
            public_functions.add(check["resource"].split('functions["', 1)[1].split('"', 1)[0])
    assert found == EXPECTED_SKIPS, "skipped checks changed: review them and update EXPECTED_SKIPS"
    assert public_functions == PUBLIC_FUNCTIONS, f"publicly invokable functions are {sorted(public_functions)}"

    webhook_reason = next(c for c in skipped if c["check_id"] == "CKV_GCP_102")["check_result"]["suppress_comment"]
    assert "Twilio cannot send a bearer token" in webhook_reason
    assert "X-Twilio-Signature" in webhook_reason


def test_the_harness_reports_failures_and_skips(tmp_path: Path) -> None:
    """The assertions above are only as good as the parsing of checkov's report: a known finding and a
    known skip in a scratch configuration must come out as such."""
    (tmp_path / "main.tf").write_text(
        """
resource "google_bigquery_table" "unprotected" {
  dataset_id          = "d"
  table_id            = "t"
  deletion_protection = false
}

resource "google_bigquery_table" "waived" {
  #checkov:skip=CKV_GCP_121:scratch table of this test, deleted with the test
  dataset_id          = "d"
  table_id            = "w"
  deletion_protection = false
}
""",
        encoding="utf-8",
    )
    results = run_checkov(tmp_path)["results"]
    failed = {(c["check_id"], c["resource"]) for c in results["failed_checks"]}
    skipped = {(c["check_id"], c["resource"]) for c in results["skipped_checks"]}
    assert ("CKV_GCP_121", "google_bigquery_table.unprotected") in failed
    assert ("CKV_GCP_121", "google_bigquery_table.waived") in skipped
    assert ("CKV_GCP_121", "google_bigquery_table.waived") not in failed
