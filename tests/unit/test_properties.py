"""Property tests: validate() never crashes; valid flows always end and always emit valid TwiML."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from unittest import mock

from flowkit import NOW
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from common.core import engine, simulator, twiml, validation
from common.core.errors import FlowInvalid
from common.core.flow import DEPARTMENT_OUTCOMES, NODE_TYPES

# No example database: the tests write nothing into the working tree.
SETTINGS = settings(deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip

# --- (a) garbage in, a report out -----------------------------------------------------------------

_SCHEMA_DEFS = validation.json_schema()["$defs"]
# Every data field the designer can write, from the schema itself, so random data hits real fields.
DATA_KEYS = sorted({key for name, d in _SCHEMA_DEFS.items() if name.endswith("Data") for key in d["properties"]})
IDS = ["start", "a", "b", "c", "d", "bad id", "", "x" * 70]
HANDLES = ["next", "success", "noInput", "noMatch", "default", "r0", "completed", "noAnswer", "busy", "failed",
           "recorded", "noAudio", "open", "closed", "bogus", ""]  # fmt: skip
SNIPPETS = ["Hello.", "{{ caller.from }}", "{{ flow.variables.x }}", "{{ widgets.a.Digits }}", "{{ nope",
            "{% if x %}", "{{ x | plus: 1 }}", "+14155550100", "sip:a@b.example.com", "https://x.example.com/a",
            "[0-9", "(?i)sales", "09:00", "2026-01-05", "ftp://x", "America", "UTC", "Europe/London",
            "dtmf", "dtmf speech", "GET", "POST", "department", "number", "sip", "client", "equal_to",
            "regex", "less_than", "x" * 4097]  # fmt: skip

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                      st.sampled_from(SNIPPETS))  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(DATA_KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def garbage_node(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(json_value)
    raw: dict[str, Any] = {}
    if draw(st.booleans()) or kind > 2:
        raw["id"] = draw(st.one_of(st.sampled_from(IDS), json_leaf))
    if kind != 1:
        raw["type"] = draw(st.one_of(st.sampled_from(sorted(NODE_TYPES)), json_leaf))
    if draw(st.booleans()):
        raw["data"] = draw(st.one_of(st.dictionaries(st.sampled_from(DATA_KEYS), json_value, max_size=6),
                                     json_value))  # fmt: skip
    if draw(st.booleans()):
        raw["position"] = draw(st.one_of(st.fixed_dictionaries({"x": json_leaf, "y": json_leaf}), json_value))
    if kind == 9:
        raw.update(draw(st.dictionaries(st.text(max_size=8), json_value, max_size=3)))
    return raw


@st.composite
def garbage_edge(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    raw = {"id": draw(st.one_of(st.text(min_size=1, max_size=4), json_leaf)),
           "source": draw(st.one_of(st.sampled_from(IDS), json_leaf)),
           "target": draw(st.one_of(st.sampled_from(IDS), json_leaf))}  # fmt: skip
    if draw(st.booleans()):
        raw["sourceHandle"] = draw(st.one_of(st.sampled_from(HANDLES), json_leaf))
    if draw(st.booleans()):
        raw.pop(draw(st.sampled_from(sorted(raw))))
    return raw


@st.composite
def garbage_document(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(json_value)
    doc: dict[str, Any] = {
        "id": draw(st.one_of(st.just("flow"), json_leaf)),
        "name": draw(st.one_of(st.just("Flow"), json_leaf)),
        "nodes": draw(st.one_of(st.lists(garbage_node(), max_size=8), json_value)),
    }
    if draw(st.booleans()):
        doc["edges"] = draw(st.one_of(st.lists(garbage_edge(), max_size=10), json_value))
    if draw(st.booleans()):
        doc["settings"] = draw(st.one_of(
            st.fixed_dictionaries({}, optional={"timezone": st.one_of(st.sampled_from(SNIPPETS), json_leaf),
                                                "voice": json_leaf, "language": json_leaf,
                                                "variables": json_value, "goodbyeMessage": json_leaf}),
            json_value))  # fmt: skip
    return doc


@settings(SETTINGS, max_examples=300)
@given(doc=garbage_document(), schedules=st.one_of(st.none(), st.sets(st.sampled_from(["a", "business_hours"]))))
def test_validate_never_raises(doc: Any, schedules: set[str] | None) -> None:
    report = validation.validate(doc, schedules)
    assert isinstance(report, validation.ValidationReport)
    assert all(issue.severity == "error" for issue in report.errors)
    assert all(issue.severity == "warning" for issue in report.warnings)
    try:
        validation.compile_flow(doc, schedules)
    except FlowInvalid as exc:
        assert not report.ok
        assert exc.report == report
    else:
        assert report.ok


# pydantic's own wording and bookkeeping, which no message or path may show
PYDANTIC_WORDING = re.compile(r"Input should|String should|List should|Value error|Field required|"
                              r"Extra inputs|constrained-|literal\[|\[key\]|function-after")  # fmt: skip


@settings(SETTINGS, max_examples=300)
@given(doc=garbage_document())
def test_messages_never_use_pydantic_wording(doc: Any) -> None:
    report = validation.validate(doc)
    for issue in [*report.errors, *report.warnings]:
        assert issue.message and not PYDANTIC_WORDING.search(issue.message), issue
        assert not PYDANTIC_WORDING.search(issue.field or ""), issue


# --- (b) valid flows end, and every TwiML document is valid ---------------------------------------

VARIABLES = ["choice", "account", "dept"]
TEXT = st.sampled_from([
    "Hello.", "Hi {{ caller.from }}.", "You chose {{ flow.variables.choice }}.",
    "It is {{ now.weekday }} {{ now.time }}.", "{{ widgets.n1.Digits | default: 'nothing' }}",
    "Balance {{ flow.variables.account | plus: 1 }}.", "Tom & Jerry <3 \"quotes\" 'ok'",
    "{% for i in (1..5) %}{{ i }} {% endfor %}", "Straße, Ünïcödé, 日本語.",
])  # fmt: skip
SPEECH = ["Sales.", "support please", "Billing!", "um", "", "  ", "one two three", "<b>&amp;</b>"]
DIGITS = st.builds(str.__add__, st.text("0123456789*", min_size=1, max_size=8), st.sampled_from(["", "#"]))
E164 = st.from_regex(r"\+1415555[0-9]{4}", fullmatch=True)
VOICE = st.sampled_from([{}, {"voice": "Polly.Amy"}, {"language": "en-GB"}, {"voice": "alice", "language": "fr-FR"}])


@st.composite
def rule_strategy(draw: st.DrawFn, rule_id: str) -> dict[str, Any]:
    operator, value = draw(st.sampled_from([
        ("equal_to", "1"), ("not_equal_to", "sales"), ("matches_any_of", ["1", "sales"]),
        ("does_not_match_any_of", "2, support"), ("is_blank", None), ("is_not_blank", None), ("regex", "^[0-9]+$"),
        ("contains", "sal"), ("does_not_contain", "x"), ("starts_with", "s"), ("does_not_start_with", "1"),
        ("less_than", "5"), ("greater_than", 3), ("is_before_time", "12:00"), ("is_after_time", "09:30"),
        ("is_before_date", "2026-06-01"), ("is_after_date", "2025-12-31"),
    ]))  # fmt: skip
    out: dict[str, Any] = {"id": rule_id, "operator": operator}
    if value is not None:
        out["value"] = value
    if draw(st.booleans()):
        out["input"] = draw(st.sampled_from(["{{ flow.variables.dept }}", "{{ now.time }}", "{{ now.date }}"]))
    return out


@st.composite
def node_data(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    if kind == "sayNode":
        if draw(st.integers(0, 4)) == 0:
            return {"audioUrl": "https://cdn.example.com/{{flow.id}}.mp3", "loop": draw(st.integers(1, 3))}
        return {"text": draw(TEXT), "loop": draw(st.integers(1, 3)), **draw(VOICE)}
    if kind == "collectNode":
        data: dict[str, Any] = {"variable": draw(st.sampled_from(VARIABLES)), "prompt": draw(TEXT),
                                "inputType": draw(st.sampled_from(["dtmf", "speech", "dtmf speech"])),
                                "maxAttempts": draw(st.integers(1, 4)), "timeout": draw(st.integers(1, 10)),
                                "finishOnKey": draw(st.sampled_from(["#", "*", ""]))}  # fmt: skip
        optional = draw(st.fixed_dictionaries({}, optional={
            "numDigits": st.integers(1, 6), "hints": st.lists(st.sampled_from(["sales", "support", "a b"]), max_size=3),
            "speechTimeout": st.one_of(st.just("auto"), st.integers(1, 5)), "noInputMessage": TEXT,
            "noMatchMessage": TEXT, "promptAudioUrl": st.just("https://cdn.example.com/p.mp3"),
            "validation": st.one_of(
                st.fixed_dictionaries({"allowedValues": st.lists(st.sampled_from(["1", "2", "sales", "support"]),
                                                                 min_size=1, max_size=3)}),
                st.fixed_dictionaries({"pattern": st.sampled_from(["[0-9]{2,4}", "sales|support", "(?i).*"])}),
                st.fixed_dictionaries({"minDigits": st.integers(1, 2), "maxDigits": st.integers(2, 6)})),
        }))  # fmt: skip
        return {**data, **optional, **draw(VOICE)}
    if kind == "decisionNode":
        count = draw(st.integers(1, 3))
        return {"input": draw(st.sampled_from(["{{ flow.variables.choice }}", "{{ widgets.n2.status_code }}",
                                               "{{ caller.from }}", "plain"])),
                "rules": [draw(rule_strategy(f"r{i}")) for i in range(count)]}  # fmt: skip
    if kind == "transferNode":
        target = draw(st.one_of(
            st.fixed_dictionaries({"type": st.just("department"), "department": st.sampled_from(["sales", "support"]),
                                   "priority": st.one_of(st.integers(0, 999), st.sampled_from(
                                       ["high", "normal", "low", "{{ flow.variables.choice }}", "{{ caller.from }}"])),
                                   "context": st.just({"caller": "{{ caller.from }}",
                                                       "n": "{{ flow.variables.choice }}"})}),
            st.fixed_dictionaries({"type": st.just("number"), "numbers": st.lists(E164, min_size=1, max_size=10)}),
            st.just({"type": "sip", "uri": "sip:agent@pbx.example.com"}),
            st.just({"type": "client", "identity": "alice"}),
        ))  # fmt: skip
        extras: dict[str, st.SearchStrategy[Any]] = {
            "message": TEXT, "callerId": E164, "timeout": st.integers(5, 60), "record": st.booleans()
        }  # fmt: skip
        extra: dict[str, Any] = draw(st.fixed_dictionaries({}, optional=extras))
        return {"target": target, **extra}
    if kind == "setVariablesNode":
        names = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=3))
        return {"variables": [{"name": n, "value": draw(TEXT)} for n in names]}
    if kind == "httpRequestNode":
        return {"url": draw(st.sampled_from(["https://api.example.com/a/{{ flow.variables.choice }}",
                                             "{{ flow.variables.base }}/b", "https://api.example.com/c?x=1"])),
                "method": draw(st.sampled_from(["GET", "POST"])),
                "contentType": draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded"])),
                "parameters": [{"name": "q", "value": draw(TEXT)}] if draw(st.booleans()) else [],
                **({"saveAs": "account"} if draw(st.booleans()) else {})}  # fmt: skip
    if kind == "voicemailNode":
        return {"prompt": draw(TEXT), "maxLength": draw(st.integers(1, 300)), "playBeep": draw(st.booleans()),
                "transcribe": draw(st.booleans())}  # fmt: skip
    if kind == "hangupNode":
        return draw(st.sampled_from([{}, {"message": "Bye {{ caller.from }}."}]))
    assert kind == "hoursNode"
    return {"schedule": draw(st.sampled_from(["open_hours", "closed_hours", "missing"]))}


OUTCOMES = {"sayNode": ["next"], "setVariablesNode": ["next"], "collectNode": ["success", "noInput", "noMatch"],
            "transferNode": ["completed", "noAnswer", "busy", "failed"], "httpRequestNode": ["success", "failed"],
            "voicemailNode": ["recorded", "noAudio"], "hangupNode": [], "hoursNode": ["open", "closed"]}  # fmt: skip
INPUT_NODES = {"collectNode", "voicemailNode"}


@st.composite
def valid_flow(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 12))
    # Weighted towards the nodes that make calls long: menus, decisions and network waits.
    kinds = [draw(st.sampled_from([*OUTCOMES, "decisionNode", "collectNode", "collectNode", "decisionNode",
                                   "transferNode", "httpRequestNode"])) for _ in range(count)]  # fmt: skip
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "startNode", "data": {}}]
    nodes += [{"id": f"n{i}", "type": kind, "data": draw(node_data(kind))} for i, kind in enumerate(kinds)]
    edges: list[dict[str, Any]] = [{"id": "e-start", "source": "start", "target": "n0"}]
    for i, node in enumerate(nodes[1:]):
        if node["type"] == "decisionNode":
            outcomes = [*(r["id"] for r in node["data"]["rules"]), "default"]
        elif node["type"] == "transferNode" and node["data"]["target"]["type"] == "department":
            outcomes = [*DEPARTMENT_OUTCOMES, "noAnswer"]  # noAnswer: a legacy edge, taken for timeout
        else:
            outcomes = OUTCOMES[node["type"]]
        for outcome in outcomes:
            if not draw(st.integers(0, 7)):
                continue  # leave some outcomes unhandled
            # Only nodes that wait for the caller may lead backwards (or to themselves), so most flows are
            # free of loops without input; now and then any node may, and validation must refuse those.
            backwards = node["type"] in INPUT_NODES or draw(st.integers(0, 39)) == 0
            low = 0 if backwards else i + 1
            if low >= count:
                continue
            target = draw(st.integers(low, count - 1))
            edges.append({"id": f"e{len(edges)}", "source": node["id"], "target": f"n{target}",
                          "sourceHandle": outcome})  # fmt: skip
    settings_ = draw(st.fixed_dictionaries({}, optional={
        "voice": st.just("Polly.Joanna"), "language": st.sampled_from(["en-US", "en-GB"]),
        "timezone": st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]),
        "goodbyeMessage": TEXT,
        "variables": st.fixed_dictionaries({}, optional={"base": st.sampled_from(["https://api.example.com",
                                                                                  "ftp://nope", ""]),
                                                         "choice": st.sampled_from(["1", "sales"])}),
    }))  # fmt: skip
    return {"id": "prop_flow", "name": "Property flow", "nodes": nodes, "edges": edges, "settings": settings_}


def caller_item(waiting: str) -> st.SearchStrategy[str | None]:
    if waiting == "input":
        return st.one_of(DIGITS, st.sampled_from([f"speech:{s}" for s in SPEECH if s.strip()]),
                         st.just("silence"), st.just("1"))  # fmt: skip
    if waiting == "dial":
        return st.sampled_from(["dial:completed", "dial:answered:30", "dial:busy", "dial:no-answer", "dial:failed",
                                "dial:canceled", "dial:failed", None])  # fmt: skip
    if waiting == "queue":
        return st.sampled_from(["queue:bridged:20", "queue:leave", "queue:queue-full", "queue:error",
                                "queue:system-error", "queue:hangup", "queue:redirected",
                                *(f"queue:{o}:40" for o in DEPARTMENT_OUTCOMES), None])  # fmt: skip
    assert waiting == "record"
    return st.sampled_from(["record:https://api.twilio.com/rec/RE1:15", "record:none",
                            "record:https://api.twilio.com/rec/RE2:0", None])  # fmt: skip


SMALL_MAX_STEPS = 40


@settings(SETTINGS, max_examples=200)
@given(doc=valid_flow(), data=st.data(),
       http_answer=st.one_of(st.none(), st.tuples(st.sampled_from([200, 201, 204, 302, 404, 500, 503]),
                                                  st.sampled_from(['{"name": "Ada", "status": "active"}', "[1, 2]",
                                                                   "plain text", "", "{broken"]))),
       schedule_table=st.fixed_dictionaries({"open_hours": st.booleans(), "closed_hours": st.booleans()}),
       hangup_after=st.integers(1, 400))  # fmt: skip
def test_valid_flows_end_and_emit_valid_twiml(doc: dict[str, Any], data: st.DataObject,
                                              http_answer: tuple[int, str] | None,
                                              schedule_table: dict[str, bool], hangup_after: int) -> None:  # fmt: skip
    report = validation.validate(doc, {"open_hours", "closed_hours", "missing"})
    assume(report.ok)
    flow = validation.compile_flow(doc)
    mocks = [] if http_answer is None else [simulator.HttpMock("", *http_answer)]
    turns = 0

    def caller(waiting: str, node_id: str, turn: int) -> str | None:
        nonlocal turns
        turns += 1
        if turns > hangup_after:
            return None if waiting == "input" else data.draw(caller_item(waiting))
        return data.draw(caller_item(waiting))

    def schedules(name: str, at: datetime) -> bool | None:
        assert at == NOW
        return schedule_table.get(name)

    with mock.patch.object(engine, "MAX_STEPS", SMALL_MAX_STEPS):
        sim = simulator.simulate(flow, caller, now=NOW, http=mocks, schedules=schedules)
    state = sim.state
    assert state is not None
    event(f"ended by {sim.hung_up_by}: {state.end_reason}")
    event(f"turns: {min(len(sim.twiml) // 10 * 10, 50)}+")
    assert sim.problems == []
    assert sim.hung_up_by is not None
    if sim.hung_up_by != "caller":
        assert state.status == "ended"
        assert sim.twiml[-1].endswith("<Hangup /></Response>")
    if sim.hung_up_by == "guard":
        assert state.end_reason in ("loop_guard", "step_limit")
    assert state.steps <= SMALL_MAX_STEPS + 1
    assert len(state.path) <= SMALL_MAX_STEPS
    assert state.seq == len(sim.twiml)
    for document in sim.twiml:
        assert twiml.check(document) == []
    assert [e["seq"] for e in sim.events] == sorted(e["seq"] for e in sim.events)


@settings(SETTINGS, max_examples=60)
@given(doc=valid_flow())
def test_silent_callers_always_end(doc: dict[str, Any]) -> None:
    """With the real guards and a caller who never says anything, every valid flow ends by itself."""
    assume(validation.validate(doc, {"open_hours", "closed_hours", "missing"}).ok)
    flow = validation.compile_flow(doc)
    silent = {"input": "silence", "record": "record:none"}  # dials and queues take the simulator's defaults
    sim = simulator.simulate(flow, lambda waiting, node, turn: silent.get(waiting), now=NOW)
    assert sim.state is not None
    event(f"ended: {sim.state.end_reason}")
    assert sim.state.status == "ended"
    assert sim.state.steps <= engine.MAX_STEPS + 1
    assert sim.problems == []
    assert sim.twiml[-1].endswith("<Hangup /></Response>")
