"""Pure planning rules: weekly patterns to UTC sessions, overlaps, withdrawal reason codes.

No Flask and no database here, so these rules are easy to test and reuse (the calendar and reminder packages
compute from the same UTC instants).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule

#: iCalendar weekday codes (RFC 5545 BYDAY), Monday first, as the API and the group row store them.
WEEKDAYS: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RRULE_DAYS = dict(zip(WEEKDAYS, (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU), strict=True))

#: Withdrawal reason codes (CLINICAL.md, "Attendance and adherence") and the barrier each maps to; None: not a
#: barrier an action could remove. The same table as supervision's absence reasons (moving away maps to "no
#: facility nearby": a home or online programme could keep the patient training).
WITHDRAWAL_REASONS: dict[str, str | None] = {
    "ILLNESS": None,
    "PAIN_INTENSITY": "PAIN_INTENSITY",
    "FEAR_OF_MOVEMENT": "FEAR_OF_MOVEMENT",
    "DEPRESSION": "DEPRESSION",
    "NO_TIME": "NO_TIME",
    "NO_FACILITY_NEARBY": "NO_FACILITY_NEARBY",
    "INSUFFICIENT_SUPPORT": "INSUFFICIENT_SUPPORT",
    "POOR_COMMUNICATION": "POOR_COMMUNICATION",
    "OTHER": None,
    "RECOVERED": None,
    "MOVED_AWAY": "NO_FACILITY_NEARBY",
}

#: Completion threshold when a programme does not set one (CLINICAL.md: attended >= 75% of the sessions).
DEFAULT_COMPLETION_THRESHOLD = 75

#: A pattern that would need more weeks than this is refused (a typo such as 500 sessions, or a closure-day loop).
MAX_PATTERN_WEEKS = 5 * 52


@dataclass(frozen=True)
class Occurrence:
    """One planned session: 1-based number in the programme, UTC start and end, and whether it replaces a
    session that fell on a closure day."""

    number: int
    starts_at: datetime
    ends_at: datetime
    replacement: bool = False


def parse_weekdays(values: Iterable[str]) -> tuple[str, ...]:
    """Validated weekday codes in week order; raises ValueError for unknown codes, repeats or an empty list."""
    if isinstance(values, str):
        values = values.split(",")
    codes = []
    for value in values:
        code = value.strip().upper() if isinstance(value, str) else value
        if code not in _RRULE_DAYS:
            raise ValueError(f"unknown weekday {value!r}; use one of {', '.join(WEEKDAYS)}")
        if code in codes:
            raise ValueError(f"weekday {code} given twice")
        codes.append(code)
    if not codes:
        raise ValueError("choose at least one weekday")
    return tuple(sorted(codes, key=WEEKDAYS.index))


def local_to_utc(day: date, at: time, timezone: str) -> datetime:
    """The UTC instant of a wall-clock time in a zone. A time that does not exist (skipped by the spring DST
    change) is read with the offset before the change, as zoneinfo does; an ambiguous one as its first
    occurrence."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def utc_to_local(value: datetime, timezone: str) -> datetime:
    return value.astimezone(ZoneInfo(timezone))


def expand_pattern(
    *,
    start_date: date,
    weekdays: Sequence[str],
    start_time: time,
    duration_minutes: int,
    count: int,
    timezone: str,
    closures: Iterable[date] = (),
) -> list[Occurrence]:
    """Expand a weekly pattern in local time to `count` sessions in UTC.

    Local dates on a closure day are skipped; sessions are added after the last planned one until the programme
    has `count` sessions, and those are flagged as replacements. Each start is computed from the local
    wall-clock time, so 18:00 stays 18:00 local on both sides of a DST change; the duration is real elapsed
    time.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if duration_minutes < 1:
        raise ValueError("duration must be at least 1 minute")
    days = parse_weekdays(weekdays)
    closed = set(closures)
    rule = rrule.rrule(
        rrule.WEEKLY,
        dtstart=datetime.combine(start_date, start_time),
        byweekday=[_RRULE_DAYS[d] for d in days],
        until=datetime.combine(start_date + timedelta(weeks=MAX_PATTERN_WEEKS), start_time),
    )
    duration = timedelta(minutes=duration_minutes)
    sessions: list[Occurrence] = []
    planned = 0  # occurrences of the pattern seen, held or skipped
    for local in rule:
        planned += 1
        if local.date() in closed:
            continue
        starts_at = local_to_utc(local.date(), local.time(), timezone)
        sessions.append(Occurrence(len(sessions) + 1, starts_at, starts_at + duration, replacement=planned > count))
        if len(sessions) == count:
            return sessions
    raise ValueError(f"{count} sessions do not fit in {MAX_PATTERN_WEEKS} weeks with this pattern")


def shift_local(value: datetime, delta: timedelta, timezone: str) -> datetime:
    """Move a UTC instant by a wall-clock delta in the zone (a move 'one hour later' stays one hour later in
    local time on the other side of a DST change)."""
    local = utc_to_local(value, timezone).replace(tzinfo=None) + delta
    return local_to_utc(local.date(), local.time(), timezone)


def local_delta(old: datetime, new: datetime, timezone: str) -> timedelta:
    """The wall-clock difference between two UTC instants, in the zone."""
    return utc_to_local(new, timezone).replace(tzinfo=None) - utc_to_local(old, timezone).replace(tzinfo=None)


def shift_weekdays(weekdays: Sequence[str], days: int) -> tuple[str, ...]:
    return parse_weekdays(WEEKDAYS[(WEEKDAYS.index(d) + days) % 7] for d in weekdays)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: a session ending at 19:00 does not clash with one starting at 19:00."""
    return a_start < b_end and b_start < a_end


def find_overlaps(
    planned: Sequence[tuple[datetime, datetime]], booked: Sequence[tuple[datetime, datetime, object]]
) -> list[tuple[int, object]]:
    """For each planned interval (by index) every booked interval it overlaps, as (index, booked item).

    Both lists are sorted and swept once, so checking a year of sessions against a busy room stays linear.
    """
    order = sorted(range(len(planned)), key=lambda i: planned[i][0])
    booked = sorted(booked, key=lambda b: b[0])
    found: list[tuple[int, object]] = []
    first = 0
    for i in order:
        start, end = planned[i]
        while first < len(booked) and booked[first][1] <= start:
            first += 1
        j = first
        while j < len(booked) and booked[j][0] < end:
            if overlaps(start, end, booked[j][0], booked[j][1]):
                found.append((i, booked[j][2]))
            j += 1
    return found


def session_kind(number: int, education_sessions: int) -> str:
    """The programme's education sessions come first."""
    return "education" if number <= education_sessions else "training"


def sessions_needed_to_complete(session_count: int, threshold_percent: int) -> int:
    """How many sessions a patient attends to complete the programme (CLINICAL.md: >= threshold of sessions)."""
    return math.ceil(session_count * threshold_percent / 100)


def week_start(day: date) -> date:
    """The Monday of the week of `day`."""
    return day - timedelta(days=day.weekday())
