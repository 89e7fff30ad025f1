"""Reminder timing (RELIABILITY.md: computed from the UTC start; quiet hours) and retry backoff."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminders.rules import QuietHours, backoff, reminder_time

AMS = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(hours=24)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=AMS)


def test_24h_reminder_is_24_real_hours_before_even_across_dst():
    # Session Sunday 28 March 2027 18:00 CEST; the clocks went forward at 02:00 that night.
    start = local(2027, 3, 28, 18, 0)
    due = reminder_time(start.astimezone(UTC), DAY, "Europe/Amsterdam", None)
    assert start - due == DAY
    assert due.astimezone(AMS) == local(2027, 3, 27, 17, 0)  # 24 real hours: the wall clock shows 17:00


def test_reminder_after_autumn_dst_change():
    start = local(2027, 10, 31, 18, 0)  # the clocks went back at 03:00 that night
    due = reminder_time(start.astimezone(UTC), DAY, "Europe/Amsterdam", None)
    assert due.astimezone(AMS) == local(2027, 10, 30, 19, 0)


def test_reminder_outside_quiet_hours_is_unchanged():
    start = local(2027, 5, 10, 18, 0)
    assert reminder_time(start, DAY, "Europe/Amsterdam", QuietHours()) == (start - DAY).astimezone(UTC)


def test_reminder_due_just_after_quiet_hours_end_is_unchanged():
    due = reminder_time(local(2027, 5, 11, 7, 30), DAY, "Europe/Amsterdam", QuietHours())
    assert due.astimezone(AMS) == local(2027, 5, 10, 7, 30)


def test_reminder_due_in_the_late_evening_goes_before_22():
    start = local(2027, 5, 11, 23, 0)  # 24 h before is 23:00, inside quiet hours
    due = reminder_time(start, DAY, "Europe/Amsterdam", QuietHours())
    assert due.astimezone(AMS) == local(2027, 5, 10, 21, 30)


def test_reminder_due_after_midnight_goes_the_evening_before():
    start = local(2027, 5, 11, 6, 30)  # 2 h before is 04:30
    due = reminder_time(start, timedelta(hours=2), "Europe/Amsterdam", QuietHours())
    assert due.astimezone(AMS) == local(2027, 5, 10, 21, 30)


def test_quiet_hours_on_the_night_clocks_go_forward():
    start = local(2027, 3, 28, 8, 0)  # 2 h reminder at 06:00 CEST, the night of the change
    due = reminder_time(start, timedelta(hours=2), "Europe/Amsterdam", QuietHours(time(22), time(7)))
    assert due.astimezone(AMS) == local(2027, 3, 27, 21, 30)


def test_naive_start_is_refused():
    with pytest.raises(ValueError):
        reminder_time(datetime(2027, 1, 1, 18), DAY, "Europe/Amsterdam", None)


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(0) == timedelta(0)
