"""What a load run measured: percentiles per webhook kind, errors, TwiML violations, store cost per
call, as a JSON document, a one-screen summary and an SVG latency chart (no plotting library).

Errors, degraded answers and TwiML violations are also counted per scenario (``byScenario``, each
request found by its CallSid), so a run that mixes faults with healthy calls shows whether the
healthy ones were touched. Percentiles are nearest-rank over every request of a kind (duplicates are their own kind,
``step (duplicate)``). Calls per second counts calls that ended, over the time from the first
arrival to the last end. Store reads and writes per call are the difference of the stack's
counters before and after, divided by the calls that ended: exact when only this run used the stack.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape
from typing import Any

from common.loadgen.runner import RunOutcome
from common.loadgen.transport import KINDS, Sample


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _ms(value: float) -> float:
    return round(value * 1000, 2)


def kind_label(sample: Sample) -> str:
    return f"{sample.kind} (duplicate)" if sample.duplicate else sample.kind


def latency_table(samples: list[Sample]) -> dict[str, dict[str, float]]:
    by_kind: dict[str, list[float]] = {}
    for sample in samples:
        by_kind.setdefault(kind_label(sample), []).append(sample.seconds)
    table = {}
    order = [k for k in KINDS] + [f"{k} (duplicate)" for k in KINDS]
    for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else len(order)):
        ordered = sorted(by_kind[kind])
        table[kind] = {"n": len(ordered), "p50Ms": _ms(percentile(ordered, 0.5)),
                       "p95Ms": _ms(percentile(ordered, 0.95)), "p99Ms": _ms(percentile(ordered, 0.99)),
                       "maxMs": _ms(ordered[-1])}  # fmt: skip
    return table


def _per_call(before: dict[str, Any] | None, after: dict[str, Any] | None, calls: int) -> dict[str, Any] | None:
    if not before or not after or calls == 0 or before.get("pid") != after.get("pid"):
        return None  # not exposed, or another process answered (several workers): no exact count
    result: dict[str, Any] = {"store": after.get("store")}
    for name in ("reads", "writes"):
        if isinstance(after.get(name), int) and isinstance(before.get(name), int):
            result[f"{name}PerCall"] = round((after[name] - before[name]) / calls, 2)
    routing_before, routing_after = before.get("routing") or {}, after.get("routing") or {}
    for name in ("reads", "writes"):
        if isinstance(routing_after.get(name), int) and isinstance(routing_before.get(name), int):
            result[f"routing{name.title()}PerCall"] = round((routing_after[name] - routing_before[name]) / calls, 2)
    return result


def _voice_workers(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """The voice workers' jobs in the run, and the share that ran pinned on their request's CPU
    (common/web/voice_workers.py: a request alone in its process)."""
    if not before or not after or before.get("pid") != after.get("pid"):
        return None
    first, last = before.get("voiceWorkers") or {}, after.get("voiceWorkers") or {}
    try:
        solo = int(last["soloJobs"]) - int(first["soloJobs"])
        queued = int(last["queuedJobs"]) - int(first["queuedJobs"])
    except (KeyError, TypeError, ValueError):
        return None
    jobs = solo + queued
    return {"jobs": jobs, "onTheirCpu": round(solo / jobs, 3) if jobs else None, "colocate": last.get("colocate")}


def summarise(outcome: RunOutcome, before: dict[str, Any] | None = None,
              after: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    plan, samples = outcome.plan, outcome.recorder.snapshot()
    finished = outcome.finished
    errors = Counter(f"{s.kind}: {s.error}" for s in samples if s.error)
    violations = Counter(f"{s.kind}: {v}" for s in samples for v in s.violations)
    problems = Counter(problem[:120] for call in finished for problem in call.result.problems)
    first = min((c.arrived for c in finished), default=0.0)
    last = max((c.ended for c in finished), default=0.0)
    span = max(last - first, 1e-9)
    wall = outcome.ended - outcome.began
    scenarios = Counter(c.scenario for c in finished)
    webhooks = [s for s in samples if not s.duplicate]
    return {
        "plan": {"url": plan.base_url, "calls": plan.calls, "ratePerSecond": plan.rate, "rampSeconds": plan.ramp,
                 "burst": plan.rate <= 0, "pace": plan.pace, "duplicateRate": plan.duplicate_rate,
                 "maxSeconds": plan.max_seconds, "workers": plan.worker_count(), "timeoutSeconds": plan.timeout,
                 "seed": plan.seed},
        "calls": {"ended": len(finished), "cutOff": outcome.cut_off, "notStarted": outcome.not_started,
                  "withProblems": sum(1 for c in finished if c.result.problems), "peakConcurrent": outcome.peak_active,
                  "perSecond": round(len(finished) / span, 2), "byScenario": dict(scenarios.most_common())},
        "seconds": round(wall, 2),
        "webhooks": {"sent": len(webhooks), "duplicatesSent": len(samples) - len(webhooks),
                     "perSecond": round(len(samples) / max(wall, 1e-9), 2),
                     "perCall": round(len(webhooks) / len(finished), 2) if finished else None},
        "latency": latency_table(samples),
        "errors": {"total": sum(errors.values()), "byKind": dict(errors.most_common())},
        "degraded": {"total": sum(1 for s in samples if s.degraded),
                     "byKind": dict(Counter(s.kind for s in samples if s.degraded).most_common())},
        "twimlViolations": {"total": sum(violations.values()), "byKind": dict(violations.most_common(20))},
        "duplicatesAnsweredDifferently": {"total": len(outcome.recorder.mismatches),
                                          "samples": outcome.recorder.mismatches[:5]},
        "callProblems": {"total": sum(problems.values()), "top": dict(problems.most_common(10))},
        "store": _per_call(before, after, len(finished)),
        "voiceWorkers": _voice_workers(before, after),
        "byScenario": scenario_table(outcome, samples),
        "timeline": timeline(samples),
    }  # fmt: skip


def scenario_table(outcome: RunOutcome, samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per scenario: calls ended, webhooks (duplicates included), errors, degraded answers, TwiML
    violations, calls with problems, and the p95 latency of its webhooks."""
    table: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    for name in dict.fromkeys(outcome.scenario_of.values()):
        table[name] = {"calls": 0, "webhooks": 0, "errors": 0, "degraded": 0, "twimlViolations": 0,
                       "withProblems": 0}  # fmt: skip
        latencies[name] = []
    for call in outcome.finished:
        row = table.setdefault(call.scenario, {"calls": 0, "webhooks": 0, "errors": 0, "degraded": 0,
                                               "twimlViolations": 0, "withProblems": 0})  # fmt: skip
        row["calls"] += 1
        row["withProblems"] += bool(call.result.problems)
    for sample in samples:
        scenario = outcome.scenario_of.get(sample.call_sid)
        if scenario is None:
            continue
        row = table[scenario]
        row["webhooks"] += 1
        row["errors"] += sample.error is not None
        row["degraded"] += sample.degraded
        row["twimlViolations"] += len(sample.violations)
        latencies[scenario].append(sample.seconds)
    for name, row in table.items():
        row["p95Ms"] = _ms(percentile(sorted(latencies.get(name, [])), 0.95))
    return table


