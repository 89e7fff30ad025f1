"""Pure rules for when messages go out: reminder times, quiet hours and retry backoff. No Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Default reminder offsets before a session starts (practice setting; the optional 2 h one is off by default).
DEFAULT_OFFSETS = (timedelta(hours=24),)
DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(7, 0)
#: A reminder moved out of quiet hours goes this long before they start ("before 22:00 the evening before").
QUIET_MARGIN = timedelta(minutes=30)


@dataclass(frozen=True)
class QuietHours:
    start: time = DEFAULT_QUIET_START
    end: time = DEFAULT_QUIET_END

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:  # e.g. 13:00-14:00
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # spans midnight, e.g. 22:00-07:00


def _local(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """Attach the zone to a wall-clock time; a time that does not exist (spring forward) moves forward."""
    aware = naive_local.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone)
    return aware if round_trip.replace(tzinfo=None) == naive_local else round_trip


def reminder_time(starts_at: datetime, offset: timedelta, timezone: str, quiet: QuietHours | None) -> datetime:
    """When the reminder for a session starting at `starts_at` (UTC) should be sent, in UTC.

    Computed from the UTC start, so a DST change between reminder and session moves nothing. If that moment
    falls in the practice's quiet hours it is brought forward to before the quiet hours begin.
    """
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    due = starts_at.astimezone(UTC) - offset
    if quiet is None:
        return due
    zone = ZoneInfo(timezone)
    local = due.astimezone(zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return due
    day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) < quiet.end:
        day -= timedelta(days=1)  # after midnight: the quiet hours began the evening before
    start_of_quiet = _local(datetime.combine(day, quiet.start), zone)
    return (start_of_quiet - QUIET_MARGIN).astimezone(UTC)


def backoff(attempts: int, base: timedelta = timedelta(minutes=1), cap: timedelta = timedelta(hours=1)) -> timedelta:
    """Wait before retry number `attempts` (1, 2, ...): 1, 2, 4, 8 ... minutes, at most an hour."""
    if attempts < 1:
        return timedelta(0)
    return min(base * (2 ** (attempts - 1)), cap)
