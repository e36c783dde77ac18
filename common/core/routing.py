"""Department routing rules: agent states, queue order, strategies, expected wait, the escalation ladder.

Pure like the engine: records in, decisions out; no store, no clock (``now`` is a parameter), no
randomness of its own (an ``rng`` is passed in). Functions read records through the small Protocols
below and answer *changes* (a dict of field updates) for the service to write, so the same rules run
on any store.

Agent status (``agent_event`` for the system, ``api_status`` for people):

    from \\ event   offer     answer   miss               withdraw   hangup              release    repair
    -----------    -------   ------   ----------------   --------   -----------------   ---------  ---------
    available      offered   .        .                  .          .                   .          .
    offered        .         busy     available | away   available  .                   .          available
    busy           .         .        .                  .          wrap-up | available available  available
    wrap-up        (offered once wrap-up has ended: an agent whose wrap-up ended *is* available)

    from \\ API      may become
    -----------     -------------------------------
    available       away, offline
    away            available, offline
    offline         available, away
    wrap-up         available, away, offline   (ends wrap-up early)
    offered, busy   nothing until the offer or the call ends (the system moves them)

- ``miss`` (no answer, busy, declined) counts a missed offer; ``autopause_after`` misses in a row set
  the agent away (Asterisk's autopause). ``answer`` resets the count. ``withdraw`` (the caller hung up,
  or another agent of a ringAll answered first) is not the agent's miss.
- ``hangup`` ends a call: wrap-up until ``now + wrap_up_seconds`` (available at once when 0); the
  agent's handle-time EWMA, calls handled and talk seconds are updated. Wrap-up ends by time, computed
  on read (``effective_status``): no timer.
- ``release`` frees an agent whose callback customer did not answer (no wrap-up, not a handled call);
  ``repair`` is the sweep freeing an agent stuck in offered or busy.
- Anything not in a table raises ``IllegalTransition`` naming what is allowed; nothing is changed.

Which agents a decision reads: each needs only agents whose *stored* status can matter to it, so
the store is asked for those statuses alone (``RoutingStore.list_agents(..., statuses=...)``) and an
iteration costs the agents who are working, not every agent of the department:

    decision                              stored statuses read
    ----------------------------------    ------------------------------------------------------
    pick agents (dispatch)                MAY_BE_AVAILABLE: available, wrap-up (it may have ended)
    expected wait (hold announcements)    WORKING: available, offered, busy, wrap-up
    join rule (join, overflow)            join_statuses(rule): always none, available
                                          MAY_BE_AVAILABLE, staffed LOGGED_IN
    stuck agents (sweep)                  offered, busy

Each function below gives the same answer on that subset as on every agent (a table test checks it).

Queue order: priority descending, then arrival ascending (the original arrival survives overflow),
then entry id. Strategies choose among agents whose effective status is available, in the lowest tier
with anyone available; agents who already let this caller's offer go are avoided while others exist.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from common.core.routing_model import (
    MAX_PRIORITY,
    AgentStatus,
    IllegalTransition,
    LadderStep,
    Strategy,
    iso,
    parse_iso,
)  # fmt: skip

AgentEvent = Literal["offer", "answer", "miss", "withdraw", "hangup", "release", "repair"]
RING_ALL_LIMIT = 10  # Twilio rings at most 10 numbers from one Dial
DEFAULT_HANDLE_SECONDS = 180.0
EWMA_ALPHA = 0.3  # weight of the newest call in an agent's handle-time average
#: logged in (Connect's "staffed"): anything but offline; away is logged in but paused
LOGGED_IN: frozenset[str] = frozenset({"available", "offered", "busy", "wrap-up", "away"})
#: taking calls now or soon: what expected wait divides the queue by
WORKING: frozenset[str] = frozenset({"available", "offered", "busy", "wrap-up"})
#: stored statuses whose effective status may be available (a wrap-up reads as available once it ends)
MAY_BE_AVAILABLE: frozenset[str] = frozenset({"available", "wrap-up"})

SYSTEM_TRANSITIONS: dict[tuple[str, AgentEvent], AgentStatus] = {
    ("available", "offer"): "offered",
    ("offered", "answer"): "busy",
    ("offered", "miss"): "available",  # or away: autopause
    ("offered", "withdraw"): "available",
    ("offered", "repair"): "available",
    ("busy", "hangup"): "wrap-up",  # or available: no wrap-up configured
    ("busy", "release"): "available",  # a callback whose customer did not answer: no call to wrap up
    ("busy", "repair"): "available",
}
API_TRANSITIONS: dict[str, tuple[AgentStatus, ...]] = {
    "available": ("away", "offline"),
    "away": ("available", "offline"),
    "offline": ("available", "away"),
    "wrap-up": ("available", "away", "offline"),
    "offered": (),
    "busy": (),
}


class AgentLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> AgentStatus: ...
    @property
    def status_since(self) -> str: ...
    @property
    def wrap_up_until(self) -> str | None: ...
    @property
    def idle_since(self) -> str | None: ...
    @property
    def last_offered_at(self) -> str | None: ...
    @property
    def missed_in_a_row(self) -> int: ...
    @property
    def calls_handled(self) -> int: ...
    @property
    def talk_seconds(self) -> int: ...
    @property
    def handle_ewma_seconds(self) -> float | None: ...


class EntryLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def arrived_at(self) -> str: ...
    @property
    def not_before(self) -> str | None: ...


A = TypeVar("A", bound=AgentLike)
E = TypeVar("E", bound=EntryLike)


# --- agent status ----------------------------------------------------------------------------------


def effective_status(agent: AgentLike, now: datetime) -> AgentStatus:
    """The status as of ``now``: a wrap-up that has ended reads as available."""
    if agent.status == "wrap-up" and (agent.wrap_up_until is None or parse_iso(agent.wrap_up_until) <= now):
        return "available"
    return agent.status


def idle_since(agent: AgentLike) -> str:
    """Since when the agent has been free: the end of their wrap-up counts as becoming free."""
    if agent.status == "wrap-up" and agent.wrap_up_until:
        return agent.wrap_up_until
    return agent.idle_since or agent.status_since


def api_status(agent: AgentLike, requested: str, now: datetime) -> dict[str, Any]:
    """Changes for a person setting ``requested``; IllegalTransition when the table forbids it."""
    current = effective_status(agent, now)
    allowed = API_TRANSITIONS.get(current, ())
    if requested == current and requested in ("available", "away", "offline"):
        return {}  # idempotent: setting what already holds is not an error and writes nothing
    if requested not in allowed:
        raise IllegalTransition(current, requested, allowed, "the API")
    changes: dict[str, Any] = {"status": requested, "status_since": iso(now), "wrap_up_until": None}
    if requested == "available":
        changes |= {"idle_since": iso(now), "missed_in_a_row": 0}
    return changes


def agent_event(agent: AgentLike, event: AgentEvent, now: datetime, *, autopause_after: int = 0,
                wrap_up_seconds: int = 0, talk_seconds: int = 0) -> dict[str, Any]:  # fmt: skip
    """Changes for a system event; IllegalTransition when the table has no such row."""
    current = effective_status(agent, now)
    target = SYSTEM_TRANSITIONS.get((current, event))
    if target is None:
        allowed = tuple(e for (s, e) in SYSTEM_TRANSITIONS if s == current)
        raise IllegalTransition(current, event, allowed, "the system")
    at = iso(now)
    changes: dict[str, Any] = {"status": target, "status_since": at}
    if event == "offer":
        changes |= {"last_offered_at": at, "idle_since": idle_since(agent)}
    elif event == "answer":
        changes |= {"missed_in_a_row": 0}
    elif event == "miss":
        missed = agent.missed_in_a_row + 1
        changes |= {"missed_in_a_row": missed}
        if autopause_after and missed >= autopause_after:
            changes["status"] = "away"
    elif event == "hangup":
        talk = max(0, talk_seconds)
        handle = talk + wrap_up_seconds
        changes |= {"calls_handled": agent.calls_handled + 1, "talk_seconds": agent.talk_seconds + talk,
                    "handle_ewma_seconds": round(ewma(agent.handle_ewma_seconds, handle), 3)}  # fmt: skip
        if wrap_up_seconds > 0:
            changes["wrap_up_until"] = iso(now + timedelta(seconds=wrap_up_seconds))
        else:
            changes |= {"status": "available", "idle_since": at}
    if event in ("miss", "withdraw", "release", "repair"):
        # a missed or withdrawn offer keeps the agent's place in longestIdle; release/repair start afresh
        changes["idle_since"] = (agent.idle_since or at) if event in ("miss", "withdraw") else at
    if event != "hangup":
        changes["wrap_up_until"] = None
    return changes


def ewma(previous: float | None, sample: float, alpha: float = EWMA_ALPHA) -> float:
    return float(sample) if previous is None else alpha * sample + (1 - alpha) * previous


# --- queue order and strategies --------------------------------------------------------------------


def queue_key(entry: EntryLike) -> tuple[int, str, str]:
    return (-entry.priority, entry.arrived_at, entry.id)


def next_entry(waiting: Iterable[E], now: datetime) -> E | None:
    """The caller to serve next: queue order, skipping callbacks whose retry delay has not passed."""
    at = iso(now)
    eligible = [e for e in waiting if e.not_before is None or e.not_before <= at]
    return min(eligible, key=queue_key, default=None)


def available_agents(agents: Iterable[A], now: datetime) -> list[A]:
    return [a for a in agents if effective_status(a, now) == "available"]


def choose_agents(strategy: Strategy, candidates: Sequence[A], tiers: Mapping[str, int], *,
                  rng: random.Random, avoid: Iterable[str] = (),
                  linear_order: Sequence[str] = ()) -> list[A]:  # fmt: skip
    """The agent(s) to offer the next caller to: one, or up to 10 for ringAll; [] when nobody fits.

    ``candidates`` must be available already (``available_agents``); ``tiers`` maps agent id -> tier
    in this department; ``avoid`` are agents who let this caller's offer go (skipped while others exist).
    """
    avoided = set(avoid)
    pool = [a for a in candidates if a.id not in avoided] or list(candidates)
    if not pool:
        return []
    lowest = min(tiers.get(a.id, 9) for a in pool)
    pool = sorted((a for a in pool if tiers.get(a.id, 9) == lowest), key=lambda a: a.id)
    by_idle = sorted(pool, key=lambda a: (idle_since(a), a.id))
    if strategy == "longestIdle":
        return by_idle[:1]
    if strategy == "ringAll":
        return by_idle[:RING_ALL_LIMIT]
    if strategy == "roundRobin":  # least recently offered; never offered comes first
        return sorted(pool, key=lambda a: (a.last_offered_at or "", a.id))[:1]
    if strategy == "fewestCalls":
        return sorted(pool, key=lambda a: (a.calls_handled, idle_since(a), a.id))[:1]
    if strategy == "leastTalkTime":
        return sorted(pool, key=lambda a: (a.talk_seconds, idle_since(a), a.id))[:1]
    if strategy == "random":
        return [rng.choice(pool)]
    if strategy == "linear":
        rank = {agent_id: i for i, agent_id in enumerate(linear_order)}
        return sorted(pool, key=lambda a: (rank.get(a.id, len(rank)), a.id))[:1]
    raise ValueError(f"unknown strategy {strategy!r}")


# --- expected wait ---------------------------------------------------------------------------------


def average_handle(agents: Iterable[AgentLike], default: float = DEFAULT_HANDLE_SECONDS) -> float:
    known = [a.handle_ewma_seconds for a in agents if a.handle_ewma_seconds]
    return sum(known) / len(known) if known else default


def expected_wait(ahead: int, agents: Sequence[AgentLike], now: datetime) -> int:
    """Seconds a caller with ``ahead`` callers before them should expect: 0 while an agent is free for
    them, else ceil(place / working) rounds of the working agents' average handle time (away and
    offline agents take no calls, so they do not shorten the wait)."""
    ahead = max(0, ahead)
    statuses = [effective_status(a, now) for a in agents]
    free = statuses.count("available")
    if free > ahead:
        return 0
    staffed = [a for a, s in zip(agents, statuses, strict=True) if s in WORKING]
    place = ahead + 1 - free
    return max(0, math.ceil(place / max(1, len(staffed))) * round(average_handle(staffed)))


def can_join(rule: str, agents: Sequence[AgentLike], now: datetime) -> bool:
    """The join-when-empty rule: always; staffed (someone logged in, away included); available
    (someone free now)."""
    if rule == "always":
        return True
    statuses = {effective_status(a, now) for a in agents}
    return "available" in statuses if rule == "available" else bool(statuses & LOGGED_IN)


def join_statuses(rule: str) -> frozenset[str]:
    """The stored statuses ``can_join(rule, ...)`` looks at: an agent in any other status cannot
    change its answer, so the store need not return them (``always`` needs no agent at all)."""
    if rule == "always":
        return frozenset()
    return MAY_BE_AVAILABLE if rule == "available" else LOGGED_IN


# --- escalation ladder -----------------------------------------------------------------------------


def step_due_at(joined_at: str, step: LadderStep) -> datetime:
    return parse_iso(joined_at) + timedelta(seconds=step.after_seconds)


def due_steps(ladder: Sequence[LadderStep], joined_at: str, now: datetime,
              applied: Iterable[int] = ()) -> list[tuple[int, LadderStep]]:  # fmt: skip
    """Steps whose time has come and that have not been applied, in ladder order."""
    done = set(applied)
    return [(i, s) for i, s in enumerate(ladder) if i not in done and step_due_at(joined_at, s) <= now]


def raised_priority(current: int, step: LadderStep) -> int:
    """raisePriority never lowers a caller: ``to`` below the current priority keeps it."""
    if step.to is not None:
        return max(current, step.to)
    return min(MAX_PRIORITY, current + (step.by or 0))


def waited_out(arrived_at: str, max_wait_seconds: int, now: datetime) -> bool:
    """Max wait counts from the first arrival, so an overflow does not restart it."""
    return parse_iso(arrived_at) + timedelta(seconds=max_wait_seconds) <= now


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # e.g. escalation[2].department
    message: str


def check_ladders(department_id: str, ladder: Sequence[LadderStep],
                  ladders: Mapping[str, Sequence[LadderStep]]) -> list[Problem]:  # fmt: skip
    """Problems with ``department_id``'s ladder given every other department's (``ladders``, by id):
    overflow to a department that does not exist, to itself, or into a loop back to it."""
    graph = {d: [s.department for s in steps if s.action == "overflow" and s.department]
             for d, steps in ladders.items() if d != department_id}  # fmt: skip
    problems = []
    for i, step in enumerate(ladder):
        if step.action != "overflow" or step.department is None:
            continue
        where = f"escalation[{i}].department"
        if step.department == department_id:
            problems.append(Problem(where, f"overflow from {department_id!r} to itself"))
        elif step.department not in ladders:
            problems.append(Problem(where, f"department {step.department!r} does not exist"))
        else:
            loop = _path_back(step.department, department_id, graph)
            if loop:
                chain = " -> ".join([department_id, *loop])
                problems.append(Problem(where, f"overflow loop: {chain}"))
    return problems


def _path_back(start: str, goal: str, graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A path start -> ... -> goal along overflow edges, or None (depth-first; graphs are small)."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == goal:
                return [*path, goal]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


# --- names -----------------------------------------------------------------------------------------


def offer_id(entry_revision: int) -> str:
    """An offer is named by the entry revision that made it: unique per entry, stable across retries."""
    return f"o{entry_revision}"


def task_name(kind: str, *parts: str) -> str:
    """A deterministic Cloud Tasks name ([A-Za-z0-9_-]): the same timer scheduled twice is one task."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:40]
    return f"{kind}-{digest}"
