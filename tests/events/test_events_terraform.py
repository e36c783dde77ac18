"""Structure of the event pipeline's Terraform: the call list indexes, the call_events table, the
sweeper's schedule and account, the routing outbox's indexes. Read with python-hcl2 (no provider, no network)."""

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


def test_the_sweeper_runs_every_minute_as_its_own_account_on_the_sweep_endpoint() -> None:
    from hcl_tree import block, load_dir

    job = resource(PLATFORM, "google_cloud_scheduler_job", "events_sweeper")
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == "${local.public_base_url}/api/events/sweep?olderThanSeconds=" \
                            "${var.events_sweep_older_than_seconds}"  # fmt: skip
    token = block(target, "oidc_token")
    # The sweep endpoint accepts exactly this account (IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT) and audience.
    assert token["service_account_email"] == "${google_service_account.events_sweeper.email}"
    assert token["audience"] == "${local.public_base_url}"
    assert block(job, "retry_config")["retry_count"] == 0
    variables = {name: body for v in load_dir(PLATFORM).get("variable", []) for name, body in v.items()}
    assert variables["events_sweep_schedule"]["default"] == "* * * * *"
    assert variables["events_sweep_older_than_seconds"]["default"] == 120
    account = resource(PLATFORM, "google_service_account", "events_sweeper")
    assert account["account_id"] == "${var.name_prefix}-events-sweeper"
    assert locals_(PLATFORM)["events_sweeper_environment"] == {
        "IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT": "${google_service_account.events_sweeper.email}"}


def test_the_sweeper_account_holds_no_role_anywhere() -> None:
    """Least privilege: no IAM binding, membership or actAs names the sweeper's account; it only signs
    the scheduler's tokens, and the app accepts them on the sweep endpoint alone."""
    from hcl_tree import resources

    found = [f"{rtype}.{name}" for rtype, named in resources(PLATFORM).items() for name, body in named.items()
             if ("iam" in rtype or "binding" in rtype) and "google_service_account.events_sweeper" in str(body)]
    assert found == []
    for rtype, named in resources(PLATFORM).items():
        for name, body in named.items():
            if rtype != "google_cloud_scheduler_job" and rtype != "google_service_account":
                assert "events_sweeper.email" not in str(body), f"{rtype}.{name} uses the sweeper's account"


def test_the_routing_outbox_is_found_by_collection_group_indexes_and_not_indexed_itself() -> None:
    assert locals_(PLATFORM)["routing_outbox_collections"] == "${toset([\"entries\", \"agents\"])}"
    since = resource(PLATFORM, "google_firestore_field", "routing_outbox_since")
    assert since["for_each"] == "${local.routing_outbox_collections}" and since["field"] == "outbox_since"
    scopes = {(i["order"], i["query_scope"]) for i in since["index_config"][0]["indexes"]}
    assert ("ASCENDING", "COLLECTION_GROUP") in scopes  # the sweeper's query (routing_firestore.outboxes_since)
    assert {("ASCENDING", "COLLECTION"), ("DESCENDING", "COLLECTION")} <= scopes  # the automatic ones kept
    unindexed = resource(PLATFORM, "google_firestore_field", "routing_outbox_unindexed")
    assert unindexed["field"] == "outbox" and unindexed["index_config"] in ({}, [{}])


def test_the_app_default_sweep_age_is_terraforms() -> None:
    from hcl_tree import load_dir

    from common.config import from_env

    variables = {name: body for v in load_dir(PLATFORM).get("variable", []) for name, body in v.items()}
    assert from_env({}).events_sweep_seconds == variables["events_sweep_older_than_seconds"]["default"]
