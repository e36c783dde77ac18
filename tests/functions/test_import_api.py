"""POST /api/flows/{flowId}/import over HTTP: a Studio export becomes the flow's draft (etag, If-Match,
roles and tenants as PUT /api/flows/{flowId}), with the import's report; nothing is saved on refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livestack import API_KEY_B, Stack, build_stack

from common import bootstrap

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "studio"


@pytest.fixture
def stack(memory_store: Any) -> Iterator[Stack]:
    yield build_stack(memory_store, all_examples=False)
    bootstrap.install(None)


def body(response: Any) -> Any:
    return json.loads(response.get_data(as_text=True))


def export(name: str = "ivr_builder_basic.json") -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def test_an_export_becomes_the_draft_with_its_report(stack: Stack) -> None:
    response = stack.api("POST", "/api/flows/from_studio/import", json={"format": "studio", "document": export()})
    assert response.status_code == 200, body(response)
    imported = body(response)
    assert response.headers["ETag"] == f'"{imported["etag"]}"' and imported["flowId"] == "from_studio"
    widgets = {w["widget"] for w in imported["report"]["widgets"]}
    states = {s["name"] for s in export()["states"]}
    assert widgets == states  # every widget is accounted for
    draft = stack.api("GET", "/api/flows/from_studio")
    assert draft.status_code == 200 and body(draft)["nodes"] == imported["flow"]["nodes"]
    assert draft.headers["ETag"] == response.headers["ETag"]


def test_a_stale_etag_is_a_conflict_and_keeps_the_draft(stack: Stack) -> None:
    first = stack.api("POST", "/api/flows/from_studio/import", json={"format": "studio", "document": export()})
    again = stack.api("POST", "/api/flows/from_studio/import", json={"format": "studio", "document": export()},
                      headers={"If-Match": '"not-the-etag"'})  # fmt: skip
    assert again.status_code in (409, 412), body(again)
    assert stack.api("GET", "/api/flows/from_studio").headers["ETag"] == first.headers["ETag"]


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"format": "studio", "document": {"states": 3}}, 400, "document.states"),
    ({"format": "bpmn", "document": {}}, 400, "format"),
    ({"document": {}}, 400, "format"),
])  # fmt: skip
def test_what_is_not_a_studio_export_is_refused_by_field(stack: Stack, payload: dict[str, Any], status: int,
                                                         field: str) -> None:  # fmt: skip
    response = stack.api("POST", "/api/flows/from_studio/import", json=payload)
    assert response.status_code == status, body(response)
    assert body(response)["error"]["details"][0]["field"] == field
    assert stack.api("GET", "/api/flows/from_studio").status_code == 404  # nothing saved


FROM_A_NEWER_STUDIO = {
    "description": "newer", "initial_state": "Trigger", "flags": {},
    "states": [
        {"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
         "transitions": [{"event": "incomingCall", "next": "future_widget"}]},
        {"name": "future_widget", "type": "hologram-call-v9", "transitions": [], "properties": {}},
    ],
}  # fmt: skip


def test_strict_refuses_an_import_with_warnings_and_saves_nothing(stack: Stack) -> None:
    lenient = body(stack.api("POST", "/api/flows/lenient/import",
                             json={"format": "studio", "document": FROM_A_NEWER_STUDIO}))  # fmt: skip
    assert [w["widget"] for w in lenient["report"]["warnings"]] == ["future_widget"]
    response = stack.api("POST", "/api/flows/strict_one/import",
                         json={"format": "studio", "document": FROM_A_NEWER_STUDIO, "strict": True})
    assert response.status_code == 422 and body(response)["error"]["code"] == "import_warnings"
    assert "future_widget" in body(response)["error"]["message"]
    assert stack.api("GET", "/api/flows/strict_one").status_code == 404


def test_another_tenant_does_not_see_the_import(stack: Stack) -> None:
    assert stack.api("POST", "/api/flows/from_studio/import",
                     json={"format": "studio", "document": export()}).status_code == 200
    assert stack.api("GET", "/api/flows/from_studio", key=API_KEY_B).status_code == 404


def test_a_viewer_may_not_import(stack: Stack) -> None:
    viewer = body(stack.api("POST", "/api/keys", json={"role": "viewer"}))["key"]
    response = stack.api("POST", "/api/flows/from_studio/import", json={"format": "studio", "document": export()},
                         key=viewer)  # fmt: skip
    assert response.status_code == 403
