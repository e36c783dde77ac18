"""The load harness's own rules, in process: arrivals, mixes, webhook kinds, percentiles, the report."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from common.loadgen import report
from common.loadgen.mix import DEMO_NUMBER, MixError, default_mix, load_mix, parse_mix
from common.loadgen.runner import Plan, RunOutcome, arrival_times
from common.loadgen.transport import Recorder, Sample, kind_of

HERE = Path(__file__).resolve().parent


def test_a_burst_arrives_at_once_and_a_rate_spaces_arrivals() -> None:
    assert arrival_times(5, 0, 10) == [0.0] * 5
    assert arrival_times(4, 2.0, 0) == [0.0, 0.5, 1.0, 1.5]


def test_a_ramp_grows_the_rate_linearly_then_holds_it() -> None:
    times = arrival_times(200, 10.0, 10.0)  # 50 calls arrive during the ramp (its area: 10 * 10 / 2)
    assert sum(1 for t in times if t < 10.0) == 50
    assert times[0] == 0.0 and times[1] > times[2] - times[1] > 0  # gaps shrink while the rate grows
    after = [b - a for a, b in itertools.pairwise(times[60:])]
    assert all(gap == pytest.approx(0.1) for gap in after)  # then 10 per second
    assert times[-1] == pytest.approx(10.0 + 150 / 10.0 - 0.1)


def test_webhook_kinds_come_from_the_path() -> None:
    assert kind_of("http://h/webhook/voice/incoming") == "incoming"
    assert kind_of("http://h/webhook/voice/step?seq=3") == "step"
    assert kind_of("http://h/webhook/voice/status") == "status"
    assert kind_of("http://h/webhook/departments/hold?t=demo&d=sales") == "department"
    assert kind_of("http://h/api/flows") == "other"


@pytest.mark.parametrize(("data", "where"), [
    ({}, "scenarios"),
    ({"scenarios": [{"inputs": ["1"]}, {"inputs": ["1", "dial:sideways"]}]}, "scenarios[1].inputs[1]"),
    ({"scenarios": [{"inputs": ["1"], "weight": 0}]}, "scenarios[0].weight"),
    ({"scenarios": [{"number": "3072249663"}]}, "scenarios[0].number"),
    ({"scenarios": [{"inputs": "1"}]}, "scenarios[0].inputs"),
    ({"scenarios": [{}], "deploy": [{"flow": "x.json"}]}, "deploy[0]"),
    ({"scenarios": [{}], "departments": {"sales": 5}}, "departments"),
])  # fmt: skip
def test_a_bad_mix_is_refused_naming_the_field(data: dict, where: str) -> None:
    with pytest.raises(MixError) as refused:
        parse_mix(data)
    assert str(refused.value).startswith(where)


def test_the_mix_files_shipped_for_load_runs_load() -> None:
    paced = load_mix(HERE / "paced_mix.json")
    assert paced.departments["support"]["maxQueueSize"] >= 1000  # a thousand callers hold at once
    mixed = load_mix(HERE / "mixed_flows.json")
    assert {d.flow.name for d in mixed.deploy} == {"account_lookup.json", "after_hours_voicemail.json"}
    assert all(d.flow.is_file() for d in mixed.deploy)
    assert len({s.number for s in mixed.scenarios}) == 3


def test_the_same_seed_draws_the_same_calls() -> None:
    mix = default_mix()

    def draw(seed: int) -> list[str]:
        rng = mix.chooser(seed)
        return [mix.pick(rng).name for _ in range(50)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert len(set(draw(7))) > 3  # a mix, not one script
    assert all(s.number == DEMO_NUMBER for s in mix.scenarios)


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert report.percentile(ordered, 0.5) == 50.0
    assert report.percentile(ordered, 0.95) == 95.0
    assert report.percentile(ordered, 0.99) == 99.0
    assert report.percentile([3.0], 0.99) == 3.0


def test_the_report_counts_errors_violations_and_store_cost_per_call() -> None:
    recorder = Recorder(0.0)
    for i in range(10):
        recorder.add(Sample("step", i * 0.1, 0.010 + i / 1000, 200))
    recorder.add(Sample("incoming", 0.0, 0.5, 0, "connection reset"))
    recorder.add(Sample("step", 0.2, 0.02, 200, None, ("<Say> is empty",)))
    outcome = RunOutcome(Plan("http://x", "t", "AC"), 0.0, 2.0, recorder)
    result = report.summarise(outcome, {"pid": 1, "store": "MemoryStore", "reads": 10, "writes": 5},
                              {"pid": 1, "store": "MemoryStore", "reads": 40, "writes": 5})  # fmt: skip
    assert result["errors"] == {"total": 1, "byKind": {"incoming: connection reset": 1}}
    assert result["twimlViolations"]["total"] == 1
    assert result["latency"]["step"]["n"] == 11
    assert result["store"] is None  # no call ended: nothing to divide by
    json.dumps(result)
    chart = report.svg(result)
    assert chart.startswith("<svg") and "polyline" in chart and "step: p95" in chart


def test_the_report_gives_the_share_of_voice_jobs_pinned_and_nothing_it_cannot_count() -> None:
    outcome = RunOutcome(Plan("http://x", "t", "AC"), 0.0, 2.0, Recorder(0.0))

    def counts(pid: int, **workers: object) -> dict[str, object]:
        return {"pid": pid, "store": "MemoryStore", "reads": 0, "writes": 0, "voiceWorkers": workers}

    result = report.summarise(outcome, counts(1, soloJobs=10, queuedJobs=30, colocate=True),
                              counts(1, soloJobs=15, queuedJobs=45, colocate=True))  # fmt: skip
    assert result["voiceWorkers"] == {"jobs": 20, "onTheirCpu": 0.25, "colocate": True}
    assert "voice worker jobs: 20, 25.0% pinned" in report.text(result)
    idle = report.summarise(outcome, counts(1, soloJobs=3, queuedJobs=4), counts(1, soloJobs=3, queuedJobs=4))
    assert idle["voiceWorkers"]["jobs"] == 0 and idle["voiceWorkers"]["onTheirCpu"] is None
    assert "voice worker jobs" not in report.text(idle)
    # another process answered, an older stack without the counts, or counts that are not numbers
    assert report.summarise(outcome, counts(1, soloJobs=1, queuedJobs=1),
                            counts(2, soloJobs=5, queuedJobs=5))["voiceWorkers"] is None  # fmt: skip
    assert report.summarise(outcome, {"pid": 1}, {"pid": 1})["voiceWorkers"] is None
    assert report.summarise(outcome, counts(1, soloJobs="x", queuedJobs=1),
                            counts(1, soloJobs=2, queuedJobs=1))["voiceWorkers"] is None  # fmt: skip


def test_a_hold_duplicate_may_connect_an_agent_assigned_in_between_and_nothing_else_may_differ() -> None:
    from common.loadgen.transport import _alike

    hold = "http://127.0.0.1:8080/webhook/departments/hold?t=demo&d=support&e=e1"
    waiting = (200, "<Response><Gather><Play>music.mp3</Play></Gather><Redirect>hold</Redirect></Response>")
    connect = (200, "<Response><Dial action='dial-result'><Number>+15005550003</Number></Dial></Response>")
    assert _alike(hold, waiting, connect)  # an agent was assigned between the two deliveries
    assert not _alike(hold, connect, waiting)  # but an assignment is never undone
    assert not _alike(hold.replace("/hold", "/menu"), waiting, connect)
    assert not _alike("http://127.0.0.1:8080/webhook/voice/step?seq=3", waiting, connect)
    announced = (200, "<Response><Say>You are number 2.</Say>" + waiting[1][10:])
    assert _alike(hold, announced, waiting)  # a spoken announcement is made once


def test_store_methods_are_counted_per_object_for_the_capacity_plan() -> None:
    from common import devserver
    from common.adapters.memory import MemoryStore

    counted, plain = MemoryStore(), MemoryStore()
    devserver.count_methods("probe", counted)
    try:
        assert counted.read_call("CA" + "0" * 32) is None and counted.read_call("CA" + "1" * 32) is None
        assert plain.read_call("CA" + "0" * 32) is None  # another object of the class is not wrapped
        assert devserver.METHOD_CALLS["probe"] == {"read_call": 2}
        assert counted.reads == 2  # the store's own counters still count underneath
    finally:
        devserver.METHOD_CALLS.pop("probe", None)
