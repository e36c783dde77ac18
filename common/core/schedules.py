"""Business-hours schedules: is a line open at an instant, and when does that next change.

Rules this module owns (it is pure: standard library and pydantic only, no clock reads; every
query takes the instant ``at``, which must be timezone-aware):

1. Local wall clock. ``at`` is converted to the schedule's IANA zone and the answer depends only on
   the resulting local date and HH:MM. Callers never pre-convert.
2. Precedence, highest first: overrides (when several cover the instant, the one listed LAST wins,
   so appending an override is how an operator corrects an earlier one), then holidays (a holiday
   closes its whole local day, 00:00-24:00), then weekly hours. Anything else is closed.
3. Intervals are half-open: start inclusive, end exclusive. Weekly ranges have minute granularity;
   "24:00" is only an end. A range that crosses midnight is written as two ranges, so each day's
   hours can be read on their own.
4. DST follows from rule 1. On a spring-forward day a range covering the skipped hour simply holds
   less real time; on a fall-back day both occurrences of a repeated wall time get the same answer.
5. ``next_change`` is the first real instant strictly after ``at`` at which ``is_open`` flips,
   looked for up to 400 days ahead, that day included (None when it never flips in that window).
   It is returned in the schedule's zone with the correct offset (and fold), so it is always an
   instant that exists: a change whose wall time falls in a DST gap happens at the transition.
   Callers should compare or add to it in UTC: Python does wall-clock arithmetic between aware
   datetimes of one zone, and never finds a time in a DST fold equal to one in another zone.
6. A zone is assumed to change its UTC offset at most once per day (true of every tz rule in use).

``is_open`` is on the hot path of every incoming call, so it costs O(number of rules) and never
scans ahead; only ``next_change`` (and ``status``, which includes it) walks forward in time.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
# English names of our own: calendar.month_name follows the process locale, and reasons are data.
_MONTHS: tuple[str, ...] = ("", "January", "February", "March", "April", "May", "June", "July")
_MONTHS += ("August", "September", "October", "November", "December")
SEARCH_DAYS = 400
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # not \d: it matches any Unicode digit
_DAY = dt.timedelta(days=1)
_SECOND = dt.timedelta(seconds=1)


class ScheduleError(ValueError):
    """A schedule definition or a query against it is invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


