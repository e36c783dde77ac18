"""Twilio Studio flow definitions -> FlowDesigner flows, with a report of what became of each widget.

    import_studio(document, ImportOptions(...)) -> Imported(flow, report)

Pure: no I/O, no clock. ``document`` is what Studio exports: the bare definition (``description``,
``states``, ``initial_state``, ``flags``) or the REST Flow resource that wraps it in ``definition``
(an object, or the JSON text of one). Anything else raises ``StudioImportError`` naming what is
missing; every other problem is a finding in the report, never an exception. A flow that would need
more nodes than a flow may have (``validation.MAX_NODES``) raises ``FlowTooLarge``: the trigger, the
shared end, a gather's key/speech split and a split's multi-condition chain each take a node, so a
2,000-widget Studio flow (Studio's own limit) may not fit, and no import could make it run.

Rules owned here:
- Widget names become node ids (made valid and unique; templates that read ``widgets.<name>`` are
  renamed with them), ``properties.offset`` becomes the position, transitions become edges whose
  ``sourceHandle`` is the outcome. The trigger is the start node; only ``incomingCall`` starts a call.
- Only widgets a call can reach from ``incomingCall`` are imported. The others (reached only from
  messages, REST executions, subflow starts) are listed in the report as not imported, with why:
  a voice flow never runs them, and a message widget's wait-for-reply loop would be a loop without
  caller input.
- The report lists every widget with what it became, every finding (``warnings``: the flow runs
  differently from Studio, or a property has no effect) and the validator's verdict on the result.
  ``ok`` is true when the flow validates; ``strict_ok`` when, besides, nothing was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.core import studio_calls as calls
from common.core import studio_widgets as widgets
from common.core import validation
from common.core.studio_build import Build, Finding, Transitions, WidgetEntry, node_id_for, variable_for
from common.core.studio_text import Rewriter, as_text


class StudioImportError(ValueError):
    """The document is not a Studio flow definition at all. ``field`` says where (dotted path)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class FlowTooLarge(StudioImportError):
    """The export is a Studio flow, but the flow it becomes has more nodes than a flow may have."""


@dataclass(frozen=True)
class ImportOptions:
    flow_id: str | None = None
    name: str | None = None
    #: the account's department ids, when known: queue names are matched against them
    departments: Collection[str] | None = None
    #: queue name or workflow SID -> department id
    department_map: Mapping[str, str] = field(default_factory=dict)
    #: ``${NAME}`` -> value, for files managed by Terraform
    placeholders: Mapping[str, str] = field(default_factory=dict)
    #: subflow SID (a run-subflow's ``flow_sid``) -> its export, inlined where it runs
    subflows: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Imported:
    flow: dict[str, Any]
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.report["ok"])

    @property
    def strict_ok(self) -> bool:
        return self.ok and not self.report["warnings"]


CONVERTERS: dict[str, widgets.Converter] = {
    "trigger": widgets.trigger, "say-play": widgets.say_play, "gather-input-on-call": widgets.gather,
    "split-based-on": widgets.split, "set-variables": widgets.set_variables,
    "make-http-request": widgets.http_request, "run-function": widgets.run_function,
    "connect-call-to": calls.connect_call, "enqueue-call": calls.enqueue, "send-to-flex": calls.enqueue,
    "record-voicemail": calls.record_voicemail, "record-call": calls.record_call,
    "add-twiml-redirect": calls.add_twiml_redirect,
    "make-outgoing-call-v2": calls.outgoing_call, "send-message": calls.send_message,
    "capture-payments": calls.capture_payments, "fork-stream": calls.fork_stream,
    "send-and-wait-for-reply": calls.waits_for_text, "send-to-auto-pilot": calls.waits_for_text,
    "connect-virtual-agent": calls.waits_for_text,
}  # fmt: skip
_JSON_ANSWERS = {"make-http-request", "run-function"}


def definition_of(document: Any) -> dict[str, Any]:
    """The bare definition inside ``document`` (itself, or a REST resource's ``definition``)."""
    if not isinstance(document, dict):
        raise StudioImportError("a Studio flow is a JSON object with 'states' (or a Flow resource with 'definition')")
    if "states" not in document and "definition" in document:
        inner = document["definition"]
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except ValueError as exc:
                raise StudioImportError(f"'definition' is text that is not JSON: {exc}", "definition") from exc
        if not isinstance(inner, dict):
            raise StudioImportError("'definition' must be the flow definition object", "definition")
        return definition_of(inner)
    states = document.get("states")
    if not isinstance(states, list):
        raise StudioImportError("'states' must be the list of the flow's widgets", "states")
    return document


