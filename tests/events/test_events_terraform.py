"""Structure of the event pipeline's Terraform: the call list indexes, the call_events table, the
sweeper's schedule. Read with python-hcl2 (no provider, no network)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "terraform"))

from hcl_tree import PLATFORM, locals_, resource


def test_call_list_indexes_match_the_list_calls_queries() -> None:
    indexes = locals_(PLATFORM)["call_list_indexes"]
    found = {name: tuple((f["field_path"], f["order"]) for f in fields) for name, fields in indexes.items()}
    assert found == {
        "calls_by_tenant": (("tenant_id", "ASCENDING"), ("created_at", "DESCENDING")),
        "calls_by_tenant_status": (("tenant_id", "ASCENDING"), ("status", "ASCENDING"), ("created_at", "DESCENDING")),
    }
    index = resource(PLATFORM, "google_firestore_index", "call_list")
    assert index["for_each"] == "${local.call_list_indexes}"
    assert index["collection"] == "calls" and index["query_scope"] == "COLLECTION"


def test_the_sweeper_runs_every_minute_with_the_tasks_identity_on_the_sweep_endpoint() -> None:
    from hcl_tree import block, load_dir

    job = resource(PLATFORM, "google_cloud_scheduler_job", "events_sweeper")
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == "${local.public_base_url}/api/events/sweep?olderThanSeconds=" \
                            "${var.events_sweep_older_than_seconds}"  # fmt: skip
    token = block(target, "oidc_token")
    # The task endpoints accept exactly this account (IVR_TASKS_SERVICE_ACCOUNT) and audience (IVR_TASKS_AUDIENCE).
    assert token["service_account_email"] == "${google_service_account.tasks_invoker.email}"
    assert token["audience"] == "${local.public_base_url}"
    assert block(job, "retry_config")["retry_count"] == 0
    variables = {name: body for v in load_dir(PLATFORM).get("variable", []) for name, body in v.items()}
    assert variables["events_sweep_schedule"]["default"] == "* * * * *"
    assert variables["events_sweep_older_than_seconds"]["default"] == 120


def test_the_app_default_sweep_age_is_terraforms() -> None:
    from hcl_tree import load_dir

    from common.config import from_env

    variables = {name: body for v in load_dir(PLATFORM).get("variable", []) for name, body in v.items()}
    assert from_env({}).events_sweep_seconds == variables["events_sweep_older_than_seconds"]["default"]
