"""Roll-call, adherence and follow-up use cases on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from attendance import operations as ops
from attendance.models import AttendanceRecord, FollowUp
from core.actor import Actor
from core.errors import Conflict, Forbidden, Invalid, NotFound
from extensions import db
from groups import operations as groups
from groups.models import Enrolment
from reminders.models import OutboxMessage
from supervision.models import Barrier
from tests.attendance.helpers import build
from tests.factories import make_patient, make_practice, make_user
from tests.groups.helpers import make_group


def records(session_id):
    return {
        r.patient_id: r
        for r in db.session.execute(sa.select(AttendanceRecord).where(AttendanceRecord.session_id == session_id))
        .scalars()
        .all()
    }


def open_follow_ups(patient_id=None):
    query = sa.select(FollowUp).where(FollowUp.status == "open")
    if patient_id:
        query = query.where(FollowUp.patient_id == patient_id)
    return db.session.execute(query).scalars().all()


def save(setup, n, statuses, hours=2, reason=None):
    """Record session n for the setup's patients in order; `reason` goes with excused and absent rows."""
    rows = [
        {"patient_id": p.id, "status": s, **({"reason": reason} if reason and s in ("excused", "absent") else {})}
        for p, s in zip(setup.patients, statuses, strict=False)
        if s
    ]
    return ops.record_attendance(setup.actor, setup.sessions[n].id, rows, now=setup.at(n, hours))


# --- roll-call -------------------------------------------------------------------------------------------------


def test_roll_call_lists_the_roster_with_levels_flags_and_records(ctx):
    s = build(3)
    s.patients[1].plain_language = True
    save(s, 0, ["present", "late", None])
    call = ops.roll_call(s.actor, s.sessions[0].id, now=s.at(0))
    assert [row.patient.id for row in call.rows] == sorted((p.id for p in s.patients), key=lambda i: i)
    by_id = {row.patient.id: row for row in call.rows}
    assert by_id[s.patients[0].id].status == "present"
    assert by_id[s.patients[1].id].status == "late"
    assert "LOW_HEALTH_LITERACY" in by_id[s.patients[1].id].flags
    assert by_id[s.patients[2].id].status is None
    assert all("LEVEL_NOT_SET" in row.flags for row in call.rows)
    record = by_id[s.patients[0].id].record
    assert record.recorded_by_id == s.therapist.id and record.updated_by_id == s.therapist.id
    assert call.recorded == 2


def test_saving_twice_is_idempotent_and_a_correction_is_audited_with_who_and_when(ctx):
    s = build(2)
    save(s, 0, ["absent", "present"], reason="NO_TIME")
    save(s, 0, ["absent", "present"], reason="NO_TIME")
    assert len(records(s.sessions[0].id)) == 2
    other = make_user(s.practice, "assistant")
    ops.record_attendance(
        Actor.for_user(other), s.sessions[0].id, [{"patient_id": s.patients[0].id, "status": "late"}], now=s.at(0, 3)
    )
    db.session.expire_all()
    row = records(s.sessions[0].id)[s.patients[0].id]
    assert (row.status, row.reason) == ("late", None)
    assert row.recorded_by_id == s.therapist.id and row.updated_by_id == other.id
    assert row.updated_at > row.recorded_at
    actions = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.object_type == "attendance", AuditEvent.patient_id == s.patients[0].id
        )
    ).all()
    assert [a for a, _ in actions] == ["record", "correct"]
    assert actions[1][1] == "absent/NO_TIME -> late/-"


def test_a_session_can_be_recorded_afterwards(ctx):
    s = build(1)
    ops.record_attendance(s.actor, s.sessions[0].id, [{"patient_id": s.patients[0].id, "status": "present"}])
    assert records(s.sessions[0].id)[s.patients[0].id].status == "present"


def test_mark_all_present_keeps_what_was_recorded(ctx):
    s = build(3)
    save(s, 0, ["absent"], reason="ILLNESS")
    ops.mark_all_present(s.actor, s.sessions[0].id, now=s.at(0))
    assert {p: r.status for p, r in records(s.sessions[0].id).items()} == {
        s.patients[0].id: "absent",
        s.patients[1].id: "present",
        s.patients[2].id: "present",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "here"},
        {"status": "present", "reason": "ILLNESS"},
        {"status": "absent", "reason": "RECOVERED"},
        {"status": "absent", "note": "x" * 501},
        {"status": "absent", "note": "bad\x00note"},
        {"status": "present", "extra": 1},
    ],
)
def test_one_bad_row_refuses_the_whole_save(ctx, bad):
    s = build(2)
    rows = [{"patient_id": s.patients[0].id, "status": "present"}, {"patient_id": s.patients[1].id, **bad}]
    with pytest.raises(Invalid) as error:
        ops.record_attendance(s.actor, s.sessions[0].id, rows, now=s.at(0))
    assert any(key.startswith("records.1") for key in error.value.fields)
    assert records(s.sessions[0].id) == {}


