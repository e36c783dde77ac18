"""Builders for Studio definitions and a driver that imports, validates and simulates them.

Kept as a plain module so parametrize tables can build definitions at collection time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.core import simulator, validation
from common.core.studio import Imported, ImportOptions, import_studio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "studio"
#: A Monday afternoon, as in the unit tests.
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def widget(name: str, type_: str, transitions: Sequence[tuple[str, str | None]] = (), **properties: Any
           ) -> dict[str, Any]:  # fmt: skip
    """One Studio state; ``transitions`` are (event, next) pairs (next None: Studio's end)."""
    moves = [{"event": event, **({"next": nxt} if nxt else {})} for event, nxt in transitions]
    return {"name": name, "type": type_, "transitions": moves,
            "properties": {"offset": {"x": 10, "y": 20}, **properties}}  # fmt: skip


def trigger(first: str | None, name: str = "Trigger") -> dict[str, Any]:
    return widget(name, "trigger", [("incomingMessage", None), ("incomingCall", first), ("incomingRequest", None)])


def definition(*states: dict[str, Any], first: str | None = None, description: str = "Test flow") -> dict[str, Any]:
    """A bare definition whose trigger's incomingCall leads to ``first`` (default: the first state)."""
    lead = first if first is not None else (states[0]["name"] if states else None)
    return {"description": description, "states": [trigger(lead), *states], "initial_state": "Trigger",
            "flags": {"allow_concurrent_calls": True}}  # fmt: skip


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def imported(document: Any, **options: Any) -> Imported:
    return import_studio(document, ImportOptions(**options))


def nodes(result: Imported) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in result.flow["nodes"]}


def edges(result: Imported) -> set[tuple[str, str, str]]:
    """(source, outcome, target) of every edge."""
    return {(e["source"], e.get("sourceHandle", "next"), e["target"]) for e in result.flow["edges"]}


def codes(result: Imported) -> list[tuple[str, str]]:
    """(widget, code) of every warning."""
    return [(w["widget"], w["code"]) for w in result.report["warnings"]]


def run(result: Imported, script: Sequence[str], http: Sequence[simulator.HttpMock] = (),
        **kwargs: Any) -> simulator.Simulation:  # fmt: skip
    """Compile (it must validate) and simulate one call; the TwiML of every turn must be valid."""
    flow = validation.compile_flow(result.flow)
    sim = simulator.simulate(flow, script, now=NOW, http=http, **kwargs)
    assert sim.problems == []
    return sim


def said(sim: simulator.Simulation) -> list[str]:
    """What the IVR said or played, in order."""
    return [line.text for line in sim.transcript if line.speaker == "ivr"]


def system(sim: simulator.Simulation) -> list[str]:
    return [line.text for line in sim.transcript if line.speaker == "system"]
