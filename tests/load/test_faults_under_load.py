"""Faults beside healthy calls, over HTTP against a served stack (a small benchmarks/load_faults.py):
an HTTP-node API that answers after 3 s, one that never answers, one that refuses connections, a
number whose store operations stall for 3 s, and duplicate deliveries. The healthy calls (the demo
line's scenarios and an HTTP flow whose API answers at once) get no error, no apology and only
valid TwiML; the fault calls are answered too (valid TwiML, the node's failed outcome). The healthy
HTTP flow is the demo tenant's, like the faulty ones: it shares the tenant's HTTP slots with them, on
an API host of its own (the slow and silent hosts hold at most 2 slots each of the tenant's 6)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common import config
from common.adapters.memory import MemoryStore
from common.adapters.ports import CallRecord
from common.core.call import CallState
from common.loadgen import fault_run
from common.loadgen.faults import FaultApi, install_stall, parse_stall
from common.loadgen.runner import Plan


@pytest.fixture
def api() -> Iterator[FaultApi]:
    started = FaultApi().start()
    yield started
    started.stop()


def test_faults_do_not_touch_the_healthy_calls(served: Callable[..., str], api: FaultApi, tmp_path: Path) -> None:
    base = served("gunicorn", threads=32, extra_env={"IVR_LOCAL_STALL": fault_run.stall_spec(3)})
    mix = fault_run.fault_mix(fault_run.write_flows(api, tmp_path), fault_weight=1.5)
    fault_run.setup(base, mix)
    plan = Plan(base, config.DEV_AUTH_TOKEN, config.DEV_ACCOUNT_SID, calls=36, rate=12.0, pace=0.05,
                duplicate_rate=0.2, max_seconds=120, seed=3)  # fmt: skip
    result, _ = fault_run.run(plan, mix)
    assert result["calls"]["ended"] == 36 and result["calls"]["cutOff"] == 0
    table = result["byScenario"]
    played = {name for name, row in table.items() if row["calls"]}
    assert set(fault_run.FAULTS) <= played and fault_run.HEALTHY_HTTP in played  # every fault met healthy calls
    healthy = result["groups"]["healthy"]
    assert healthy["calls"] > 15 and healthy["webhooks"] > healthy["calls"]
    assert (healthy["errors"], healthy["degraded"], healthy["twimlViolations"]) == (0, 0, 0), table
    assert result["twimlViolations"]["total"] == 0  # the fault calls too
    assert result["webhooks"]["duplicatesSent"] > 0 and result["duplicatesAnsweredDifferently"]["total"] == 0
    heard = result["heard"]
    # The healthy API's calls share the tenant's 6 HTTP slots with the slow ones, but the slow and the
    # silent hosts hold at most 2 each (http_slots.py), leaving 2: the healthy API's few requests, each
    # answered at once, find one.
    assert heard[fault_run.HEALTHY_HTTP]["worked"] > 0, heard
    assert heard[fault_run.HEALTHY_HTTP]["failed"] == heard[fault_run.HEALTHY_HTTP]["neither"] == 0, heard
    for name in ("fault: HTTP node, API answers after 3 s", "fault: HTTP node, API never answers",
                 "fault: HTTP node, API refuses connections"):  # fmt: skip
        assert heard[name]["worked"] == 0 and heard[name]["failed"] == table[name]["calls"], heard
    assert api.requests["slow"] > 0 and api.requests["hang"] > 0  # the faults were really reached
    stalled = table["fault: the call's store operations stall"]
    assert stalled["degraded"] > 0  # its webhooks overran their budget: the apology, valid TwiML, no error


def _call(sid: str, number: str) -> CallRecord:
    state = CallState(call_sid=sid, flow_id="main", flow_version="1.0.0")
    return CallRecord(call_sid=sid, tenant_id="acme", number=number, account_sid="ACacme", flow_id="main",
                      flow_version="1.0.0", seq=0, state=state, twiml="<Response><Hangup/></Response>",
                      created_at="2026-03-01T12:00:00+00:00", updated_at="2026-03-01T12:00:00+00:00",
                      expires_at=datetime(2026, 3, 1, 16, tzinfo=UTC))  # fmt: skip


def test_a_stall_delays_only_the_calls_of_its_numbers() -> None:
    store, slept = MemoryStore(), list[float]()
    install_stall(store, "+15551230001:2.5", sleep=slept.append)
    stalled = _call("CA-stalled", "+15551230001")
    other = _call("CA-other", "+15550000000")
    assert store.create_call(stalled) and store.create_call(other)
    assert slept == [2.5]
    assert store.read_call("CA-other") is not None and slept == [2.5]
    found = store.read_call("CA-stalled")
    assert found is not None and slept == [2.5, 2.5]
    assert store.write_call(found[0].model_copy(update={"seq": 1}), found[1]) and slept == [2.5] * 3


@pytest.mark.parametrize("spec", ["3", "+1555:x", ":3", "5551230001:3", "+1555:-1"])
def test_a_malformed_stall_is_refused_with_its_reason(spec: str) -> None:
    with pytest.raises(ValueError, match="IVR_LOCAL_STALL"):
        parse_stall(spec)
