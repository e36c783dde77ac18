"""engine.step and department transfers: priority (names, numbers, templates), context, max wait, the
outcomes routing reports, the legacy noAnswer edge, and live department state in decision rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from flowkit import (
    CALL_PARAMS,
    NOW,
    Call,
    collect,
    compiled,
    decision,
    department,
    edge,
    hangup,
    rule,
    say,
    start,
    transfer,
)

from common.core import engine
from common.core.call import (
    CallStarted,
    CallState,
    DepartmentEnded,
    DigitsEntered,
    QueueEnded,
    Say,
    TransferToDepartment,
)
from common.core.errors import UnexpectedEvent
from common.core.flow import DEPARTMENT_OUTCOMES, CompiledFlow


def department_flow(target: dict[str, Any], outcomes: tuple[str, ...] = DEPARTMENT_OUTCOMES,
                    **settings: Any) -> CompiledFlow:  # fmt: skip
    nodes = [start(), transfer("xfer", target), *(say(f"out_{o}", f"outcome {o}") for o in outcomes)]
    edges = [edge("start", "xfer"), *(edge("xfer", f"out_{o}", o) for o in outcomes)]
    return compiled(nodes, edges, **settings)


def joined(flow: CompiledFlow, **params: str) -> TransferToDepartment:
    result = Call(flow, params={**CALL_PARAMS, **params}).start()
    assert (result.state.waiting, result.state.cursor) == ("queue", "xfer")
    action = result.actions[-1]
    assert isinstance(action, TransferToDepartment)
    return action


# --- joining -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(None, 50), ("high", 100), ("normal", 50), ("low", 10), ("HIGH", 100), (0, 0), (999, 999), ("250", 250),
     (" 7 ", 7)],
)  # fmt: skip
def test_priority_names_and_numbers(priority: Any, expected: int) -> None:
    target = department("sales") if priority is None else department("sales", priority=priority)
    assert joined(department_flow(target)).priority == expected


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("+15550000001", 100), ("+15550000002", 10), ("+15550000003", 50)],
)
def test_a_templated_priority_is_rendered_per_call(caller: str, expected: int) -> None:
    template = ("{% if caller.from == '+15550000001' %}high{% elsif caller.from == '+15550000002' %}low"
                "{% else %}{{ flow.variables.usual }}{% endif %}")  # fmt: skip
    flow = department_flow(department("sales", priority=template), variables={"usual": "normal"})
    assert joined(flow, From=caller).priority == expected


@pytest.mark.parametrize("rendered", ["urgent", "1000", "", "-3", "5.5"])
def test_a_priority_that_renders_badly_is_normal_and_recorded(rendered: str) -> None:
    flow = department_flow(department("sales", priority="{{ flow.variables.p }}"), variables={"p": rendered})
    result = Call(flow).start()
    action = result.actions[-1]
    assert isinstance(action, TransferToDepartment) and action.priority == 50
    invalid = [e for e in result.events if e.type == "transfer.priority_invalid"]
    assert [(e.node_id, e.data) for e in invalid] == [("xfer", {"rendered": rendered, "used": "normal"})]
    started = [e.data for e in result.events if e.type == "transfer.started"]
    assert started == [{"department": "sales", "priority": 50}]


def test_context_is_rendered_and_cut_and_max_wait_is_carried() -> None:
    target = department("billing", priority="low", maxWaitSeconds=300,
                        context={"caller": "{{ caller.from }}", "long": "{% for i in (1..100) %}abcdef{% endfor %}"})
    action = joined(department_flow(target))
    assert action.department == "billing" and action.max_wait_seconds == 300
    assert action.context["caller"] == "+15005550006"
    assert action.context["long"] == ("abcdef" * 100)[: engine.MAX_CONTEXT_VALUE]


def test_the_message_comes_before_the_transfer() -> None:
    flow = department_flow(department("sales"))
    doc = flow.flow.model_dump(by_alias=True)
    doc["nodes"][1]["data"]["message"] = "One moment."
    from common.core import validation

    result = Call(validation.compile_flow(doc)).start()
    assert result.actions == (Say("One moment.", None, "en-US"), TransferToDepartment("sales", 50, {}, None))


# --- leaving: the outcomes -------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", DEPARTMENT_OUTCOMES)
def test_every_department_outcome_is_followed(outcome: str) -> None:
    call = Call(department_flow(department("sales")))
    call.start()
    result = call.send(DepartmentEnded(outcome, 42))
    assert call.state.path[-1] == f"out_{outcome}"
    assert result.state.widgets["xfer"] == {"outcome": outcome, "waitSeconds": 42, "department": "sales"}
    assert [e.data for e in result.events if e.type == "transfer.ended"] == [{"outcome": outcome}]
    assert result.state.department_wait is None


@pytest.mark.parametrize("outcome", ["bridged", "noAnswer", "", "COMPLETED"])
def test_an_outcome_routing_does_not_report_is_failed(outcome: str) -> None:
    call = Call(department_flow(department("sales")))
    call.start()
    call.send(DepartmentEnded(outcome))
    assert call.state.path[-1] == "out_failed"


@pytest.mark.parametrize(
    ("queue_result", "outcome"),
    [("bridged", "completed"), ("queue-full", "busy"), ("leave", "timeout"), ("redirected", "timeout"),
     ("error", "failed"), ("system-error", "failed"), ("hangup", "failed"), ("new-thing", "failed")],
)  # fmt: skip
def test_an_enqueue_result_maps_to_a_department_outcome(queue_result: str, outcome: str) -> None:
    call = Call(department_flow(department("sales")))
    call.start()
    result = call.send(QueueEnded(queue_result, 17))
    assert call.state.path[-1] == f"out_{outcome}"
    assert result.state.widgets["xfer"] == {"QueueResult": queue_result, "QueueTime": 17}


@pytest.mark.parametrize(
    ("edges", "event", "reached"),
    [
        pytest.param(("completed", "noAnswer"), DepartmentEnded("timeout"), "out_noAnswer", id="legacy-takes-timeout"),
        pytest.param(("completed", "noAnswer"), QueueEnded("leave"), "out_noAnswer", id="legacy-takes-enqueue-leave"),
        pytest.param(("timeout", "noAnswer"), DepartmentEnded("timeout"), "out_timeout", id="timeout-edge-wins"),
        pytest.param(("completed", "noAnswer"), DepartmentEnded("busy"), "xfer", id="only-timeout-falls-back"),
    ],
)  # fmt: skip
def test_the_legacy_no_answer_edge(edges: tuple[str, ...], event: Any, reached: str) -> None:
    call = Call(department_flow(department("sales"), edges))
    call.start()
    result = call.send(event)
    assert call.state.path[-1] == reached
    if reached == "xfer":  # no edge for busy: goodbye
        assert result.state.end_reason == "unhandled_outcome"


def test_a_department_transfer_waits_only_for_its_own_events() -> None:
    call = Call(department_flow(department("sales")))
    state = call.start().state
    before = state.model_dump()
    with pytest.raises(UnexpectedEvent, match="waits for queue at node 'xfer'"):
        engine.step(call.flow, state, DigitsEntered("1"), NOW)
    assert state.model_dump() == before


def test_department_wait_is_cleared_by_the_next_turn() -> None:
    call = Call(department_flow(department("sales")))
    state = call.start().state
    noted = state.model_copy(update={"department_wait": {"department": "sales", "entry": "e1", "arrivedAt": "t"}})
    result = engine.step(call.flow, noted, DepartmentEnded("completed"), NOW)
    assert result.state.department_wait is None
    assert result.state.seq == noted.seq + 1


def test_a_turn_sets_every_field_of_the_state_but_the_calls_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frozen state is a copy of the old one with the turn's fields replaced: a field added to
    CallState must be set by the turn too, or it would silently carry over from turn to turn."""
    call = Call(department_flow(department("sales")))
    state = call.start().state
    updates: list[set[str]] = []
    copy = CallState.model_copy

    def recorded(self: CallState, *, update: dict[str, Any] | None = None, deep: bool = False) -> CallState:
        updates.append(set(update or {}))
        return copy(self, update=update, deep=deep)

    monkeypatch.setattr(CallState, "model_copy", recorded)
    engine.step(call.flow, state, DepartmentEnded("completed"), NOW)
    identity = {"call_sid", "flow_id", "flow_version", "started_at"}
    assert updates and updates[-1] == set(CallState.model_fields) - identity


