"""Property-based: any JSON-shaped, Studio-like document imports into a valid flow or is a clear error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from studiokit import NOW

from common.core import simulator, twiml, validation
from common.core.studio import CONVERTERS, ImportOptions, StudioImportError, import_studio
from common.core.studio_build import EVENTS

NAMES = st.sampled_from(["Trigger", "menu", "Main Menu", "a", "b", "c", "hello world", "x.y", "", " ", "é"])
TYPES = st.sampled_from([*CONVERTERS, "trigger", "brand-new-widget", "", "TRIGGER"])
EVENT_NAMES = st.sampled_from(sorted({e for events in EVENTS.values() for e in events} | {"fail", "callComplete",
                                                                                          "nope", ""}))
KEYS = st.sampled_from(["say", "play", "loop", "voice", "language", "timeout", "number_of_digits", "finish_on_key",
                        "url", "method", "body", "content_type", "parameters", "variables", "to", "noun", "caller_id",
                        "queue_name", "workflow", "priority", "attributes", "max_length", "input", "hints",
                        "speech_timeout", "record", "waitUrl", "wait_url", "offset", "flow_sid", "from",
                        "media_url", "record_call", "recording_channels", "trim", "flow_revision"])
TEXT = st.one_of(st.text(max_size=30), st.sampled_from([
    "{{widgets.menu.Digits}}", "{{ widgets. a .x }}", "{% if x %}", "${SECRET}", "https://e.example/x",
    "+14155550100", "true", "3600", "-5", "sip:a@b.example", "client:bob", "{{trigger.message.Body}}", "{{",
    "FW1", "{{widgets.b.x}}", "{{trigger.parent.parameters.x}}"]))
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.one_of(KEYS, TEXT), inner,
                                                                                  max_size=3),
                    max_leaves=8)  # fmt: skip
CONDITION = st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["equal_to", "regex", "less_than",
                                                                      "is_before_time", "matches_any_of"]), TEXT),
                                   "value": JSON, "arguments": st.lists(TEXT, max_size=2)})  # fmt: skip
TRANSITION = st.fixed_dictionaries({"event": st.one_of(EVENT_NAMES, JSON)},
                                   optional={"next": st.one_of(NAMES, JSON), "conditions": st.lists(CONDITION,
                                                                                                    max_size=2)})
STATE = st.fixed_dictionaries({"name": st.one_of(NAMES, JSON), "type": st.one_of(TYPES, JSON)},
                              optional={"transitions": st.one_of(st.lists(TRANSITION, max_size=4), JSON),
                                        "properties": st.one_of(st.dictionaries(KEYS, JSON, max_size=6), JSON)})
DOCUMENT = st.one_of(
    st.fixed_dictionaries({"states": st.lists(STATE, max_size=8)},
                          optional={"initial_state": st.one_of(NAMES, JSON), "description": JSON, "flags": JSON}),
    st.fixed_dictionaries({"definition": JSON}), JSON,
)


def _trigger_first(document: Any) -> Any:
    """Most generated documents get a trigger whose incomingCall leads to the first other widget."""
    if isinstance(document, dict) and isinstance(document.get("states"), list) and document["states"]:
        first = document["states"][0]
        nxt = first.get("name") if isinstance(first, dict) else None
        trigger = {"name": "Trigger", "type": "trigger",
                   "transitions": [{"event": "incomingCall", "next": nxt if isinstance(nxt, str) else "a"}]}
        return {**document, "states": [trigger, *document["states"]]}
    return document


def _subflow(document: Any) -> Any:
    """A generated document as a subflow: its trigger starts it by incomingParent."""
    if isinstance(document, dict) and isinstance(document.get("states"), list) and document["states"]:
        first = document["states"][0]
        nxt = first.get("name") if isinstance(first, dict) else None
        trigger = {"name": "Trigger", "type": "trigger",
                   "transitions": [{"event": "incomingParent", "next": nxt if isinstance(nxt, str) else "a"}]}
        return {**document, "states": [trigger, *document["states"]]}
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT, st.booleans())
def test_studio_like_documents_import_into_valid_flows_or_a_clear_error(document: Any, add_trigger: bool) -> None:
    if add_trigger:
        document = _trigger_first(document)
    check(document)


SUBFLOW_STATES = st.fixed_dictionaries({"states": st.lists(STATE, min_size=1, max_size=6)})
PARAMETERS = st.lists(st.fixed_dictionaries({"key": st.one_of(NAMES, JSON), "value": JSON}), max_size=3)
RUN_SUBFLOW = st.fixed_dictionaries(
    {"name": st.sampled_from(["run", "Run It", "b"]), "type": st.just("run-subflow"),
     "properties": st.fixed_dictionaries({"flow_sid": st.just("FW1")},
                                         optional={"parameters": st.one_of(PARAMETERS, JSON), "flow_revision": JSON})},
    optional={"transitions": st.lists(TRANSITION, max_size=3)})  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RUN_SUBFLOW, st.lists(st.one_of(STATE, RUN_SUBFLOW), max_size=5), st.one_of(SUBFLOW_STATES, DOCUMENT))
def test_documents_with_random_subflows_import_into_valid_flows_or_a_clear_error(first: Any, states: list[Any],
                                                                                 subflow: Any) -> None:  # fmt: skip
    # the call reaches a run-subflow first; the subflow may itself run FW1: nesting stops at the depth limit
    check(_trigger_first({"states": [first, *states]}), ImportOptions(subflows={"FW1": _subflow(subflow)}))


def check(document: Any, options: ImportOptions | None = None) -> None:
    try:
        result = import_studio(document, options)
    except StudioImportError as exc:
        assert str(exc)
        return
    assert result.report["validation"]["errors"] == [], result.report["validation"]["errors"]
    assert result.ok
    reported = [w["widget"] for w in result.report["widgets"]]
    assert len(reported) == len(set(reported))  # each widget once
    # a call through the imported flow never emits TwiML Twilio would refuse
    flow = validation.compile_flow(result.flow)
    sim = simulator.simulate(flow, ["1", "speech:yes", "silence"], now=NOW)
    assert sim.problems == []
    for document_text in sim.twiml:
        assert twiml.check(document_text) == []
