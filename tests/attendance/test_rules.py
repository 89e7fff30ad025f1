"""attendance.rules: adherence figures and follow-up triggers, checked against CLINICAL.md "Attendance and
adherence" (rate = attended / (held sessions since enrolment − excused); late counts as attended; excused leaves the
denominator; cancelled sessions do not count; completion = attended ≥ threshold % of the programme's sessions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from attendance.rules import Entry, adherence, completion_state, sessions_needed

START = datetime(2026, 3, 2, 17, tzinfo=UTC)  # a Monday


def sessions(*statuses, every=timedelta(days=3), start=START, **kwargs):
    return [Entry(start + n * every, status, **kwargs) for n, status in enumerate(statuses)]


def figures(entries, *, days_after_last=1, threshold=75, session_count=16, remaining=8, **kwargs):
    last = max((e.starts_at for e in entries), default=START)
    return adherence(
        entries,
        now=last + timedelta(days=days_after_last),
        threshold=threshold,
        session_count=session_count,
        remaining=remaining,
        **kwargs,
    )


def test_rate_counts_late_as_attended_and_drops_excused_from_the_denominator():
    result = figures(sessions("present", "late", "excused", "absent", "present"))
    assert (result.scheduled, result.attended, result.excused, result.absent) == (5, 3, 1, 1)
    assert result.rate == pytest.approx(3 / 4)


def test_cancelled_and_future_sessions_do_not_count():
    entries = sessions("present", "absent") + [Entry(START + timedelta(days=1), "absent", cancelled=True)]
    entries.append(Entry(START + timedelta(days=30), "excused"))  # excused in advance, still to come
    result = adherence(entries, now=START + timedelta(days=4), threshold=75, session_count=16, remaining=10)
    assert (result.scheduled, result.attended, result.excused, result.absent) == (2, 1, 0, 1)
    assert result.rate == 0.5


def test_unrecorded_sessions_count_nowhere_until_recorded():
    result = figures(sessions("present", None, "present"))
    assert (result.scheduled, result.unrecorded, result.rate) == (2, 1, 1.0)


def test_no_denominator_gives_no_rate():
    assert figures(sessions("excused", "excused")).rate is None
    assert figures([]).rate is None


def test_makeup_counts_for_the_enrolment_and_the_rate_is_capped():
    own = sessions("present", "absent", "present")
    makeup = [Entry(START + timedelta(days=4), "present", makeup=True)]
    result = figures(own + makeup)
    assert (result.attended, result.makeups, result.absent) == (3, 1, 1)
    assert result.rate == 1.0  # 3 / 3 held − 0 excused, a make-up made up for the absence


# --- triggers ----------------------------------------------------------------------------------------------------


def test_two_consecutive_unexcused_absences_trigger():
    result = figures(sessions("present", "present", "present", "present", "present", "absent", "absent"))
    assert result.consecutive_absences == 2
    assert "CONSECUTIVE_ABSENCES" in result.triggers


def test_excused_between_absences_neither_breaks_nor_extends_the_run():
    result = figures(sessions("present", "present", "present", "present", "present", "absent", "excused", "absent"))
    assert result.consecutive_absences == 2
    assert "CONSECUTIVE_ABSENCES" in result.triggers
    result = figures(sessions("present", "present", "present", "present", "present", "excused", "excused", "absent"))
    assert result.consecutive_absences == 1
    assert "CONSECUTIVE_ABSENCES" not in result.triggers


def test_attending_breaks_the_run_and_late_counts_as_attending():
    result = figures(sessions("present", "present", "present", "present", "absent", "late", "absent"))
    assert result.consecutive_absences == 1
    assert "CONSECUTIVE_ABSENCES" not in result.triggers


def test_excused_absences_never_trigger():
    result = figures(sessions("excused", "excused", "excused", "present", "present"))
    assert result.triggers == ()


def test_unexcused_absence_in_the_first_two_weeks_triggers():
    result = figures(sessions("present", "absent", "present", "present", "present", "present"))
    assert result.early_miss
    assert result.triggers == ("EARLY_ABSENCE",)


def test_absence_after_the_first_two_weeks_is_not_early():
    result = figures(sessions("present", "present", "present", "present", "present", "absent", "present"))
    assert not result.early_miss
    assert result.triggers == ()


def test_low_rate_needs_at_least_four_held_sessions():
    # 2 of 3 (67 %) after 3 sessions: not yet; the absence is early though, so only that trigger.
    three = figures(sessions("present", "present", "absent", every=timedelta(days=7)))
    assert "LOW_RATE" not in three.triggers
    four = figures(sessions("present", "absent", "present", "absent", every=timedelta(days=7)))
    assert four.rate == 0.5
    assert "LOW_RATE" in four.triggers
    at_threshold = figures(sessions("present", "present", "present", "absent", every=timedelta(days=7)))
    assert at_threshold.rate == 0.75
    assert "LOW_RATE" not in at_threshold.triggers


def test_fourteen_days_without_attendance_while_enrolled():
    entries = sessions("present", "excused", "excused", "excused", "excused", every=timedelta(days=3.5))
    before = adherence(entries, now=START + timedelta(days=13), threshold=75, session_count=16, remaining=9)
    assert "NO_ATTENDANCE" not in before.triggers
    after = adherence(entries, now=START + timedelta(days=14), threshold=75, session_count=16, remaining=9)
    assert after.days_since_last == 14
    assert "NO_ATTENDANCE" in after.triggers
    withdrawn = adherence(
        entries, now=START + timedelta(days=20), threshold=75, session_count=16, remaining=0, enrolled=False
    )
    assert "NO_ATTENDANCE" not in withdrawn.triggers


def test_a_break_without_sessions_is_not_a_missed_fortnight():
    entries = sessions("present")
    result = adherence(entries, now=START + timedelta(days=20), threshold=75, session_count=16, remaining=9)
    assert "NO_ATTENDANCE" not in result.triggers


# --- completion --------------------------------------------------------------------------------------------------


def test_sessions_needed_rounds_up():
    assert sessions_needed(16, 75) == 12
    assert sessions_needed(18, 75) == 14  # 13.5 → 14
    assert sessions_needed(12, 100) == 12


@pytest.mark.parametrize(
    ("attended", "remaining", "state"),
    [
        (12, 0, "reached"),  # exactly the threshold
        (13, 3, "reached"),
        (11, 1, "reachable"),  # needs every remaining session
        (11, 0, "unreachable"),
        (4, 7, "unreachable"),  # one short
        (0, 12, "reachable"),
    ],
)
def test_completion_edge_cases(attended, remaining, state):
    assert completion_state(attended, remaining, needed=12) == state


def test_completion_unreachable_triggers_and_unrecorded_sessions_keep_it_reachable():
    # 16 sessions, 12 needed; 8 held with 3 attended; 8 to come: 11 at most.
    entries = sessions("present", "absent", "present", "absent", "present", "absent", "excused", "excused")
    result = figures(entries, remaining=8)
    assert result.completion == "unreachable"
    assert "COMPLETION_UNREACHABLE" in result.triggers
    one_unrecorded = sessions("present", "absent", "present", "absent", "present", "absent", "excused", None)
    assert figures(one_unrecorded, remaining=8).completion == "reachable"


def test_closing_a_follow_up_needs_new_evidence_to_trigger_again():
    entries = sessions("present", "present", "present", "present", "present", "absent", "absent")
    closed = entries[-1].starts_at + timedelta(hours=2)
    assert figures(entries, closed_since=closed).triggers == ()
    again = entries + [Entry(entries[-1].starts_at + timedelta(days=3), "absent")]
    assert "CONSECUTIVE_ABSENCES" in figures(again, closed_since=closed).triggers


def test_a_programme_that_ended_weeks_ago_opens_no_follow_ups():
    entries = sessions("present", "absent", "absent")
    ended = adherence(entries, now=START + timedelta(days=30), threshold=75, session_count=3, remaining=0)
    assert ended.completion == "unreachable" and ended.triggers == ()
    just_ended = adherence(entries, now=START + timedelta(days=7), threshold=75, session_count=3, remaining=0)
    assert "COMPLETION_UNREACHABLE" in just_ended.triggers