# --- live department state in templates ----------------------------------------------------------------


class Lookups:
    def __init__(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        self.state, self.asked = state, []  # type: ignore[var-annotated]

    def __call__(self, department: str) -> Mapping[str, Any] | None:
        self.asked.append(department)
        return self.state.get(department)


def staffing_flow() -> CompiledFlow:
    nodes = [start(), decision("check", "{{ departments.sales.available }}", rule("free", "greater_than", "0"),
                               rule("queue_short", "less_than", "3", input="{{ departments.sales.waiting }}")),
             say("to_sales", "An agent is free. Wait {{ departments.sales.expectedWait }}."),
             say("short", "A short line: {{ departments.sales.waiting }} waiting."), hangup("busy", "Busy.")]
    edges = [edge("start", "check"), edge("check", "to_sales", "free"), edge("check", "short", "queue_short"),
             edge("check", "busy", "default")]
    return compiled(nodes, edges)


@pytest.mark.parametrize(
    ("live", "spoken"),
    [
        ({"available": 2, "staffed": 3, "waiting": 0, "expectedWait": 0}, "An agent is free. Wait 0."),
        ({"available": 0, "staffed": 3, "waiting": 2, "expectedWait": 240}, "A short line: 2 waiting."),
        ({"available": 0, "staffed": 1, "waiting": 9, "expectedWait": 900}, "Busy."),
        (None, "Busy."),  # unknown department, or no routing on this stack: empty text
    ],
)  # fmt: skip
def test_decision_rules_read_live_department_state(live: dict[str, Any] | None, spoken: str) -> None:
    lookups = Lookups({"sales": live} if live is not None else {})
    result = engine.step(staffing_flow(), None, CallStarted(dict(CALL_PARAMS)), NOW, departments=lookups)
    assert isinstance(result.actions[0], Say) and result.actions[0].text == spoken
    assert lookups.asked == ["sales"]  # looked up once per turn, however often it is read


def test_departments_are_looked_up_only_when_read() -> None:
    lookups = Lookups({"sales": {"available": 1}})
    flow = compiled([start(), collect("menu"), hangup("bye")], [edge("start", "menu"), edge("menu", "bye", "success")])
    first = engine.step(flow, None, CallStarted(dict(CALL_PARAMS)), NOW, departments=lookups)
    engine.step(flow, first.state, DigitsEntered("1"), NOW, departments=lookups)
    assert lookups.asked == []


def test_without_a_lookup_departments_render_empty() -> None:
    result = engine.step(staffing_flow(), None, CallStarted(dict(CALL_PARAMS)), NOW)
    assert result.actions[0] == Say("Busy.", None, "en-US")
