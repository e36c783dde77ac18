"""Hold-loop decisions (common/core/routing_hold.py) and department stats (common/core/routing_stats.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.core.routing_hold import Announcement, announcement_due, hold_plan, menu_choice, menu_keys
from common.core.routing_model import EscapeMenu, HoldSettings, iso
from common.core.routing_stats import department_stats

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVERY_60 = HoldSettings(announce_every_seconds=60)


def ago(seconds: float) -> str:
    return iso(NOW - timedelta(seconds=seconds))


@dataclass(frozen=True)
class Holding:
    status: str = "waiting"
    kind: str = "call"
    announced_at: str | None = None
    announced_position: int | None = None
    announced_wait: int | None = None
    callback_offered: bool = False


@pytest.mark.parametrize(("status", "kind", "plan", "outcome"), [
    ("assigned", "call", "connect", None),
    ("waiting", "call", "hold", None),
    ("waiting", "callback", "leave", "callbackRequested"),
    ("connected", "call", "hold", None),
    ("completed", "call", "leave", "completed"),
    ("timeout", "call", "leave", "timeout"),
    ("voicemail", "call", "leave", "voicemail"),
    ("overflowed", "call", "follow", None),
    ("abandoned", "call", "hangup", None),
    ("ended", "call", "hangup", None),
    ("callbackFailed", "callback", "hangup", None),
])  # fmt: skip
def test_plan_by_entry_status(status: str, kind: str, plan: str, outcome: str | None) -> None:
    found = hold_plan(Holding(status=status, kind=kind), EVERY_60, NOW, position=3, wait_seconds=200)
    assert (found.kind, found.outcome) == (plan, outcome)
    if plan != "hold" or status != "waiting":
        assert found.announcement is None and found.changes == {}


@pytest.mark.parametrize(("entry", "position", "wait", "said"), [
    (Holding(), 3, 200, Announcement(3, 4)),                                                # first iteration
    (Holding(announced_at=ago(30), announced_position=4, announced_wait=300), 3, 200, None),  # not due yet
    (Holding(announced_at=ago(60), announced_position=3, announced_wait=200), 3, 200, None),  # due, unchanged
    (Holding(announced_at=ago(60), announced_position=3, announced_wait=190), 3, 200, None),  # same minutes
    (Holding(announced_at=ago(60), announced_position=4, announced_wait=200), 3, 200, Announcement(3, 4)),
    (Holding(announced_at=ago(90), announced_position=3, announced_wait=100), 3, 200, Announcement(3, 4)),
    (Holding(announced_at=ago(61), announced_position=2, announced_wait=60), 1, 0, Announcement(1, 0)),
    (Holding(callback_offered=True), 5, 600, Announcement(5, 10, callback_offer=True)),
])  # fmt: skip
def test_announcements_only_when_due_and_changed(entry: Holding, position: int, wait: int,
                                                 said: Announcement | None) -> None:  # fmt: skip
    plan = hold_plan(entry, EVERY_60, NOW, position, wait)
    assert plan.kind == "hold" and plan.announcement == said
    if said:
        assert plan.changes == {"announced_at": iso(NOW), "announced_position": position, "announced_wait": wait}
    else:
        assert plan.changes == {}


def test_without_position_and_wait_nothing_is_announced() -> None:
    plan = hold_plan(Holding(), EVERY_60, NOW)
    assert plan.kind == "hold" and plan.announcement is None and plan.changes == {}


@pytest.mark.parametrize(("hold", "entry", "due"), [
    (EVERY_60, Holding(), True),
    (EVERY_60, Holding(announced_at=ago(59)), False),
    (EVERY_60, Holding(announced_at=ago(60)), True),
    (HoldSettings(announce_every_seconds=0), Holding(), False),
    (HoldSettings(announce_every_seconds=0), Holding(callback_offered=True), True),  # the offer is still spoken
    (HoldSettings(announce_position=False, announce_wait=False), Holding(), False),
    (EVERY_60, Holding(status="assigned"), False),
])  # fmt: skip
def test_announcement_due(hold: HoldSettings, entry: Holding, due: bool) -> None:
    assert announcement_due(entry, hold, NOW) is due


def test_only_the_configured_parts_are_said() -> None:
    wait_only = HoldSettings(announce_position=False)
    plan = hold_plan(Holding(announced_at=ago(60), announced_position=9, announced_wait=200), wait_only, NOW, 3, 200)
    assert plan.announcement is None  # the place changed, but the place is not announced
    plan = hold_plan(Holding(), wait_only, NOW, 3, 200)
    assert plan.announcement == Announcement(None, 4)
    offer_only = hold_plan(Holding(callback_offered=True), HoldSettings(announce_every_seconds=0), NOW, 3, 200)
    assert offer_only.announcement == Announcement(None, None, callback_offer=True)


@pytest.mark.parametrize(("menu", "offered", "keys"), [
    (EscapeMenu(), False, ()), (EscapeMenu(callback=True), False, ("1",)), (EscapeMenu(voicemail=True), False, ("2",)),
    (EscapeMenu(callback=True, voicemail=True), False, ("1", "2")), (EscapeMenu(), True, ("1",)),
])  # fmt: skip
def test_menu_keys(menu: EscapeMenu, offered: bool, keys: tuple[str, ...]) -> None:
    assert menu_keys(HoldSettings(escape_menu=menu), offered) == keys
    assert hold_plan(Holding(callback_offered=offered), HoldSettings(escape_menu=menu), NOW).menu_keys == keys


@pytest.mark.parametrize(("digits", "keys", "choice"), [
    ("1", ("1", "2"), "callback"), ("2", ("1", "2"), "voicemail"), ("2", ("1",), None), ("3", ("1", "2"), None),
    ("", ("1",), None), (" 1", ("1",), "callback"), ("12", ("1", "2"), "callback"), ("#", ("1",), None),
])  # fmt: skip
def test_menu_choice(digits: str, keys: tuple[str, ...], choice: str | None) -> None:
    assert menu_choice(digits, keys) == choice


# --- stats -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class W:
    priority: int
    arrived_at: str


@dataclass(frozen=True)
class C:
    status: str
    wait_seconds: int | None


@dataclass(frozen=True)
class Ag:
    id: str
    status: Any
    status_since: str = ago(100)
    wrap_up_until: str | None = None
    idle_since: str | None = None
    last_offered_at: str | None = None
    missed_in_a_row: int = 0
    calls_handled: int = 0
    talk_seconds: int = 0
    handle_ewma_seconds: float | None = 120.0


def test_department_stats_arithmetic() -> None:
    waiting = [W(100, ago(30)), W(50, ago(400)), W(50, ago(100)), W(10, ago(50))]
    agents = [Ag("a", "busy"), Ag("b", "available"), Ag("c", "wrap-up", wrap_up_until=ago(-20)),
              Ag("d", "wrap-up", wrap_up_until=ago(5)), Ag("e", "offline")]  # fmt: skip
    closed = [C("completed", 10), C("completed", 30), C("completed", 31), C("abandoned", 5), C("abandoned", 90),
              C("timeout", 300), C("voicemail", 200), C("overflowed", 60), C("callbackFailed", 900)]  # fmt: skip
    stats = department_stats(4, waiting, agents, closed, NOW, service_level_seconds=30)
    assert stats["waiting"] == 4 and stats["waitingByPriority"] == {"100": 1, "50": 2, "10": 1}
    assert list(stats["waitingByPriority"]) == ["100", "50", "10"]
    assert stats["longestWaitSeconds"] == 400 and stats["truncated"] is False
    assert stats["agents"] == {"available": 2, "offered": 0, "busy": 1, "wrap-up": 1, "away": 0, "offline": 1}
    assert (stats["answered"], stats["answeredWithin"], stats["abandoned"]) == (3, 2, 2)
    assert stats["serviceLevel"] == round(2 / (3 + 1), 4)  # the abandon within 30 s does not count against it
    assert stats["abandonmentRate"] == round(2 / 8, 4)  # overflowed moved on: not in the base
    assert stats["closed"] == {"abandoned": 2, "callbackFailed": 1, "completed": 3, "timeout": 1, "voicemail": 1}
    # a caller joining now: 4 ahead, 2 free, 4 staffed -> ceil((4 + 1 - 2) / 4) = 1 round of 120 s
    assert stats["expectedWaitSeconds"] == 120


def test_stats_with_nothing_to_measure() -> None:
    stats = department_stats(0, [], [], [], NOW, 20)
    assert stats["serviceLevel"] is None and stats["abandonmentRate"] is None and stats["longestWaitSeconds"] == 0
    assert department_stats(300, [W(50, ago(1))], [], [], NOW, 20)["truncated"] is True
