"""JSON API: shapes from the issue, validation (422 naming the field, nothing written), 404 across practices."""

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from groups.models import ClosureDay, Enrolment, Group, Programme, Room, Session, SessionGuest
from tests.factories import api_token, make_patient, make_practice, make_user
from tests.groups.helpers import make_group, make_programme, make_room, monday


@pytest.fixture
def practice():
    return make_practice()


@pytest.fixture
def therapist(practice):
    return make_user(practice, role="therapist")


@pytest.fixture
def auth(therapist):
    return api_token(therapist)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def group_body(practice, **change) -> dict:
    body = {
        "programme_id": make_programme(practice, session_count=6, education_sessions=2).id,
        "room_id": make_room(practice, capacity=12).id,
        "name": "Back A",
        "start_date": monday(2).isoformat(),
        "weekdays": ["MO", "TH"],
        "start_time": "18:00",
        "capacity": 10,
    }
    body.update(change)
    return body


def test_rooms_and_programmes(client, auth):
    room = client.post("/api/v1/rooms", json={"name": "Gym 1", "capacity": 12, "address": "Main St 1"}, headers=auth)
    assert room.status_code == 201
    assert room.json == {"id": room.json["id"], "name": "Gym 1", "capacity": 12, "address": "Main St 1", "active": True}
    patched = client.patch(f"/api/v1/rooms/{room.json['id']}", json={"capacity": 8}, headers=auth)
    assert patched.status_code == 200 and patched.json["capacity"] == 8 and patched.json["name"] == "Gym 1"
    assert client.get("/api/v1/rooms", headers=auth).json["total"] == 1
    programme = client.post(
        "/api/v1/programmes",
        json={
            "name": "Low back",
            "description": "Eight weeks of training together.",
            "session_count": 18,
            "education_sessions": 2,
            "sessions_per_week": 2,
            "session_minutes": 60,
            "default_group_size": 10,
        },
        headers=auth,
    )
    assert programme.status_code == 201
    assert programme.json["completion_threshold"] == 75 and programme.json["language"] == "nl"
    got = client.get(f"/api/v1/programmes/{programme.json['id']}", headers=auth)
    assert got.json == programme.json
    assert (
        client.patch(
            f"/api/v1/programmes/{programme.json['id']}", json={"completion_threshold": 80}, headers=auth
        ).json["completion_threshold"]
        == 80
    )


def test_creating_a_group_as_in_the_issue(client, practice, therapist, auth):
    body = group_body(practice, supervisor_ids=[therapist.id])
    created = client.post("/api/v1/groups", json=body, headers=auth)
    assert created.status_code == 201, created.json
    group = created.json
    expected = {k: v for k, v in body.items()}
    assert {k: group[k] for k in expected} == expected
    assert group["enrolled_count"] == 0 and group["waitlist_count"] == 0
    assert group["timezone"] == "Europe/Amsterdam" and group["session_minutes"] == 60
    sessions = client.get(f"/api/v1/groups/{group['id']}/sessions", headers=auth)
    assert sessions.status_code == 200 and sessions.json["total"] == 6
    first = sessions.json["items"][0]
    assert set(first) >= {"id", "group_id", "starts_at", "ends_at", "status", "sequence", "room_id", "kind"}
    assert first["status"] == "scheduled" and first["sequence"] == 0 and first["kind"] == "education"
    assert first["supervisor_ids"] == [therapist.id] and first["room_id"] == body["room_id"]
    assert datetime.fromisoformat(first["starts_at"]).utcoffset() == timedelta(0)
    assert [s["kind"] for s in sessions.json["items"]][1:3] == ["education", "training"]
    assert client.get(f"/api/v1/sessions/{first['id']}", headers=auth).json == first
    assert client.get(f"/api/v1/groups/{group['id']}", headers=auth).json == group
    listed = client.get("/api/v1/groups", headers=auth).json
    assert listed["total"] == 1 and listed["items"] == [group]


