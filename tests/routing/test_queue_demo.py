"""``ivr demo``'s department part (``routing_demo.run_queue_demo``) on the live stack: the caller waits
in support's queue hearing their place and expected wait, an agent goes available through the API,
and the caller's next hold iteration connects them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))  # the live stack's test kit
from callkit import attach
from livestack import DEMO_NUMBER, build_stack

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.routing_demo import run_queue_demo, seed_routing_demo
from common.routing_setup import department_banner_lines


def test_the_queue_demo_waits_then_connects() -> None:
    stack = build_stack(MemoryStore(), all_examples=False)
    try:
        routed = attach(stack)
        seed_routing_demo(stack.svc)
        calls: list[tuple[str, str, Any]] = []

        def api(method: str, path: str, body: Any) -> Any:
            calls.append((method, path, body))
            response = stack.api(method, path, json=body)
            assert response.status_code == 200, response.get_data(as_text=True)
            return json.loads(response.get_data(as_text=True))

        printed: list[str] = []
        result = run_queue_demo(stack.sim(replays=1), api, DEMO_NUMBER, out=printed.append)
        assert result.problems == [] and result.unused_inputs == []
        assert printed[0] == "(support's agents sean and sky are away: a support caller has to wait)"
        waiting = printed.index("IVR: Connecting you to support.")
        assert printed[waiting + 1].startswith("IVR: You are next in line. Your expected wait is about 3 minutes.")
        freed = next(i for i, line in enumerate(printed) if line.startswith("(agent sean goes available"))
        clips = [line for line in printed[waiting:freed] if line.startswith("IVR: (plays ")]
        assert len(clips) >= 2  # the caller held before anyone was free
        assert printed[freed + 1].startswith("rings agent +15005550003")
        assert "AGENT presses 1" in printed[freed:] and printed[-2:] == ["IVR: Thanks for calling Acme. Goodbye.",
                                                                          "IVR hangs up"]  # fmt: skip
        assert [p for _, p, _ in calls] == ["/api/agents/sean/status", "/api/agents/sky/status",
                                            "/api/agents/sean/status"]  # fmt: skip
        (entry,) = routed.entries("support", ("completed",))
        assert entry.call_sid == result.call_sid and entry.connected_agent == "sean"
        assert routed.store.get_agent("demo", "sky").status == "away"
    finally:
        bootstrap.install(None)


def test_the_banner_lists_the_departments_and_their_agents() -> None:
    stack = build_stack(MemoryStore(), all_examples=False)
    try:
        assert department_banner_lines(stack.svc, "demo") == []  # no routing on this stack
        attach(stack)
        assert department_banner_lines(stack.svc, "demo") == [
            "routing    no departments yet: add one with `ivr departments put FILE.json`"]
        seed_routing_demo(stack.svc)
        routing = stack.svc.routing
        assert routing is not None
        routing.admin.set_status("demo", "sky", {"status": "away"})
        assert department_banner_lines(stack.svc, "demo") == [
            "routing    sales (Sales, longestIdle): agents sam, sara; 2 available",
            "           support (Support, ringAll): agents sean, sky; 1 available",
            "           ivr departments live sales | POST /api/departments/route"]
    finally:
        bootstrap.install(None)
