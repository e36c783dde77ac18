"""Tests for common.core.schedules: weekly hours, DST, holidays, overrides, next_change, validation."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from common.core.schedules import (
    Schedule,
    ScheduleError,
    ScheduleStatus,
    is_open,
    next_change,
    status,
)

UTC = dt.UTC
ALL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WORKDAYS = ALL_DAYS[:5]


def make(zone: str = "America/New_York", weekly: dict[str, Any] | None = None, **extra: Any) -> Schedule:
    return Schedule.model_validate({"name": "test", "timezone": zone, "weekly": weekly or {}, **extra})


def hours(*ranges: str) -> list[dict[str, str]]:
    return [{"start": r.split("-")[0], "end": r.split("-")[1]} for r in ranges]


def every(days: tuple[str, ...], *ranges: str) -> dict[str, Any]:
    return {day: hours(*ranges) for day in days}


def local(zone: str, text: str, fold: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def as_utc(instant: dt.datetime | None) -> dt.datetime | None:
    """Compare instants in UTC: Python never finds a time in a DST fold equal to one in another zone."""
    return None if instant is None else instant.astimezone(UTC)


def brute_next_change(schedule: Schedule, at: dt.datetime, minutes: int) -> dt.datetime | None:
    """Minute-by-minute reference for next_change; exact when ``at`` is minute-aligned in UTC."""
    start = is_open(schedule, at)
    for step in range(1, minutes + 1):
        instant = at + dt.timedelta(minutes=step)
        if is_open(schedule, instant) != start:
            return instant
    return None


# --- weekly hours ---------------------------------------------------------------------------------

SPLIT_DAY = make(weekly={"monday": hours("13:00-17:00", "09:00-12:00"), "tuesday": hours("00:00-24:00")})


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ("2026-06-01T08:59", False),
        ("2026-06-01T09:00", True),
        ("2026-06-01T11:59:59.999999", True),
        ("2026-06-01T12:00", False),
        ("2026-06-01T12:59", False),
        ("2026-06-01T13:00", True),
        ("2026-06-01T16:59", True),
        ("2026-06-01T17:00", False),
        ("2026-06-01T23:59", False),
        ("2026-06-02T00:00", True),
        ("2026-06-02T23:59", True),
        ("2026-06-03T00:00", False),
        ("2026-06-07T10:00", False),
    ],
)
def test_weekly_ranges_and_boundaries(wall: str, expected: bool) -> None:
    assert is_open(SPLIT_DAY, local("America/New_York", wall)) is expected


def test_is_open_converts_any_aware_instant_to_the_schedule_zone() -> None:
    # 09:30 in New York on a Monday is 13:30 UTC and 22:30 in Tokyo.
    assert is_open(SPLIT_DAY, utc("2026-06-01T13:30"))
    assert is_open(SPLIT_DAY, local("Asia/Tokyo", "2026-06-01T22:30"))
    assert not is_open(SPLIT_DAY, utc("2026-06-01T09:30"))


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (
            "2026-06-01T10:00",
            ScheduleStatus(
                open=True, reason="weekly", next_change=local("America/New_York", "2026-06-01T12:00")
            ),
        ),
        (
            "2026-06-01T12:00",
            ScheduleStatus(
                open=False, reason="closedWeekly", next_change=local("America/New_York", "2026-06-01T13:00")
            ),
        ),
        (
            "2026-06-01T17:00",
            ScheduleStatus(
                open=False, reason="closedWeekly", next_change=local("America/New_York", "2026-06-02T00:00")
            ),
        ),
        (
            "2026-06-02T05:00",
            ScheduleStatus(
                open=True, reason="weekly", next_change=local("America/New_York", "2026-06-03T00:00")
            ),
        ),
    ],
)
def test_status(wall: str, expected: ScheduleStatus) -> None:
    assert status(SPLIT_DAY, local("America/New_York", wall)) == expected


def test_status_serializes_camel_case() -> None:
    dumped = status(SPLIT_DAY, local("America/New_York", "2026-06-01T10:00")).model_dump(
        mode="json", by_alias=True
    )
    assert dumped == {"open": True, "reason": "weekly", "nextChange": "2026-06-01T12:00:00-04:00"}


# --- DST ------------------------------------------------------------------------------------------

DAILY = every(ALL_DAYS, "09:00-17:00")


@pytest.mark.parametrize(
    ("zone", "after_close_utc", "expected_open_utc", "expected_offset_hours"),
    [
        ("America/New_York", "2026-03-07T22:30", "2026-03-08T13:00", -4),  # EST close, EDT open
        ("America/New_York", "2026-10-31T21:30", "2026-11-01T14:00", -5),  # EDT close, EST open
        ("Europe/London", "2026-03-28T17:30", "2026-03-29T08:00", 1),
        ("Europe/London", "2026-10-24T16:30", "2026-10-25T09:00", 0),
        ("Australia/Sydney", "2026-04-04T06:30", "2026-04-04T23:00", 10),
        ("Australia/Sydney", "2026-10-03T07:30", "2026-10-03T22:00", 11),
        ("Australia/Lord_Howe", "2026-04-04T06:30", "2026-04-04T22:30", 10.5),  # 30-minute shift
        ("Australia/Lord_Howe", "2026-10-03T07:30", "2026-10-03T22:00", 11),
        ("America/Santiago", "2026-04-04T21:00", "2026-04-05T13:00", -4),  # change at local midnight
        ("America/Santiago", "2026-09-05T21:30", "2026-09-06T12:00", -3),
    ],
)
def test_next_change_across_dst_returns_exact_utc(
    zone: str, after_close_utc: str, expected_open_utc: str, expected_offset_hours: float
) -> None:
    schedule = make(zone, DAILY)
    at = utc(after_close_utc)
    assert not is_open(schedule, at)
    change = next_change(schedule, at)
    assert change is not None
    assert change == utc(expected_open_utc)
    assert change.tzinfo == ZoneInfo(zone)
    assert change.utcoffset() == dt.timedelta(hours=expected_offset_hours)
    assert (change.hour, change.minute) == (9, 0)
    assert is_open(schedule, change)
    assert not is_open(schedule, change.astimezone(UTC) - dt.timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("zone", "before", "after", "expected_before", "expected_after"),
    [
        # Sunday 01:00-03:00 local: the skipped hour shortens it, the repeated hour is open twice.
        ("America/New_York", "2026-03-08T06:59", "2026-03-08T07:00", True, False),
        ("America/New_York", "2026-11-01T05:30", "2026-11-01T06:30", True, True),
        ("America/New_York", "2026-11-01T07:59", "2026-11-01T08:00", True, False),
        ("Europe/London", "2026-03-29T00:59", "2026-03-29T01:00", False, True),
        ("Europe/London", "2026-03-29T01:59", "2026-03-29T02:00", True, False),
        ("Europe/London", "2026-10-25T00:30", "2026-10-25T01:30", True, True),
        ("Europe/London", "2026-10-25T02:59", "2026-10-25T03:00", True, False),
        ("Australia/Sydney", "2026-04-04T15:30", "2026-04-04T16:30", True, True),
        ("Australia/Sydney", "2026-10-03T15:59", "2026-10-03T16:00", True, False),
        ("Australia/Sydney", "2026-10-03T14:59", "2026-10-03T15:00", False, True),
    ],
)
def test_is_open_on_both_sides_of_dst_changes(
    zone: str, before: str, after: str, expected_before: bool, expected_after: bool
) -> None:
    schedule = make(zone, {"sunday": hours("01:00-03:00")})
    assert is_open(schedule, utc(before)) is expected_before
    assert is_open(schedule, utc(after)) is expected_after


def test_fall_back_repeated_wall_time_is_open_in_both_occurrences() -> None:
    schedule = make(weekly={"sunday": hours("01:30-02:00")})
    first = local("America/New_York", "2026-11-01T01:45", fold=0)
    second = local("America/New_York", "2026-11-01T01:45", fold=1)
    assert first.astimezone(UTC) == utc("2026-11-01T05:45")
    assert second.astimezone(UTC) == utc("2026-11-01T06:45")
    assert is_open(schedule, first) and is_open(schedule, second)
    # The clock jumps back to 01:00 at 06:00Z (closed), reaches 01:30 again at 06:30Z (open).
    assert as_utc(next_change(schedule, first)) == utc("2026-11-01T06:00")
    assert as_utc(next_change(schedule, utc("2026-11-01T06:00"))) == utc("2026-11-01T06:30")
    assert as_utc(next_change(schedule, second)) == utc("2026-11-01T07:00")


def test_next_change_never_returns_a_nonexistent_wall_time() -> None:
    # Opens at 02:30, which does not exist on 2026-03-08 in New York: it opens at the jump to 03:00.
    schedule = make(weekly={"sunday": hours("02:30-04:00")})
    change = next_change(schedule, utc("2026-03-08T06:00"))
    assert change == utc("2026-03-08T07:00")
    assert change is not None
    assert (change.hour, change.minute, change.utcoffset()) == (3, 0, dt.timedelta(hours=-4))
    assert next_change(schedule, change) == utc("2026-03-08T08:00")


@pytest.mark.parametrize(
    ("zone", "start_utc"),
    [
        ("America/New_York", "2026-03-06T00:00"),
        ("America/New_York", "2026-10-30T00:00"),
        ("Europe/London", "2026-03-27T00:00"),
        ("Europe/London", "2026-10-23T00:00"),
        ("Australia/Sydney", "2026-04-02T00:00"),
        ("Australia/Sydney", "2026-10-01T00:00"),
        ("Australia/Lord_Howe", "2026-04-02T00:00"),
        ("America/Santiago", "2026-04-03T00:00"),
        ("America/Santiago", "2026-09-04T00:00"),
    ],
)
def test_next_change_matches_minute_by_minute_scan_around_dst(zone: str, start_utc: str) -> None:
    schedule = make(
        zone,
        {
            **every(ALL_DAYS, "00:30-01:15", "01:45-02:15", "02:45-03:30", "09:00-17:00"),
            "saturday": hours("23:30-24:00"),
        },
    )
    at = utc(start_utc)
    changes = 0
    while at < utc(start_utc) + dt.timedelta(days=4):
        expected = brute_next_change(schedule, at, minutes=2 * 24 * 60)
        assert as_utc(next_change(schedule, at)) == expected
        assert expected is not None
        at, changes = expected, changes + 1
    assert changes > 20


# --- holidays -------------------------------------------------------------------------------------

WEEKDAY_HOURS = every(ALL_DAYS, "09:00-17:00")


@pytest.mark.parametrize(
    ("holiday", "wall", "expected_open", "expected_reason"),
    [
        ({"type": "date", "date": "2026-12-24"}, "2026-12-24T10:00", False, "holiday:2026-12-24"),
        (
            {"type": "date", "date": "2026-12-24", "name": "Xmas Eve"},
            "2026-12-24T10:00",
            False,
            "holiday:Xmas Eve",
        ),
        ({"type": "date", "date": "2026-12-24"}, "2026-12-23T10:00", True, "weekly"),
        ({"type": "date", "date": "2026-12-24"}, "2026-12-25T10:00", True, "weekly"),
        ({"type": "range", "start": "2026-12-24", "end": "2027-01-02"}, "2026-12-23T16:59", True, "weekly"),
        (
            {"type": "range", "start": "2026-12-24", "end": "2027-01-02"},
            "2026-12-24T10:00",
            False,
            "holiday:2026-12-24 to 2027-01-02",
        ),
        (
            {"type": "range", "start": "2026-12-24", "end": "2027-01-02"},
            "2027-01-02T16:59",
            False,
            "holiday:2026-12-24 to 2027-01-02",
        ),
        ({"type": "range", "start": "2026-12-24", "end": "2027-01-02"}, "2027-01-03T09:00", True, "weekly"),
        ({"type": "yearly", "month": 12, "day": 25}, "2026-12-25T10:00", False, "holiday:every December 25"),
        ({"type": "yearly", "month": 12, "day": 25}, "2031-12-25T10:00", False, "holiday:every December 25"),
        ({"type": "yearly", "month": 12, "day": 25}, "2026-12-26T10:00", True, "weekly"),
        ({"type": "yearly", "month": 2, "day": 29}, "2028-02-29T10:00", False, "holiday:every February 29"),
        ({"type": "yearly", "month": 2, "day": 29}, "2027-02-28T10:00", True, "weekly"),
        ({"type": "yearly", "month": 2, "day": 29}, "2027-03-01T10:00", True, "weekly"),
        (
            {"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": -1},
            "2026-05-25T10:00",
            False,
            "holiday:last Monday of May",
        ),
        (
            {"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": -1},
            "2026-05-18T10:00",
            True,
            "weekly",
        ),
        (
            {"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": -1},
            "2027-05-31T10:00",
            False,
            "holiday:last Monday of May",
        ),
        (
            {"type": "nthWeekday", "month": 11, "weekday": "thursday", "nth": 4},
            "2026-11-26T10:00",
            False,
            "holiday:4th Thursday of November",
        ),
        (
            {"type": "nthWeekday", "month": 11, "weekday": "thursday", "nth": 4},
            "2026-11-19T10:00",
            True,
            "weekly",
        ),
        (
            {"type": "nthWeekday", "month": 6, "weekday": "monday", "nth": 5},
            "2026-06-29T10:00",
            False,
            "holiday:5th Monday of June",
        ),
        (
            {"type": "nthWeekday", "month": 6, "weekday": "monday", "nth": -5},
            "2026-06-01T10:00",
            False,
            "holiday:5th-to-last Monday of June",
        ),
        (
            {"type": "nthWeekday", "month": 6, "weekday": "monday", "nth": -2},
            "2026-06-22T10:00",
            False,
            "holiday:2nd-to-last Monday of June",
        ),
    ],
)
def test_holiday_kinds(holiday: dict[str, Any], wall: str, expected_open: bool, expected_reason: str) -> None:
    schedule = make(weekly=WEEKDAY_HOURS, holidays=[holiday])
    result = status(schedule, local("America/New_York", wall))
    assert (result.open, result.reason) == (expected_open, expected_reason)


@pytest.mark.parametrize(
    ("year", "expected_closed"), [(2024, True), (2028, True), (2100, False), (2000, True)]
)
def test_feb_29_yearly_holiday_only_in_leap_years(year: int, expected_closed: bool) -> None:
    schedule = make("UTC", WEEKDAY_HOURS, holidays=[{"type": "yearly", "month": 2, "day": 29}])
    closed_days = [
        day
        for day in (dt.date(year, 2, 28) + dt.timedelta(days=n) for n in range(3))
        if not is_open(schedule, dt.datetime.combine(day, dt.time(10), tzinfo=UTC))
    ]
    assert closed_days == ([dt.date(year, 2, 29)] if expected_closed else [])


@pytest.mark.parametrize(("year", "expected"), [(2026, [dt.date(2026, 5, 29)]), (2027, [])])
def test_fifth_weekday_that_does_not_exist_does_not_apply(year: int, expected: list[dt.date]) -> None:
    schedule = make(
        "UTC", WEEKDAY_HOURS, holidays=[{"type": "nthWeekday", "month": 5, "weekday": "friday", "nth": 5}]
    )
    may = [dt.date(year, 5, d) for d in range(1, 32)]
    closed = [d for d in may if not is_open(schedule, dt.datetime.combine(d, dt.time(10), tzinfo=UTC))]
    assert closed == expected


def test_holiday_closes_the_whole_local_day_and_next_change_skips_it() -> None:
    schedule = make(weekly=every(ALL_DAYS, "00:00-24:00"), holidays=[{"type": "date", "date": "2026-07-03"}])
    assert next_change(schedule, local("America/New_York", "2026-06-30T12:00")) == utc("2026-07-03T04:00")
    assert next_change(schedule, local("America/New_York", "2026-07-03T00:00")) == utc("2026-07-04T04:00")


# --- overrides ------------------------------------------------------------------------------------


def override(start: str, end: str, mode: str, reason: str) -> dict[str, str]:
    return {"start": start, "end": end, "mode": mode, "reason": reason}


@pytest.mark.parametrize(
    ("overrides", "wall", "expected_open", "expected_reason"),
    [
        (
            [override("2026-11-24T00:00", "2026-11-25T00:00", "closed", "storm")],
            "2026-11-24T10:00",
            False,
            "override:storm",
        ),
        (
            [override("2026-11-24T00:00", "2026-11-25T00:00", "closed", "storm")],
            "2026-11-25T10:00",
            True,
            "weekly",
        ),
        (
            [override("2026-11-24T17:00", "2026-11-24T21:00", "open", "late")],
            "2026-11-24T20:59",
            True,
            "override:late",
        ),
        (
            [override("2026-11-24T17:00", "2026-11-24T21:00", "open", "late")],
            "2026-11-24T21:00",
            False,
            "closedWeekly",
        ),
        (
            [
                override("2026-11-24T00:00", "2026-11-25T00:00", "closed", "storm"),
                override("2026-11-24T12:00", "2026-11-24T14:00", "open", "reopen"),
            ],
            "2026-11-24T13:00",
            True,
            "override:reopen",
        ),
        (
            [
                override("2026-11-24T12:00", "2026-11-24T14:00", "open", "reopen"),
                override("2026-11-24T00:00", "2026-11-25T00:00", "closed", "storm"),
            ],
            "2026-11-24T13:00",
            False,
            "override:storm",
        ),
        (
            [override("2026-11-26T08:00", "2026-11-26T12:00", "open", "half day")],
            "2026-11-26T11:00",
            True,
            "override:half day",
        ),
        (
            [override("2026-11-26T08:00", "2026-11-26T12:00", "open", "half day")],
            "2026-11-26T12:00",
            False,
            "holiday:Thanksgiving",
        ),
        (
            [{"start": "2026-11-24T00:00", "end": "2026-11-25T00:00", "mode": "closed"}],
            "2026-11-24T10:00",
            False,
            "override:closed",
        ),
    ],
)
def test_overrides(
    overrides: list[dict[str, str]], wall: str, expected_open: bool, expected_reason: str
) -> None:
    thanksgiving = {
        "type": "nthWeekday",
        "month": 11,
        "weekday": "thursday",
        "nth": 4,
        "name": "Thanksgiving",
    }
    schedule = make(weekly=WEEKDAY_HOURS, holidays=[thanksgiving], overrides=overrides)
    result = status(schedule, local("America/New_York", wall))
    assert (result.open, result.reason) == (expected_open, expected_reason)


def test_evening_extension_moves_next_change_to_its_end() -> None:
    schedule = make(
        weekly=WEEKDAY_HOURS, overrides=[override("2026-11-24T17:00", "2026-11-24T21:00", "open", "late")]
    )
    assert next_change(schedule, local("America/New_York", "2026-11-24T10:00")) == local(
        "America/New_York", "2026-11-24T21:00"
    )


# --- next_change edge cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ("2026-06-01T09:00", "2026-06-01T12:00"),  # at == opening instant: next is the closing one
        ("2026-06-01T12:00", "2026-06-01T13:00"),  # at == closing instant: next is the reopening
        ("2026-06-01T08:59:59.999999", "2026-06-01T09:00"),
        ("2026-06-01T17:00", "2026-06-02T00:00"),
        ("2026-06-02T00:00", "2026-06-03T00:00"),
        ("2026-06-03T00:00", "2026-06-08T09:00"),
    ],
)
def test_next_change_at_boundaries(wall: str, expected: str) -> None:
    change = next_change(SPLIT_DAY, local("America/New_York", wall))
    assert change == local("America/New_York", expected)


@pytest.mark.parametrize(
    "schedule",
    [
        make(),
        make("Asia/Tokyo", every(ALL_DAYS, "00:00-24:00")),
        make(weekly=every(ALL_DAYS, "00:00-12:00", "12:00-24:00")),  # touching ranges never close
        make("Europe/London", every(ALL_DAYS, "00:00-24:00")),  # DST changes but never closes
    ],
)
def test_next_change_none_when_it_never_flips(schedule: Schedule) -> None:
    at = utc("2026-01-01T12:00")
    expected_open = bool(schedule.weekly)
    assert is_open(schedule, at) is expected_open
    assert next_change(schedule, at) is None
    assert status(schedule, at) == ScheduleStatus(
        open=expected_open, reason="weekly" if expected_open else "closedWeekly", next_change=None
    )


def test_next_change_gives_up_after_400_days() -> None:
    # 2026-01-02 to 2027-02-06 is exactly 400 days (both in EST): the window's end is included.
    schedule = make(overrides=[override("2027-02-06T00:00", "2027-02-07T00:00", "open", "far")])
    assert next_change(schedule, local("America/New_York", "2026-01-01T23:59")) is None
    assert next_change(schedule, local("America/New_York", "2026-01-02T00:00")) == local(
        "America/New_York", "2027-02-06T00:00"
    )


# --- validation -----------------------------------------------------------------------------------

VALID: dict[str, Any] = {
    "name": "main-line",
    "timezone": "Europe/London",
    "weekly": {"monday": hours("09:00-17:00")},
}


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        (
            {"timezone": "Mars/Olympus"},
            ("timezone",),
            "unknown time zone 'Mars/Olympus'; use an IANA name such as 'America/New_York'",
        ),
        ({"timezone": "America"}, ("timezone",), "unknown time zone 'America'"),
        ({"timezone": "../etc/passwd"}, ("timezone",), "unknown time zone"),
        (
            {"weekly": {"monday": hours("9:00-17:00")}},
            ("weekly", "monday", 0, "start"),
            "invalid time '9:00'",
        ),
        (
            {"weekly": {"monday": hours("09:00-24:30")}},
            ("weekly", "monday", 0, "end"),
            "invalid time '24:30'",
        ),
        (
            {"weekly": {"monday": hours("\u0660\u0669:00-17:00")}},  # Arabic-Indic digits
            ("weekly", "monday", 0, "start"),
            "use 24-hour HH:MM",
        ),
        (
            {"weekly": {"monday": hours("24:00-24:00")}},
            ("weekly", "monday", 0),
            "start 24:00 must be before end",
        ),
        (
            {"weekly": {"monday": hours("17:00-09:00")}},
            ("weekly", "monday", 0),
            "start 17:00 must be before end 09:00",
        ),
        (
            {"weekly": {"tuesday": hours("13:00-17:00", "09:00-13:30")}},
            ("weekly",),
            "tuesday: ranges 09:00-13:30 and 13:00-17:00 overlap",
        ),
        ({"weekly": {"Monday": hours("09:00-17:00")}}, ("weekly", "Monday", "[key]"), "Input should be"),
        ({"name": "-bad"}, ("name",), "should match pattern"),
        ({"name": "x" * 65}, ("name",), "at most 64 characters"),
        (
            {"holidays": [{"type": "yearly", "month": 2, "day": 30}]},
            ("holidays", 0, "yearly"),
            "February has no day 30",
        ),
        (
            {"holidays": [{"type": "yearly", "month": 4, "day": 31}]},
            ("holidays", 0, "yearly"),
            "April has no day 31",
        ),
        (
            {"holidays": [{"type": "range", "start": "2026-12-24", "end": "2026-12-01"}]},
            ("holidays", 0, "range"),
            "start 2026-12-24 must not be after end 2026-12-01",
        ),
        (
            {"holidays": [{"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": 0}]},
            ("holidays", 0, "nthWeekday", "nth"),
            "not 0",
        ),
        (
            {"holidays": [{"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": 6}]},
            ("holidays", 0, "nthWeekday", "nth"),
            "less than or equal to 5",
        ),
        ({"holidays": [{"type": "easter"}]}, ("holidays", 0), "does not match any of the expected tags"),
        (
            {"overrides": [override("2026-11-25T00:00", "2026-11-24T00:00", "closed", "x")]},
            ("overrides", 0),
            "start 2026-11-25T00:00:00 must be before end 2026-11-24T00:00:00",
        ),
        (
            {"overrides": [override("2026-11-24T00:00+01:00", "2026-11-25T00:00", "open", "x")]},
            ("overrides", 0, "start"),
            "drop the UTC offset",
        ),
        (
            {"overrides": [override("2026-11-24T00:00", "2026-11-25T00:00", "maybe", "x")]},
            ("overrides", 0, "mode"),
            "Input should be 'closed' or 'open'",
        ),
        ({"color": "red"}, ("color",), "Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_field(
    changes: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate({**VALID, **changes})
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert message in errors[0]["msg"]


def test_valid_schedule_round_trips_through_camel_case_json() -> None:
    payload = {
        **VALID,
        "holidays": [
            {"type": "yearly", "month": 2, "day": 29, "name": "leap"},
            {"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": -1},
        ],
        "overrides": [override("2026-11-24T00:00", "2026-11-25T00:00", "closed", "storm")],
    }
    schedule = Schedule.model_validate(payload)
    again = Schedule.model_validate_json(schedule.model_dump_json(by_alias=True))
    assert again == schedule
    assert schedule.model_dump(by_alias=True, mode="json")["holidays"][1]["type"] == "nthWeekday"
    with pytest.raises(ValidationError, match="frozen"):
        schedule.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("query", [is_open, status, next_change])
def test_naive_datetime_is_rejected(query: Any) -> None:
    with pytest.raises(
        ScheduleError, match="at must be a timezone-aware datetime, got naive 2026-06-01T10:00:00"
    ):
        query(SPLIT_DAY, dt.datetime(2026, 6, 1, 10))
    assert issubclass(ScheduleError, ValueError)


# --- property -------------------------------------------------------------------------------------

PROPERTY_ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
)


def varied_schedule(zone: str) -> Schedule:
    return make(
        zone,
        {
            **every(WORKDAYS, "08:00-12:00", "13:00-18:30"),
            "saturday": hours("10:00-14:00", "23:00-24:00"),
            "sunday": hours("00:00-01:30", "01:45-02:30", "23:59-24:00"),
        },
        holidays=[
            {"type": "date", "date": "2026-07-03"},
            {"type": "range", "start": "2026-12-24", "end": "2027-01-02"},
            {"type": "yearly", "month": 2, "day": 29},
            {"type": "nthWeekday", "month": 5, "weekday": "monday", "nth": -1},
            {"type": "nthWeekday", "month": 11, "weekday": "thursday", "nth": 4},
        ],
        overrides=[
            override("2026-03-08T02:10", "2026-03-08T02:40", "open", "gap"),
            override("2026-11-01T01:00", "2026-11-01T01:40", "open", "repeat"),
            override("2026-04-05T00:10", "2026-04-05T02:20", "open", "fallback"),
            override("2026-11-24T00:00", "2026-11-27T00:00", "closed", "storm"),
            override("2026-11-26T19:00", "2026-11-26T22:00", "open", "late"),
        ],
    )


PROPERTY_SCHEDULES = {zone: varied_schedule(zone) for zone in PROPERTY_ZONES}
NEAR = [
    utc(t)
    for t in (
        "2026-03-08T07:00",
        "2026-11-01T06:00",
        "2026-03-29T01:00",
        "2026-10-25T01:00",
        "2026-04-04T16:00",
        "2026-10-03T16:00",
        "2026-04-04T15:00",
        "2026-09-06T04:00",
        "2026-04-05T03:00",
        "2026-11-24T05:00",
        "2026-12-24T00:00",
    )
]
instants = st.one_of(
    st.datetimes(dt.datetime(2025, 6, 1), dt.datetime(2028, 6, 1), timezones=st.just(UTC)),
    st.builds(
        lambda base, seconds: base + dt.timedelta(seconds=seconds),
        st.sampled_from(NEAR),
        st.integers(-2 * 86400, 2 * 86400),
    ),
)


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(PROPERTY_ZONES), at=instants, fractions=st.lists(st.floats(0, 1), max_size=5))
def test_property_next_change_is_the_first_flip(zone: str, at: dt.datetime, fractions: list[float]) -> None:
    schedule = PROPERTY_SCHEDULES[zone]
    now_open = is_open(schedule, at)
    local_change = next_change(schedule, at)
    assert local_change is not None  # this schedule flips at least weekly
    assert local_change.tzinfo == ZoneInfo(zone)
    # Aware arithmetic within one zone is wall-clock arithmetic, so step in UTC from here on.
    change = local_change.astimezone(UTC)
    assert change.astimezone(ZoneInfo(zone)).utcoffset() == local_change.utcoffset()
    assert change > at
    assert is_open(schedule, change) != now_open
    assert is_open(schedule, change - dt.timedelta(microseconds=1)) == now_open
    span = change - at
    for fraction in fractions:
        between = min(at + span * fraction, change - dt.timedelta(microseconds=1))
        assert is_open(schedule, between) == now_open
