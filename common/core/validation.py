"""Flow validation: every problem at once, each naming where it is and how to fix it.

``validate(document)`` never raises for bad input: it returns a ``ValidationReport`` of errors (the
flow cannot run) and warnings (it runs, but probably not as meant). ``compile_flow`` returns the
engine's ``CompiledFlow`` or raises ``FlowInvalid`` carrying the report.

What is checked, by code:
    unknown_node_type, invalid_field, duplicate_node_id, duplicate_edge_id, edge_missing_node,
    unknown_outcome, duplicate_outcome_edge, no_start_node, several_start_nodes, edge_into_start,
    unhandled_outcome (warning: the call plays the goodbye message and hangs up), unreachable_node
    (warning), loop_without_input, invalid_regex, invalid_template, undefined_variable (warning),
    unknown_widget (warning), invalid_rule_value, unknown_time_zone, unknown_schedule,
    unknown_department, legacy_outcome (warning), too_large.

A loop without caller input is a cycle of nodes none of which waits for the caller (collectNode,
voicemailNode): nothing on it can make the caller's next action differ, so it can only end at the
engine's guards. Waiting on the network (transfer, HTTP) does not break such a loop.

Outcomes depend on a transfer's target: a number, SIP URI or client ends completed, noAnswer, busy
or failed; a department ends completed, timeout, callbackRequested, voicemail, closed, noAgents, busy
or failed. A department transfer's ``noAnswer`` edge (flows written before department routing) is
accepted with a ``legacy_outcome`` warning: the engine follows it for ``timeout`` when the node has
no ``timeout`` edge, so such a flow keeps its behaviour and ``timeout`` is not reported unhandled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError

from common.core import conditions, field_messages, templating
from common.core.errors import FlowInvalid
from common.core.flow import (
    DEPARTMENT_OUTCOMES,
    LEGACY_DEPARTMENT_OUTCOMES,
    NODE_TYPES,
    CollectNode,
    CompiledFlow,
    DecisionNode,
    DepartmentTarget,
    Edge,
    Flow,
    FlowSettings,
    HoursNode,
    HttpRequestNode,
    NodeBase,
    RedirectNode,
    SetVariablesNode,
    StartNode,
    TransferNode,
    VoicemailNode,
)  # fmt: skip
from common.core.node_salvage import Salvaged, Unparsed, salvage

MAX_NODES = 2_000
#: nodes after which the caller may have acted: a redirect hands the call to other TwiML, which may
#: have asked them anything (the engine counts its return as caller input, too)
_INPUT_NODES = (CollectNode, VoicemailNode, RedirectNode)


class Issue(BaseModel):
    model_config = ConfigDict(frozen=True)

    severity: Literal["error", "warning"]
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None

    def render(self) -> str:
        where = []
        if self.node_id is not None:
            where.append(f"node '{self.node_id}'")
        if self.edge_id is not None:
            where.append(f"edge '{self.edge_id}'")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        return f"{self.severity}: {prefix}{self.message}"


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    errors: list[Issue]
    warnings: list[Issue]

    @property
    def ok(self) -> bool:
        return not self.errors


class _Collector:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, code: str, message: str, **where: Any) -> None:
        self.issues.append(Issue(severity="error", code=code, message=message, **where))

    def warn(self, code: str, message: str, **where: Any) -> None:
        self.issues.append(Issue(severity="warning", code=code, message=message, **where))

    def pydantic(self, exc: ValidationError, model: type[BaseModel], prefix: str = "", **where: Any) -> None:
        for path, message in field_messages.explain(model, exc):
            field = ".".join(filter(None, [where.get("field"), prefix, path])) or None
            self.error("invalid_field", message, **{**where, "field": field})

    def report(self) -> ValidationReport:
        return ValidationReport(
            errors=[i for i in self.issues if i.severity == "error"],
            warnings=[i for i in self.issues if i.severity == "warning"],
        )


class _Parsed:
    """The nodes as far as they parse: ``nodes`` (valid, or salvaged without their refused fields),
    the ids of salvaged nodes whose outcomes are uncertain, and the nodes nothing could be parsed of."""

    def __init__(self) -> None:
        self.nodes: list[NodeBase] = []
        self.uncertain: set[str] = set()
        self.unparsed: dict[str, Unparsed] = {}


def _parse_nodes(raw_nodes: list[Any], out: _Collector) -> _Parsed:
    parsed = _Parsed()
    nodes = parsed.nodes
    seen: set[str] = set()
    for index, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict):
            out.error("invalid_field", "a node must be an object", field=f"nodes.{index}")
            continue
        node_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        where = {"node_id": node_id} if node_id else {"field": f"nodes.{index}"}
        if node_id is not None and node_id in seen:
            out.error("duplicate_node_id", "another node has this id; give every node a unique id",
                      node_id=node_id)  # fmt: skip
            continue
        if node_id is not None:
            seen.add(node_id)
        node_type = raw.get("type")
        model = NODE_TYPES.get(node_type) if isinstance(node_type, str) else None
        if model is None:
            known = ", ".join(sorted(NODE_TYPES))
            out.error("unknown_node_type", f"unknown node type {node_type!r}; use one of {known}",
                      **{**where, "field": ".".join(filter(None, [where.get("field"), "type"]))})  # fmt: skip
            continue
        try:
            nodes.append(model.model_validate(raw))
        except ValidationError as exc:
            out.pydantic(exc, model, **where)
            kept = salvage(model, raw, exc, node_id, str(node_type))
            if isinstance(kept, Salvaged):
                nodes.append(kept.node)
                if not kept.outcomes_known:
                    parsed.uncertain.add(kept.node.id)
            elif isinstance(kept, Unparsed):
                parsed.unparsed[kept.id] = kept
    return parsed


def _parse_edges(raw_edges: list[Any], out: _Collector) -> list[Edge]:
    edges: list[Edge] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_edges):
        edge_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        where = {"edge_id": edge_id} if edge_id else {"field": f"edges.{index}"}
        try:
            edge = Edge.model_validate(raw)
        except ValidationError as exc:
            out.pydantic(exc, Edge, **where)
            continue
        if edge.id in seen:
            out.error("duplicate_edge_id", "another edge has this id", edge_id=edge.id)
            continue
        seen.add(edge.id)
        edges.append(edge)
    return edges


def _templates(node: NodeBase) -> Iterator[tuple[str, str]]:
    """(field path, template source) for every templated field of ``node``."""
    data = node.model_dump(by_alias=True, include={"data"})["data"]
    skip = {"label", "description", "variable", "saveAs", "schedule", "operator", "id", "type",
            "department", "pattern", "allowedValues", "hints", "name"}  # fmt: skip

    def walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in skip:
                    yield from walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}.{i}")

    yield from walk(data, "data")


def _parse_settings(raw: Any, out: _Collector) -> tuple[FlowSettings | None, str | None, set[str]]:
    """(settings or None when invalid, the time zone to check, the variable names they define).

    Checked apart from the envelope so that every settings problem is reported together, and so
    that an invalid id or name does not hide the time zone or turn every variable into a warning.
    """
    try:
        parsed = FlowSettings.model_validate(raw)
    except ValidationError as exc:
        out.pydantic(exc, FlowSettings, "settings")
        if not isinstance(raw, dict):
            return None, None, set()
        zone = raw.get("timezone", "UTC")
        named = raw.get("variables")
        return None, zone if isinstance(zone, str) and zone else None, set(named) if isinstance(named, dict) else set()
    return parsed, parsed.timezone, set(parsed.variables)


def _defined_variables(from_settings: set[str], nodes: Iterable[NodeBase],
                       unparsed: Iterable[Unparsed] = ()) -> set[str]:  # fmt: skip
    names = set(from_settings)
    for lost in unparsed:
        names.update(lost.sets)
    for node in nodes:
        if isinstance(node, CollectNode):
            names.add(node.data.variable)
        elif isinstance(node, SetVariablesNode):
            names.update(a.name for a in node.data.variables)
        elif isinstance(node, HttpRequestNode) and node.data.save_as:
            names.add(node.data.save_as)
    return names


def _check_node_content(node: NodeBase, defined: set[str], node_ids: set[str], out: _Collector,
                        schedules: set[str] | None, departments: set[str] | None) -> None:  # fmt: skip
    for field, source in _templates(node):
        _check_template(source, defined, node_ids, departments, out, node_id=node.id, field=field)
    target = node.data.target if isinstance(node, TransferNode) else None
    if isinstance(target, DepartmentTarget) and departments is not None and target.department not in departments:
        out.error("unknown_department", f"department '{target.department}' does not exist; create it or pick "
                  "one of: " + (", ".join(sorted(departments)) or "(none yet)"), node_id=node.id,
                  field="data.target.department")  # fmt: skip
    if isinstance(node, CollectNode) and node.data.validation and node.data.validation.pattern:
        _check_regex(node.data.validation.pattern, node.id, "data.validation.pattern", out)
    if isinstance(node, DecisionNode):
        for i, rule in enumerate(node.data.rules):
            _check_rule(rule.operator, rule.value, node.id, f"data.rules.{i}.value", out)
        first_use: dict[str, int] = {}
        for i, rule in enumerate(node.data.rules):
            if rule.id == "default":
                out.error("invalid_field", "rule id 'default' is reserved: it names the outcome taken when no "
                          "rule matches; rename the rule", node_id=node.id, field=f"data.rules.{i}.id")  # fmt: skip
            elif rule.id in first_use:
                out.error("invalid_field", f"rule id '{rule.id}' is used twice (rules {first_use[rule.id]} and "
                          f"{i}); rule ids name the outgoing handles and must be unique", node_id=node.id,
                          field=f"data.rules.{i}.id")  # fmt: skip
            first_use.setdefault(rule.id, i)
    if isinstance(node, HoursNode) and schedules is not None and node.data.schedule not in schedules:
        out.error("unknown_schedule", f"schedule '{node.data.schedule}' does not exist; create it or "
                  "pick one of: " + (", ".join(sorted(schedules)) or "(none yet)"), node_id=node.id,
                  field="data.schedule")  # fmt: skip


#: the settings texts a call speaks, each rendered as a template
SETTINGS_TEXTS = ("goodbyeMessage", "errorMessage")


def _check_settings_texts(raw: Any, defined: set[str], node_ids: set[str], departments: set[str] | None,
                          out: _Collector) -> None:  # fmt: skip
    """Read from the raw settings so that another invalid setting does not hide a broken template."""
    if not isinstance(raw, dict):
        return
    for key in SETTINGS_TEXTS:
        if isinstance(raw.get(key), str):
            _check_template(raw[key], defined, node_ids, departments, out, field=f"settings.{key}")


def _check_template(source: str, defined: set[str], node_ids: set[str], departments: set[str] | None,
                    out: _Collector, **where: Any) -> None:  # fmt: skip
    try:
        paths = templating.check(source)
    except templating.TemplateSyntaxError as exc:
        out.error("invalid_template", _template_problem(exc), **where)
        return
    for code, message in templating.lint(paths, defined, node_ids, departments):
        # A decision on a department the account lacks would always read empty text: an error.
        (out.error if code == "unknown_department" else out.warn)(code, message, **where)


def _template_problem(exc: templating.TemplateSyntaxError) -> str:
    where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
    hint = "; close every {{ with }} and every {% tag %} with its end tag" if "end of file" in exc.reason else ""
    return f"template does not parse{where}: {exc.reason}{hint}"


def _check_regex(pattern: str, node_id: str, field: str, out: _Collector) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        out.error("invalid_regex", f"regular expression {pattern!r} does not compile: {exc}",
                  node_id=node_id, field=field)  # fmt: skip


def _check_rule(operator: str, value: Any, node_id: str, field: str, out: _Collector) -> None:
    if operator not in conditions.NEEDS_VALUE:
        return
    if value is None or value == "" or value == []:
        out.error("invalid_rule_value", f"operator '{operator}' needs a value", node_id=node_id, field=field)
        return
    if isinstance(value, list):
        if operator not in ("matches_any_of", "does_not_match_any_of"):
            out.error("invalid_rule_value", f"operator '{operator}' takes one value, not a list",
                      node_id=node_id, field=field)  # fmt: skip
        return
    text = str(value)
    if templating.is_template(text):
        return  # known only at run time; its syntax is checked with the node's other templates
    if operator == "regex":
        _check_regex(text, node_id, field, out)
    elif operator in ("less_than", "greater_than") and conditions._number(text) is None:
        out.error("invalid_rule_value", f"'{operator}' compares numbers; {text!r} is not a number",
                  node_id=node_id, field=field)  # fmt: skip
    elif operator in ("is_before_time", "is_after_time") and conditions.parse_time(text) is None:
        out.error("invalid_rule_value", f"{text!r} is not a time; write HH:MM (24h)", node_id=node_id,
                  field=field)  # fmt: skip
    elif operator in ("is_before_date", "is_after_date") and conditions.parse_date(text) is None:
        out.error("invalid_rule_value", f"{text!r} is not a date; write YYYY-MM-DD", node_id=node_id,
                  field=field)  # fmt: skip


def _check_graph(parsed: _Parsed, edges: list[Edge], out: _Collector) -> str | None:
    """Nodes that failed validation take part as far as they are known: a salvaged node with
    uncertain outcomes, or an unparsed one, has its edges followed but neither refused nor asked for."""
    nodes, unparsed = parsed.nodes, parsed.unparsed
    by_id = {node.id: node for node in nodes}
    # An unparsed node whose type has fixed outcomes is checked by them; otherwise they are unknown.
    fixed = {lost.id: lost.model for lost in unparsed.values() if lost.model.outcomes is NodeBase.outcomes}
    lenient = parsed.uncertain | (set(unparsed) - set(fixed))
    starts = [node.id for node in nodes if isinstance(node, StartNode)]
    starts += [lost.id for lost in unparsed.values() if lost.model is StartNode]
    if not starts:
        out.error("no_start_node", "the flow has no start node; add one node of type 'startNode' and "
                  "connect it to the first node callers should reach")  # fmt: skip
    for extra in starts[1:]:
        out.error("several_start_nodes", "a flow has exactly one start node; delete this one",
                  node_id=extra)  # fmt: skip
    used: dict[tuple[str, str], str] = {}
    graph: dict[str, list[str]] = {node_id: [] for node_id in [*by_id, *unparsed]}
    for edge in edges:
        missing = [end for end in (edge.source, edge.target) if end not in graph]
        if missing:
            out.error("edge_missing_node", f"edge connects to node(s) {', '.join(map(repr, missing))} "
                      "that do not exist; delete the edge or the reference", edge_id=edge.id)  # fmt: skip
            continue
        source = by_id.get(edge.source)
        known = source.outcomes() if source is not None else fixed[edge.source].OUTCOMES \
            if edge.source in fixed else ()  # fmt: skip
        if edge.source not in lenient and edge.outcome not in known:
            options = ", ".join(known) or "none (this node ends the call)"
            kind = unparsed[edge.source].node_type if source is None else source.type  # type: ignore[attr-defined]
            out.error("unknown_outcome", f"edge leaves by {edge.outcome!r}, which is not an outcome "
                      f"of {kind}; use one of: {options}", edge_id=edge.id,
                      node_id=edge.source, field="sourceHandle")  # fmt: skip
            continue
        key = (edge.source, edge.outcome)
        if key in used:
            out.error("duplicate_outcome_edge", f"outcome {edge.outcome!r} already leads along edge "
                      f"'{used[key]}'; an outcome can lead to one node only", edge_id=edge.id,
                      node_id=edge.source)  # fmt: skip
            continue
        if edge.target in starts:
            out.error("edge_into_start", "no edge may lead into the start node; lead to the first "
                      "real node instead", edge_id=edge.id)  # fmt: skip
            continue
        used[key] = edge.id
        graph[edge.source].append(edge.target)
    for node in nodes:
        if isinstance(node, TransferNode) and isinstance(node.data.target, DepartmentTarget):
            for legacy in LEGACY_DEPARTMENT_OUTCOMES:
                if (node.id, legacy) in used:
                    out.warn("legacy_outcome", f"a department transfer never ends {legacy!r}; a call that "
                             "times out in the queue follows this edge while the node has no 'timeout' "
                             "edge. Connect 'timeout' instead", node_id=node.id,
                             edge_id=used[(node.id, legacy)])  # fmt: skip
        for outcome in [] if node.id in lenient else _possible_outcomes(node):
            if outcome == "timeout" and (node.id, "timeout") not in used and (node.id, "noAnswer") in used \
                    and isinstance(node, TransferNode) and isinstance(node.data.target, DepartmentTarget):  # fmt: skip
                continue  # the legacy noAnswer edge takes it
            if (node.id, outcome) not in used:
                out.warn("unhandled_outcome", f"outcome {outcome!r} has no edge: a call taking it "
                         "hears the goodbye message and is hung up; connect it if that is not meant",
                         node_id=node.id)  # fmt: skip
    for node_id, model in fixed.items():
        # noMatch depends on the collect's validation rules, which are not known here
        for outcome in (o for o in model.OUTCOMES if o != "noMatch" and (node_id, o) not in used):
            out.warn("unhandled_outcome", f"outcome {outcome!r} has no edge: a call taking it "
                     "hears the goodbye message and is hung up; connect it if that is not meant",
                     node_id=node_id)  # fmt: skip
    if not starts:
        return None
    reachable = _reach(starts[0], graph)
    for node_id in graph:
        if node_id not in reachable:
            out.warn("unreachable_node", "no path from the start node reaches this node", node_id=node_id)
    waits = {n.id for n in nodes if isinstance(n, _INPUT_NODES)}
    waits |= {lost.id for lost in unparsed.values() if issubclass(lost.model, _INPUT_NODES)}
    for cycle in _loops_without_input(graph, waits):
        names = " -> ".join([*cycle, cycle[0]])
        out.error("loop_without_input", f"these nodes can loop forever without waiting for the caller: "
                  f"{names}; put a collectNode on the loop or break it", node_id=cycle[0])  # fmt: skip
    return starts[0]


def _possible_outcomes(node: NodeBase) -> list[str]:
    """The outcomes a call can take: each once (a rule named 'default' is reported on its own), and
    no noMatch from a collect whose answers cannot fail validation."""
    outcomes = list(dict.fromkeys(node.outcomes()))
    if isinstance(node, TransferNode) and isinstance(node.data.target, DepartmentTarget):
        return list(DEPARTMENT_OUTCOMES)  # not the legacy ones: routing never reports them
    if isinstance(node, CollectNode):
        rules = node.data.validation
        keys = "dtmf" in node.data.input_type.split()
        can_fail = rules is not None and (rules.allowed_values is not None or rules.pattern is not None
                                          or (keys and (rules.min_digits or rules.max_digits) is not None))  # fmt: skip
        if not can_fail:
            outcomes.remove("noMatch")
    return outcomes


def _reach(start: str, graph: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _loops_without_input(graph: dict[str, list[str]], waits: set[str]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan) of the graph minus caller-input nodes."""
    keep = {n for n in graph if n not in waits}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root not in keep or root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in keep:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def _validate(document: Any, schedules: set[str] | None,
              departments: set[str] | None = None) -> tuple[ValidationReport, CompiledFlow | None]:  # fmt: skip
    out = _Collector()
    if not isinstance(document, dict):
        out.error("invalid_field", "a flow must be a JSON object with id, name, nodes and edges")
        return out.report(), None
    raw_nodes, raw_edges = document.get("nodes"), document.get("edges", [])
    if not isinstance(raw_nodes, list):
        out.error("invalid_field", "'nodes' must be a list of nodes", field="nodes")
        raw_nodes = []
    if not isinstance(raw_edges, list):
        out.error("invalid_field", "'edges' must be a list of edges", field="edges")
        raw_edges = []
    if len(raw_nodes) > MAX_NODES:
        out.error("too_large", f"the flow has {len(raw_nodes)} nodes; the limit is {MAX_NODES}", field="nodes")
        return out.report(), None
    parsed = _parse_nodes(raw_nodes, out)
    nodes = parsed.nodes
    edges = _parse_edges(raw_edges, out)
    envelope = {k: v for k, v in document.items() if k not in ("nodes", "edges", "settings")}
    shell: Flow | None = None
    try:
        shell = Flow.model_validate({**envelope, "nodes": [], "edges": []})
    except ValidationError as exc:
        out.pydantic(exc, Flow)
    flow_settings, timezone, variables = _parse_settings(document.get("settings", {}), out)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tz directory such as 'America'
            out.error("unknown_time_zone", f"unknown time zone {timezone!r}; use an IANA name such as "
                      "'America/New_York'", field="settings.timezone")  # fmt: skip
    defined = _defined_variables(variables, nodes, parsed.unparsed.values())
    node_ids = {node.id for node in nodes} | set(parsed.unparsed)
    for node in nodes:
        _check_node_content(node, defined, node_ids, out, schedules, departments)
    _check_settings_texts(document.get("settings"), defined, node_ids, departments, out)
    start = _check_graph(parsed, edges, out)
    report = out.report()
    if not report.ok or start is None or shell is None or flow_settings is None:
        return report, None
    flow = Flow.model_construct(**{**shell.__dict__, "nodes": nodes, "edges": edges, "settings": flow_settings})
    return report, CompiledFlow(flow, start)


def validate(document: Any, schedules: set[str] | None = None,
             departments: set[str] | None = None) -> ValidationReport:  # fmt: skip
    """Check a FlowDesigner document. ``schedules`` and ``departments``: the names that exist, when the
    caller knows them (publish and deploy do; a stored version compiled for a call does not)."""
    return _validate(document, schedules, departments)[0]


def compile_flow(document: Any, schedules: set[str] | None = None,
                 departments: set[str] | None = None) -> CompiledFlow:  # fmt: skip
    report, compiled = _validate(document, schedules, departments)
    if compiled is None:
        raise FlowInvalid(report)
    return compiled


def json_schema() -> dict[str, Any]:
    """The flow format as JSON Schema (draft 2020-12), for the FlowDesigner."""
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "FlowDesigner call flow"
    return schema
