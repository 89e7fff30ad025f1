"""Pure planning rules: weekly patterns in local time to UTC sessions (DST, closure days), overlaps, codes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from groups import rules

AMS = "Europe/Amsterdam"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_times(sessions, zone=AMS):
    return [
        (s.starts_at.astimezone(ZoneInfo(zone)).date(), s.starts_at.astimezone(ZoneInfo(zone)).time()) for s in sessions
    ]


def test_weekdays_are_validated_and_put_in_week_order():
    assert rules.parse_weekdays(["TH", "mo"]) == ("MO", "TH")
    assert rules.parse_weekdays("MO,TH") == ("MO", "TH")
    for bad in (["XX"], ["MO", "MO"], [], [7], ["MONDAY"], [None]):
        with pytest.raises(ValueError):
            rules.parse_weekdays(bad)


def test_spring_dst_keeps_18_00_local():
    # 28 March 2027 is the last Sunday of March: CET (UTC+1) becomes CEST (UTC+2).
    sessions = rules.expand_pattern(
        start_date=date(2027, 3, 22), weekdays=["MO", "TH"], start_time=time(18), duration_minutes=60, count=4,
        timezone=AMS,
    )  # fmt: skip
    assert [s.starts_at for s in sessions] == [
        utc(2027, 3, 22, 17),
        utc(2027, 3, 25, 17),
        utc(2027, 3, 29, 16),
        utc(2027, 4, 1, 16),
    ]
    assert {t for _, t in local_times(sessions)} == {time(18)}
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in sessions)
    assert [s.number for s in sessions] == [1, 2, 3, 4]


def test_autumn_dst_keeps_18_00_local():
    # 31 October 2027 is the last Sunday of October: CEST becomes CET.
    sessions = rules.expand_pattern(
        start_date=date(2027, 10, 25), weekdays=["TU", "FR"], start_time=time(18), duration_minutes=45, count=4,
        timezone=AMS,
    )  # fmt: skip
    assert [s.starts_at for s in sessions] == [
        utc(2027, 10, 26, 16),
        utc(2027, 10, 29, 16),
        utc(2027, 11, 2, 17),
        utc(2027, 11, 5, 17),
    ]
    assert {t for _, t in local_times(sessions)} == {time(18)}
    assert all(s.ends_at - s.starts_at == timedelta(minutes=45) for s in sessions)


def test_a_session_on_the_dst_sunday_itself():
    sessions = rules.expand_pattern(
        start_date=date(2027, 3, 21), weekdays=["SU"], start_time=time(10), duration_minutes=60, count=2, timezone=AMS
    )
    assert [s.starts_at for s in sessions] == [utc(2027, 3, 21, 9), utc(2027, 3, 28, 8)]


def test_a_time_skipped_by_dst_still_gives_a_real_hour():
    # 02:30 does not exist on 28 March 2027 in Amsterdam; the session still lasts exactly its duration.
    [session] = rules.expand_pattern(
        start_date=date(2027, 3, 28), weekdays=["SU"], start_time=time(2, 30), duration_minutes=60, count=1,
        timezone=AMS,
    )  # fmt: skip
    assert session.ends_at - session.starts_at == timedelta(hours=1)


def test_other_zones_use_their_own_rules():
    # New York changes on 14 March 2027.
    sessions = rules.expand_pattern(
        start_date=date(2027, 3, 8), weekdays=["MO"], start_time=time(18), duration_minutes=60, count=2,
        timezone="America/New_York",
    )  # fmt: skip
    assert [s.starts_at for s in sessions] == [utc(2027, 3, 8, 23), utc(2027, 3, 15, 22)]


def test_closure_days_are_skipped_and_replaced_at_the_end():
    closed = {date(2027, 3, 4), date(2027, 3, 11)}  # two Thursdays
    sessions = rules.expand_pattern(
        start_date=date(2027, 3, 1), weekdays=["MO", "TH"], start_time=time(18), duration_minutes=60, count=6,
        timezone=AMS, closures=closed,
    )  # fmt: skip
    days = [d for d, _ in local_times(sessions)]
    assert len(sessions) == 6
    assert not closed & set(days)
    assert days == [date(2027, 3, 1), date(2027, 3, 8), date(2027, 3, 15), date(2027, 3, 18), date(2027, 3, 22),
                    date(2027, 3, 25)]  # fmt: skip
    assert [s.replacement for s in sessions] == [False, False, False, False, True, True]
    assert [s.number for s in sessions] == [1, 2, 3, 4, 5, 6]


def test_a_replacement_that_falls_on_a_closure_day_moves_on():
    sessions = rules.expand_pattern(
        start_date=date(2027, 3, 1), weekdays=["MO"], start_time=time(18), duration_minutes=60, count=2,
        timezone=AMS, closures={date(2027, 3, 1), date(2027, 3, 15)},
    )  # fmt: skip
    assert [d for d, _ in local_times(sessions)] == [date(2027, 3, 8), date(2027, 3, 22)]
    assert [s.replacement for s in sessions] == [False, True]


def test_closure_days_outside_the_pattern_change_nothing():
    plain = rules.expand_pattern(
        start_date=date(2027, 3, 1), weekdays=["MO"], start_time=time(18), duration_minutes=60, count=3, timezone=AMS
    )
    with_closures = rules.expand_pattern(
        start_date=date(2027, 3, 1), weekdays=["MO"], start_time=time(18), duration_minutes=60, count=3,
        timezone=AMS, closures={date(2027, 3, 2), date(2027, 2, 22)},
    )  # fmt: skip
    assert plain == with_closures


def test_patterns_that_cannot_fit_are_refused():
    with pytest.raises(ValueError):
        rules.expand_pattern(
            start_date=date(2027, 3, 1), weekdays=["MO"], start_time=time(18), duration_minutes=60, count=1000,
            timezone=AMS,
        )  # fmt: skip
    with pytest.raises(ValueError):
        rules.expand_pattern(
            start_date=date(2027, 3, 1), weekdays=["MO"], start_time=time(18), duration_minutes=0, count=1, timezone=AMS
        )


def test_overlaps_are_half_open():
    a = (utc(2027, 3, 1, 17), utc(2027, 3, 1, 18))
    assert rules.overlaps(*a, utc(2027, 3, 1, 17, 30), utc(2027, 3, 1, 18, 30))
    assert rules.overlaps(*a, utc(2027, 3, 1, 16), utc(2027, 3, 1, 19))
    assert not rules.overlaps(*a, utc(2027, 3, 1, 18), utc(2027, 3, 1, 19))  # back to back is fine
    assert not rules.overlaps(*a, utc(2027, 3, 1, 16), utc(2027, 3, 1, 17))


def test_find_overlaps_reports_every_clash_by_index():
    planned = [(utc(2027, 3, 1, 17), utc(2027, 3, 1, 18)), (utc(2027, 3, 4, 17), utc(2027, 3, 4, 18))]
    booked = [
        (utc(2027, 3, 4, 17, 30), utc(2027, 3, 4, 18, 30), "b"),
        (utc(2027, 3, 1, 16), utc(2027, 3, 1, 17), "adjacent"),
        (utc(2027, 3, 1, 16, 30), utc(2027, 3, 1, 20), "a"),
    ]
    assert sorted(rules.find_overlaps(planned, booked)) == [(0, "a"), (1, "b")]
    assert rules.find_overlaps(planned, []) == []


def test_shift_local_keeps_wall_clock_across_dst():
    thursday_before = utc(2027, 3, 25, 17)  # 18:00 CET
    assert rules.shift_local(thursday_before, timedelta(days=7), AMS) == utc(2027, 4, 1, 16)  # 18:00 CEST
    assert rules.local_delta(utc(2027, 3, 25, 17), utc(2027, 4, 1, 16), AMS) == timedelta(days=7)
    assert rules.shift_weekdays(("MO", "TH"), 1) == ("TU", "FR")
    assert rules.shift_weekdays(("SU",), 1) == ("MO",)


def test_completion_needs_the_threshold_of_sessions_rounded_up():
    # CLINICAL.md: completion = attended >= 75% of the programme's sessions.
    assert rules.sessions_needed_to_complete(18, 75) == 14  # 13.5 → 14
    assert rules.sessions_needed_to_complete(12, 75) == 9
    assert rules.sessions_needed_to_complete(16, 75) == 12


def test_education_sessions_come_first():
    assert [rules.session_kind(n, 2) for n in (1, 2, 3)] == ["education", "education", "training"]
    assert rules.session_kind(1, 0) == "training"


def test_withdrawal_reasons_are_the_clinical_codes_mapped_to_barriers():
    # CLINICAL.md "Attendance and adherence": the absence codes, plus RECOVERED and MOVED_AWAY for withdrawals.
    assert set(rules.WITHDRAWAL_REASONS) == {
        "ILLNESS", "PAIN_INTENSITY", "FEAR_OF_MOVEMENT", "DEPRESSION", "NO_TIME", "NO_FACILITY_NEARBY",
        "INSUFFICIENT_SUPPORT", "POOR_COMMUNICATION", "OTHER", "RECOVERED", "MOVED_AWAY",
    }  # fmt: skip
    barriers = {  # CLINICAL.md "Barriers → actions"
        "PAIN_INTENSITY", "FEAR_OF_MOVEMENT", "DEPRESSION", "LOW_HEALTH_LITERACY", "NO_FACILITY_NEARBY", "NO_TIME",
        "INSUFFICIENT_SUPPORT", "POOR_COMMUNICATION", "TOO_LITTLE_SUPERVISION",
    }  # fmt: skip
    assert {b for b in rules.WITHDRAWAL_REASONS.values() if b} <= barriers
    assert rules.WITHDRAWAL_REASONS["NO_TIME"] == "NO_TIME"


def test_week_starts_on_monday():
    assert rules.week_start(date(2027, 3, 28)) == date(2027, 3, 22)
    assert rules.week_start(date(2027, 3, 22)) == date(2027, 3, 22)
