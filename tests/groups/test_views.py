"""HTML pages: calendar, groups, sessions, programmes, rooms, closure days; forms with CSRF; roles; scoping."""

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from core.actor import Actor
from extensions import db
from groups import operations
from groups.models import ClosureDay, Enrolment, Group, Programme, Room, Session, SessionGuest
from tests.conftest import csrf_token
from tests.factories import login, make_patient, make_practice, make_user
from tests.groups.helpers import make_group, make_programme, make_room, monday


@pytest.fixture
def practice():
    return make_practice()


@pytest.fixture
def therapist(practice):
    return make_user(practice, role="therapist", name="Eva Jansen")


@pytest.fixture
def staff(client, therapist):
    login(client, therapist)
    return client


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def first_session(group) -> Session:
    return (
        db.session.execute(sa.select(Session).where(Session.group_id == group.id).order_by(Session.starts_at))
        .scalars()
        .first()
    )


def post(client, url: str, data: dict, page: str | None = None, **kwargs):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page or url)}, **kwargs)


# --- calendar ------------------------------------------------------------------------------------------------


def test_the_week_calendar_with_filters(staff, practice, therapist):
    room = make_room(practice, name="Gym North")
    make_group(practice, room=room, name="Back A", supervisor_ids=[therapist.id])
    make_group(practice, name="Neck B", start_time=time(10))
    operations.add_closure(Actor.system(practice.id), monday(1) + timedelta(days=2), "King's Day")
    page = staff.get(f"/calendar?week={monday(1)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Back A" in html and "Neck B" in html and "18:00–19:00" in html and "King&#39;s Day" in html
    assert "Plan a group" in html
    only_room = staff.get(f"/calendar?week={monday(1)}&room={room.id}").get_data(as_text=True)
    assert "Back A" in only_room and "Neck B" not in only_room
    only_eva = staff.get(f"/calendar?week={monday(1)}&supervisor={therapist.id}").get_data(as_text=True)
    assert "Back A" in only_eva and "Neck B" not in only_eva
    for odd in ("?week=nonsense", "?week=0001-01-01", "?room=abc&supervisor=-1", "?week=2027-02-30"):
        assert staff.get(f"/calendar{odd}").status_code == 200


def test_the_calendar_page_takes_a_fixed_number_of_queries(app, staff, practice, therapist):
    def queries() -> int:
        statements = []

        def listener(*args):
            statements.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert staff.get(f"/calendar?week={monday(1)}").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    programme = make_programme(practice)
    make_group(practice, programme=programme, supervisor_ids=[therapist.id])
    few = queries()
    for hour in (8, 10, 12, 14):
        group = make_group(
            practice, programme=programme, start_time=time(hour), supervisor_ids=[therapist.id], override=True
        )
        for _ in range(3):
            operations.enrol(Actor.system(practice.id), group.id, make_patient(practice).id)
    db.session.flush()
    assert few == queries()


# --- groups --------------------------------------------------------------------------------------------------


def group_form(practice, **change) -> dict:
    data = {
        "programme_id": str(make_programme(practice, default_group_size=7).id),
        "room_id": str(make_room(practice).id),
        "start_date": monday(1).isoformat(),
        "weekdays": ["MO", "TH"],
        "start_time": "18:00",
        "capacity": "",
        "name": "Back A",
    }
    data.update(change)
    return data


def test_planning_a_group_with_the_form(staff, practice, therapist):
    data = group_form(practice, supervisor_ids=[str(therapist.id)])
    response = post(staff, "/groups/new", data)
    assert response.status_code == 302
    group = db.session.execute(sa.select(Group)).scalar_one()
    assert response.headers["Location"].endswith(f"/groups/{group.id}")
    assert group.capacity == 7  # the programme's group size
    assert count(Session) == 4
    page = staff.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "Back A" in page and "Eva Jansen" in page and "Nobody is waiting" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacity": "0"}, "Number must be between 1 and 200"),
        ({"capacity": "-2"}, "Number must be between 1 and 200"),
        ({"capacity": "13"}, "holds at most 12"),
        ({"weekdays": []}, "This field is required"),
        ({"weekdays": ["MO", "XX"]}, "not a valid choice"),
        ({"start_time": "25:00"}, "Not a valid time value"),
        ({"start_date": "2027-02-30"}, "Not a valid date value"),
        ({"room_id": "999999"}, "Not a valid choice"),
        ({"room_id": "abc"}, "Invalid Choice"),
        ({"supervisor_ids": ["999999"]}, "not a valid choice"),
    ],
)
def test_invalid_group_forms_show_the_error_and_write_nothing(staff, practice, change, message):
    response = post(staff, "/groups/new", group_form(practice, **change))
    assert response.status_code == 422
    assert message.lower() in response.get_data(as_text=True).lower()
    assert count(Group) == 0 and count(Session) == 0


