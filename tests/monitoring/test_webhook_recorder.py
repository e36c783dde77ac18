"""common/reports/webhook_recorder.py: the bounded in-process recorder of webhook latency and fallback
answers, fed by observability.finish: buckets, interpolated percentiles, the minute window, the
series bounds and the memory they cost, and what a real request through an entry point records."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from common import observability
from common.reports import webhook_recorder
from common.reports.webhook_recorder import BUCKETS_MS, MAX_REASONS, MAX_SERIES, WebhookRecorder, percentile


class Clock:
    def __init__(self, at: float = 1_800_000_000.0) -> None:  # 2027-01-15T08:00:00Z, a whole minute
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_percentiles_interpolate_within_a_bucket_and_never_pass_the_largest_value() -> None:
    bounds = [10.0, 20.0, 40.0]
    assert percentile(bounds, [0, 4, 4, 0], 0.5) == 20.0  # the 4th of 8 is the top of the 10-20 bucket
    assert percentile(bounds, [0, 4, 4, 0], 0.75) == 30.0  # halfway through the 20-40 bucket
    assert percentile(bounds, [2], 0.5) == 5.0  # the first bucket starts at 0
    assert percentile(bounds, [0, 0, 0, 2], 0.95, highest=90.0) == pytest.approx(40 + 50 * 0.95)  # overflow to max
    assert percentile(bounds, [0, 4], 0.95, highest=12.0) == 12.0
    assert percentile(bounds, [], 0.5) is None and percentile(bounds, [0, 0], 0.5) is None


def test_each_webhook_request_goes_into_its_minute_function_and_route() -> None:
    clock = Clock()
    recorder = WebhookRecorder(clock=clock)
    for latency in (4, 8, 30, 60, 70, 80, 90, 120, 400, 2000):
        recorder.record("flow_step", "voice.step", latency)
    recorder.record("incoming_call", "voice.incoming", 12, failure="budget_overrun")
    recorder.record("deploy_flow", "api", 5000)  # not a webhook: not recorded
    recorder.record("deploy_flow", "console", 1)
    clock.at += 60
    recorder.record("flow_step", "voice.fallback", 3, failure="fallback_url")
    got = recorder.snapshot()
    assert [(r["minute"], r["function"], r["route"], r["requests"]) for r in got["latency"]] == [
        ("2027-01-15T08:00:00Z", "flow_step", "voice.step", 10),
        ("2027-01-15T08:00:00Z", "incoming_call", "voice.incoming", 1),
        ("2027-01-15T08:01:00Z", "flow_step", "voice.fallback", 1)]  # fmt: skip
    step = got["latency"][0]
    # buckets: 2.5-5: 1, 5-10: 1, 25-50: 1, 50-100: 4, 100-250: 1, 250-500: 1, 1000-2500: 1. The 5th of 10 is the
    # 2nd of the four in 50-100 (interpolated to 75); the 9.5th is halfway through 1000-2500.
    assert (step["p50_ms"], step["p95_ms"], step["mean_ms"], step["max_ms"]) == (75.0, 1750.0, 286.2, 2000.0)
    assert [(f["function"], f["requests"]) for f in got["functions"]] == [("flow_step", 11), ("incoming_call", 1)]
    assert got["fallbacks"] == [
        {"minute": "2027-01-15T08:00:00Z", "reason": "budget_overrun", "function": "incoming_call", "answers": 1},
        {"minute": "2027-01-15T08:01:00Z", "reason": "fallback_url", "function": "flow_step", "answers": 1}]
    assert [r["minute"] for r in recorder.snapshot(minutes=1)["latency"]] == ["2027-01-15T08:01:00Z"]


def test_only_the_window_is_kept_and_every_minute_is_bounded() -> None:
    clock = Clock()
    recorder = WebhookRecorder(window_minutes=60, clock=clock)
    for _ in range(150):
        clock.at += 60
        for series in range(MAX_SERIES + 20):
            recorder.record(f"f{series}", f"voice.r{series}", series)
        for reason in range(MAX_REASONS + 5):
            recorder.record("flow_step", "voice.step", 1, failure=f"reason{reason}")
    assert len(recorder._minutes) == 60
    latest = recorder.snapshot(minutes=1)
    assert len(latest["latency"]) == MAX_SERIES + 1  # and one "other"
    other = [r for r in latest["latency"] if r["function"] == "other"]
    assert [(r["route"], r["requests"]) for r in other] == [("other", 20 + MAX_REASONS + 5)]
    assert len(latest["fallbacks"]) == MAX_REASONS + 1
    assert [r["answers"] for r in latest["fallbacks"] if r["reason"] == "other"] == [5]


def test_memory_at_the_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    """Every minute of the window full (MAX_SERIES series and MAX_REASONS fallback pairs): the most
    the recorder can hold. The number is printed (docs/monitoring.md quotes it) and stays under 3 MiB."""
    clock = Clock()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    recorder = WebhookRecorder(clock=clock)
    for _ in range(webhook_recorder.WINDOW_MINUTES):
        clock.at += 60
        for series in range(MAX_SERIES):
            recorder.record(f"function{series % 4}", f"voice.route{series}", float(series))
        for reason in range(MAX_REASONS):
            recorder.record("flow_step", "voice.step", 1.0, failure=f"reason{reason}")
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    with capsys.disabled():
        print(f"\nwebhook recorder at its bounds: {held / 1024:.0f} KiB "
              f"({webhook_recorder.WINDOW_MINUTES} minutes x {MAX_SERIES} series, {len(BUCKETS_MS) + 1} buckets)")
    assert len(recorder._minutes) == webhook_recorder.WINDOW_MINUTES
    assert 0 < held < 3 * 1024 * 1024


class FakeRequest:
    def __init__(self, path: str) -> None:
        self.path, self.method, self.headers, self.args = path, "POST", {}, {}
        self.content_length, self.mimetype, self.form = 0, "application/x-www-form-urlencoded", {}
        self.environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": self.mimetype, "QUERY_STRING": ""}  # as WSGI has it


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> WebhookRecorder:
    recorder = WebhookRecorder()
    monkeypatch.setattr(observability, "RECORDER", recorder)
    return recorder


def test_observed_entry_points_feed_the_recorder(fresh: WebhookRecorder) -> None:
    def fallback(request: Any) -> tuple[str, int]:
        observability.annotate(failure="unhandled_error")
        return "<Response/>", 200

    observability.observed("flow_step")(fallback)(FakeRequest("/webhook/voice/step"))
    observability.observed("flow_step")(lambda r: ("<Response/>", 200))(FakeRequest("/webhook/voice/step"))
    observability.observed("deploy_flow")(lambda r: ("{}", 200))(FakeRequest("/api/flows"))

    def broken(request: Any) -> Any:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        observability.observed("route_department")(broken)(FakeRequest("/webhook/departments/hold"))
    got = fresh.snapshot()
    assert [(r["function"], r["route"], r["requests"]) for r in got["latency"]] == [
        ("flow_step", "voice.step", 2), ("route_department", "departments.hold", 1)]  # fmt: skip
    assert sorted((r["reason"], r["function"], r["answers"]) for r in got["fallbacks"]) == [
        ("unhandled_error", "flow_step", 1), ("unhandled_error", "route_department", 1)]  # fmt: skip


def test_recording_survives_log_lines_being_off(fresh: WebhookRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability.log, "disabled", True)
    observability.observed("flow_step")(lambda r: ("<Response/>", 200))(FakeRequest("/webhook/voice/incoming"))
    assert [r["requests"] for r in fresh.snapshot()["latency"]] == [1]