def timeline(samples: list[Sample], bucket: float = 1.0) -> list[dict[str, Any]]:
    """Per second of the run: requests, errors, and p50/p95 per kind."""
    buckets: dict[int, list[Sample]] = {}
    for sample in samples:
        buckets.setdefault(int(sample.started // bucket), []).append(sample)
    rows = []
    for index in sorted(buckets):
        group = buckets[index]
        row: dict[str, Any] = {"t": index * bucket, "requests": len(group), "errors": sum(1 for s in group if s.error)}
        for kind in KINDS:
            ordered = sorted(s.seconds for s in group if s.kind == kind and not s.duplicate)
            if ordered:
                row[kind] = {"p50Ms": _ms(percentile(ordered, 0.5)), "p95Ms": _ms(percentile(ordered, 0.95))}
        rows.append(row)
    return rows


def text(result: dict[str, Any]) -> str:
    plan, calls, hooks = result["plan"], result["calls"], result["webhooks"]
    arrivals = "all at once" if plan["burst"] else f"{plan['ratePerSecond']:g}/s after a {plan['rampSeconds']:g} s ramp"
    lines = [f"{plan['calls']} calls to {plan['url']}, arriving {arrivals}, pace {plan['pace']:g}, "
             f"duplicates {plan['duplicateRate']:.0%}, {plan['workers']} workers: {result['seconds']} s",
             f"calls: {calls['ended']} ended ({calls['perSecond']}/s), {calls['cutOff']} cut off at the bound, "
             f"{calls['notStarted']} not started, peak {calls['peakConcurrent']} at once, "
             f"{calls['withProblems']} with problems",
             f"webhooks: {hooks['sent']} sent (+{hooks['duplicatesSent']} duplicates), {hooks['perSecond']}/s, "
             f"{hooks['perCall']} per call",
             f"{'kind':22} {'n':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}"]  # fmt: skip
    for kind, row in result["latency"].items():
        lines.append(f"{kind:22} {row['n']:7d} {row['p50Ms']:9.1f} {row['p95Ms']:9.1f} {row['p99Ms']:9.1f} "
                     f"{row['maxMs']:9.1f}")  # fmt: skip
    lines.append(f"errors: {result['errors']['total']}" + "".join(
        f"\n  {n:6d}  {what}" for what, n in result["errors"]["byKind"].items()))  # fmt: skip
    lines.append(f"degraded (answered with the apology and the fallback): {result['degraded']['total']}" + "".join(
        f"\n  {n:6d}  {what}" for what, n in result["degraded"]["byKind"].items()))  # fmt: skip
    lines.append(f"TwiML violations: {result['twimlViolations']['total']}" + "".join(
        f"\n  {n:6d}  {what}" for what, n in result["twimlViolations"]["byKind"].items()))  # fmt: skip
    lines.append(f"duplicates answered differently: {result['duplicatesAnsweredDifferently']['total']}")
    if result["callProblems"]["total"]:
        lines.append(f"call problems: {result['callProblems']['total']}" + "".join(
            f"\n  {n:6d}  {what}" for what, n in result["callProblems"]["top"].items()))  # fmt: skip
    if len(result.get("byScenario") or {}) > 1:
        lines.append(f"{'scenario':48} {'calls':>6} {'hooks':>6} {'errors':>6} {'degr.':>6} {'TwiML':>6} {'p95 ms':>8}")
        for name, row in result["byScenario"].items():
            lines.append(f"{name[:48]:48} {row['calls']:6d} {row['webhooks']:6d} {row['errors']:6d} "
                         f"{row['degraded']:6d} {row['twimlViolations']:6d} {row['p95Ms']:8.1f}")  # fmt: skip
    store = result["store"]
    if store:
        per = ", ".join(f"{k} {v}" for k, v in store.items() if k != "store")
        lines.append(f"store ({store['store']}): {per}")
    else:
        lines.append("store: the stack does not expose counters (GET /_local/counters), or several processes served")
    workers = result.get("voiceWorkers")
    if workers and workers["jobs"]:
        lines.append(f"voice worker jobs: {workers['jobs']}, {workers['onTheirCpu']:.1%} pinned to their request's CPU "
                     "(a request alone in the process)")  # fmt: skip
    return "\n".join(lines)


COLOURS = {"incoming": "#1f77b4", "step": "#2ca02c", "status": "#7f7f7f", "department": "#d62728",
           "fallback": "#9467bd", "other": "#8c564b"}  # fmt: skip


def svg(result: dict[str, Any], width: int = 900, height: int = 420) -> str:
    """p50 (dashed) and p95 (solid) per kind over the run, requests per second as grey bars."""
    rows = result["timeline"]
    left, right, top, bottom = 60, 150, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    t_max = max((r["t"] for r in rows), default=0) + 1
    y_max = max([r[k]["p95Ms"] for r in rows for k in KINDS if k in r] + [1.0])
    y_max = 10 ** math.ceil(math.log10(y_max)) if y_max > 0 else 1
    n_max = max([r["requests"] for r in rows] + [1])

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(ms: float) -> float:
        return top + plot_h * (1 - ms / y_max)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="11">', '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="18" font-size="13">{escape(_title(result))}</text>']  # fmt: skip
    bar_w = max(plot_w / t_max - 1, 1)
    for r in rows:
        h = plot_h * 0.3 * r["requests"] / n_max
        fill = "#f4b6b6" if r["errors"] else "#e6e6e6"
        parts.append(f'<rect x="{x(r["t"]):.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="{fill}"/>')  # fmt: skip
    for i in range(6):
        ms = y_max * i / 5
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">{ms:g}</text>')
    for i in range(6):
        t = t_max * i / 5
        parts.append(f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{t:.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">seconds into the run '
                 f'(bars: requests per second, max {n_max}; red: with errors)</text>')  # fmt: skip
    parts.append(f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})" '
                 'text-anchor="middle">webhook latency, ms</text>')  # fmt: skip
    legend_y = top + 10
    for kind in KINDS:
        points = [(x(r["t"] + 0.5), r[kind]) for r in rows if kind in r]
        if not points:
            continue
        colour = COLOURS[kind]
        for key, dash in (("p95Ms", ""), ("p50Ms", ' stroke-dasharray="4 3"')):
            line = " ".join(f"{px:.1f},{y(v[key]):.1f}" for px, v in points)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        row = result["latency"].get(kind, {})
        parts.append(f'<text x="{left + plot_w + 10}" y="{legend_y}" fill="{colour}">{kind}: p95 '
                     f'{row.get("p95Ms", 0):g} ms</text>')  # fmt: skip
        legend_y += 16
    parts.append(f'<text x="{left + plot_w + 10}" y="{legend_y + 8}">solid p95, dashed p50</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _title(result: dict[str, Any]) -> str:
    plan, calls = result["plan"], result["calls"]
    arrivals = "burst" if plan["burst"] else f"{plan['ratePerSecond']:g}/s"
    return (f"{plan['calls']} calls ({arrivals}, pace {plan['pace']:g}): {calls['ended']} ended, "
            f"errors {result['errors']['total']}, TwiML violations {result['twimlViolations']['total']}")
