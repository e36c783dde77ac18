"""Department statistics: arithmetic over what the store hands back (no counters of our own).

Definitions (stated because peers differ):
- ``waiting`` is the exact count of waiting entries; ``waitingByPriority`` and ``longestWaitSeconds``
  come from the first ``sample`` waiting entries in queue order (the longest waiter of the highest
  priority is always in it; a lower-priority caller waiting longer may not be: ``truncated`` says so).
- Over the window (the last hour by default), from entries closed in it: ``answered`` are entries that
  reached an agent (completed), ``answeredWithin`` those whose wait was at most the department's
  service-level threshold, ``abandoned`` callers who hung up while waiting.
- Service level = answeredWithin / (answered + abandoned after the threshold): a caller who hangs up
  within the threshold is neither good nor bad service (Amazon Connect and Asterisk both offer this
  variant). Abandonment rate = abandoned / (answered + abandoned + timeouts + voicemails + callback
  failures): overflowed entries moved elsewhere and are not counted. Both are None with no data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from common.core.routing import AgentLike, effective_status, expected_wait
from common.core.routing_model import parse_iso

AGENT_STATUSES = ("available", "offered", "busy", "wrap-up", "away", "offline")
WINDOW_SECONDS = 3600
_ENDED = ("completed", "abandoned", "timeout", "voicemail", "callbackFailed")


class WaitingEntry(Protocol):
    @property
    def priority(self) -> int: ...
    @property
    def arrived_at(self) -> str: ...


class ClosedEntry(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def wait_seconds(self) -> int | None: ...


def department_stats(waiting_count: int, waiting_sample: Sequence[WaitingEntry], agents: Sequence[AgentLike],
                     closed: Iterable[ClosedEntry], now: datetime, service_level_seconds: int,
                     closed_truncated: bool = False) -> dict[str, Any]:  # fmt: skip
    by_priority = Counter(str(e.priority) for e in waiting_sample)
    longest = max(((now - parse_iso(e.arrived_at)).total_seconds() for e in waiting_sample), default=0.0)
    statuses: Counter[str] = Counter(effective_status(a, now) for a in agents)
    ended = Counter[str]()
    answered_within = abandoned_late = 0
    for entry in closed:
        if entry.status not in _ENDED:
            continue
        ended[entry.status] += 1
        wait = entry.wait_seconds or 0
        if entry.status == "completed" and wait <= service_level_seconds:
            answered_within += 1
        if entry.status == "abandoned" and wait > service_level_seconds:
            abandoned_late += 1
    answered, total = ended["completed"], sum(ended.values())
    level_base = answered + abandoned_late
    return {
        "waiting": waiting_count,
        "waitingByPriority": dict(sorted(by_priority.items(), key=lambda kv: -int(kv[0]))),
        "longestWaitSeconds": max(0, int(longest)),
        "truncated": waiting_count > len(waiting_sample) or closed_truncated,
        "agents": {s: statuses.get(s, 0) for s in AGENT_STATUSES},
        "expectedWaitSeconds": expected_wait(waiting_count, agents, now),
        "windowSeconds": WINDOW_SECONDS,
        "answered": answered,
        "answeredWithin": answered_within,
        "serviceLevelSeconds": service_level_seconds,
        "serviceLevel": round(answered_within / level_base, 4) if level_base else None,
        "abandoned": ended["abandoned"],
        "abandonmentRate": round(ended["abandoned"] / total, 4) if total else None,
        "closed": dict(sorted(ended.items())),
    }
