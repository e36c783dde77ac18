"""The working state of one Studio import: nodes and edges built so far, findings, what each widget became.

Rules owned here:
- A widget's node id is its name made valid (letters, digits, ``_`` and ``-``, at most 64
  characters, unique); the nodes a widget needs besides its own (a gather's keypress/speech split, the steps of
  a split's multi-condition transition) take ids that start with the widget's and contain ``:``.
- Transitions are read with the event spellings real exports use (``fail``/``failed``,
  ``callComplete``/``callCompleted``) folded to one per widget type; an event the widget does not
  have is a finding, and its transition is not followed.
- A transition without ``next`` ends the execution, as in Studio: it leads to one shared hangup
  node that says nothing (``end``). So does a ``next`` that names no widget (a finding).
- Every finding names the widget, its type and, when there is one, the property.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from common.core import studio_text
from common.core.studio_text import Finder, Rewriter

#: per widget type: canonical event -> other spellings seen in exports (compared case-insensitively)
EVENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "trigger": {"incomingCall": (), "incomingMessage": (), "incomingRequest": (),
                "incomingConversationMessage": (), "incomingParent": ()},
    "say-play": {"audioComplete": ("audioCompleted", "complete", "next")},
    "gather-input-on-call": {"keypress": (), "speech": (), "timeout": ()},
    "split-based-on": {"noMatch": ("nomatch", "no_match"), "match": ()},
    "set-variables": {"next": ()},
    "make-http-request": {"success": (), "failed": ("fail", "failure")},
    "run-function": {"success": (), "fail": ("failed", "failure")},
    "connect-call-to": {"callCompleted": ("callComplete", "completed"), "hangup": ()},
    "enqueue-call": {"callComplete": ("callCompleted",), "failedToEnqueue": (), "callFailure": ("failure", "failed")},
    "send-to-flex": {"callComplete": ("callCompleted",), "failedToEnqueue": (), "callFailure": ("failure", "failed")},
    "record-voicemail": {"recordingComplete": ("recordingCompleted", "complete"), "noAudio": (), "hangup": ()},
    "record-call": {"success": (), "failed": ("fail", "failure")},
    "run-subflow": {"completed": ("complete", "success"), "failed": ("fail", "failure")},
    "add-twiml-redirect": {"return": (), "timeout": (), "fail": ("failed", "failure")},
    "make-outgoing-call-v2": {"answered": (), "busy": (), "noAnswer": (), "failed": ("fail",)},
    "send-message": {"sent": (), "failed": ("fail",)},
    "send-and-wait-for-reply": {"incomingMessage": (), "timeout": (), "deliveryFailure": ()},
    "capture-payments": {"success": (), "maxFailedAttempts": (), "providerError": (), "payInterrupted": (),
                         "hangup": (), "validationError": ()},
    "fork-stream": {"next": ()},
}  # fmt: skip

_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:-]")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_VARIABLE_CHARS = re.compile(r"[^A-Za-z0-9_]")


def node_id_for(name: str, taken: set[str], helper: bool = False) -> str:
    """A free node id for widget ``name`` (letters, digits, ``_`` and ``-``: a '.' or ':' would split
    ``widgets.<id>`` in a template); a ``helper`` node's may hold ``:`` and ``.`` too."""
    base = (_ID_CHARS if helper else _NAME_CHARS).sub("_", name.strip())[:64] or "widget"
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = base[: 64 - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


def variable_for(key: str) -> str:
    name = _VARIABLE_CHARS.sub("_", key.strip())[:64] or "value"
    return name if not name[0].isdigit() else ("_" + name)[:64]


class Finding(dict[str, Any]):
    """``{"severity", "code", "widget", "type", "property", "message"}`` (a dict: it is the report's JSON)."""


@dataclass
class WidgetEntry:
    name: str
    type: str
    nodes: list[str] = field(default_factory=list)
    became: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"widget": self.name, "type": self.type, "became": self.became, "nodes": self.nodes}


@dataclass
class Transitions:
    events: dict[str, str | None]  # canonical event -> next widget name (None: the execution ends)
    matches: list[dict[str, Any]]  # a split's match transitions, in order