class TimeRange(_Model):
    """Weekly opening hours on one day, ``start`` inclusive to ``end`` exclusive, as "HH:MM"."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _check_hhmm(cls, value: str) -> str:
        if not _HHMM.fullmatch(value):
            raise ScheduleError(f"invalid time {value!r}; use 24-hour HH:MM, e.g. '09:00' or '24:00'")
        return value

    @model_validator(mode="after")
    def _check_order(self) -> TimeRange:
        if self.start_minute >= self.end_minute:
            raise ScheduleError(f"start {self.start} must be before end {self.end}")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)


class _HolidayRule(_Model):
    name: str | None = Field(default=None, min_length=1, max_length=100)

    def applies(self, day: dt.date) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return self.name or self.describe()


class DateHoliday(_HolidayRule):
    type: Literal["date"]
    date: dt.date

    def applies(self, day: dt.date) -> bool:
        return day == self.date

    def describe(self) -> str:
        return self.date.isoformat()


class RangeHoliday(_HolidayRule):
    """Inclusive on both ends: people say "closed from the 24th to the 2nd" and mean the 2nd too."""

    type: Literal["range"]
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _check_order(self) -> RangeHoliday:
        if self.start > self.end:
            raise ScheduleError(f"start {self.start} must not be after end {self.end}")
        return self

    def applies(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def describe(self) -> str:
        return f"{self.start} to {self.end}"


class YearlyHoliday(_HolidayRule):
    """Same month and day every year; February 29 is accepted and then only applies in leap years."""

    type: Literal["yearly"]
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _check_day(self) -> YearlyHoliday:
        # 2024 is a leap year, so this accepts Feb 29 and rejects Feb 30, Apr 31...
        if self.day > calendar.monthrange(2024, self.month)[1]:
            raise ScheduleError(f"{_MONTHS[self.month]} has no day {self.day}")
        return self

    def applies(self, day: dt.date) -> bool:
        return day.month == self.month and day.day == self.day

    def describe(self) -> str:
        return f"every {_MONTHS[self.month]} {self.day}"


class NthWeekdayHoliday(_HolidayRule):
    """E.g. "last Monday of May" (nth=-1). A 5th weekday a month lacks that year does not apply."""

    type: Literal["nthWeekday"]
    month: int = Field(ge=1, le=12)
    weekday: Weekday
    nth: int = Field(ge=-5, le=5)

    @field_validator("nth")
    @classmethod
    def _check_nth(cls, value: int) -> int:
        if value == 0:
            raise ScheduleError("nth must be 1..5 (first..fifth) or -1..-5 (last..fifth-to-last), not 0")
        return value

    def applies(self, day: dt.date) -> bool:
        if day.month != self.month or WEEKDAYS[day.weekday()] != self.weekday:
            return False
        if self.nth > 0:
            return (day.day - 1) // 7 + 1 == self.nth
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        return (days_in_month - day.day) // 7 + 1 == -self.nth

    def describe(self) -> str:
        ordinal = ("1st", "2nd", "3rd", "4th", "5th")[abs(self.nth) - 1]
        which = ordinal if self.nth > 0 else ("last" if self.nth == -1 else f"{ordinal}-to-last")
        return f"{which} {self.weekday.capitalize()} of {_MONTHS[self.month]}"


WeeklyHours = dict[Weekday, tuple[TimeRange, ...]]
Holiday = Annotated[
    DateHoliday | RangeHoliday | YearlyHoliday | NthWeekdayHoliday, Field(discriminator="type")
]


class Override(_Model):
    """Temporarily force open or closed between two local wall times of the schedule's zone.

    Wall times rather than instants so that "closed all day on the 24th" means the local day even
    when the schedule's zone changes offset in between.
    """

    start: dt.datetime
    end: dt.datetime
    mode: Literal["closed", "open"]
    reason: str = Field(default="", max_length=200)

    @field_validator("start", "end")
    @classmethod
    def _check_naive(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is not None:
            raise ScheduleError(
                f"override times are local wall times in the schedule's zone; drop the UTC offset "
                f"(got {value.isoformat()})"
            )
        return value

    @model_validator(mode="after")
    def _check_order(self) -> Override:
        if self.start >= self.end:
            raise ScheduleError(f"start {self.start.isoformat()} must be before end {self.end.isoformat()}")
        return self

    @property
    def label(self) -> str:
        return self.reason or self.mode


class Schedule(_Model):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    timezone: str
    weekly: WeeklyHours = Field(default_factory=dict)
    holidays: tuple[Holiday, ...] = ()
    overrides: tuple[Override, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ScheduleError(
                f"unknown time zone {value!r}; use an IANA name such as 'America/New_York'"
            ) from None
        return value

    @field_validator("weekly")
    @classmethod
    def _check_overlaps(cls, value: WeeklyHours) -> WeeklyHours:
        for day, ranges in value.items():
            ordered = sorted(ranges, key=lambda r: r.start_minute)
            for first, second in itertools.pairwise(ordered):
                if second.start_minute < first.end_minute:
                    raise ScheduleError(
                        f"{day}: ranges {first.start}-{first.end} and {second.start}-{second.end} overlap"
                    )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def holiday_on(self, day: dt.date) -> Holiday | None:
        return next((rule for rule in self.holidays if rule.applies(day)), None)


class ScheduleStatus(_Model):
    """``reason``: "weekly", "closedWeekly", "holiday:<name or rule>" or "override:<reason>"."""

    open: bool
    reason: str
    next_change: dt.datetime | None


def _require_aware(at: dt.datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ScheduleError(
            f"at must be a timezone-aware datetime, got naive {at.isoformat()}; "
            "attach a zone, e.g. datetime.now(UTC)"
        )


def _wall(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    # fold only tells the two occurrences of a repeated wall time apart, and rule 4 says they agree.
    return at.astimezone(zone).replace(tzinfo=None, fold=0)


def _decide(
    schedule: Schedule, wall: dt.datetime, overrides: Sequence[Override], holiday: Holiday | None
) -> tuple[bool, str]:
    for override in reversed(overrides):
        if override.start <= wall < override.end:
            return override.mode == "open", f"override:{override.label}"
    if holiday is not None:
        return False, f"holiday:{holiday.label}"
    minute = wall.hour * 60 + wall.minute  # flooring is exact: range bounds are whole minutes
    for hours in schedule.weekly.get(WEEKDAYS[wall.weekday()], ()):
        if hours.start_minute <= minute < hours.end_minute:
            return True, "weekly"
    return False, "closedWeekly"


def _evaluate(schedule: Schedule, wall: dt.datetime) -> tuple[bool, str]:
    return _decide(schedule, wall, schedule.overrides, schedule.holiday_on(wall.date()))


def is_open(schedule: Schedule, at: dt.datetime) -> bool:
    """Whether ``schedule`` is open at the instant ``at``; O(number of rules)."""
    _require_aware(at)
    return _evaluate(schedule, _wall(at, schedule.zone))[0]


def status(schedule: Schedule, at: dt.datetime) -> ScheduleStatus:
    """Open or not at ``at``, which rule decided it, and when that next changes."""
    _require_aware(at)
    open_now, reason = _evaluate(schedule, _wall(at, schedule.zone))
    return ScheduleStatus(open=open_now, reason=reason, next_change=next_change(schedule, at))


def _first_flip_wall(
    schedule: Schedule, after: dt.datetime, until: dt.datetime, current: bool
) -> dt.datetime | None:
    """First wall time in (after, until] whose answer differs from ``current``, else None.

    The answer is constant between consecutive breakpoints (midnight, range bounds, override bounds),
    so only breakpoints need checking; midnight is always one, so a day is judged on its own.
    """
    day = after.date()
    while (midnight := dt.datetime.combine(day, dt.time())) <= until:
        next_midnight = midnight + _DAY
        holiday = schedule.holiday_on(day)
        overrides = [o for o in schedule.overrides if o.start < next_midnight and o.end > midnight]
        points = {midnight}
        if holiday is None:
            for hours in schedule.weekly.get(WEEKDAYS[day.weekday()], ()):
                points.add(midnight + dt.timedelta(minutes=hours.start_minute))
                points.add(midnight + dt.timedelta(minutes=hours.end_minute))
        for override in overrides:
            points.update((override.start, override.end))
        for point in sorted(points):
            if (
                after < point <= until
                and midnight <= point < next_midnight
                and _decide(schedule, point, overrides, holiday)[0] != current
            ):
                return point
        day += _DAY
    return None


def _offset_changes(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """UTC instants in (start, end] where the zone's UTC offset changes; ``start`` on a whole second."""

    def offset(instant: dt.datetime) -> dt.timedelta | None:
        return instant.astimezone(zone).utcoffset()

    low, low_offset = start, offset(start)
    while low < end:
        high = low + _DAY
        high_offset = offset(high)
        if high_offset != low_offset:
            # Transitions fall on whole seconds; low stays second-aligned, so bisection is exact.
            before, after = low, high
            while after - before > _SECOND:
                middle = before + _SECOND * ((after - before) // _SECOND // 2)
                if offset(middle) == low_offset:
                    before = middle
                else:
                    after = middle
            if after > end:
                return
            yield after
        low, low_offset = high, high_offset


def next_change(schedule: Schedule, at: dt.datetime) -> dt.datetime | None:
    """First instant strictly after ``at`` where ``is_open`` flips, within 400 days, else None."""
    _require_aware(at)
    zone = schedule.zone
    now = at.astimezone(dt.UTC)
    limit = now + dt.timedelta(days=SEARCH_DAYS)
    current = _evaluate(schedule, _wall(now, zone))[0]
    transitions = _offset_changes(zone, now.replace(microsecond=0), limit)
    pending = next(transitions, None)
    # Between offset changes wall time advances exactly like real time, so a wall breakpoint maps
    # to an instant by plain addition; at an offset change the wall clock jumps and is re-read.
    while True:
        while pending is not None and pending <= now:
            pending = next(transitions, None)
        stop = limit if pending is None else pending
        wall = _wall(now, zone)
        flip = _first_flip_wall(schedule, wall, wall + (stop - now), current)
        if flip is not None:
            candidate = now + (flip - wall)
            if pending is None or candidate < pending:
                return candidate.astimezone(zone)
        if pending is None:
            return None
        now = pending
        if _evaluate(schedule, _wall(now, zone))[0] != current:
            return now.astimezone(zone)