def _states(definition: dict[str, Any], build_findings: list[Finding]) -> list[dict[str, Any]]:
    states, seen = [], set()
    for index, raw in enumerate(definition["states"]):
        if not isinstance(raw, dict) or not as_text(raw.get("name")).strip() or not as_text(raw.get("type")).strip():
            build_findings.append(Finding(severity="warning", code="invalid_widget", widget=f"states.{index}", type="",
                                          property=None, message="a widget needs a name and a type; it is left out"))
            continue
        name = as_text(raw["name"]).strip()
        if name in seen:
            build_findings.append(Finding(severity="warning", code="duplicate_widget", widget=name,
                                          type=as_text(raw["type"]), property=None,
                                          message="another widget has this name; this one is left out"))
            continue
        seen.add(name)
        states.append({**raw, "name": name, "type": as_text(raw["type"]).strip()})
    return states


def _trigger(definition: dict[str, Any], states: list[dict[str, Any]]) -> dict[str, Any] | None:
    initial = as_text(definition.get("initial_state")).strip()
    by_name = {s["name"]: s for s in states}
    if initial in by_name and by_name[initial]["type"] == "trigger":
        return by_name[initial]
    return next((s for s in states if s["type"] == "trigger"), None)


def _reachable(start: str, states: dict[str, dict[str, Any]], event: str = "incomingcall") -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        state = states[stack.pop()]
        transitions = state.get("transitions")
        for item in transitions if isinstance(transitions, list) else []:
            if not isinstance(item, dict):
                continue
            if state["type"] == "trigger" and as_text(item.get("event")).strip().lower() != event:
                continue
            target = item.get("next")
            if isinstance(target, str) and target.strip() in states and target.strip() not in seen:
                seen.add(target.strip())
                stack.append(target.strip())
    return seen


def _flow_id(definition: dict[str, Any], document: Any, options: ImportOptions) -> tuple[str, str]:
    wrapper = document if isinstance(document, dict) and "definition" in document else {}
    title = as_text(options.name or wrapper.get("friendly_name") or definition.get("description")).strip()
    name = (title or "Imported Studio flow")[:200]
    flow_id = options.flow_id or re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] or "studio_flow"
    return flow_id, name


def import_studio(document: Any, options: ImportOptions | None = None) -> Imported:
    options = options or ImportOptions()
    definition = definition_of(document)
    early: list[Finding] = []
    states = _states(definition, early)
    trigger = _trigger(definition, states)
    if trigger is None:
        raise StudioImportError("the flow has no trigger widget (type 'trigger'), so no call can start it", "states")
    departments = set(options.departments) if options.departments is not None else None
    build = _build(states, set(), "", dict(options.placeholders), departments, dict(options.department_map))
    build.findings.extend(early)
    build.trigger = trigger["name"]
    build.subflows = dict(options.subflows)
    _subflow_outputs(build, states)
    reached = _reachable(trigger["name"], {s["name"]: s for s in states})
    _convert(build, states, trigger, reached, "no call reaches it from incomingCall")
    build.resolve(reached)
    if len(build.nodes) > validation.MAX_NODES:
        raise FlowTooLarge(f"the flow would need {len(build.nodes):,} nodes for its {len(reached):,} widget(s) a call "
                           f"reaches (the trigger, the shared end and some splits and gathers take nodes of their "
                           f"own); a flow has at most {validation.MAX_NODES:,}: leave widgets out or split it into "
                           "flows", "states")  # fmt: skip
    flow_id, flow_name = _flow_id(definition, document, options)
    flow: dict[str, Any] = {"id": flow_id, "name": flow_name, "nodes": build.nodes, "edges": build.edges}
    description = as_text(definition.get("description")).strip()
    if description:
        flow["description"] = description[:2000]
    return Imported(flow, _report(build, flow, departments))


