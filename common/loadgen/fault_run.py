"""A load run with faults next to healthy calls, and whether the healthy calls were touched.

    files = write_flows(api, folder)          the flows of the mix (common/loadgen/faults.py), as files
    mix = fault_mix(files)                    healthy scenarios + one per fault, weighted
    setup(base_url, mix)                      deploy them through the admin API (ivr load --setup)
    result, outcome = run(plan, mix)          ``report.summarise`` + ``groups`` + what callers heard

Rules owned here:
- The mix plays the demo support line's scenarios (menu, queues, agents, voicemail, hang-ups) and
  a healthy HTTP flow (``http_ok``: its API answers at once) as the *healthy* calls, and one
  scenario per fault: an API that answers after 3 s, one that never answers, one that refuses
  connections, and a number whose calls' store operations stall (``STALLED_NUMBER``; the served
  stack must be started with ``IVR_LOCAL_STALL`` naming it, see ``stall_spec``). Duplicate
  deliveries come from the plan (``duplicate_rate``) and touch every kind of call.
- ``groups`` sums the per-scenario rows of the result into ``healthy`` and ``faults`` (each fault by
  name), so a run shows at a glance whether a fault raised the error rate of the calls beside it.
- ``heard`` counts, per HTTP scenario, the calls whose transcript has the flow's success line and
  those with its failure line: the slow and dead APIs must end in ``failed``, the healthy one in
  ``worked``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common.loadgen import report
from common.loadgen.faults import FAILED_TEXT, OK_TEXT, FaultApi, fault_flows
from common.loadgen.mix import DEFAULT_SCENARIOS, Deploy, Mix, Scenario
from common.loadgen.runner import Plan, Runner, RunOutcome, counters

NUMBERS = {"http_ok": "+13072240010", "http_slow": "+13072240011", "http_hang": "+13072240012",
           "http_refused": "+13072240013", "stalled_line": "+13072240014"}  # fmt: skip
STALLED_NUMBER = NUMBERS["stalled_line"]
HEALTHY_HTTP = "healthy: HTTP node, API answers at once"
FAULTS = {
    "fault: HTTP node, API answers after 3 s": "http_slow",
    "fault: HTTP node, API never answers": "http_hang",
    "fault: HTTP node, API refuses connections": "http_refused",
    "fault: the call's store operations stall": "stalled_line",
}


def stall_spec(seconds: float = 3.0) -> str:
    """The ``IVR_LOCAL_STALL`` value the served stack needs for this mix."""
    return f"{STALLED_NUMBER}:{seconds:g}"


def write_flows(api: FaultApi, folder: Path) -> dict[str, Path]:
    """The flow files of the mix in ``folder``: flow id -> file."""
    flows = fault_flows(api)
    flows["stalled_line"] = {**flows["http_ok"], "id": "stalled_line", "name": "Load test: stalled store"}
    files = {}
    for flow_id, flow in flows.items():
        files[flow_id] = folder / f"{flow_id}.json"
        files[flow_id].write_text(json.dumps(flow, indent=2), encoding="utf-8")
    return files


def fault_mix(files: dict[str, Path], fault_weight: float = 1.0) -> Mix:
    """The demo line's scenarios and the healthy HTTP flow (weight 2), and each fault at ``fault_weight``."""
    scenarios = [Scenario(f"healthy: {s.name}", s.number, s.inputs, s.weight) for s in DEFAULT_SCENARIOS]
    scenarios.append(Scenario(HEALTHY_HTTP, NUMBERS["http_ok"], (), 2.0))
    scenarios += [Scenario(name, NUMBERS[flow_id], (), fault_weight) for name, flow_id in FAULTS.items()]
    deploy = [Deploy(files[flow_id], NUMBERS[flow_id]) for flow_id in NUMBERS]
    return Mix(scenarios, deploy)


def setup(base_url: str, mix: Mix, api_key: str | None = None) -> None:
    """Deploy the mix's flows through the admin API (as ``ivr load --setup`` does)."""
    from common.cli_load import _setup

    _setup(argparse.Namespace(url=base_url, api_key=api_key), mix)


def groups(result: dict[str, Any]) -> dict[str, Any]:
    """The per-scenario rows summed into ``healthy`` and ``faults``, with rates per webhook."""

    def total(rows: list[dict[str, Any]]) -> dict[str, Any]:
        summed = {key: sum(r[key] for r in rows) for key in ("calls", "webhooks", "errors", "degraded",
                                                              "twimlViolations", "withProblems")}  # fmt: skip
        summed["errorRate"] = round(summed["errors"] / summed["webhooks"], 4) if summed["webhooks"] else 0.0
        summed["p95MsWorst"] = max((r["p95Ms"] for r in rows), default=0.0)
        return summed

    table = result["byScenario"]
    healthy = [row for name, row in table.items() if name.startswith("healthy: ")]
    return {"healthy": total(healthy),
            "faults": {name: total([table[name]]) for name in FAULTS if name in table}}  # fmt: skip


def heard(outcome: RunOutcome) -> dict[str, dict[str, int]]:
    """Per HTTP scenario: calls that heard the success line, the failure line, neither."""
    found: dict[str, dict[str, int]] = {}
    for call in outcome.finished:
        if "HTTP node" not in call.scenario and "store" not in call.scenario:
            continue
        said = " ".join(call.result.transcript)
        row = found.setdefault(call.scenario, {"worked": 0, "failed": 0, "neither": 0})
        row["worked" if OK_TEXT in said else "failed" if FAILED_TEXT in said else "neither"] += 1
    return found


def run(plan: Plan, mix: Mix, progress: Any = None) -> tuple[dict[str, Any], RunOutcome]:
    before = counters(plan.base_url)
    outcome = Runner(plan, mix).run(progress)
    result = report.summarise(outcome, before, counters(plan.base_url))
    result["groups"] = groups(result)
    result["heard"] = heard(outcome)
    return result, outcome
