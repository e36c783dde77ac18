"""Department and agent settings (common/core/routing_model.py): every rule one table row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from common.core.routing_model import (
    AgentSettings,
    DepartmentSettings,
    HoldSettings,
    LadderStep,
    RoutingError,
    contact_kind,
    entry_id,
    iso,
    normalise_contact,
    priority,
)  # fmt: skip


@pytest.mark.parametrize(("given", "expected"), [
    ("high", 100), ("normal", 50), ("low", 10), ("HIGH", 100), (" low ", 10),
    (0, 0), (999, 999), (42, 42), ("7", 7), ("999", 999), ("0", 0),
])  # fmt: skip
def test_priority_accepts(given: int | str, expected: int) -> None:
    assert priority(given) == expected


@pytest.mark.parametrize(("given", "fragment"), [
    (1000, "out of range"), (-1, "out of range"), ("1000", "not high, normal, low"), ("urgent", "not high"),
    ("", "not high"), ("4.5", "not high"), (True, "boolean"), ("-3", "not high"),
])  # fmt: skip
def test_priority_refuses_naming_the_field(given: Any, fragment: str) -> None:
    with pytest.raises(RoutingError, match=fragment) as caught:
        priority(given)
    assert caught.value.field == "priority"


@pytest.mark.parametrize(("given", "normal", "kind"), [
    ("+15551234567", "+15551234567", "number"),
    ("+1 (555) 123-4567", "+15551234567", "number"),
    ("+44 20 7946 0958", "+442079460958", "number"),
    ("sip:ann@pbx.example.com", "sip:ann@pbx.example.com", "sip"),
    ("SIP:ann@pbx.example.com:5061", "sip:ann@pbx.example.com:5061", "sip"),
    ("sips:desk-12@10.0.0.5;transport=tls", "sips:desk-12@10.0.0.5;transport=tls", "sip"),
    ("client:ann", "client:ann", "client"),
    ("client:ann.smith@acme", "client:ann.smith@acme", "client"),
])  # fmt: skip
def test_contacts_are_normalised_and_classified(given: str, normal: str, kind: str) -> None:
    assert normalise_contact(given) == normal
    assert contact_kind(normal) == kind


@pytest.mark.parametrize("given", [
    "15551234567", "+0551234567", "+1555123456789012", "555-1234", "sip:ann", "sip:@host", "sip:ann@",
    "client:", "client:ann smith", "ann@example.com", "tel:+15551234567", "", "+",
])  # fmt: skip
def test_invalid_contacts_are_refused_with_the_accepted_forms(given: str) -> None:
    with pytest.raises(RoutingError, match=r"E\.164.*sip:user@host.*client:name") as caught:
        normalise_contact(given)
    assert caught.value.field == "contact"


def _errors(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(("step", "fragment"), [
    ({"afterSeconds": 60, "action": "raisePriority"}, "exactly one of 'to' or 'by'"),
    ({"afterSeconds": 60, "action": "raisePriority", "to": 90, "by": 10}, "exactly one of 'to' or 'by'"),
    ({"afterSeconds": 60, "action": "overflow"}, "overflow needs 'department'"),
    ({"afterSeconds": 60, "action": "timeout", "department": "x"}, "'department' belongs to overflow"),
    ({"afterSeconds": 60, "action": "voicemail", "by": 5}, "'to' and 'by' belong to raisePriority"),
    ({"afterSeconds": 0, "action": "timeout"}, "greater than or equal to 1"),
    ({"afterSeconds": 60, "action": "dance"}, "Input should be"),
    ({"afterSeconds": 60, "action": "raisePriority", "to": 1000}, "less than or equal to 999"),
    ({"afterSeconds": 60, "action": "overflow", "department": "bad id!"}, "should match pattern"),
])  # fmt: skip
def test_ladder_steps_are_checked(step: dict[str, Any], fragment: str) -> None:
    assert any(fragment in message for _, message in _errors(LadderStep, step))


@pytest.mark.parametrize("step", [
    {"afterSeconds": 30, "action": "raisePriority", "to": 90},
    {"afterSeconds": 30, "action": "raisePriority", "by": 20},
    {"afterSeconds": 60, "action": "overflow", "department": "support"},
    {"afterSeconds": 90, "action": "offerCallback"},
    {"afterSeconds": 120, "action": "voicemail"},
    {"afterSeconds": 600, "action": "timeout"},
])  # fmt: skip
def test_every_ladder_action_is_accepted(step: dict[str, Any]) -> None:
    assert LadderStep.model_validate(step).after_seconds == step["afterSeconds"]


def test_department_errors_name_the_field_path() -> None:
    errors = _errors(DepartmentSettings, {
        "name": "Sales", "ringTimeoutSeconds": 2, "strategy": "loudest",
        "hold": {"musicUrl": "ftp://x", "announceEverySeconds": 5, "escapeMenu": {"callback": "maybe"}},
        "escalation": [{"afterSeconds": 60, "action": "timeout"}, {"afterSeconds": 30, "action": "overflow"}],
        "colour": "red",
    })  # fmt: skip
    fields = {loc for loc, _ in errors}
    assert ("ringTimeoutSeconds",) in fields and ("strategy",) in fields and ("colour",) in fields
    assert ("hold", "musicUrl") in fields and ("hold", "announceEverySeconds") in fields
    assert ("hold", "escapeMenu", "callback") in fields
    assert ("escalation", 1) in fields  # overflow without a department


def test_ladder_must_be_in_time_order() -> None:
    errors = _errors(DepartmentSettings, {"name": "S", "escalation": [
        {"afterSeconds": 60, "action": "raisePriority", "by": 1}, {"afterSeconds": 30, "action": "timeout"}]})
    assert any("order the ladder by afterSeconds" in m for _, m in errors)


def test_department_defaults_and_both_spellings() -> None:
    camel = DepartmentSettings.model_validate({"name": "Sales", "maxQueueSize": 5, "joinWhenEmpty": "always"})
    snake = DepartmentSettings.model_validate({"name": "Sales", "max_queue_size": 5, "join_when_empty": "always"})
    assert camel == snake
    assert (camel.strategy, camel.ring_timeout_seconds, camel.wrap_up_seconds, camel.autopause_after) == \
        ("longestIdle", 20, 30, 3)  # fmt: skip
    assert camel.hold == HoldSettings() and camel.hold.music_url is None
    assert DepartmentSettings.model_validate(camel.model_dump(mode="json")) == camel  # the stored form reads back


def test_announcements_zero_means_never_but_not_too_often() -> None:
    assert HoldSettings(announce_every_seconds=0).announce_every_seconds == 0
    with pytest.raises(ValidationError, match="15-3600"):
        HoldSettings(announce_every_seconds=10)


def test_agent_settings() -> None:
    memberships = [{"department": "sales"}, {"department": "vip", "tier": 2}]
    agent = AgentSettings.model_validate({"name": "Ann", "contact": "+1 555 123 4567", "departments": memberships})
    assert agent.contact == "+15551234567" and agent.contact_kind == "number"
    assert (agent.tier("sales"), agent.tier("vip"), agent.tier("support")) == (1, 2, None)
    bad = [{"department": "a", "tier": 10}, {"department": "a"}]
    errors = _errors(AgentSettings, {"name": "Bob", "contact": "bob@example.com", "departments": bad})
    fields = {loc for loc, _ in errors}
    assert ("contact",) in fields and ("departments", 0, "tier") in fields
    twice = [{"department": "a"}, {"department": "a"}]
    dupes = _errors(AgentSettings, {"name": "B", "contact": "client:b", "departments": twice})
    assert any("listed twice" in m for _, m in dupes)
    assert any(loc == ("departments",) for loc, _ in _errors(AgentSettings, {"name": "C", "contact": "client:c",
                                                                               "departments": []}))  # fmt: skip


def test_entry_id_is_deterministic_per_call_and_department() -> None:
    assert entry_id("CA1", "sales") == entry_id("CA1", "sales")
    assert len({entry_id("CA1", "sales"), entry_id("CA1", "support"), entry_id("CA2", "sales")}) == 3
    assert len(entry_id("CA1", "sales")) == 32


def test_iso_is_fixed_width_utc_so_strings_sort_as_times() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = datetime(2026, 3, 2, 11, 0, tzinfo=plus_two)  # 09:00 UTC
    b = datetime(2026, 3, 2, 9, 0, 0, 1, tzinfo=UTC)
    assert iso(a) == "2026-03-02T09:00:00.000000+00:00"
    assert iso(a) < iso(b) and len(iso(a)) == len(iso(b))
    with pytest.raises(ValueError, match="timezone-aware"):
        iso(datetime(2026, 3, 2, 9, 0))