def test_a_patient_not_in_the_session_is_refused(ctx):
    s = build(1)
    stranger = make_patient(s.practice)
    rows = [{"patient_id": s.patients[0].id, "status": "present"}, {"patient_id": stranger.id, "status": "present"}]
    with pytest.raises(Invalid) as error:
        ops.record_attendance(s.actor, s.sessions[0].id, rows, now=s.at(0))
    assert "records.1.patient_id" in error.value.fields
    with pytest.raises(Invalid):
        ops.record_attendance(s.actor, s.sessions[0].id, [{"patient_id": 10**12, "status": "absent"}], now=s.at(0))
    assert records(s.sessions[0].id) == {}


def test_the_same_patient_twice_is_refused(ctx):
    s = build(1)
    rows = [{"patient_id": s.patients[0].id, "status": "present"}] * 2
    with pytest.raises(Invalid):
        ops.record_attendance(s.actor, s.sessions[0].id, rows, now=s.at(0))


def test_a_session_of_another_practice_is_not_found(ctx):
    s = build(1)
    other = build(1)
    with pytest.raises(NotFound):
        ops.record_attendance(
            s.actor, other.sessions[0].id, [{"patient_id": other.patients[0].id, "status": "present"}], now=s.at(0)
        )
    with pytest.raises(NotFound):
        ops.roll_call(s.actor, other.sessions[0].id)
    assert records(other.sessions[0].id) == {}


def test_a_future_session_takes_only_excused_absences_known_in_advance(ctx):
    s = build(2)
    future = s.sessions[-1]
    before = future.starts_at - timedelta(days=2)
    for status in ("present", "late", "absent"):
        with pytest.raises(Invalid):
            ops.record_attendance(
                s.actor,
                future.id,
                [
                    {"patient_id": s.patients[0].id, "status": "excused"},
                    {"patient_id": s.patients[1].id, "status": status},
                ],
                now=before,
            )
    assert records(future.id) == {}
    ops.record_attendance(
        s.actor, future.id, [{"patient_id": s.patients[0].id, "status": "excused", "reason": "NO_TIME"}], now=before
    )
    call = ops.roll_call(s.actor, future.id, now=before)
    row = next(r for r in call.rows if r.patient.id == s.patients[0].id)
    assert call.future and row.known_absence and row.known_reason == "NO_TIME"


def test_a_cancelled_session_has_no_roll_call_and_does_not_count(ctx):
    s = build(1)
    save(s, 0, ["present"])
    save(s, 1, ["absent"])
    groups.cancel_session(s.actor, s.sessions[1].id, reason="Storm")
    with pytest.raises(Invalid):
        save(s, 1, ["present"])
    figures = ops.patient_adherence(s.actor, s.patients[0].id, now=s.at(1))[0].figures
    assert (figures.scheduled, figures.attended, figures.absent, figures.rate) == (1, 1, 0, 1.0)


def test_known_absences_from_another_source_show_on_the_roll_call(ctx):
    s = build(2)
    session = s.sessions[3]
    source = lambda ids: {(session.id, s.patients[1].id): "PAIN_INTENSITY"} if session.id in ids else {}  # noqa: E731
    ops.register_known_absences(source)
    try:
        call = ops.roll_call(s.actor, session.id, now=s.at(3))
    finally:
        ops._KNOWN_ABSENCE_SOURCES.remove(source)
    row = next(r for r in call.rows if r.patient.id == s.patients[1].id)
    assert row.known_absence and row.known_reason == "PAIN_INTENSITY"


def test_a_make_up_guest_counts_for_the_own_enrolment(ctx):
    s = build(1)
    other_group = make_group(s.practice, programme=s.group.programme, start_date=s.sessions[0].starts_at.date())
    other_sessions = groups.group_sessions(s.actor, other_group.id)
    visitor = make_patient(s.practice)
    own = groups.enrol(s.actor, other_group.id, visitor.id, at=other_sessions[0].starts_at - timedelta(days=1))
    # A walk-in make-up: not booked in advance, added at the roll-call.
    ops.record_attendance(
        s.actor,
        s.sessions[2].id,
        [{"patient_id": visitor.id, "status": "present", "guest": True}],
        now=s.at(2),
    )
    call = ops.roll_call(s.actor, s.sessions[2].id, now=s.at(2))
    guest_row = next(r for r in call.rows if r.patient.id == visitor.id)
    assert guest_row.guest and guest_row.enrolment.id == own.id
    figures = ops.patient_adherence(s.actor, visitor.id, now=s.at(2))[0].figures
    assert (figures.attended, figures.makeups) == (1, 1)
    # Not a guest flag and not in the programme: refused.
    stranger = make_patient(s.practice)
    with pytest.raises(Invalid):
        ops.record_attendance(
            s.actor, s.sessions[2].id, [{"patient_id": stranger.id, "status": "present", "guest": True}], now=s.at(2)
        )


