"""What the simulated callers do: a weighted mix of caller scripts, each for one dialled number.

A mix file is JSON:

    {"scenarios": [
       {"name": "sales, talks 30 s", "number": "+13072249663", "weight": 2, "inputs": ["1", "agent:answer:30"]},
       {"name": "hangs up at the menu", "number": "+13072249663", "inputs": ["hangup"]}],
     "deploy": [{"flow": "examples/account_lookup.json", "number": "+13072240001"}],
     "departments": {"support": {"maxQueueSize": 2000}}}

``inputs`` are caller script items (the grammar of ``ivr call``); ``weight`` defaults to 1.
``deploy`` (optional) lists flows the run puts on numbers through the admin API before it starts
(``ivr load --setup``), so one stack can serve a mix of flows; paths are relative to the file.
``departments`` (optional) changes settings of existing departments the same way before the run
(each is read, the given fields replaced, and written back; a department that does not exist is
created from the given fields): a thousand callers holding at once need
queues longer than the demo's. ``schedules`` (optional) are saved as given (``PUT /api/schedules/NAME``)
before the flows that name them are deployed. Setup runs schedules, then departments, then deploys.
Which scenario a call plays is drawn with a seeded generator: the same seed, the same calls.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.core import simulator

DEMO_NUMBER = "+13072249663"


class MixError(ValueError):
    """A mix file that cannot be used; the message names the field (``scenarios[2].inputs[0]``)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    number: str
    inputs: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Deploy:
    flow: Path
    number: str


@dataclass
class Mix:
    scenarios: list[Scenario]
    deploy: list[Deploy] = field(default_factory=list)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def chooser(self, seed: int) -> random.Random:
        return random.Random(seed)

    def pick(self, rng: random.Random) -> Scenario:
        return rng.choices(self.scenarios, weights=[s.weight for s in self.scenarios])[0]


#: The demo support line (what ``ivr run`` seeds): menu by keys and by speech, department queues
#: with few agents (most callers hold, some give up, a full queue sends them to voicemail), silence,
#: wrong keys and early hang-ups.
DEFAULT_SCENARIOS = (
    Scenario("sales by key, talks 30 s", DEMO_NUMBER, ("1", "agent:answer:30"), 2),
    Scenario("support by speech, talks 45 s", DEMO_NUMBER, ("speech:Support, please.", "agent:answer:45"), 2),
    Scenario("support, gives up after 3 hold clips", DEMO_NUMBER, ("2", "hold:3"), 3),
    Scenario("sales, gives up after 2 hold clips", DEMO_NUMBER, ("1", "hold:2"), 2),
    Scenario("support, leaves a voicemail from the hold menu", DEMO_NUMBER, ("2", "press:2"), 1),
    Scenario("silent caller", DEMO_NUMBER, ("silence", "silence", "silence"), 1),
    Scenario("wrong keys", DEMO_NUMBER, ("7", "8", "9"), 1),
    Scenario("hangs up at the menu", DEMO_NUMBER, ("hangup",), 1),
)


def default_mix() -> Mix:
    return Mix(list(DEFAULT_SCENARIOS))


def _check_item(item: Any, where: str) -> str:
    if not isinstance(item, str):
        raise MixError(f"{where}: a caller script item is a string, not {type(item).__name__}")
    try:
        simulator.parse_item(item)
    except Exception as exc:  # the simulator's ScriptError, or whatever a malformed item raises
        raise MixError(f"{where}: {exc}") from exc
    return item


def parse_mix(data: Any, base: Path = Path(".")) -> Mix:
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list) or not data["scenarios"]:
        raise MixError("scenarios: a mix is an object with a non-empty list 'scenarios'")
    scenarios = []
    for i, raw in enumerate(data["scenarios"]):
        where = f"scenarios[{i}]"
        if not isinstance(raw, dict):
            raise MixError(f"{where}: each scenario is an object")
        number, inputs, weight = raw.get("number", DEMO_NUMBER), raw.get("inputs", []), raw.get("weight", 1)
        if not isinstance(number, str) or not number.startswith("+"):
            raise MixError(f"{where}.number: an E.164 number such as +13072249663")
        if not isinstance(inputs, list):
            raise MixError(f"{where}.inputs: a list of caller script items")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise MixError(f"{where}.weight: a positive number")
        items = tuple(_check_item(item, f"{where}.inputs[{j}]") for j, item in enumerate(inputs))
        scenarios.append(Scenario(str(raw.get("name") or f"scenario {i}"), number, items, float(weight)))
    deploys = []
    for i, raw in enumerate(data.get("deploy") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("flow"), str) or not isinstance(raw.get("number"), str):
            raise MixError(f"deploy[{i}]: an object with 'flow' (a flow file) and 'number'")
        deploys.append(Deploy(base / raw["flow"], raw["number"]))
    departments = data.get("departments") or {}
    if not isinstance(departments, dict) or not all(isinstance(v, dict) for v in departments.values()):
        raise MixError("departments: an object of department id -> the settings to change")
    schedules = data.get("schedules") or {}
    if not isinstance(schedules, dict) or not all(isinstance(v, dict) for v in schedules.values()):
        raise MixError("schedules: an object of schedule name -> the schedule document")
    return Mix(scenarios, deploys, departments, schedules)


def load_mix(path: Path) -> Mix:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MixError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise MixError(f"{path} is not JSON: {exc}") from exc
    return parse_mix(data, path.parent)
