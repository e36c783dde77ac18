"""The hold loop: what one iteration of a waiting caller's loop does, decided from their entry alone.

Every iteration of the loop (one webhook per music clip) reads the caller's entry and answers:

    entry status / kind          plan        what the caller gets
    -------------------------    ---------   ------------------------------------------------------
    assigned                     connect     the connect document (Dial the offered agents)
    waiting, kind call           hold        [announcement] + music (inside the escape menu) + loop
    waiting, kind callback       leave       outcome callbackRequested (their place is kept)
    connected                    hold        music only (a stale request while the Dial runs)
    completed|timeout|voicemail  leave       the transfer's outcome of that name
    overflowed                   follow      the loop of the entry in the overflow department
    abandoned|ended|other        hangup      the call is over

The assignment check on every iteration is the safety net behind the dispatcher's REST redirect: a
lost redirect costs the caller at most one music clip, and a laptop stack needs nothing else.

Announcements (position, expected wait, a callback offer) are spoken when due (the first iteration;
then at most every ``announce_every_seconds``) and only when what would be said changed (the place,
or the wait in whole minutes). A ladder's offerCallback step clears ``announced_at`` so the offer is
spoken on the next iteration. ``announcement_due`` lets the host skip counting the queue (the
expensive part) on iterations that cannot announce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from common.core.routing_model import HoldSettings, iso, parse_iso

PlanKind = Literal["connect", "hold", "leave", "follow", "hangup"]
LEAVING_STATUSES = {"completed": "completed", "timeout": "timeout", "voicemail": "voicemail"}
CALLBACK_KEY, VOICEMAIL_KEY = "1", "2"


class HoldingEntry(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def announced_at(self) -> str | None: ...
    @property
    def announced_position(self) -> int | None: ...
    @property
    def announced_wait(self) -> int | None: ...
    @property
    def callback_offered(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Announcement:
    position: int | None  # 1-based place in the queue, when announced
    wait_minutes: int | None  # expected wait rounded up to minutes (0: "any moment now")
    callback_offer: bool = False


@dataclass(frozen=True, slots=True)
class HoldPlan:
    kind: PlanKind
    announcement: Announcement | None = None
    menu_keys: tuple[str, ...] = ()
    outcome: str | None = None  # for kind == "leave"
    changes: dict[str, Any] = field(default_factory=dict)  # entry fields to write (announcements)


def wait_minutes(seconds: int) -> int:
    return max(0, math.ceil(seconds / 60))


def menu_keys(hold: HoldSettings, callback_offered: bool) -> tuple[str, ...]:
    keys = []
    if hold.escape_menu.callback or callback_offered:
        keys.append(CALLBACK_KEY)
    if hold.escape_menu.voicemail:
        keys.append(VOICEMAIL_KEY)
    return tuple(keys)


def menu_choice(digits: str, keys: tuple[str, ...]) -> Literal["callback", "voicemail"] | None:
    """What a key pressed during hold asks for; None (keep holding) for anything not on offer."""
    pressed = digits.strip()[:1]
    if pressed not in keys:
        return None
    return "callback" if pressed == CALLBACK_KEY else "voicemail"


def _speaks(hold: HoldSettings, entry: HoldingEntry) -> bool:
    periodic = hold.announce_every_seconds > 0 and (hold.announce_position or hold.announce_wait)
    return periodic or (entry.callback_offered and entry.announced_at is None)


def announcement_due(entry: HoldingEntry, hold: HoldSettings, now: datetime) -> bool:
    """Whether this iteration may announce at all (so position and wait are worth computing)."""
    if entry.status != "waiting" or not _speaks(hold, entry):
        return False
    if entry.announced_at is None:
        return True
    every = hold.announce_every_seconds
    return every > 0 and (now - parse_iso(entry.announced_at)).total_seconds() >= every


def hold_plan(entry: HoldingEntry, hold: HoldSettings, now: datetime, position: int | None = None,
              wait_seconds: int | None = None) -> HoldPlan:  # fmt: skip
    """The plan for one iteration; ``position`` (1-based) and ``wait_seconds`` are needed only when
    ``announcement_due`` (without them nothing is announced)."""
    if entry.status == "assigned":
        return HoldPlan("connect")
    if entry.status == "connected":
        return HoldPlan("hold")
    if entry.status == "overflowed":
        return HoldPlan("follow")
    if entry.status in LEAVING_STATUSES:
        return HoldPlan("leave", outcome=LEAVING_STATUSES[entry.status])
    if entry.status != "waiting":
        return HoldPlan("hangup")
    if entry.kind == "callback":
        return HoldPlan("leave", outcome="callbackRequested")
    keys = menu_keys(hold, entry.callback_offered)
    if position is None or wait_seconds is None or not announcement_due(entry, hold, now):
        return HoldPlan("hold", menu_keys=keys)
    periodic = hold.announce_every_seconds > 0
    said_position = position if hold.announce_position and periodic else None
    said_wait = wait_minutes(wait_seconds) if hold.announce_wait and periodic else None
    offer = entry.callback_offered and entry.announced_at is None
    last_wait = None if entry.announced_wait is None else wait_minutes(entry.announced_wait)
    before = (entry.announced_position if said_position is not None else None,
              last_wait if said_wait is not None else None)  # fmt: skip
    if entry.announced_at is not None and (said_position, said_wait) == before:
        return HoldPlan("hold", menu_keys=keys)  # due, but nothing new to say: stay quiet
    changes = {"announced_at": iso(now), "announced_position": position, "announced_wait": wait_seconds}
    return HoldPlan("hold", Announcement(said_position, said_wait, offer), keys, changes=changes)
