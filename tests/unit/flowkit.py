"""Builders for FlowDesigner documents and a small driver for engine.step, shared by the unit tests.

Kept as a plain module (not fixtures) so parametrize tables can build flows at collection time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from common.core import engine, validation
from common.core.call import CallStarted, CallState, InboundEvent, StepResult
from common.core.flow import CompiledFlow

#: A Monday afternoon; every test uses this frozen clock unless it says otherwise.
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
CALL_PARAMS = {"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+15005550006",
               "To": "+13072249663", "Direction": "inbound"}  # fmt: skip


def node(node_id: str, type_: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "position": {"x": 0, "y": 0}, "data": data}


def start(node_id: str = "start") -> dict[str, Any]:
    return node(node_id, "startNode")


def say(node_id: str, text: str | None = "Hello.", **data: Any) -> dict[str, Any]:
    if text is not None:
        data["text"] = text
    return node(node_id, "sayNode", **data)


def collect(node_id: str, variable: str = "choice", prompt: str | None = "Press a key.",
            **data: Any) -> dict[str, Any]:  # fmt: skip
    if prompt is not None:
        data["prompt"] = prompt
    return node(node_id, "collectNode", variable=variable, **data)


def rule(rule_id: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule_id, "operator": operator, **extra}
    if value is not None:
        out["value"] = value
    return out


def decision(node_id: str, input_: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return node(node_id, "decisionNode", input=input_, rules=list(rules))


def transfer(node_id: str, target: dict[str, Any], **data: Any) -> dict[str, Any]:
    return node(node_id, "transferNode", target=target, **data)


def department(name: str = "sales", **extra: Any) -> dict[str, Any]:
    return {"type": "department", "department": name, **extra}


def set_vars(node_id: str, **assignments: str) -> dict[str, Any]:
    return node(node_id, "setVariablesNode",
                variables=[{"name": k, "value": v} for k, v in assignments.items()])  # fmt: skip


def http(node_id: str, url: str = "https://api.example.com/x", **data: Any) -> dict[str, Any]:
    return node(node_id, "httpRequestNode", url=url, **data)


def voicemail(node_id: str, **data: Any) -> dict[str, Any]:
    return node(node_id, "voicemailNode", **data)


def hangup(node_id: str, message: str | None = None, **data: Any) -> dict[str, Any]:
    if message is not None:
        data["message"] = message
    return node(node_id, "hangupNode", **data)


def hours(node_id: str, schedule: str = "business_hours") -> dict[str, Any]:
    return node(node_id, "hoursNode", schedule=schedule)


def edge(source: str, target: str, handle: str | None = None, edge_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": edge_id or f"{source}.{handle or 'next'}->{target}",
                           "source": source, "target": target}  # fmt: skip
    if handle is not None:
        out["sourceHandle"] = handle
    return out


def chain(*node_ids: str) -> list[dict[str, Any]]:
    """``next`` edges joining the given nodes in order."""
    return [edge(a, b) for a, b in pairwise(node_ids)]


def document(nodes: Iterable[dict[str, Any]], edges: Iterable[dict[str, Any]] = (), *,
             flow_id: str = "test_flow", **settings: Any) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"id": flow_id, "name": "Test flow", "nodes": list(nodes), "edges": list(edges)}
    if settings:
        out["settings"] = settings
    return out


def compiled(nodes: Iterable[dict[str, Any]], edges: Iterable[dict[str, Any]] = (),
             **settings: Any) -> CompiledFlow:  # fmt: skip
    """Compile a flow that must be valid (warnings such as unhandled outcomes are allowed)."""
    return validation.compile_flow(document(nodes, edges, **settings))


def codes(report: validation.ValidationReport, severity: str = "error") -> list[str]:
    issues = report.errors if severity == "error" else report.warnings
    return [issue.code for issue in issues]


class Call:
    """Drive one call through engine.step, remembering every result."""

    def __init__(self, flow: CompiledFlow, *, schedules: engine.ScheduleLookup | None = None,
                 now: datetime = NOW, params: dict[str, str] | None = None) -> None:  # fmt: skip
        self.flow = flow
        self.schedules = schedules
        self.now = now
        self.params = dict(CALL_PARAMS if params is None else params)
        self.results: list[StepResult] = []

    @property
    def state(self) -> CallState:
        return self.results[-1].state

    @property
    def last(self) -> StepResult:
        return self.results[-1]

    def start(self) -> StepResult:
        return self._step(None, CallStarted(self.params))

    def send(self, event: InboundEvent) -> StepResult:
        return self._step(self.state, event)

    def send_all(self, events: Sequence[InboundEvent]) -> StepResult:
        for event in events:
            self.send(event)
        return self.last

    def _step(self, state: CallState | None, event: InboundEvent) -> StepResult:
        result = engine.step(self.flow, state, event, self.now, self.schedules)
        self.results.append(result)
        return result


def event_types(result: StepResult) -> list[str]:
    return [e.type for e in result.events]