def test_assistants_record_but_cannot_follow_up(ctx):
    s = build(1)
    assistant = Actor.for_user(make_user(s.practice, "assistant"))
    ops.record_attendance(assistant, s.sessions[0].id, [{"patient_id": s.patients[0].id, "status": "present"}])
    with pytest.raises(Forbidden):
        ops.list_follow_ups(assistant)


# --- follow-ups ------------------------------------------------------------------------------------------------


def test_two_consecutive_absences_open_one_follow_up_for_the_supervisor(ctx):
    s = build(2)
    for n in range(5):  # past the first two weeks
        save(s, n, ["present", "present"])
    save(s, 5, ["absent", "present"])
    assert open_follow_ups() == []
    save(s, 6, ["absent", "present"])
    [follow_up] = open_follow_ups()
    assert follow_up.patient_id == s.patients[0].id
    assert follow_up.trigger == "CONSECUTIVE_ABSENCES"
    assert follow_up.assigned_to_id == s.therapist.id
    assert follow_up.enrolment_id == s.enrolments[0].id
    # More triggers, the scheduler scan, a correction: still one open task.
    save(s, 7, ["absent", "present"])
    assert ops.scan(s.at(7)) == 0
    assert ops.check_follow_ups(s.practice.id, s.at(7, 24 * 20)) == 0
    assert len(open_follow_ups(s.patients[0].id)) == 1


def test_the_partial_unique_index_refuses_a_second_open_follow_up(ctx):
    s = build(1)
    db.session.add(FollowUp(practice_id=s.practice.id, patient_id=s.patients[0].id, trigger="LOW_RATE"))
    db.session.flush()
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(FollowUp(practice_id=s.practice.id, patient_id=s.patients[0].id, trigger="EARLY_ABSENCE"))
        db.session.flush()


def test_an_early_absence_opens_a_follow_up_and_an_excused_one_does_not(ctx):
    s = build(2)
    save(s, 0, ["present", "present"])
    save(s, 1, ["excused", "absent"], reason="ILLNESS")
    assert [f.patient_id for f in open_follow_ups()] == [s.patients[1].id]
    assert open_follow_ups()[0].trigger == "EARLY_ABSENCE"


def test_low_rate_after_four_sessions(ctx):
    s = build(1)
    # Never two in a row and none in the first two weeks: only the rate can trigger.
    for n, status in enumerate(["present"] * 6 + ["absent", "present", "absent", "present"]):
        save(s, n, [status])
    assert open_follow_ups() == []  # 8 of 10 = 80 %
    save(s, 10, ["absent"])
    [follow_up] = open_follow_ups()
    assert follow_up.trigger == "LOW_RATE"  # 8 of 11 = 73 %


def test_completion_no_longer_reachable(ctx):
    s = build(1, session_count=12, threshold=75)  # 9 of 12 needed
    for n in range(5):
        save(s, n, ["present"])
    save(s, 5, ["absent"])
    save(s, 6, ["present"])
    save(s, 7, ["absent"])
    # 6 attended, 4 sessions left: reachable at most 10 ≥ 9.
    assert open_follow_ups() == []
    groups.cancel_session(s.actor, s.sessions[10].id, reason="Holiday")
    groups.cancel_session(s.actor, s.sessions[11].id, reason="Holiday")
    # 6 attended + 2 to come = 8 < 9: no longer reachable, found by the scheduler scan.
    assert ops.scan(s.at(7)) == 1
    [follow_up] = open_follow_ups()
    assert "COMPLETION_UNREACHABLE" in follow_up.detail


def test_fourteen_days_without_attendance(ctx):
    s = build(1)
    save(s, 0, ["present"])
    for n in (1, 2, 3):
        save(s, n, ["excused"], reason="ILLNESS")
    assert open_follow_ups() == []
    assert ops.scan(s.sessions[0].starts_at + timedelta(days=14)) == 1
    assert open_follow_ups()[0].trigger == "NO_ATTENDANCE"


def test_closing_with_a_barrier_records_it_in_supervision(ctx):
    s = build(1)
    save(s, 0, ["absent"], reason="NO_TIME")
    [follow_up] = open_follow_ups()
    ops.close_follow_up(s.actor, follow_up.id, outcome="BARRIER_RECORDED", reason="NO_TIME", note="Works late")
    assert follow_up.status == "closed" and follow_up.closed_by_id == s.therapist.id
    barrier = db.session.execute(sa.select(Barrier).where(Barrier.patient_id == s.patients[0].id)).scalar_one()
    assert barrier.code == "NO_TIME"
    with pytest.raises(Conflict):
        ops.close_follow_up(s.actor, follow_up.id, outcome="UNREACHABLE")


