"""The service behind POST /api/flows/{flowId}/import, called directly on the in-memory store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from studiokit import definition, load, widget

from common.adapters.memory import MemoryStore
from common.adapters.ports import Tenant
from common.adapters.twilio_numbers import TrustingOwnership
from common.config import Settings
from common.service.admin import AdminService, ApiError
from common.service.call_caches import FlowCache, NumberCache
from common.service.studio_import import StudioImportRequest, import_studio

TENANT = Tenant(id="acme", name="Acme", twilio_account_sid="AC" + "0" * 32)


@pytest.fixture
def admin() -> AdminService:
    store = MemoryStore()
    store.put_tenant(TENANT)
    return AdminService(store, Settings(), lambda: datetime(2026, 1, 5, tzinfo=UTC), FlowCache(store),
                        NumberCache(store, 5.0), TrustingOwnership())  # fmt: skip


def body(document: Any, **extra: Any) -> dict[str, Any]:
    return {"format": "studio", "document": document, **extra}


def test_an_import_is_saved_as_the_draft_with_its_report(admin: AdminService) -> None:
    answer = import_studio(admin, TENANT, "schedule_line", body(load("flex_schedule_flow.json"),
                           placeholders={"SCHEDULE_MANAGER_DOMAIN": "s.example.com"}, name="Open hours"), "ada")
    assert answer["flowId"] == "schedule_line" and answer["flow"]["id"] == "schedule_line"
    assert answer["flow"]["name"] == "Open hours"
    assert answer["report"]["ok"] is True and answer["report"]["warnings"] == []
    stored, etag = admin.get_flow(TENANT, "schedule_line")
    assert stored == answer["flow"] and etag == answer["etag"]
    assert admin.store.get_draft("acme", "schedule_line").updated_by == "ada"  # type: ignore[union-attr]


def test_departments_and_the_map_decide_the_queue(admin: AdminService) -> None:
    answer = import_studio(admin, TENANT, "voice", body(load("flex_voice_flow.json"), departmentMap={"WW1": "support"},
                           placeholders={"WORKFLOW_SID": "WW1"}, strict=True), departments=["support"])  # fmt: skip
    target = next(n for n in answer["flow"]["nodes"] if n["id"] == "SendCallToAgent")["data"]["target"]
    assert target["department"] == "support"


def test_strict_refuses_warnings_with_422_and_saves_nothing(admin: AdminService) -> None:
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "voice", body(load("flex_voice_flow.json"), strict=True))
    error = caught.value
    assert error.status == 422 and error.code == "import_warnings"
    assert [w["code"] for w in error.details["warnings"]] == ["placeholder", "department_unmatched"]
    assert "2 warning(s)" in error.message
    assert admin.store.get_draft("acme", "voice") is None
    relaxed = import_studio(admin, TENANT, "voice", body(load("flex_voice_flow.json")))
    assert len(relaxed["report"]["warnings"]) == 2


@pytest.mark.parametrize(("payload", "field"), [
    (None, "format"), ([], ""), ({"document": {}}, "format"), (body({}, format="bpmn"), "format"),
    (body("text"), "document"), (body({}, extra=1), "extra"), (body({}, strict="maybe"), "strict"),
    (body({}, placeholders={"1bad": "x"}), "placeholders.1bad"),
    (body({}, departmentMap={"q": "bad dept"}), "departmentMap.q"),
])  # fmt: skip
def test_a_body_that_is_not_an_import_request_is_400_naming_the_field(admin: AdminService, payload: Any,
                                                                      field: str) -> None:  # fmt: skip
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "f", payload)
    assert caught.value.status == 400
    assert caught.value.details[0]["field"] == field


@pytest.mark.parametrize(("document", "field"), [
    ({}, "document.states"), ({"states": "x"}, "document.states"), ({"definition": "{oops"}, "document.definition"),
    ({"states": [{"name": "a", "type": "say-play"}]}, "document.states"),
])  # fmt: skip
def test_a_document_that_is_not_a_studio_flow_is_400(admin: AdminService, document: Any, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "f", body(document))
    assert (caught.value.status, caught.value.code, caught.value.details[0]["field"]) == (400, "not_studio", field)
    assert admin.store.get_draft("acme", "f") is None


def test_too_many_widgets_and_a_bad_flow_id_are_400(admin: AdminService) -> None:
    many = definition(*[widget(f"w{i}", "say-play", [("audioComplete", f"w{i + 1}")], say="x") for i in range(2001)])
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "f", body(many))
    assert caught.value.status == 400 and "2002 widgets" in caught.value.message
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "bad id!", body(definition()))
    assert caught.value.status == 400 and caught.value.details[0]["field"] == "flowId"


def test_a_studio_flow_that_needs_more_nodes_than_a_flow_has_is_400_too_large(admin: AdminService) -> None:
    # 2,000 widgets with the trigger (Studio's limit, so the widget check lets them in): 2,001 nodes
    chain = [widget(f"w{i}", "say-play", [("audioComplete", f"w{i + 1}" if i < 1998 else None)], say="x")
             for i in range(1999)]  # fmt: skip
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "f", body(definition(*chain)))
    assert (caught.value.status, caught.value.code, caught.value.details[0]["field"]) == (400, "too_large",
                                                                                         "document.states")
    assert "would need 2,001 nodes" in caught.value.message and admin.store.get_draft("acme", "f") is None


def test_if_match_conflicts_are_409(admin: AdminService) -> None:
    first = import_studio(admin, TENANT, "f", body(definition(widget("hi", "say-play", [], say="Hi"))))
    with pytest.raises(ApiError) as caught:
        import_studio(admin, TENANT, "f", body(definition()), if_match="stale-etag")
    assert caught.value.status == 409
    again = import_studio(admin, TENANT, "f", body(definition()), if_match=first["etag"])
    assert again["etag"] != first["etag"]


def test_subflows_and_the_request_model() -> None:
    request = StudioImportRequest.model_validate(body({"states": []}, subflows={"FW1": {"states": []}}))
    assert request.subflows == {"FW1": {"states": []}}
    schema = json.dumps(StudioImportRequest.model_json_schema(by_alias=True))
    assert "departmentMap" in schema and "subflows" in schema
