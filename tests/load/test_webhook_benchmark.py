"""benchmarks/webhook_step.py runs and prints its figures (the numbers themselves are in
docs/load-testing.md, never asserted: a benchmark measures, a test only keeps it working)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_step_benchmark_prints_its_ratios_queue_orders_and_model_timings() -> None:
    done = subprocess.run([sys.executable, "benchmarks/webhook_step.py", "--calls", "30", "--queue", "--orders",
                           "--models"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"a step \(the menu again\) costs x\d+\.\d\d the minimal endpoint's CPU", out), out
    assert re.search(r"voice jobs pinned to their request's CPU .*: (\d+\.\d%|none)", out), out
    assert len(re.findall(r"step, its job through the shared queue: .* x\d+\.\d\d", out)) == 2, out
    assert len(re.findall(r"step after (own|minimal) requests .* x\d+\.\d\d", out)) == 4, out
    timed = re.findall(r"^\s+(Call\w+\.model_\w+)\s+(\d+\.\d) \|\s+(\d+\.\d) \|\s+(\d+\.\d)$", out,
                       flags=re.MULTILINE)  # fmt: skip
    assert {name for name, *_ in timed} == {
        "CallRecord.model_validate_json", "CallRecord.model_dump_json", "CallRecord.model_copy",
        "CallState.model_copy"}, out  # fmt: skip
    assert all(float(in_run) > 0 and float(again) > 0 and float(loop) > 0 for _, in_run, again, loop in timed), out