def _build(states: list[dict[str, Any]], taken: set[str], prefix: str, placeholders: dict[str, str],
           departments: set[str] | None, department_map: dict[str, str],
           aliases: tuple[tuple[re.Pattern[str], str], ...] = ()) -> Build:  # fmt: skip
    """A Build for ``states``: node ids from their names (after ``prefix``), variables from their keys."""
    ids = {s["name"]: node_id_for(prefix + s["name"], taken) for s in states}
    variables = {}
    for state in states:
        found = state.get("properties")
        props = found if isinstance(found, dict) else {}
        raw = props.get("variables") if state["type"] == "set-variables" else None
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, dict) and as_text(item.get("key")).strip():
                variables[as_text(item["key"]).strip()] = variable_for(prefix + as_text(item["key"]))
    rewriter = Rewriter(placeholders, ids, variables, {ids[s["name"]] for s in states if s["type"] in _JSON_ANSWERS},
                        aliases)  # fmt: skip
    build = Build(rewriter, ids, {s["name"]: s["type"] for s in states}, departments, department_map)
    build.taken = taken | set(ids.values())
    return build


def _convert(build: Build, states: list[dict[str, Any]], trigger: dict[str, Any], reached: set[str],
             unreached: str) -> None:  # fmt: skip
    for state in states:
        name = state["name"]
        build.entries[name] = WidgetEntry(name, state["type"])
        if name not in reached:
            build.entries[name].became = f"not imported: {unreached}"
            continue
        transitions: Transitions = build.transitions(state)
        converter = CONVERTERS.get(state["type"], calls.unknown) if state is not trigger else widgets.trigger
        if state["type"] == "trigger" and state is not trigger:
            converter = calls.unknown
        build.entries[name].became = converter(build, state, transitions)


MAX_SUBFLOW_DEPTH = 5
SUBFLOW_VARIABLE = "studio_subflow"


