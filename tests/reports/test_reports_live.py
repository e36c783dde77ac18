"""From calls to numbers: signed calls through the function apps over HTTP, their events published by
the outbox (IVR_EVENTS=memory), then GET /api/reports/* and the views: the numbers are those of the
calls that were made, counted from what the stack stored, not from the events themselves."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
from livestack import API_KEY_A, API_KEY_B, DEMO_NUMBER, TENANT_A, Stack, build_stack

from common import bootstrap

SCRIPTS = (["1"], ["2"], ["1"])


@pytest.fixture
def called(memory_store: Any) -> Iterator[tuple[Stack, list[dict[str, Any]]]]:
    logging.getLogger("ivr.request").setLevel(logging.WARNING)  # three calls' request lines are noise here
    stack = build_stack(memory_store, all_examples=False, IVR_EVENTS="memory")
    try:
        results = [stack.call(DEMO_NUMBER, script).to_dict() for script in SCRIPTS]
        assert stack.svc.events is not None
        stack.svc.events.drain()
        yield stack, results
    finally:
        logging.getLogger("ivr.request").setLevel(logging.NOTSET)
        bootstrap.install(None)


def get(stack: Stack, path: str, key: str = API_KEY_A) -> Any:
    response = stack.api("GET", path, key=key)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def test_billing_counts_the_calls_made(called: tuple[Stack, list[dict[str, Any]]]) -> None:
    stack, results = called
    [row] = get(stack, "/api/reports/billing")["rows"]
    published = stack.svc.events.publisher.unique()
    assert (row["tenant_id"], row["calls"], row["calls_not_completed"]) == (TENANT_A, len(SCRIPTS), 0)
    assert row["webhook_steps"] == sum(len(r["webhooks"]) for r in results)
    assert row["events"] == len(published)
    assert (row["function_requests"], row["firestore_reads"], row["firestore_writes"], row["firestore_deletes"]) == \
        (row["webhook_steps"], row["webhook_steps"], 2 * row["webhook_steps"], len(SCRIPTS))  # fmt: skip
    assert get(stack, "/api/reports/billing", key=API_KEY_B)["rows"] == []


def test_the_funnel_follows_the_paths_the_calls_took(called: tuple[Stack, list[dict[str, Any]]]) -> None:
    stack, results = called
    paths = [stack.stored(r["callSid"]).state.path for r in results]
    visited = Counter(node for path in paths for node in set(path))
    funnel = get(stack, "/api/reports/funnel/support_line")
    assert len(funnel["versions"]) == 1 and funnel["flow_version"] == funnel["versions"][0]
    assert {n["node_id"]: n["callers"] for n in funnel["nodes"]} == dict(visited)
    ended = Counter(path[-1] for path in paths)
    assert {n["node_id"]: n["ended"] for n in funnel["nodes"] if n["ended"]} == dict(ended)
    by_node = {n["node_id"]: n for n in funnel["nodes"]}
    assert [(o["outcome"], o["left"]) for o in by_node["menu"]["outcomes"]] == [("success", 3)]
    # the menu's answer is routed on: "1" twice (to_sales), "2" once (to_support)
    assert sorted(o["left"] for o in by_node["route"]["outcomes"]) == [1, 2]
    assert (by_node["to_sales"]["callers"], by_node["to_support"]["callers"]) == (2, 1)


def test_costs_per_flow_version(called: tuple[Stack, list[dict[str, Any]]]) -> None:
    stack, results = called
    [row] = get(stack, "/api/reports/costs")["rows"]
    assert (row["flow_id"], row["calls"], row["webhook_steps"]) == \
        ("support_line", len(SCRIPTS), sum(len(r["webhooks"]) for r in results))  # fmt: skip
    assert row["platform_cost_per_call_usd"] == pytest.approx(row["platform_cost_usd"] / len(SCRIPTS))
    assert row["platform_cost_usd"] > 0