def test_a_room_conflict_in_the_form_names_the_other_group(staff, practice):
    data = group_form(practice)
    assert post(staff, "/groups/new", data).status_code == 302
    clash = post(staff, "/groups/new", {**data, "name": "Back B", "start_time": "18:30"})
    assert clash.status_code == 422
    html = clash.get_data(as_text=True)
    assert "already booked" in html and "Back A" in html
    assert count(Group) == 1


def test_enrolling_and_withdrawing_on_the_group_page(staff, practice):
    group = make_group(practice, capacity=1, name="Back A")
    first, second = make_patient(practice, name="Anna de Vries"), make_patient(practice, name="Bram Bakker")
    page = f"/groups/{group.id}"
    enrolled = post(staff, f"/groups/{group.id}/enrol", {"patient_id": first.id}, page, follow_redirects=True)
    assert "Anna de Vries is enrolled." in enrolled.get_data(as_text=True)
    waiting = post(staff, f"/groups/{group.id}/enrol", {"patient_id": second.id}, page, follow_redirects=True)
    assert "number 1 on the waitlist" in waiting.get_data(as_text=True)
    twice = post(staff, f"/groups/{group.id}/enrol", {"patient_id": first.id}, page)
    assert twice.status_code == 422 and "already enrolled" in twice.get_data(as_text=True)
    unknown = post(staff, f"/groups/{group.id}/enrol", {"patient_id": "abc"}, page)
    assert unknown.status_code == 422
    assert count(Enrolment) == 2

    enrolment = db.session.execute(sa.select(Enrolment).where(Enrolment.patient_id == first.id)).scalar_one()
    no_reason = post(staff, f"/enrolments/{enrolment.id}/withdraw", {"reason": ""}, page)
    assert no_reason.status_code == 422 and "Choose one of the reasons" in no_reason.get_data(as_text=True)
    bad_reason = post(staff, f"/enrolments/{enrolment.id}/withdraw", {"reason": "BORED"}, page)
    assert bad_reason.status_code == 422
    db.session.expire_all()
    assert enrolment.status == "enrolled"
    done = post(
        staff, f"/enrolments/{enrolment.id}/withdraw", {"reason": "NO_TIME", "note": ""}, page, follow_redirects=True
    )
    html = done.get_data(as_text=True)
    assert "Anna de Vries is withdrawn." in html and "Bram Bakker moved up from the waitlist" in html
    assert "No time" in html  # the coded reason, in words, under "Withdrawn"


def test_changing_places_on_the_group_page(staff, practice):
    group = make_group(practice, capacity=1)
    for _ in range(2):
        operations.enrol(Actor.system(practice.id), group.id, make_patient(practice).id)
    page = f"/groups/{group.id}"
    refused = post(staff, f"/groups/{group.id}/settings", {"name": group.name, "capacity": "0"}, page)
    assert refused.status_code == 422
    more = post(
        staff, f"/groups/{group.id}/settings", {"name": "Renamed", "capacity": "2"}, page, follow_redirects=True
    )
    assert "moved up from the waitlist" in more.get_data(as_text=True)
    db.session.expire_all()
    assert (group.name, group.capacity) == ("Renamed", 2)


# --- sessions ------------------------------------------------------------------------------------------------


def test_moving_a_session_with_the_form_raises_its_sequence(staff, practice, therapist):
    group = make_group(practice)
    session = first_session(group)
    url = f"/sessions/{session.id}"
    data = {
        "day": monday(1).isoformat(),
        "start_time": "19:00",
        "end_time": "20:00",
        "room_id": str(session.room_id),
        "supervisor_ids": [str(therapist.id)],
        "scope": "one",
        "reason": "Gym in use",
    }
    response = post(staff, f"{url}/change", data, url, follow_redirects=True)
    assert response.status_code == 200 and "Changes saved." in response.get_data(as_text=True)
    db.session.expire_all()
    assert session.sequence == 1 and session.supervisors[0].id == therapist.id
    assert operations.rules.utc_to_local(session.starts_at, "Europe/Amsterdam").time() == time(19)
    html = staff.get(url).get_data(as_text=True)
    assert "Moved" in html and "Gym in use" in html and "Eva Jansen" in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end_time": "18:30", "start_time": "19:00"}, "The end must be after the start"),
        ({"end_time": "19:00", "start_time": "19:00"}, "The end must be after the start"),
        ({"day": "not a date"}, "Not a valid date value"),
        ({"room_id": "999999"}, "Choose an active room"),
        ({"scope": "everything"}, "Not a valid choice"),
    ],
)
def test_invalid_session_changes_show_the_error_and_change_nothing(staff, practice, change, message):
    session = first_session(make_group(practice))
    url = f"/sessions/{session.id}"
    data = {"day": monday(1).isoformat(), "start_time": "18:00", "end_time": "19:00", "room_id": str(session.room_id)}
    data["scope"] = "one"
    data.update(change)
    response = post(staff, f"{url}/change", data, url)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert session.sequence == 0