def run_subflow(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    """The subflow's widgets, inlined: its parameters become flow variables that its
    ``trigger.parent.parameters.*`` read, every end of the subflow goes on by ``completed``, and the
    variables it sets are what the parent reads as ``widgets.<run-subflow>.<key>``."""
    name, node_id = str(state["name"]), b.ids[str(state["name"])]
    found = state.get("properties")
    props = found if isinstance(found, dict) else {}
    sid = b.fill(name, props.get("flow_sid"), "flow_sid")
    if sid not in b.subflows:
        return widgets.pass_through(b, state, ts, ("failed", "completed"), f"the subflow {sid or '(no flow_sid)'} "
                                    f"was not given with the import (ivr import studio --subflow {sid or 'SID'}"
                                    "=FILE.json)", "subflow_missing")  # fmt: skip
    if b.depth >= MAX_SUBFLOW_DEPTH:
        return widgets.pass_through(b, state, ts, ("failed",), f"subflows nest deeper than {MAX_SUBFLOW_DEPTH} "
                                    "(a subflow that runs itself?)", "subflow_depth")  # fmt: skip
    try:
        definition = definition_of(b.subflows[sid])
    except StudioImportError as exc:
        return widgets.pass_through(b, state, ts, ("failed",), f"the subflow {sid} is not a Studio flow: {exc}",
                                    "subflow_invalid")  # fmt: skip
    early: list[Finding] = []
    states = _states(definition, early)
    trigger = _trigger(definition, states)
    prefix = f"{node_id}__"
    parameters: list[dict[str, str]] = [{"name": SUBFLOW_VARIABLE, "value": sid}]
    aliases: list[tuple[re.Pattern[str], str]] = []
    raw = props.get("parameters")
    for item in raw if isinstance(raw, list) else []:
        key = as_text(item.get("key")).strip() if isinstance(item, dict) else ""
        if key:
            variable = variable_for(prefix + key)
            parameters.append({"name": variable, "value": b.text(name, item.get("value"), f"parameters.{key}")[:4096]})
            pattern = re.compile(rf"\btrigger\.parent\.parameters\.{re.escape(key)}\b")
            aliases.append((pattern, f"flow.variables.{variable}"))
    sub = _build(states, b.taken, prefix, dict(b.rewriter.placeholders), b.departments, b.department_map,
                 tuple(aliases))  # fmt: skip
    sub.subflows, sub.depth, sub.findings = b.subflows, b.depth + 1, early
    _subflow_outputs(sub, states)
    b.node(name, node_id, "setVariablesNode", {"label": f"Studio subflow {sid}: its parameters",
           "variables": parameters[:100]}, widgets.position(state))  # fmt: skip
    if trigger is None:
        b.link(node_id, "next", ts.events.get("completed"), name)
        b.warn(name, "subflow_invalid", f"the subflow {sid} has no trigger; the call goes on as after 'completed'")
        return "setVariablesNode (an empty subflow)"
    sub.trigger = trigger["name"]
    reached = _reachable(trigger["name"], {s["name"]: s for s in states}, "incomingparent")
    reached.discard(trigger["name"])
    first = next((t.get("next") for t in trigger.get("transitions") or [] if isinstance(t, dict)
                  and as_text(t.get("event")).strip().lower() == "incomingparent"), None)  # fmt: skip
    _convert(sub, [s for s in states if s is not trigger], trigger, reached, "no run of the subflow reaches it")
    sub.entries[trigger["name"]] = WidgetEntry(trigger["name"], "trigger", [], "the subflow starts here")
    if isinstance(first, str) and first.strip() in reached:
        b.edge(node_id, "next", sub.ids[first.strip()])
    else:  # the subflow does nothing: the parent goes on
        b.link(node_id, "next", ts.events.get("completed"), name)
    for source, handle, target, _widget in sub.links():
        if isinstance(target, str) and target in reached:
            b.edge(source, handle, sub.ids[target])
        else:  # the subflow's execution ends: the parent goes on
            if isinstance(target, str):
                b.warn(name, "missing_widget", f"in the subflow, a transition leads to {target!r}, which no run of "
                       "it can enter; the subflow ends there")  # fmt: skip
            b.link(source, handle, ts.events.get("completed"), name)
    b.nodes.extend(sub.nodes)
    b.edges.extend([{**e, "id": f"e{len(b.edges) + i + 1}"} for i, e in enumerate(sub.edges)])
    b.taken |= sub.taken
    for sub_name, entry in sub.entries.items():
        b.entries[f"{name}/{sub_name}"] = WidgetEntry(f"{name}/{sub_name}", entry.type, entry.nodes, entry.became)
    for finding in sub.findings:
        b.findings.append(Finding({**finding, "widget": f"{name}/{finding['widget']}"}))
    if props.get("flow_revision") not in (None, "", "LatestPublished", "LatestRevision"):
        b.no_effect(name, "flow_revision", "the subflow export given with the import is inlined, whatever its revision")
    if ts.events.get("failed"):
        b.finder(name, severity="info")("subflow_never_fails", "an inlined subflow does not fail; what follows "
                                        "'failed' runs only if nothing else reaches it")  # fmt: skip
    return f"setVariablesNode + the subflow's {len(reached)} widget(s), inlined"


CONVERTERS["run-subflow"] = run_subflow


def _subflow_outputs(b: Build, states: list[dict[str, Any]]) -> None:
    """What a subflow returns: Studio hands the flow variables a subflow sets to its parent as
    ``widgets.<run-subflow>.<key>``. Inlined, they are the subflow's own (prefixed) flow variables, so
    the parent's texts are rewritten to read those; known before any parent widget is converted."""
    aliases: list[tuple[re.Pattern[str], str]] = []
    for state in states:
        found = state.get("properties")
        props = found if isinstance(found, dict) else {}
        sid = b.rewriter.fill(as_text(props.get("flow_sid")), lambda *_: None).strip()
        if state["type"] != "run-subflow" or sid not in b.subflows:
            continue
        try:
            inner = _states(definition_of(b.subflows[sid]), [])
        except StudioImportError:
            continue  # run_subflow reports it
        name, node_id = state["name"], b.ids[state["name"]]
        widget = "|".join(re.escape(n) for n in dict.fromkeys((name, node_id)))
        for sub_state in inner:
            sub_found = sub_state.get("properties")
            raw = sub_found.get("variables") if sub_state["type"] == "set-variables" and isinstance(
                sub_found, dict) else None  # fmt: skip
            for item in raw if isinstance(raw, list) else []:
                key = as_text(item.get("key")).strip() if isinstance(item, dict) else ""
                if key:
                    pattern = re.compile(rf"\bwidgets\.(?:{widget})\.{re.escape(key)}(?![A-Za-z0-9_])")
                    aliases.append((pattern, f"flow.variables.{variable_for(f'{node_id}__' + as_text(item['key']))}"))
    b.rewriter.aliases = (*b.rewriter.aliases, *aliases)


def _report(build: Build, flow: dict[str, Any], departments: set[str] | None) -> dict[str, Any]:
    checked = validation.validate(flow, departments=departments)
    return {
        "flowId": flow["id"], "ok": checked.ok,
        "widgets": [entry.as_json() for entry in build.entries.values()],
        "warnings": [dict(f) for f in build.findings if f["severity"] == "warning"],
        "notes": [dict(f) for f in build.findings if f["severity"] != "warning"],
        "validation": checked.model_dump(mode="json"),
    }  # fmt: skip
