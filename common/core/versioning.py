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
