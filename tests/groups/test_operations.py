"""Use cases: materialising groups, changing sessions, conflicts, enrolment and the waitlist, roles, scoping."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from core.actor import Actor
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from extensions import db
from groups import operations, rules
from groups.models import Enrolment, Group, Session, SessionChange
from tests.factories import make_patient, make_practice, make_user
from tests.groups.helpers import last_sunday, make_group, make_programme, make_room, monday, system

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def practice():
    return make_practice()


@pytest.fixture
def therapist(practice):
    return make_user(practice, role="therapist", name="Eva Jansen")


@pytest.fixture
def actor(therapist):
    return Actor.for_user(therapist)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def sessions_of(group) -> list[Session]:
    return list(
        db.session.execute(sa.select(Session).where(Session.group_id == group.id).order_by(Session.starts_at)).scalars()
    )


def local(dt: datetime) -> datetime:
    return dt.astimezone(AMS)


# --- materialising -------------------------------------------------------------------------------------------


def test_creating_a_group_materialises_one_session_per_occurrence(practice, therapist, actor):
    programme = make_programme(practice, session_count=18, education_sessions=2, session_minutes=60)
    room = make_room(practice)
    group = operations.create_group(
        actor,
        {
            "programme_id": programme.id,
            "room_id": room.id,
            "start_date": monday(2),
            "weekdays": ["TH", "MO"],
            "start_time": time(18),
            "capacity": 10,
            "supervisor_ids": [therapist.id],
        },
    )
    sessions = sessions_of(group)
    assert len(sessions) == 18
    assert group.weekdays == "MO,TH" and group.timezone == "Europe/Amsterdam" and group.session_minutes == 60
    assert [s.kind for s in sessions[:3]] == ["education", "education", "training"]
    assert [s.number for s in sessions] == list(range(1, 19))
    assert {local(s.starts_at).time() for s in sessions} == {time(18)}
    assert {local(s.starts_at).strftime("%a") for s in sessions} == {"Mon", "Thu"}
    assert all(s.room_id == room.id and [u.id for u in s.supervisors] == [therapist.id] for s in sessions)
    assert all(s.status == "scheduled" and s.sequence == 0 for s in sessions)
    assert local(sessions[0].starts_at).date() == monday(2)
    assert "Mon/Thu 18:00" in group.name


@pytest.mark.parametrize("month", [3, 10])
def test_a_group_across_a_dst_change_keeps_its_local_time(practice, actor, month):
    change = last_sunday(utcnow().year + 1, month)
    group = make_group(
        practice,
        programme=make_programme(practice, session_count=6),
        start_date=change - timedelta(days=13),
        weekdays=["MO", "TH"],
        start_time=time(18, 30),
    )
    sessions = sessions_of(group)
    before = [s for s in sessions if local(s.starts_at).date() < change]
    after = [s for s in sessions if local(s.starts_at).date() > change]
    assert before and after
    assert {local(s.starts_at).time() for s in sessions} == {time(18, 30)}
    offsets = {s.starts_at.astimezone(UTC).hour for s in before}, {s.starts_at.astimezone(UTC).hour for s in after}
    assert offsets == (({17}, {16}) if month == 3 else ({16}, {17}))
    assert all(s.ends_at - s.starts_at == timedelta(minutes=60) for s in sessions)


def test_closure_days_are_skipped_and_replaced(practice, therapist):
    admin = Actor.for_user(make_user(practice, role="admin"))
    closed = monday(1) + timedelta(days=3)  # the first Thursday
    operations.add_closure(admin, closed, "King's Day")
    group = make_group(practice, programme=make_programme(practice, session_count=4))
    sessions = sessions_of(group)
    days = [local(s.starts_at).date() for s in sessions]
    assert len(sessions) == 4
    assert closed not in days
    assert days == [monday(1), monday(2), monday(2) + timedelta(days=3), monday(3)]
    assert [s.replacement for s in sessions] == [False, False, False, True]


def test_closure_days_are_for_admins_only(practice, actor):
    with pytest.raises(Forbidden):
        operations.add_closure(actor, monday(1), "")
    admin = Actor.for_user(make_user(practice, role="admin"))
    closure, planned = operations.add_closure(admin, monday(1), "Team day")
    assert planned == 0
    with pytest.raises(Conflict):
        operations.add_closure(admin, monday(1), "again")
    with pytest.raises(Invalid):
        operations.add_closure(admin, "2027-01-01", "")


def test_adding_a_closure_day_reports_sessions_already_planned(practice):
    make_group(practice)
    admin = Actor.for_user(make_user(practice, role="admin"))
    _, planned = operations.add_closure(admin, monday(1), "")
    assert planned == 1


# --- invalid input writes nothing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"capacity": 13}, "capacity"),  # larger than the room
        ({"capacity": "10"}, "capacity"),
        ({"weekdays": ["MO", "XX"]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": "MO"}, "weekdays"),
        ({"weekdays": [8]}, "weekdays"),
        ({"room_id": 10**9}, "room_id"),
        ({"room_id": 0}, "room_id"),
        ({"programme_id": None}, "programme_id"),
        ({"start_time": "18:00"}, "start_time"),
        ({"start_time": time(23, 30)}, "start_time"),  # would end after midnight
        ({"start_date": "2027-03-01"}, "start_date"),
        ({"start_date": monday(1).replace(year=monday(1).year + 20)}, "start_date"),
        ({"supervisor_ids": [10**9]}, "supervisor_ids"),
        ({"name": "   "}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_group_input_is_refused_and_writes_nothing(practice, actor, change, field):
    programme, room = make_programme(practice), make_room(practice, capacity=12)
    values = {
        "programme_id": programme.id,
        "room_id": room.id,
        "start_date": monday(1),
        "weekdays": ["MO", "TH"],
        "start_time": time(18),
        "capacity": 10,
    }
    values.update(change)
    before = count(Group), count(Session)
    with pytest.raises(Invalid) as refused:
        operations.create_group(actor, values)
    assert field in refused.value.fields
    assert (count(Group), count(Session)) == before


def test_rows_of_another_practice_cannot_be_used_or_seen(practice, actor):
    other = make_practice()
    foreign_room, foreign_programme = make_room(other), make_programme(other)
    foreign_group = make_group(other)
    values = {"start_date": monday(1), "weekdays": ["MO"], "start_time": time(18), "capacity": 5}
    with pytest.raises(Invalid) as refused:
        operations.create_group(actor, {**values, "programme_id": foreign_programme.id, "room_id": foreign_room.id})
    assert set(refused.value.fields) == {"programme_id", "room_id"}
    for call in (
        lambda: operations.get_group(actor, foreign_group.id),
        lambda: operations.group_sessions(actor, foreign_group.id),
        lambda: operations.enrol(actor, foreign_group.id, make_patient(practice).id),
        lambda: operations.get_session(actor, sessions_of(foreign_group)[0].id),
        lambda: operations.cancel_session(actor, sessions_of(foreign_group)[0].id, reason="x"),
        lambda: operations.get_room(actor, foreign_room.id),
        lambda: operations.update_programme(actor, foreign_programme.id, {"name": "Mine"}),
    ):
        with pytest.raises(NotFound):
            call()
    assert operations.list_rooms(actor) == [] and operations.list_programmes(actor) == []
    assert operations.list_groups(actor) == ([], 0)
    assert operations.week(actor, monday(1)).count == 0


# --- changing sessions ---------------------------------------------------------------------------------------


def test_moving_a_session_raises_its_sequence_and_records_who_and_why(practice, therapist, actor):
    group = make_group(practice)
    session = sessions_of(group)[1]
    later = session.starts_at + timedelta(hours=1)
    operations.change_session(actor, session.id, {"starts_at": later}, reason="Gym in use")
    assert session.starts_at == later and session.ends_at == later + timedelta(hours=1)
    assert session.sequence == 1
    [change] = db.session.execute(sa.select(SessionChange).where(SessionChange.session_id == session.id)).scalars()
    assert (change.action, change.user_id, change.reason, change.sequence) == ("move", therapist.id, "Gym in use", 1)
    assert change.new_starts_at == later and change.old_starts_at == later - timedelta(hours=1)
    assert [s.sequence for s in sessions_of(group) if s.id != session.id] == [0, 0, 0]


def test_editing_notes_or_staff_does_not_raise_the_sequence(practice, therapist, actor):
    group = make_group(practice)
    session = sessions_of(group)[0]
    operations.change_session(actor, session.id, {"notes": "Bring the mats"})
    operations.change_session(actor, session.id, {"supervisor_ids": [therapist.id]})
    assert session.notes == "Bring the mats" and [u.id for u in session.supervisors] == [therapist.id]
    assert session.sequence == 0
    actions = db.session.execute(
        sa.select(SessionChange.action).where(SessionChange.session_id == session.id).order_by(SessionChange.id)
    ).scalars()
    assert list(actions) == ["notes", "supervisors"]


def test_a_room_change_raises_the_sequence_once_even_with_a_move(practice, actor):
    group = make_group(practice)
    session = sessions_of(group)[0]
    other_room = make_room(practice)
    operations.change_session(
        actor, session.id, {"room_id": other_room.id, "starts_at": session.starts_at + timedelta(minutes=30)}
    )
    assert session.room_id == other_room.id and session.sequence == 1


def test_an_unchanged_save_changes_nothing(practice, actor):
    group = make_group(practice)
    session = sessions_of(group)[0]
    operations.change_session(
        actor, session.id, {"starts_at": session.starts_at, "ends_at": session.ends_at, "room_id": session.room_id}
    )
    assert session.sequence == 0
    assert count(SessionChange) == 0


def test_moving_all_later_sessions_keeps_local_time_across_dst(practice, actor):
    change = last_sunday(utcnow().year + 1, 3)
    group = make_group(
        practice, programme=make_programme(practice, session_count=6), start_date=change - timedelta(days=13)
    )
    sessions = sessions_of(group)
    operations.change_session(
        actor, sessions[1].id, {"starts_at": sessions[1].starts_at + timedelta(hours=1)}, scope="future"
    )
    assert local(sessions[0].starts_at).time() == time(18) and sessions[0].sequence == 0
    assert {local(s.starts_at).time() for s in sessions[1:]} == {time(19)}
    assert {s.sequence for s in sessions[1:]} == {1}
    assert group.start_time == time(19)


def test_moving_later_sessions_by_a_day_shifts_the_groups_weekdays(practice, actor):
    group = make_group(practice)
    first = sessions_of(group)[0]
    operations.change_session(actor, first.id, {"starts_at": first.starts_at + timedelta(days=1)}, scope="future")
    assert {local(s.starts_at).strftime("%a") for s in sessions_of(group)} == {"Tue", "Fri"}
    assert group.weekdays == "TU,FR"


def test_room_and_staff_for_all_later_sessions(practice, therapist, actor):
    group = make_group(practice)
    sessions = sessions_of(group)
    room = make_room(practice)
    operations.change_session(
        actor, sessions[2].id, {"room_id": room.id, "supervisor_ids": [therapist.id]}, scope="future"
    )
    assert [s.room_id == room.id for s in sessions] == [False, False, True, True]
    assert [bool(s.supervisors) for s in sessions] == [False, False, True, True]
    assert group.room_id == room.id and [u.id for u in group.supervisors] == [therapist.id]


def test_cancelled_sessions_stay_visible_with_their_reason(practice, actor):
    group = make_group(practice)
    session = sessions_of(group)[1]
    operations.cancel_session(actor, session.id, reason="Therapist ill")
    listed = operations.group_sessions(actor, group.id)
    assert len(listed) == 4
    assert (session.status, session.cancel_reason, session.sequence) == ("cancelled", "Therapist ill", 1)
    with pytest.raises(Invalid):
        operations.change_session(actor, session.id, {"starts_at": session.starts_at + timedelta(hours=1)})
    with pytest.raises(Conflict):
        operations.cancel_session(actor, session.id, reason="again")
    operations.restore_session(actor, session.id)
    assert (session.status, session.sequence) == ("scheduled", 2)


def test_cancelling_needs_a_reason(practice, actor):
    session = sessions_of(make_group(practice))[0]
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(Invalid) as refused:
            operations.cancel_session(actor, session.id, reason=reason)
        assert "reason" in refused.value.fields
    assert session.status == "scheduled" and session.sequence == 0


def test_cancelling_all_later_sessions(practice, actor):
    sessions = sessions_of(make_group(practice))
    operations.cancel_session(actor, sessions[2].id, reason="Group stops", scope="future")
    assert [s.status for s in sessions] == ["scheduled", "scheduled", "cancelled", "cancelled"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ends_at": "start"}, "ends_at"),  # end at the start
        ({"ends_at": "before"}, "ends_at"),
        ({"starts_at": datetime(2027, 3, 1, 18)}, "starts_at"),  # naive
        ({"starts_at": "2027-03-01T18:00"}, "starts_at"),
        ({"starts_at": datetime(1999, 1, 1, tzinfo=UTC)}, "starts_at"),
        ({"room_id": 10**9}, "room_id"),
        ({"supervisor_ids": ["x"]}, "supervisor_ids"),
        ({"notes": "x" * 5001}, "notes"),
    ],
)
def test_invalid_session_changes_are_refused_and_change_nothing(practice, actor, values, field):
    session = sessions_of(make_group(practice))[0]
    start, end = session.starts_at, session.ends_at
    if values.get("ends_at") == "start":
        values = {"ends_at": start}
    elif values.get("ends_at") == "before":
        values = {"starts_at": start, "ends_at": start - timedelta(minutes=30)}
    with pytest.raises(Invalid) as refused:
        operations.change_session(actor, session.id, values)
    assert field in refused.value.fields
    assert (session.starts_at, session.ends_at, session.sequence) == (start, end, 0)
    assert count(SessionChange) == 0


def test_moving_onto_a_closure_day_is_refused(practice, actor):
    session = sessions_of(make_group(practice))[0]
    operations.add_closure(Actor.for_user(make_user(practice, role="admin")), monday(1) + timedelta(days=1), "")
    with pytest.raises(Invalid) as refused:
        operations.change_session(actor, session.id, {"starts_at": session.starts_at + timedelta(days=1)})
    assert "closed" in refused.value.message


# --- conflicts -----------------------------------------------------------------------------------------------


def test_a_room_booked_twice_is_refused_naming_the_other_session(practice, actor):
    room = make_room(practice)
    first = make_group(practice, room=room, name="Back A")
    before = count(Session)
    with pytest.raises(Conflict) as refused:
        make_group(practice, room=room, weekdays=["TH"], start_time=time(18, 30))
    message = str(refused.value.message)
    assert "Back A" in message and "session 2" in message and room.name in message
    assert "room_id" in refused.value.fields
    assert count(Session) == before
    assert first.id


def test_back_to_back_sessions_in_one_room_are_fine(practice):
    room = make_room(practice)
    make_group(practice, room=room)
    make_group(practice, room=room, start_time=time(19))
    make_group(practice, room=room, start_time=time(17))


def test_a_supervisor_booked_twice_is_refused_unless_overridden(practice, therapist):
    make_group(practice, supervisor_ids=[therapist.id], name="Back A")
    with pytest.raises(Conflict) as refused:
        make_group(practice, supervisor_ids=[therapist.id])
    assert "Eva Jansen" in str(refused.value.message) and "Back A" in str(refused.value.message)
    assert "supervisor_ids" in refused.value.fields
    group = make_group(practice, supervisor_ids=[therapist.id], override=True)
    assert len(sessions_of(group)) == 4


def test_the_override_never_allows_a_double_booked_room(practice, therapist):
    room = make_room(practice)
    make_group(practice, room=room)
    with pytest.raises(Conflict):
        make_group(practice, room=room, override=True)


def test_moving_a_session_onto_a_booked_room_is_refused(practice, actor):
    room = make_room(practice)
    make_group(practice, room=room, name="Back A")
    other = make_group(practice, room=room, start_time=time(20))
    session = sessions_of(other)[0]
    with pytest.raises(Conflict) as refused:
        operations.change_session(actor, session.id, {"starts_at": session.starts_at - timedelta(minutes=90)})
    assert "Back A" in str(refused.value.message)
    assert session.sequence == 0


def test_moving_a_session_within_its_own_slot_is_no_conflict_with_itself(practice, actor):
    session = sessions_of(make_group(practice))[0]
    operations.change_session(actor, session.id, {"starts_at": session.starts_at + timedelta(minutes=15)})
    assert session.sequence == 1


def test_cancelled_sessions_free_their_room(practice, actor):
    room = make_room(practice)
    first = make_group(practice, room=room, programme=make_programme(practice, session_count=1), weekdays=["MO"])
    operations.cancel_session(actor, sessions_of(first)[0].id, reason="Moved elsewhere")
    make_group(practice, room=room, programme=make_programme(practice, session_count=1), weekdays=["MO"])
    with pytest.raises(Conflict):
        operations.restore_session(actor, sessions_of(first)[0].id)


def test_rooms_in_other_practices_never_clash(practice):
    make_group(practice)
    make_group(make_practice())


# --- enrolment and the waitlist ------------------------------------------------------------------------------


def test_a_full_group_puts_patients_on_the_waitlist_in_order(practice, actor):
    group = make_group(practice, capacity=2)
    patients = [make_patient(practice) for _ in range(5)]
    enrolments = [operations.enrol(actor, group.id, p.id) for p in patients]
    assert [(e.status, e.position) for e in enrolments] == [
        ("enrolled", None),
        ("enrolled", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
        ("waitlisted", 3),
    ]
    assert operations.group_counts(actor, [group.id])[group.id] == {"enrolled": 2, "waitlisted": 3}


def test_withdrawal_promotes_the_first_on_the_waitlist(practice, actor):
    group = make_group(practice, capacity=2)
    first, second, third, fourth = (operations.enrol(actor, group.id, make_patient(practice).id) for _ in range(4))
    withdrawn, promoted = operations.withdraw(actor, first.id, reason="NO_TIME", note="Evening shifts")
    assert (withdrawn.status, withdrawn.withdrawal_reason, withdrawn.withdrawal_note) == (
        "withdrawn",
        "NO_TIME",
        "Evening shifts",
    )
    assert promoted == [third]
    assert (third.status, third.position) == ("enrolled", None) and third.enrolled_at is not None
    assert (fourth.status, fourth.position) == ("waitlisted", 1)
    operations.withdraw(actor, fourth.id, reason="MOVED_AWAY")
    assert operations.group_counts(actor, [group.id])[group.id] == {"enrolled": 2, "waitlisted": 0}


def test_leaving_the_waitlist_moves_the_others_up(practice, actor):
    group = make_group(practice, capacity=1)
    _, a, b, c = (operations.enrol(actor, group.id, make_patient(practice).id) for _ in range(4))
    _, promoted = operations.withdraw(actor, a.id, reason="OTHER")
    assert promoted == []
    assert [(b.position, c.position)] == [(1, 2)]


def test_more_places_promote_the_waitlist_and_fewer_than_enrolled_is_refused(practice, actor):
    group = make_group(practice, capacity=1)
    _, waiting = (operations.enrol(actor, group.id, make_patient(practice).id) for _ in range(2))
    _, promoted = operations.update_group(actor, group.id, {"capacity": 3})
    assert promoted == [waiting] and waiting.status == "enrolled"
    with pytest.raises(Invalid):
        operations.update_group(actor, group.id, {"capacity": 1})
    with pytest.raises(Invalid):
        operations.update_group(actor, group.id, {"capacity": 0})
    assert group.capacity == 3


def test_a_patient_cannot_be_enrolled_twice(practice, actor):
    group = make_group(practice, capacity=1)
    patient, waiting = make_patient(practice), make_patient(practice)
    enrolment = operations.enrol(actor, group.id, patient.id)
    operations.enrol(actor, group.id, waiting.id)
    for pid in (patient.id, waiting.id):
        with pytest.raises(Conflict):
            operations.enrol(actor, group.id, pid)
    assert count(Enrolment) == 2
    operations.withdraw(actor, enrolment.id, reason="ILLNESS")
    again = operations.enrol(actor, group.id, patient.id)  # back after withdrawal: a new row, end of the line
    assert (again.status, again.position) == ("waitlisted", 1)


def test_the_database_refuses_a_second_live_enrolment(practice, actor):
    group = make_group(practice)
    patient = make_patient(practice)
    operations.enrol(actor, group.id, patient.id)
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            Enrolment(
                practice_id=practice.id,
                group_id=group.id,
                patient_id=patient.id,
                status="enrolled",
                enrolled_at=utcnow(),
            )
        )


@pytest.mark.parametrize("reason", ["", "UNKNOWN", None, "no_time", 3])
def test_withdrawal_needs_a_known_reason(practice, actor, reason):
    group = make_group(practice)
    enrolment = operations.enrol(actor, group.id, make_patient(practice).id)
    with pytest.raises(Invalid) as refused:
        operations.withdraw(actor, enrolment.id, reason=reason)
    assert "reason" in refused.value.fields
    assert enrolment.status == "enrolled"


def test_withdrawing_twice_is_a_conflict(practice, actor):
    enrolment = operations.enrol(actor, make_group(practice).id, make_patient(practice).id)
    operations.withdraw(actor, enrolment.id, reason="RECOVERED")
    with pytest.raises(Conflict):
        operations.withdraw(actor, enrolment.id, reason="RECOVERED")


def test_enrolment_refuses_archived_foreign_and_unknown_patients_and_finished_groups(practice, actor):
    from patients import operations as patients

    group = make_group(practice)
    archived = make_patient(practice)
    patients.set_archived(system(practice), archived.id, True)
    for patient_id in (archived.id, make_patient(make_practice()).id, 10**9, "1"):
        with pytest.raises(Invalid):
            operations.enrol(actor, group.id, patient_id)
    after_the_end = sessions_of(group)[-1].ends_at + timedelta(minutes=1)
    with pytest.raises(Invalid):
        operations.enrol(actor, group.id, make_patient(practice).id, at=after_the_end)
    assert count(Enrolment) == 0


def test_late_enrolment_counts_sessions_from_the_enrolment_date(practice, actor):
    group = make_group(practice, programme=make_programme(practice, session_count=8), start_date=monday(-2))
    sessions = sessions_of(group)
    early = operations.enrol(actor, group.id, make_patient(practice).id, at=sessions[0].starts_at - timedelta(days=3))
    late_at = sessions[4].starts_at - timedelta(hours=5)  # the morning of the fifth session
    late = operations.enrol(actor, group.id, make_patient(practice).id, at=late_at)
    assert len(operations.sessions_counted(early, sessions)) == 8
    assert operations.sessions_counted(late, sessions) == sessions[4:]
    roster_ids = {e.patient.id for e in operations.session_roster(actor, sessions[3].id)}
    assert roster_ids == {early.patient_id}
    assert {e.patient.id for e in operations.session_roster(actor, sessions[4].id)} == {
        early.patient_id,
        late.patient_id,
    }


def test_withdrawn_patients_stay_on_earlier_rosters_and_cancelled_sessions_never_count(practice, actor):
    group = make_group(practice, start_date=monday(-2))
    sessions = sessions_of(group)
    enrolment = operations.enrol(
        actor, group.id, make_patient(practice).id, at=sessions[0].starts_at - timedelta(days=1)
    )
    operations.cancel_session(actor, sessions[0].id, reason="Storm")
    operations.withdraw(actor, enrolment.id, reason="PAIN_INTENSITY", at=sessions[2].starts_at - timedelta(hours=1))
    assert operations.sessions_counted(enrolment, sessions) == [sessions[1]]
    assert [e.patient.id for e in operations.session_roster(actor, sessions[1].id)] == [enrolment.patient_id]
    assert operations.session_roster(actor, sessions[2].id) == []


def test_enrolment_is_audit_logged(practice, actor):
    group = make_group(practice, capacity=1)
    first, second = make_patient(practice), make_patient(practice)
    enrolment = operations.enrol(actor, group.id, first.id)
    operations.enrol(actor, group.id, second.id)
    operations.withdraw(actor, enrolment.id, reason="OTHER")
    rows = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.patient_id).where(AuditEvent.object_type == "enrolment")
    ).all()
    assert sorted(rows) == sorted(
        [("enrol", first.id), ("waitlist", second.id), ("withdraw", first.id), ("promote", second.id)]
    )


# --- make-up sessions ----------------------------------------------------------------------------------------


def test_a_make_up_session_in_another_group_of_the_same_programme(practice, actor):
    programme = make_programme(practice)
    own = make_group(practice, programme=programme, capacity=3)
    other = make_group(practice, programme=programme, capacity=2, start_time=time(10))
    patient = make_patient(practice)
    own_enrolment = operations.enrol(actor, own.id, patient.id)
    target = sessions_of(other)[1]
    guest = operations.book_guest(actor, target.id, patient.id)
    assert guest.enrolment_id == own_enrolment.id
    assert [(e.patient.id, e.guest is not None) for e in operations.session_roster(actor, target.id)] == [
        (patient.id, True)
    ]
    with pytest.raises(Conflict):
        operations.book_guest(actor, target.id, patient.id)
    week = operations.week(actor, monday(1))
    [entry] = [e for _, entries in week.days for e in entries if e.session.id == target.id]
    assert (entry.expected, entry.guests) == (1, 1)


def test_make_ups_need_the_same_programme_a_free_place_and_a_future_session(practice, actor):
    programme = make_programme(practice)
    own = make_group(practice, programme=programme)
    other = make_group(practice, programme=programme, capacity=1, start_time=time(10))
    unrelated = make_group(practice, start_time=time(12))
    patient = make_patient(practice)
    operations.enrol(actor, unrelated.id, patient.id)
    with pytest.raises(Invalid):  # not in this programme
        operations.book_guest(actor, sessions_of(other)[0].id, patient.id)
    operations.enrol(actor, own.id, patient.id)
    with pytest.raises(Invalid):  # own group
        operations.book_guest(actor, sessions_of(own)[0].id, patient.id)
    operations.enrol(actor, other.id, make_patient(practice).id)  # fills the only place
    with pytest.raises(Conflict):
        operations.book_guest(actor, sessions_of(other)[0].id, patient.id)
    with pytest.raises(Invalid):  # already over
        operations.book_guest(
            actor, sessions_of(other)[0].id, patient.id, at=sessions_of(other)[0].ends_at + timedelta(hours=1)
        )


# --- roles ---------------------------------------------------------------------------------------------------


def test_assistants_enrol_but_do_not_plan(practice):
    assistant = Actor.for_user(make_user(practice, role="assistant"))
    group = make_group(practice, capacity=1)
    session = sessions_of(group)[0]
    for call in (
        lambda: operations.create_room(assistant, {"name": "X", "capacity": 3}),
        lambda: operations.create_programme(assistant, {"name": "X"}),
        lambda: operations.create_group(assistant, {}),
        lambda: operations.cancel_session(assistant, session.id, reason="x"),
        lambda: operations.change_session(assistant, session.id, {"notes": "x"}),
        lambda: operations.update_group(assistant, group.id, {"capacity": 3}),
        lambda: operations.add_closure(assistant, monday(1), ""),
    ):
        with pytest.raises(Forbidden):
            call()
    enrolment = operations.enrol(assistant, group.id, make_patient(practice).id)
    operations.withdraw(assistant, enrolment.id, reason="ILLNESS")


# --- rooms and programmes ------------------------------------------------------------------------------------


def test_room_and_programme_validation(practice, actor):
    for values, field in (
        ({"name": "A", "capacity": 0}, "capacity"),
        ({"name": "", "capacity": 4}, "name"),
        ({"capacity": 4}, "name"),
        ({"name": "A", "capacity": 4, "active": "yes"}, "active"),
    ):
        with pytest.raises(Invalid) as refused:
            operations.create_room(actor, values)
        assert field in refused.value.fields
    operations.create_room(actor, {"name": "Gym", "capacity": 4})
    with pytest.raises(Conflict):
        operations.create_room(actor, {"name": "Gym", "capacity": 4})
    base = {"name": "P", "session_count": 4, "sessions_per_week": 2, "session_minutes": 60, "default_group_size": 8}
    for change, field in (
        ({"education_sessions": 5}, "education_sessions"),
        ({"sessions_per_week": 8}, "sessions_per_week"),
        ({"completion_threshold": 0}, "completion_threshold"),
        ({"language": "de"}, "language"),
        ({"session_count": 0}, "session_count"),
    ):
        with pytest.raises(Invalid) as refused:
            operations.create_programme(actor, {**base, **change})
        assert field in refused.value.fields
    programme = operations.create_programme(actor, base)
    assert programme.completion_threshold == 75 and programme.language == "nl"
    with pytest.raises(Invalid):
        operations.update_programme(actor, programme.id, {"education_sessions": 9})


def test_a_group_in_an_inactive_room_or_programme_is_refused(practice, actor):
    room, programme = make_room(practice), make_programme(practice)
    operations.update_room(actor, room.id, {"active": False})
    operations.update_programme(actor, programme.id, {"active": False})
    with pytest.raises(Invalid) as refused:
        make_group(practice, room=room, programme=programme)
    assert set(refused.value.fields) == {"room_id", "programme_id"}


# --- the week ------------------------------------------------------------------------------------------------


def test_the_week_groups_sessions_by_local_day_and_filters(practice, therapist, actor):
    room = make_room(practice)
    make_group(practice, room=room, supervisor_ids=[therapist.id])
    make_group(practice, start_time=time(23, 15), programme=make_programme(practice, session_minutes=30))
    week = operations.week(actor, monday(1) + timedelta(days=4))
    assert week.monday == monday(1)
    by_day = {day: [local(e.session.starts_at).time() for e in entries] for day, entries in week.days}
    assert by_day[monday(1)] == [time(18), time(23, 15)]  # 23:15 local is the next day in UTC half the year
    assert by_day[monday(1) + timedelta(days=3)] == [time(18), time(23, 15)]
    assert week.count == 4
    assert operations.week(actor, monday(1), room_id=room.id).count == 2
    assert operations.week(actor, monday(1), supervisor_id=therapist.id).count == 2
    assert operations.week(actor, monday(3)).count == 0


def test_the_week_takes_a_fixed_number_of_queries(app, practice, therapist, actor):
    def queries_for_week() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            week = operations.week(actor, monday(1))
            for _, entries in week.days:
                for entry in entries:
                    _ = entry.session.group.programme.name, entry.session.room.name
                    _ = [u.name for u in entry.session.supervisors]
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    programme = make_programme(practice)
    make_group(practice, programme=programme, supervisor_ids=[therapist.id])
    db.session.flush()
    db.session.expire_all()
    few = queries_for_week()
    for hour in (8, 10, 12, 14, 16):
        group = make_group(practice, programme=programme, start_time=time(hour), override=True)
        for _ in range(3):
            operations.enrol(actor, group.id, make_patient(practice).id)
    db.session.flush()
    db.session.expire_all()
    many = queries_for_week()
    assert operations.week(actor, monday(1)).count == 12
    assert few == many


def test_dates_are_stored_as_utc_instants(practice):
    session = sessions_of(make_group(practice))[0]
    db.session.expire(session)
    assert session.starts_at.tzinfo is not None and session.starts_at.utcoffset() == timedelta(0)
    assert rules.utc_to_local(session.starts_at, "Europe/Amsterdam").time() == time(18)
