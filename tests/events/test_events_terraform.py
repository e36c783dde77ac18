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