class Build:
    def __init__(self, rewriter: Rewriter, ids: dict[str, str], types: dict[str, str],
                 departments: set[str] | None, department_map: dict[str, str]) -> None:  # fmt: skip
        self.rewriter = rewriter
        self.ids = ids  # widget name -> node id
        self.types = types  # widget name -> widget type
        self.departments = departments
        self.department_map = department_map
        self.taken = set(ids.values())
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.findings: list[Finding] = []
        self.entries: dict[str, WidgetEntry] = {}
        self._links: list[tuple[str, str, str | None, str]] = []  # source, handle, target widget, from widget
        self.end_id: str | None = None
        self.trigger: str | None = None  # the trigger widget's name: no transition may lead back into it
        self.subflows: dict[str, Any] = {}  # subflow SID -> its export, inlined by run-subflow
        self.depth = 0  # how many subflows deep this build is

    # -- findings ----------------------------------------------------------------------------------

    def finder(self, widget: str, property_: str | None = None, severity: str = "warning") -> Finder:
        def find(code: str, message: str) -> None:
            self.findings.append(Finding(severity=severity, code=code, widget=widget, type=self.types.get(widget, ""),
                                         property=property_, message=message))  # fmt: skip

        return find

    def warn(self, widget: str, code: str, message: str, property_: str | None = None) -> None:
        self.finder(widget, property_)(code, message)

    def no_effect(self, widget: str, property_: str, why: str) -> None:
        self.warn(widget, "no_effect", f"{property_} has no effect here: {why}", property_)

    # -- reading -----------------------------------------------------------------------------------

    def transitions(self, state: dict[str, Any]) -> Transitions:
        name, kind = str(state["name"]), str(state["type"])
        known = EVENTS.get(kind)
        spellings: dict[str, str] = {}
        for official, others in (known or {}).items():
            for spelling in (official, *others):
                spellings[spelling.lower()] = official
        events: dict[str, str | None] = {}
        matches: list[dict[str, Any]] = []
        raw = state.get("transitions")
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                continue
            event = studio_text.as_text(item.get("event")).strip()
            raw_next = item.get("next")
            target = raw_next.strip() if isinstance(raw_next, str) and raw_next.strip() else None
            canonical = spellings.get(event.lower()) if known is not None else event
            if canonical is None:
                self.warn(name, "unknown_event", f"event {event!r} is not one of {kind}'s "
                          f"({', '.join(known or {})}); that transition is not followed")  # fmt: skip
                continue
            if canonical == "match":
                matches.append(item)
                continue
            if canonical in events:
                if events[canonical] != target:
                    self.warn(name, "duplicate_event", f"event {event!r} appears twice; the first is followed")
                continue
            events[canonical] = target
        return Transitions(events, matches)

    def text(self, widget: str, value: Any, property_: str) -> str:
        return self.rewriter.text(value, self.finder(widget, property_), property_)

    def fill(self, widget: str, value: Any, property_: str) -> str:
        """Plain text (not a template) with its placeholders filled."""
        return self.rewriter.fill(studio_text.as_text(value), self.finder(widget, property_)).strip()

    # -- building ----------------------------------------------------------------------------------

    def helper_id(self, base: str) -> str:
        return node_id_for(base, self.taken, helper=True)

    def node(self, widget: str, node_id: str, type_: str, data: dict[str, Any], position: dict[str, float]) -> str:
        self.nodes.append({"id": node_id, "type": type_, "position": position, "data": data})
        self.entries[widget].nodes.append(node_id)
        return node_id

    def link(self, source: str, handle: str, target: str | None, widget: str) -> None:
        """Edge from node ``source`` by outcome ``handle`` to widget ``target`` (None: the execution ends)."""
        self._links.append((source, handle, target, widget))

    def edge(self, source: str, handle: str, target_node: str) -> None:
        edge: dict[str, Any] = {"id": f"e{len(self.edges) + 1}", "source": source, "target": target_node}
        if handle != "next":
            edge["sourceHandle"] = handle
        self.edges.append(edge)

    def links(self) -> list[tuple[str, str, str | None, str]]:
        """The links not resolved yet: (source node, outcome, target widget or None, from widget)."""
        return list(self._links)

    def end(self) -> str:
        if self.end_id is None:
            self.end_id = node_id_for("end", self.taken)
            self.nodes.append({"id": self.end_id, "type": "hangupNode", "position": {"x": 0, "y": -200},
                               "data": {"label": "Studio: the execution ends here"}})  # fmt: skip
        return self.end_id

    def resolve(self, imported: set[str]) -> None:
        for source, handle, target, widget in self._links:
            if target is None:
                self.edge(source, handle, self.end())
            elif target == self.trigger:
                self.warn(widget, "into_trigger", f"a transition leads back to the trigger {target!r}, which "
                          "no call can enter again; the execution ends there")  # fmt: skip
                self.edge(source, handle, self.end())
            elif target in imported:
                self.edge(source, handle, self.ids[target])
            else:
                self.warn(widget, "missing_widget", f"a transition leads to {target!r}, which is no widget of this "
                          "flow; the execution ends there")  # fmt: skip
                self.edge(source, handle, self.end())


def position(state: dict[str, Any], dx: float = 0, dy: float = 0) -> dict[str, float]:
    props = state.get("properties")
    offset = props.get("offset") if isinstance(props, dict) else None
    point = {"x": 0.0, "y": 0.0}
    if isinstance(offset, dict):
        for axis in ("x", "y"):
            try:
                value = float(offset.get(axis, 0))
            except (TypeError, ValueError):
                value = 0.0
            point[axis] = value if value == value and abs(value) < 1e9 else 0.0
    return {"x": point["x"] + dx, "y": point["y"] + dy}