def test_name_and_supervisors_are_optional(client, practice, auth):
    body = group_body(practice)
    del body["name"]
    created = client.post("/api/v1/groups", json=body, headers=auth)
    assert created.status_code == 201
    assert created.json["supervisor_ids"] == [] and "18:00" in created.json["name"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "10"}, "capacity"),
        ({"capacity": 10.5}, "capacity"),
        ({"capacity": 13}, "capacity"),  # the room holds 12
        ({"capacity": 10**30}, "capacity"),
        ({"weekdays": ["MO", "XX"]}, "weekdays.1"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": "MO"}, "weekdays"),
        ({"weekdays": ["MO", "MO"]}, "weekdays"),
        ({"weekdays": [1]}, "weekdays.0"),
        ({"start_time": "25:00"}, "start_time"),
        ({"start_time": "18:00:00"}, "start_time"),
        ({"start_time": "23:30"}, "start_time"),  # ends after midnight
        ({"start_date": "2027-02-30"}, "start_date"),
        ({"start_date": "01-03-2027"}, "start_date"),
        ({"start_date": "1900-01-01"}, "start_date"),
        ({"room_id": 999999}, "room_id"),
        ({"room_id": 0}, "room_id"),
        ({"room_id": 2**63}, "room_id"),
        ({"programme_id": None}, "programme_id"),
        ({"supervisor_ids": [999999]}, "supervisor_ids"),
        ({"supervisor_ids": "3"}, "supervisor_ids"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_group_input_is_422_naming_the_field_and_writes_nothing(client, practice, auth, change, field):
    body = group_body(practice, **change)
    before = count(Group), count(Session)
    response = client.post("/api/v1/groups", json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["fields"], response.json
    assert (count(Group), count(Session)) == before


def test_a_room_or_programme_of_another_practice_is_unknown(client, practice, auth):
    other = make_practice()
    body = group_body(practice, room_id=make_room(other).id, programme_id=make_programme(other).id)
    response = client.post("/api/v1/groups", json=body, headers=auth)
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"room_id", "programme_id"}
    assert count(Group) == 0


def test_a_double_booked_room_is_409_naming_the_other_session(client, practice, auth):
    body = group_body(practice)
    assert client.post("/api/v1/groups", json=body, headers=auth).status_code == 201
    clash = client.post("/api/v1/groups", json={**body, "name": "Back B", "start_time": "18:30"}, headers=auth)
    assert clash.status_code == 409
    assert "Back A" in clash.json["error"]["message"] and "room_id" in clash.json["error"]["fields"]


def test_a_double_booked_supervisor_can_be_overridden(client, practice, therapist, auth):
    body = group_body(practice, supervisor_ids=[therapist.id])
    client.post("/api/v1/groups", json=body, headers=auth)
    again = {**body, "room_id": make_room(practice).id, "name": "Back B"}
    refused = client.post("/api/v1/groups", json=again, headers=auth)
    assert refused.status_code == 409 and "supervisor_ids" in refused.json["error"]["fields"]
    allowed = client.post("/api/v1/groups", json={**again, "override_supervisor_conflicts": True}, headers=auth)
    assert allowed.status_code == 201


def test_patching_sessions(client, practice, auth):
    group = make_group(practice)
    sid = db.session.execute(
        sa.select(Session.id).where(Session.group_id == group.id).order_by(Session.starts_at)
    ).first()[0]
    url = f"/api/v1/sessions/{sid}"
    original = client.get(url, headers=auth).json
    start = datetime.fromisoformat(original["starts_at"])

    notes = client.patch(url, json={"notes": "Bring mats"}, headers=auth)
    assert notes.status_code == 200 and notes.json["notes"] == "Bring mats" and notes.json["sequence"] == 0

    moved = client.patch(url, json={"starts_at": (start + timedelta(hours=1)).isoformat()}, headers=auth)
    assert moved.status_code == 200 and moved.json["sequence"] == 1
    assert datetime.fromisoformat(moved.json["ends_at"]) - datetime.fromisoformat(moved.json["starts_at"]) == timedelta(
        hours=1
    )
    local = client.patch(url, json={"starts_at": f"{(start + timedelta(hours=2)).date()}T21:00:00+01:00"}, headers=auth)
    assert local.status_code == 200 and local.json["starts_at"].endswith("T20:00:00+00:00")

    cancelled = client.patch(url, json={"status": "cancelled", "reason": "Therapist ill"}, headers=auth)
    assert cancelled.status_code == 200
    assert (cancelled.json["status"], cancelled.json["cancel_reason"], cancelled.json["sequence"]) == (
        "cancelled",
        "Therapist ill",
        3,
    )
    assert client.get(f"/api/v1/groups/{group.id}/sessions", headers=auth).json["total"] == 4  # still listed
    restored = client.patch(url, json={"status": "scheduled"}, headers=auth)
    assert restored.status_code == 200 and restored.json["status"] == "scheduled" and restored.json["sequence"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2027-03-01T18:00:00"}, "starts_at"),  # no offset
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"ends_at": "START"}, "ends_at"),  # end before start
        ({"room_id": 999999}, "room_id"),
        ({"room_id": -1}, "room_id"),
        ({"supervisor_ids": [0]}, "supervisor_ids.0"),
        ({"status": "cancelled"}, "reason"),
        ({"status": "cancelled", "reason": "  "}, "reason"),
        ({"status": "deleted"}, "status"),
        ({"status": "cancelled", "reason": "x", "notes": "y"}, "status"),
        ({}, "_schema"),
        ({"scope": "all"}, "scope"),
        ({"sequence": 5}, "sequence"),
        ({"starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
        ({"starts_at": "9999-12-31T23:59:00-12:00"}, "starts_at"),
    ],
)
def test_invalid_session_patches_are_422_and_change_nothing(client, practice, auth, body, field):
    group = make_group(practice)
    session = db.session.execute(sa.select(Session).where(Session.group_id == group.id)).scalars().first()
    if body.get("ends_at") == "START":
        body = {"ends_at": (session.starts_at - timedelta(minutes=5)).isoformat()}
    before = (session.starts_at, session.ends_at, session.status, session.sequence, session.room_id)
    response = client.patch(f"/api/v1/sessions/{session.id}", json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    db.session.expire_all()
    assert (session.starts_at, session.ends_at, session.status, session.sequence, session.room_id) == before


def test_moving_onto_a_booked_room_is_409(client, practice, auth):
    room = make_room(practice)
    make_group(practice, room=room, name="Back A")
    other = make_group(practice, room=room, start_time=time(20))
    session = db.session.execute(sa.select(Session).where(Session.group_id == other.id)).scalars().first()
    response = client.patch(
        f"/api/v1/sessions/{session.id}",
        json={"starts_at": (session.starts_at - timedelta(hours=2)).isoformat()},
        headers=auth,
    )
    assert response.status_code == 409 and "Back A" in response.json["error"]["message"]


def test_enrolment_waitlist_and_withdrawal(client, practice, auth):
    group = make_group(practice, capacity=2)
    patients = [make_patient(practice) for _ in range(4)]
    url = f"/api/v1/groups/{group.id}/enrolments"
    results = [client.post(url, json={"patient_id": p.id}, headers=auth) for p in patients]
    assert [r.status_code for r in results] == [201] * 4
    assert [(r.json["status"], r.json["position"]) for r in results] == [
        ("enrolled", None),
        ("enrolled", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]
    assert set(results[0].json) >= {"id", "patient_id", "group_id", "status", "position"}
    duplicate = client.post(url, json={"patient_id": patients[0].id}, headers=auth)
    assert duplicate.status_code == 409
    group_json = client.get(f"/api/v1/groups/{group.id}", headers=auth).json
    assert (group_json["enrolled_count"], group_json["waitlist_count"]) == (2, 2)

    first = results[0].json["id"]
    for bad in ({}, {"reason": "BORED"}, {"reason": "no_time"}, {"reason": None}, {"reason": "NO_TIME", "x": 1}):
        refused = client.delete(f"/api/v1/enrolments/{first}", json=bad, headers=auth)
        assert refused.status_code == 422 and "fields" in refused.json["error"], bad
    assert client.delete(f"/api/v1/enrolments/{first}", headers=auth).status_code == 422  # no body
    assert client.get(f"/api/v1/enrolments/{first}", headers=auth).json["status"] == "enrolled"

    withdrawn = client.delete(f"/api/v1/enrolments/{first}", json={"reason": "NO_TIME"}, headers=auth)
    assert withdrawn.status_code == 200
    assert (withdrawn.json["status"], withdrawn.json["withdrawal_reason"]) == ("withdrawn", "NO_TIME")
    listed = client.get(url, headers=auth).json["items"]
    by_patient = {e["patient_id"]: (e["status"], e["position"]) for e in listed}
    assert by_patient[patients[2].id] == ("enrolled", None)
    assert by_patient[patients[3].id] == ("waitlisted", 1)
    assert [e["status"] for e in listed] == ["enrolled", "enrolled", "waitlisted", "withdrawn"]
    again = client.delete(f"/api/v1/enrolments/{first}", json={"reason": "NO_TIME"}, headers=auth)
    assert again.status_code == 409


@pytest.mark.parametrize("body", [{}, {"patient_id": "1"}, {"patient_id": 0}, {"patient_id": 999999}, []])
def test_invalid_enrolments_are_422(client, practice, auth, body):
    group = make_group(practice)
    response = client.post(f"/api/v1/groups/{group.id}/enrolments", json=body, headers=auth)
    assert response.status_code == 422
    assert count(Enrolment) == 0


def test_make_up_bookings(client, practice, auth):
    programme = make_programme(practice)
    own, other = (
        make_group(practice, programme=programme),
        make_group(practice, programme=programme, start_time=time(9)),
    )
    patient = make_patient(practice)
    client.post(f"/api/v1/groups/{own.id}/enrolments", json={"patient_id": patient.id}, headers=auth)
    session = db.session.execute(sa.select(Session).where(Session.group_id == other.id)).scalars().first()
    booked = client.post(f"/api/v1/sessions/{session.id}/guests", json={"patient_id": patient.id}, headers=auth)
    assert booked.status_code == 201 and booked.json["session_id"] == session.id
    assert client.get(f"/api/v1/sessions/{session.id}/guests", headers=auth).json["total"] == 1
    assert client.delete(f"/api/v1/guests/{booked.json['id']}", headers=auth).status_code == 204
    assert count(SessionGuest) == 0


def test_closure_days_are_admin_only(client, practice, auth):
    admin = api_token(make_user(practice, role="admin"))
    body = {"day": monday(3).isoformat(), "reason": "Team day"}
    assert client.post("/api/v1/closure-days", json=body, headers=auth).status_code == 403
    created = client.post("/api/v1/closure-days", json=body, headers=admin)
    assert created.status_code == 201 and created.json["day"] == body["day"]
    assert client.post("/api/v1/closure-days", json=body, headers=admin).status_code == 409
    assert client.post("/api/v1/closure-days", json={"day": "2027-13-01"}, headers=admin).status_code == 422
    assert client.get("/api/v1/closure-days", headers=auth).json["total"] == 1
    assert client.delete(f"/api/v1/closure-days/{created.json['id']}", headers=admin).status_code == 204
    assert count(ClosureDay) == 0


def test_the_week_of_sessions(client, practice, auth):
    room = make_room(practice)
    make_group(practice, room=room)
    make_group(practice, start_time=time(9))
    week = client.get(f"/api/v1/sessions?week={monday(1).isoformat()}", headers=auth)
    assert week.status_code == 200 and week.json["total"] == 4
    assert client.get(f"/api/v1/sessions?week={monday(1)}&room_id={room.id}", headers=auth).json["total"] == 2
    for bad in ("", "?week=someday", "?week=0001-01-01", f"?week={monday(1)}&room_id=x"):
        assert client.get(f"/api/v1/sessions{bad}", headers=auth).status_code == 422, bad


def test_assistants_enrol_but_cannot_plan(client, practice):
    assistant = api_token(make_user(practice, role="assistant"))
    assert client.post("/api/v1/rooms", json={"name": "X", "capacity": 4}, headers=assistant).status_code == 403
    assert client.post("/api/v1/groups", json=group_body(practice), headers=assistant).status_code == 403
    group = make_group(practice)
    patient = make_patient(practice)
    enrolled = client.post(f"/api/v1/groups/{group.id}/enrolments", json={"patient_id": patient.id}, headers=assistant)
    assert enrolled.status_code == 201
    session = db.session.execute(sa.select(Session.id).where(Session.group_id == group.id)).first()[0]
    cancel = client.patch(f"/api/v1/sessions/{session}", json={"status": "cancelled", "reason": "x"}, headers=assistant)
    assert cancel.status_code == 403
    assert client.get(f"/api/v1/groups/{group.id}/sessions", headers=assistant).status_code == 200


def test_every_endpoint_is_scoped_to_the_practice(client, practice, auth):
    other = make_practice()
    room, programme = make_room(other), make_programme(other)
    group = make_group(other, room=make_room(other), programme=programme)
    patient = make_patient(other)
    from core.actor import Actor
    from groups import operations

    enrolment = operations.enrol(Actor.system(other.id), group.id, patient.id)
    own_patient = make_patient(practice)
    session_id = db.session.execute(sa.select(Session.id).where(Session.group_id == group.id)).first()[0]
    guest_group = make_group(other, programme=programme, start_time=time(8))
    guest = operations.book_guest(
        Actor.system(other.id),
        db.session.execute(sa.select(Session.id).where(Session.group_id == guest_group.id)).first()[0],
        patient.id,
    )
    closure, _ = operations.add_closure(Actor.system(other.id), monday(5), "")
    calls = [
        ("get", f"/api/v1/rooms/{room.id}", None),
        ("patch", f"/api/v1/rooms/{room.id}", {"name": "Mine"}),
        ("get", f"/api/v1/programmes/{programme.id}", None),
        ("patch", f"/api/v1/programmes/{programme.id}", {"name": "Mine"}),
        ("get", f"/api/v1/groups/{group.id}", None),
        ("patch", f"/api/v1/groups/{group.id}", {"capacity": 3}),
        ("get", f"/api/v1/groups/{group.id}/sessions", None),
        ("get", f"/api/v1/groups/{group.id}/enrolments", None),
        ("post", f"/api/v1/groups/{group.id}/enrolments", {"patient_id": own_patient.id}),
        ("get", f"/api/v1/sessions/{session_id}", None),
        ("patch", f"/api/v1/sessions/{session_id}", {"status": "cancelled", "reason": "x"}),
        ("get", f"/api/v1/sessions/{session_id}/guests", None),
        ("post", f"/api/v1/sessions/{session_id}/guests", {"patient_id": own_patient.id}),
        ("get", f"/api/v1/enrolments/{enrolment.id}", None),
        ("delete", f"/api/v1/enrolments/{enrolment.id}", {"reason": "OTHER"}),
        ("delete", f"/api/v1/guests/{guest.id}", None),
        ("delete", f"/api/v1/closure-days/{closure.id}", None),
    ]
    admin = api_token(make_user(practice, role="admin"))
    for method, url, body in calls:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(url, headers=admin if "closure" in url else auth, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json["error"]["code"] == "not_found"
    for url in ("/api/v1/rooms", "/api/v1/programmes", "/api/v1/groups", "/api/v1/closure-days"):
        assert client.get(url, headers=admin).json["total"] == 0, url
    db.session.expire_all()
    assert enrolment.status == "enrolled" and room.name != "Mine" and count(SessionGuest) == 1


@pytest.mark.parametrize("bad_id", ["0", "-1", "99999999999999999999", "abc"])
def test_ids_that_cannot_exist_are_404(client, auth, bad_id):
    for url in ("/api/v1/groups/{}", "/api/v1/sessions/{}", "/api/v1/rooms/{}", "/api/v1/groups/{}/sessions"):
        assert client.get(url.format(bad_id), headers=auth).status_code == 404


def test_without_a_token_the_api_is_closed(client, practice):
    assert client.get("/api/v1/groups").status_code == 401
    assert client.post("/api/v1/rooms", json={"name": "X", "capacity": 3}).status_code == 401
    assert count(Room) == 0 and count(Programme) == 0


def test_the_openapi_document_describes_the_groups_api(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/rooms": {"get", "post"},
        "/api/v1/rooms/{room_id}": {"get", "patch"},
        "/api/v1/programmes": {"get", "post"},
        "/api/v1/programmes/{programme_id}": {"get", "patch"},
        "/api/v1/groups": {"get", "post"},
        "/api/v1/groups/{group_id}/sessions": {"get"},
        "/api/v1/sessions/{session_id}": {"get", "patch"},
        "/api/v1/groups/{group_id}/enrolments": {"get", "post"},
        "/api/v1/enrolments/{enrolment_id}": {"get", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    schemas = spec["components"]["schemas"]
    assert schemas["GroupCreate"]["properties"]["weekdays"]["items"]["enum"] == [
        "MO",
        "TU",
        "WE",
        "TH",
        "FR",
        "SA",
        "SU",
    ]
    assert schemas["Session"]["properties"]["starts_at"]["format"] == "date-time"
    assert schemas["Session"]["properties"]["supervisor_ids"]["type"] == "array"
    assert "NO_TIME" in schemas["Withdraw"]["properties"]["reason"]["enum"]
    assert schemas["Enrolment"]["properties"]["position"]["nullable"] is True


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/rooms", {"name": "Gym\x00", "capacity": 4}),
        (
            "/api/v1/programmes",
            {
                "name": "Back",
                "description": "a\x00b",
                "session_count": 4,
                "sessions_per_week": 2,
                "session_minutes": 60,
                "default_group_size": 8,
            },
        ),  # fmt: skip
        ("SESSION", {"notes": "x\x00"}),
        ("SESSION", {"status": "cancelled", "reason": "ill\x00"}),
        ("SESSION", {"notes": "ok", "reason": "\x07"}),
    ],
)
def test_control_characters_are_refused_not_a_server_error(client, practice, auth, url, body):
    # PostgreSQL cannot store NUL: it must be a 422, never a 500.
    if url == "SESSION":
        group = make_group(practice)
        session_id = db.session.execute(sa.select(Session.id).where(Session.group_id == group.id)).first()[0]
        url = f"/api/v1/sessions/{session_id}"
        response = client.patch(url, json=body, headers=auth)
    else:
        response = client.post(url, json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert "control characters" in response.json["error"]["message"] or response.json["error"]["fields"]


@pytest.mark.parametrize("big", [2**31, 2**40, 2**63 - 1])
def test_ids_beyond_the_integer_columns_are_404_or_422_on_every_database(client, practice, auth, big):
    assert client.get(f"/api/v1/groups/{big}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/patients/{big}", headers=auth).status_code == 404
    response = client.post("/api/v1/groups", json=group_body(practice, room_id=big), headers=auth)
    assert response.status_code == 422 and "room_id" in response.json["error"]["fields"]
