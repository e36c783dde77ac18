"""Published versions: canonical form, content hash, semantic version numbers.

Rules owned here:
- The canonical form of a flow is its JSON with keys sorted and the designer's layout removed
  (node positions, sizes, selection and other UI fields, edge styling, the viewport). Moving boxes
  around is therefore not a new version; changing a word of a prompt is.
- The content hash is SHA-256 of the canonical form, hex encoded.
- Version numbers are semantic versions ``MAJOR.MINOR.PATCH`` (no pre-release tags); they order
  numerically ("1.10.0" > "1.9.3").
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
_NODE_KEYS = ("id", "type", "data")
_EDGE_KEYS = ("id", "source", "target", "sourceHandle")
_FLOW_KEYS = ("id", "name", "description", "settings")


def canonical(document: dict[str, Any]) -> str:
    """The layout-free, key-sorted JSON of a (validated) FlowDesigner document."""
    nodes = sorted(({k: n[k] for k in _NODE_KEYS if k in n} for n in document.get("nodes", [])),
                   key=lambda n: str(n.get("id")))  # fmt: skip
    edges = sorted(({k: e[k] for k in _EDGE_KEYS if e.get(k) is not None} for e in document.get("edges", [])),
                   key=lambda e: (str(e.get("source")), str(e.get("sourceHandle")), str(e.get("id"))))  # fmt: skip
    body = {k: document[k] for k in _FLOW_KEYS if document.get(k) is not None}
    body.update(nodes=nodes, edges=edges)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document).encode()).hexdigest()


def parse_semver(text: str) -> tuple[int, int, int] | None:
    match = SEMVER.fullmatch(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def next_patch(existing: list[str]) -> str:
    parsed = sorted(v for v in (parse_semver(x) for x in existing) if v is not None)
    if not parsed:
        return "1.0.0"
    major, minor, patch = parsed[-1]
    return f"{major}.{minor}.{patch + 1}"


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    flat_old: dict[str, Any] = {}
    flat_new: dict[str, Any] = {}
    _flatten(old, "", flat_old)
    _flatten(new, "", flat_new)
    return [{"field": key, "from": flat_old.get(key), "to": flat_new.get(key)}
            for key in sorted(set(flat_old) | set(flat_new)) if flat_old.get(key) != flat_new.get(key)]  # fmt: skip


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new``, ignoring layout: nodes and edges added, removed, changed
    (field by field, dotted paths such as ``data.prompt``), and flow-level fields (name, settings)."""
    a, b = json.loads(canonical(old)), json.loads(canonical(new))
    out: dict[str, Any] = {}
    for kind in ("nodes", "edges"):
        before = {item["id"]: item for item in a[kind]}
        after = {item["id"]: item for item in b[kind]}
        out[f"{kind}Added"] = [after[i] for i in sorted(after.keys() - before.keys())]
        out[f"{kind}Removed"] = [before[i] for i in sorted(before.keys() - after.keys())]
        out[f"{kind}Changed"] = [{"id": i, "changes": _changes(before[i], after[i])}
                                 for i in sorted(before.keys() & after.keys()) if before[i] != after[i]]  # fmt: skip
    flow_a = {k: v for k, v in a.items() if k not in ("nodes", "edges")}
    flow_b = {k: v for k, v in b.items() if k not in ("nodes", "edges")}
    out["flowChanged"] = _changes(flow_a, flow_b)
    out["identical"] = not any(out[k] for k in out)
    return out