def test_cancelling_and_restoring_a_session(staff, practice):
    session = first_session(make_group(practice))
    url = f"/sessions/{session.id}"
    no_reason = post(staff, f"{url}/cancel", {"reason": "", "scope": "one"}, url)
    assert no_reason.status_code == 422
    db.session.expire_all()
    assert session.status == "scheduled"
    done = post(staff, f"{url}/cancel", {"reason": "Therapist ill", "scope": "one"}, url, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "The session is cancelled." in html and "Therapist ill" in html
    calendar = staff.get(f"/calendar?week={monday(1)}").get_data(as_text=True)
    assert "slot kind-education cancelled" in calendar
    post(staff, f"{url}/restore", {}, url)
    db.session.expire_all()
    assert (session.status, session.sequence) == ("scheduled", 2)


def test_notes_do_not_raise_the_sequence(staff, practice):
    session = first_session(make_group(practice))
    url = f"/sessions/{session.id}"
    post(staff, f"{url}/notes", {"notes": "Bring the mats"}, url)
    db.session.expire_all()
    assert session.notes == "Bring the mats" and session.sequence == 0
    assert post(staff, f"{url}/notes", {"notes": "x" * 5001}, url).status_code == 422


def test_booking_a_make_up_on_the_session_page(staff, practice):
    programme = make_programme(practice)
    own = make_group(practice, programme=programme, name="Back A")
    other = make_group(practice, programme=programme, start_time=time(9), name="Back B")
    patient = make_patient(practice, name="Karin Peters")
    outsider = make_patient(practice, name="Olga Bos")
    operations.enrol(Actor.system(practice.id), own.id, patient.id)
    url = f"/sessions/{first_session(other).id}"
    assert "Karin Peters (Back A)" in staff.get(url).get_data(as_text=True)
    refused = post(staff, f"{url}/guests", {"patient_id": outsider.id}, url)
    assert refused.status_code == 422 and "another group of" in refused.get_data(as_text=True)
    booked = post(staff, f"{url}/guests", {"patient_id": patient.id}, url, follow_redirects=True)
    html = booked.get_data(as_text=True)
    assert "booked for this session as a make-up" in html and "make-up from Back A" in html
    guest = db.session.execute(sa.select(SessionGuest)).scalar_one()
    post(staff, f"/guests/{guest.id}/cancel", {}, url)
    assert count(SessionGuest) == 0


# --- programmes, rooms, closure days -------------------------------------------------------------------------


def test_programmes_with_the_form(staff):
    data = {
        "name": "Low back",
        "description": "Eight weeks of training together.",
        "session_count": "18",
        "education_sessions": "2",
        "sessions_per_week": "2",
        "session_minutes": "60",
        "default_group_size": "10",
        "completion_threshold": "75",
        "language": "en",
        "active": "y",
    }
    bad = post(staff, "/programmes/new", {**data, "education_sessions": "20"})
    assert bad.status_code == 422 and "more education sessions than sessions" in bad.get_data(as_text=True)
    assert post(staff, "/programmes/new", {**data, "session_count": "0"}).status_code == 422
    assert count(Programme) == 0
    assert post(staff, "/programmes/new", data).status_code == 302
    programme = db.session.execute(sa.select(Programme)).scalar_one()
    listing = staff.get("/programmes").get_data(as_text=True)
    assert "Low back" in listing and "14 sessions (75%)" in listing
    edit = f"/programmes/{programme.id}/edit"
    assert post(staff, edit, {**data, "completion_threshold": "80"}).status_code == 302
    db.session.expire_all()
    assert programme.completion_threshold == 80
    assert post(staff, "/programmes/new", data).status_code == 422  # the name is taken


def test_rooms_with_the_form(staff, practice):
    assert post(staff, "/rooms", {"name": "Gym", "capacity": "0"}).status_code == 422
    assert post(staff, "/rooms", {"name": "Gym", "capacity": "12", "active": "y"}).status_code == 302
    duplicate = post(staff, "/rooms", {"name": "Gym", "capacity": "12"})
    assert duplicate.status_code == 422 and "already in use" in duplicate.get_data(as_text=True)
    room = db.session.execute(sa.select(Room)).scalar_one()
    url = f"/rooms/{room.id}/edit"
    assert post(staff, url, {"name": "Gym 1", "capacity": "10", "address": "Main St 1"}).status_code == 302
    db.session.expire_all()
    assert (room.name, room.capacity, room.address, room.active) == ("Gym 1", 10, "Main St 1", False)


def test_closure_days_for_admins(client, practice):
    admin = make_user(practice, role="admin")
    login(client, admin)
    make_group(practice)
    response = post(client, "/closures", {"day": monday(1).isoformat(), "reason": "Team day"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "New groups skip this day" in html and "1 sessions are already planned" in html
    assert post(client, "/closures", {"day": monday(1).isoformat()}).status_code == 422
    closure = db.session.execute(sa.select(ClosureDay)).scalar_one()
    post(client, f"/closures/{closure.id}/remove", {}, "/closures")
    assert count(ClosureDay) == 0


# --- roles, CSRF, scoping ------------------------------------------------------------------------------------


def test_assistants_see_no_planning_buttons_and_cannot_post_them(client, practice):
    group = make_group(practice)
    login(client, make_user(practice, role="assistant"))
    calendar = client.get("/calendar").get_data(as_text=True)
    assert "Plan a group" not in calendar
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "Enrol" in page and "Change name or places" not in page
    session_page = client.get(f"/sessions/{first_session(group).id}").get_data(as_text=True)
    assert "Cancel the session" not in session_page
    for url in ("/groups/new", "/programmes/new", "/closures"):
        assert client.get(url).status_code == 403
    token = csrf_token(client, "/rooms")
    assert client.post("/rooms", data={"name": "X", "capacity": "3", "csrf_token": token}).status_code == 403
    assert (
        client.post(
            f"/sessions/{first_session(group).id}/cancel", data={"reason": "x", "csrf_token": token}
        ).status_code
        == 403
    )
    assert count(Room) == 1


def test_forms_without_a_csrf_token_are_refused(staff, practice):
    group = make_group(practice)
    patient = make_patient(practice)
    response = staff.post(f"/groups/{group.id}/enrol", data={"patient_id": patient.id})
    assert response.status_code == 400
    assert count(Enrolment) == 0


def test_pages_of_another_practice_are_404(staff, practice):
    other = make_practice()
    group = make_group(other)
    session = first_session(group)
    enrolment = operations.enrol(Actor.system(other.id), group.id, make_patient(other).id)
    room, programme = make_room(other), make_programme(other)
    own_patient = make_patient(practice)
    for url in (f"/groups/{group.id}", f"/sessions/{session.id}", f"/rooms/{room.id}/edit",
                f"/programmes/{programme.id}/edit"):  # fmt: skip
        assert staff.get(url).status_code == 404, url
    token = csrf_token(staff, "/calendar")
    for url, data in (
        (f"/groups/{group.id}/enrol", {"patient_id": own_patient.id}),
        (f"/enrolments/{enrolment.id}/withdraw", {"reason": "OTHER"}),
        (f"/sessions/{session.id}/cancel", {"reason": "x", "scope": "one"}),
        (f"/sessions/{session.id}/notes", {"notes": "x"}),
        (f"/groups/{group.id}/settings", {"name": "x", "capacity": "3"}),
    ):
        assert staff.post(url, data={**data, "csrf_token": token}).status_code == 404, url
    db.session.expire_all()
    assert enrolment.status == "enrolled" and session.status == "scheduled" and session.notes == ""


def test_the_patient_page_lists_groups_and_sessions(staff, practice):
    group = make_group(practice, capacity=1, name="Back A")
    full = make_group(practice, capacity=1, name="Neck B", start_time=time(10))
    patient = make_patient(practice)
    actor = Actor.system(practice.id)
    operations.enrol(actor, group.id, patient.id)
    operations.enrol(actor, full.id, make_patient(practice).id)
    operations.enrol(actor, full.id, patient.id)
    html = staff.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Back A" in html and "enrolled since" in html and "4 sessions count for this patient" in html
    assert "Neck B" in html and "waitlist, number 1" in html


def test_group_list(staff, practice):
    make_group(practice, name="Back A")
    html = staff.get("/groups").get_data(as_text=True)
    assert "Back A" in html and "0 / 10" in html
    assert staff.get("/groups?finished=1").status_code == 200
