"""The local stack's demo departments: the demo tenant's ``sales`` and ``support`` (the departments its
example flow transfers to), two agents each, all available.

    seed_routing_demo(svc) -> {"departments": [...], "agents": [...]}

Written through the routing admin service, exactly as ``ivr departments put`` would, so the demo data
passes the same validation as anyone's. Seeding again replaces the settings; an agent on an offer
or a call keeps that status.
``svc.routing`` must be wired (bootstrap); without it nothing is seeded and the answer says so.

- sales: longest-idle agents, announcements every 30 s, callbacks on 1; after 2 minutes the caller
  is raised to high priority, after 4 a callback is offered, after 10 minutes voicemail.
- support: ring-all (both agents ring, the first to accept takes the caller), callbacks on 1 and
  voicemail on 2; after 90 s the caller's priority rises by 20, after 5 minutes they overflow to
  sales (keeping their place by arrival), after 15 the flow's ``timeout`` branch takes over.

    run_queue_demo(sim, api, number, out=print) -> CallResult

``ivr demo``'s department part, over HTTP against a running stack: support's agents step away
(``POST /api/agents/{id}/status`` through ``api``), a caller asks the support line for support and
waits in the queue, hearing their position and expected wait between music clips; after a few clips
an agent goes available and the caller's next hold iteration connects them (whisper, accept, talk),
then the flow says goodbye. The transcript is printed at the end, with the agent's change in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from common.bootstrap import DEMO_TENANT
from common.service.admin import ApiError

DEMO_DEPARTMENTS: dict[str, dict[str, Any]] = {
    "sales": {
        "name": "Sales", "strategy": "longestIdle", "ringTimeoutSeconds": 20, "wrapUpSeconds": 15,
        "maxQueueSize": 50, "maxWaitSeconds": 900, "joinWhenEmpty": "staffed", "serviceLevelSeconds": 30,
        "hold": {"announceEverySeconds": 30, "escapeMenu": {"callback": True}},
        "escalation": [{"afterSeconds": 120, "action": "raisePriority", "to": 100},
                       {"afterSeconds": 240, "action": "offerCallback"},
                       {"afterSeconds": 600, "action": "voicemail"}],
    },
    "support": {
        "name": "Support", "strategy": "ringAll", "ringTimeoutSeconds": 25, "wrapUpSeconds": 30,
        "maxQueueSize": 100, "maxWaitSeconds": 1200, "joinWhenEmpty": "staffed", "serviceLevelSeconds": 60,
        "hold": {"announceEverySeconds": 45, "escapeMenu": {"callback": True, "voicemail": True}},
        "escalation": [{"afterSeconds": 90, "action": "raisePriority", "by": 20},
                       {"afterSeconds": 300, "action": "overflow", "department": "sales"},
                       {"afterSeconds": 900, "action": "timeout"}],
    },
}  # fmt: skip

DEMO_AGENTS: dict[str, dict[str, Any]] = {
    "sam": {"name": "Sam (sales)", "contact": "+15005550001", "departments": [{"department": "sales", "tier": 1}]},
    "sara": {"name": "Sara (sales)", "contact": "client:sara", "departments": [{"department": "sales"}]},
    "sean": {"name": "Sean (support)", "contact": "+15005550003", "departments": [{"department": "support"}]},
    "sky": {"name": "Sky (support)", "contact": "client:sky", "departments": [{"department": "support"}]},
}  # fmt: skip

#: sales first: support's ladder overflows into it, and a ladder may only name departments that exist.
SEED_ORDER = ("sales", "support")


def seed_routing_demo(svc: Any, tenant_id: str = DEMO_TENANT) -> dict[str, Any]:
    routing = getattr(svc, "routing", None)
    if routing is None:
        return {"departments": [], "agents": [], "skipped": "routing is not configured"}
    admin = routing.admin
    for department_id in SEED_ORDER:
        admin.put_department(tenant_id, department_id, DEMO_DEPARTMENTS[department_id], None, author="seed")
    for agent_id, settings in DEMO_AGENTS.items():
        admin.put_agent(tenant_id, agent_id, settings, None, author="seed")
        with contextlib.suppress(ApiError):  # seeded again while they ring or talk: the system's status stays
            admin.set_status(tenant_id, agent_id, {"status": "available"})
    return {"departments": list(SEED_ORDER), "agents": list(DEMO_AGENTS)}


#: the caller's script: silence at the menu, then "support"; the agent who is offered them answers
QUEUE_DEMO_SCRIPT = ("silence", "speech:Support, please.", "agent:answer:45")
QUEUE_DEMO_CLIPS = 2  # music clips the caller hears before an agent goes available
SUPPORT_AGENTS = tuple(a for a, s in DEMO_AGENTS.items() if s["departments"][0]["department"] == "support")


def run_queue_demo(sim: Any, api: Callable[[str, str, Any], Any], number: str,
                   out: Callable[[str], Any] = print) -> Any:  # fmt: skip
    """Play the queue demo (see the module); ``sim`` is a ``callsim.TwilioCallSimulator`` for the
    stack, ``api(method, path, body)`` calls its admin API. Returns the call's ``CallResult``. The
    transcript, with the agent's change where it happened, is printed once the call has ended, so
    that the stack's request log (stderr) does not interleave with it."""
    lines: list[str] = []
    for agent_id in SUPPORT_AGENTS:
        api("POST", f"/api/agents/{agent_id}/status", {"status": "away"})
    lines.append(f"(support's agents {' and '.join(SUPPORT_AGENTS)} are away: a support caller has to wait)")
    session = sim.start(number, inputs=list(QUEUE_DEMO_SCRIPT))
    shown, freed = 0, None
    while session.step():
        lines += session.transcript[shown:]
        shown = len(session.transcript)
        if freed is None and session.holding >= QUEUE_DEMO_CLIPS:
            freed = SUPPORT_AGENTS[0]
            agent = api("POST", f"/api/agents/{freed}/status", {"status": "available"})
            lines.append(f"(agent {freed} goes available: POST /api/agents/{freed}/status -> {agent['status']}; "
                         "the caller's next hold iteration connects them)")  # fmt: skip
    lines += session.transcript[shown:]
    for line in lines:
        out(line)
    return session.result
