"""What the validator can still know about a node whose data does not validate.

One invalid field must not hide the rest of the flow: the graph checks (reachability, outcomes without
an edge, loops, variables set) and the per-field checks of the node's other fields still need the node.
``salvage`` drops every field pydantic refused (a required field that is missing or refused takes its
parent object with it, so a decision rule with a bad operator drops that rule) and validates again, a
few rounds at most. The result says which outcomes remain trustworthy: when rules, a target or
validation rules were dropped, the node's outcomes are not what the author meant, so the graph checks
neither refuse its edges nor ask for the outcomes it seems to lack.

When nothing parses (a bad id, a required field such as ``data.variable`` refused), ``Unparsed``
keeps the id, the type and the variable names the raw data sets: enough for the graph.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from common.core.flow import NodeBase

_ROUNDS = 4
#: dropping anything under these makes a node's outcomes (or their number) differ from the author's
_OUTCOME_FIELDS = (("data", "rules"), ("data", "target"), ("data", "validation"))

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Salvaged:
    node: NodeBase
    outcomes_known: bool


@dataclass(frozen=True)
class Unparsed:
    id: str
    node_type: str
    model: type[NodeBase]
    sets: frozenset[str] = field(default_factory=frozenset)


def _path(raw: Any, loc: Loc) -> Loc:
    """The part of ``loc`` that exists in ``raw``: pydantic adds union tags that are no key, and a
    missing field is no key either (so the path ends at its parent)."""
    path: list[str | int] = []
    here = raw
    for segment in loc:
        in_list = isinstance(here, list) and isinstance(segment, int) and 0 <= segment < len(here)
        if not in_list and not (isinstance(here, dict) and segment in here):
            continue  # a union tag such as 'department' in data.target.department.department
        here = here[segment]
        path.append(segment)
    return tuple(path)


def _drop(raw: Any, path: Loc) -> None:
    here = raw
    for segment in path[:-1]:
        here = here[segment]
    del here[path[-1]]


def _targets(raw: Any, exc: ValidationError) -> list[Loc]:
    """The paths to drop: each refused value, or the parent of a missing one (``_path`` skips the
    absent key), never one inside another, deepest and highest list index first."""
    found = {_path(raw, tuple(error["loc"])) for error in exc.errors()}
    kept = [p for p in found if not any(q != p and p[:len(q)] == q for q in found)]
    return sorted(kept, key=lambda p: [(1, s, "") if isinstance(s, int) else (0, 0, s) for s in p], reverse=True)


def salvage(model: type[NodeBase], raw: dict[str, Any], exc: ValidationError, node_id: str | None,
            node_type: str) -> Salvaged | Unparsed | None:  # fmt: skip
    """The node without its refused fields; ``Unparsed`` when that does not validate either; None
    without an id (nothing can refer to such a node)."""
    work = copy.deepcopy(raw)
    dropped: list[Loc] = []
    for _ in range(_ROUNDS):
        targets = _targets(work, exc)
        if not targets or () in targets or any(t[:1] in (("id",), ("type",)) or t == ("data",) for t in targets):
            break
        for target in targets:
            _drop(work, target)
        dropped += targets
        try:
            node = model.model_validate(work)
        except ValidationError as again:
            exc = again
            continue
        known = not any(d[:2] in _OUTCOME_FIELDS for d in dropped)
        return Salvaged(node, known)
    if node_id is None:
        return None
    return Unparsed(node_id, node_type, model, _raw_sets(raw.get("data")))


def _raw_sets(data: Any) -> frozenset[str]:
    if not isinstance(data, dict):
        return frozenset()
    names = [data.get("variable"), data.get("saveAs")]
    names += [a.get("name") for a in data.get("variables", []) if isinstance(a, dict)] \
        if isinstance(data.get("variables"), list) else []  # fmt: skip
    return frozenset(n for n in names if isinstance(n, str) and n)