def test_closing_as_withdrawn_withdraws_the_enrolment_with_the_reason(ctx):
    s = build(1)
    save(s, 0, ["absent"])
    [follow_up] = open_follow_ups()
    ops.close_follow_up(s.actor, follow_up.id, outcome="WITHDRAWN", reason="MOVED_AWAY")
    enrolment = db.session.get(Enrolment, s.enrolments[0].id)
    assert (enrolment.status, enrolment.withdrawal_reason) == ("withdrawn", "MOVED_AWAY")


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("MAYBE", None),
        ("BARRIER_RECORDED", None),
        ("BARRIER_RECORDED", "ILLNESS"),
        ("WITHDRAWN", "NOPE"),
        ("UNREACHABLE", "NO_TIME"),
    ],
)
def test_bad_outcomes_change_nothing(ctx, outcome, reason):
    s = build(1)
    save(s, 0, ["absent"])
    [follow_up] = open_follow_ups()
    with pytest.raises(Invalid):
        ops.close_follow_up(s.actor, follow_up.id, outcome=outcome, reason=reason)
    assert follow_up.status == "open"


def test_a_closed_follow_up_reopens_only_on_new_absences(ctx):
    s = build(1)
    save(s, 0, ["absent"])
    [follow_up] = open_follow_ups()
    ops.close_follow_up(s.actor, follow_up.id, outcome="RESCHEDULED", now=s.at(0, 3))
    assert ops.scan(s.at(0, 4)) == 0
    save(s, 1, ["absent"])
    assert len(open_follow_ups()) == 1


def test_missed_you_email_when_the_practice_wants_it(ctx):
    s = build(2)
    admin = Actor.for_user(make_user(s.practice, "admin"))
    ops.update_settings(admin, missed_you_email=True)
    for p in s.patients:
        p.email_consent = True
    save(s, 0, ["absent", "absent"])
    messages = db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.kind == "followup")).scalars().all()
    assert len(messages) == 2
    assert messages[0].subject.startswith("We hebben u gemist bij")  # in the patient's language (Dutch)


def test_no_email_without_the_setting(ctx):
    s = build(1)
    s.patients[0].email_consent = True
    save(s, 0, ["absent"])
    assert open_follow_ups()
    assert db.session.execute(sa.select(OutboxMessage)).first() is None


def test_reassessment_suggestion_uses_the_attendance_rate(ctx):
    s = build(1)
    for n, status in enumerate(["present", "absent", "absent", "absent"]):
        save(s, n, [status])
    assert ops.attendance_rate(s.practice.id, s.patients[0].id, now=s.at(3)) == 0.25
    assert ops.attendance_rate(s.practice.id, make_patient(s.practice).id) is None


def test_erasing_a_patient_erases_their_attendance(ctx):
    s = build(1)
    save(s, 0, ["absent"])
    db.session.delete(s.patients[0])
    db.session.flush()
    assert db.session.execute(sa.select(sa.func.count(AttendanceRecord.id))).scalar_one() == 0
    assert db.session.execute(sa.select(sa.func.count(FollowUp.id))).scalar_one() == 0


def test_export_has_an_attendance_section(ctx):
    from patients.export import build_export

    s = build(1)
    save(s, 0, ["late"])
    data = build_export(s.patients[0], "P", s.at(0))
    assert data["attendance"]["records"][0]["status"] == "late"


def test_other_practices_are_invisible(ctx):
    s = build(1)
    save(s, 0, ["absent"])
    [follow_up] = open_follow_ups()
    stranger = Actor.for_user(make_user(make_practice(), "therapist"))
    with pytest.raises(NotFound):
        ops.close_follow_up(stranger, follow_up.id, outcome="UNREACHABLE")
    assert ops.list_follow_ups(stranger)[1] == 0


def test_supervision_suggests_a_step_down_with_progress_and_good_attendance(ctx):
    from supervision import operations as supervision
    from tests.supervision.samples import INTAKE, answers

    s = build(1)
    patient = s.patients[0]
    supervision.create_assessment(s.actor, patient.id, kind="intake", answers=INTAKE, taken_at=s.at(0, -48))
    for n in range(4):
        save(s, n, ["present"])
    better = answers(INTAKE, PSFS=[{"activity": "Walking the dog", "score": 8}, {"activity": "Gardening", "score": 7}])
    reassessment = supervision.create_assessment(s.actor, patient.id, kind="reassessment", answers=better)
    assert reassessment.suggestion["attendance_rate"] == 1.0
    assert reassessment.suggestion["direction"] == "down"
