"""JSON API: the shapes from the issue, whole-body validation (4xx, nothing written), 404 across practices."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from attendance.models import AttendanceRecord, FollowUp
from extensions import db
from supervision.models import Barrier
from tests.attendance.helpers import build
from tests.factories import api_token, make_user


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def setup(app):
    with app.app_context():
        s = build(3, names=["Anna Jansen", "Bram de Wit", "Zoë Çelik"])
        yield s, api_token(s.therapist)


def url(s, n=0):
    return f"/api/v1/sessions/{s.sessions[n].id}/attendance"


def test_get_lists_the_whole_roster_with_null_status(client, setup):
    s, auth = setup
    response = client.get(url(s), headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["session_id"] == s.sessions[0].id
    assert [r["status"] for r in body["records"]] == [None, None, None]
    assert set(body["records"][0]) == {"patient_id", "status", "reason", "note", "guest"}


def test_put_upserts_the_listed_patients_and_is_idempotent(client, setup):
    s, auth = setup
    body = {
        "records": [
            {"patient_id": s.patients[0].id, "status": "present"},
            {"patient_id": s.patients[1].id, "status": "absent", "reason": "NO_FACILITY_NEARBY", "note": "Bus"},
        ]
    }
    first = client.put(url(s), json=body, headers=auth)
    assert first.status_code == 200, first.get_json()
    again = client.put(url(s), json=body, headers=auth)
    assert again.get_json() == first.get_json()
    records = {r["patient_id"]: r for r in again.get_json()["records"]}
    assert records[s.patients[1].id] == {
        "patient_id": s.patients[1].id,
        "status": "absent",
        "reason": "NO_FACILITY_NEARBY",
        "note": "Bus",
        "guest": False,
    }
    assert records[s.patients[2].id]["status"] is None
    assert count(AttendanceRecord) == 2
    # A later PUT of one patient leaves the others as they are.
    client.put(url(s), json={"records": [{"patient_id": s.patients[0].id, "status": "late"}]}, headers=auth)
    records = {r["patient_id"]: r["status"] for r in client.get(url(s), headers=auth).get_json()["records"]}
    assert records == {s.patients[0].id: "late", s.patients[1].id: "absent", s.patients[2].id: None}


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "sleeping"},
        {"status": "absent", "reason": "BORED"},
        {"status": None},
        {"status": "present", "colour": "red"},
        {"status": "present", "patient_id": "x"},
        {"status": "present", "patient_id": 999999},
    ],
)
def test_one_bad_record_is_422_and_nothing_is_written(client, setup, bad):
    s, auth = setup
    body = {"records": [{"patient_id": s.patients[0].id, "status": "present"}, {"patient_id": s.patients[1].id, **bad}]}
    response = client.put(url(s), json=body, headers=auth)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["fields"]
    assert count(AttendanceRecord) == 0


def test_empty_and_malformed_bodies_are_4xx(client, setup):
    s, auth = setup
    assert client.put(url(s), json={"records": []}, headers=auth).status_code == 422
    assert client.put(url(s), json={}, headers=auth).status_code == 422
    assert client.put(url(s), data="records", headers={**auth, "Content-Type": "text/plain"}).status_code == 415
    assert count(AttendanceRecord) == 0


def test_a_future_session_marked_attended_is_422(client, setup):
    s, auth = setup
    future = f"/api/v1/sessions/{s.sessions[-1].id}/attendance"
    body = {"records": [{"patient_id": s.patients[0].id, "status": "present"}]}
    assert client.put(future, json=body, headers=auth).status_code == 422
    assert count(AttendanceRecord) == 0
    excused = {"records": [{"patient_id": s.patients[0].id, "status": "excused", "reason": "ILLNESS"}]}
    assert client.put(future, json=excused, headers=auth).status_code == 200


def test_a_session_of_another_practice_is_404(client, setup):
    s, auth = setup
    other = build(1)
    body = {"records": [{"patient_id": other.patients[0].id, "status": "present"}]}
    assert client.get(url(other), headers=auth).status_code == 404
    assert client.put(url(other), json=body, headers=auth).status_code == 404
    assert client.get("/api/v1/sessions/99999999999/attendance", headers=auth).status_code == 404
    assert count(AttendanceRecord) == 0


def test_follow_ups_list_and_close(client, setup):
    s, auth = setup
    body = {"records": [{"patient_id": s.patients[0].id, "status": "absent", "reason": "PAIN_INTENSITY"}]}
    client.put(url(s), json=body, headers=auth)
    listed = client.get("/api/v1/follow-ups", headers=auth).get_json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert (item["patient_id"], item["trigger"], item["status"]) == (s.patients[0].id, "EARLY_ABSENCE", "open")
    assert item["assigned_to_id"] == s.therapist.id
    bad = client.patch(f"/api/v1/follow-ups/{item['id']}", json={"outcome": "SOLVED"}, headers=auth)
    assert bad.status_code == 422
    closed = client.patch(
        f"/api/v1/follow-ups/{item['id']}",
        json={"outcome": "BARRIER_RECORDED", "reason": "PAIN_INTENSITY", "note": "Pain after session 1"},
        headers=auth,
    )
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["outcome"] == "BARRIER_RECORDED"
    assert db.session.execute(sa.select(Barrier.code)).scalars().all() == ["PAIN_INTENSITY"]
    again = client.patch(f"/api/v1/follow-ups/{item['id']}", json={"outcome": "UNREACHABLE"}, headers=auth)
    assert again.status_code == 409
    assert client.get("/api/v1/follow-ups?status=closed", headers=auth).get_json()["total"] == 1


def test_assistants_cannot_see_follow_ups(client, setup):
    s, _auth = setup
    assistant = api_token(make_user(s.practice, "assistant"))
    assert client.get("/api/v1/follow-ups", headers=assistant).status_code == 403
    assert client.get(url(s), headers=assistant).status_code == 200


def _record_some(client, s, auth):
    client.put(
        url(s, 0),
        json={"records": [{"patient_id": p.id, "status": "present"} for p in s.patients]},
        headers=auth,
    )
    client.put(
        url(s, 1),
        json={
            "records": [
                {"patient_id": s.patients[0].id, "status": "excused", "reason": "ILLNESS"},
                {"patient_id": s.patients[1].id, "status": "late"},
                {"patient_id": s.patients[2].id, "status": "absent"},
            ]
        },
        headers=auth,
    )


def test_compliance_report_json(client, setup):
    s, auth = setup
    _record_some(client, s, auth)
    start, end = s.sessions[0].starts_at.date().isoformat(), s.sessions[1].starts_at.date().isoformat()
    response = client.get(f"/api/v1/reports/compliance?group_id={s.group.id}&from={start}&to={end}", headers=auth)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["group_id"], body["from"], body["to"], body["threshold"]) == (s.group.id, start, end, 75)
    rows = {r["name"]: r for r in body["patients"]}
    assert {k: rows["Anna Jansen"][k] for k in ("scheduled", "attended", "excused", "absent", "rate")} == {
        "scheduled": 2,
        "attended": 1,
        "excused": 1,
        "absent": 0,
        "rate": 1.0,
    }
    assert rows["Zoë Çelik"]["rate"] == 0.5
    assert rows["Zoë Çelik"]["consecutive_absences"] == 1
    assert set(rows["Anna Jansen"]) >= {"patient_id", "days_since_last", "completion"}
    assert body["group"]["patients"] == 3


def test_compliance_report_csv(client, setup):
    s, auth = setup
    _record_some(client, s, auth)
    response = client.get(f"/api/v1/reports/compliance?group_id={s.group.id}&format=csv", headers=auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][0] == "patient_id" and len(rows) == 4
    assert "Zoë Çelik" in {row[1] for row in rows}


@pytest.mark.parametrize(
    "query",
    ["from=2026-13-01", "from=2026-05-02&to=2026-05-01", "from=0179-02-25", "group_id=abc", "format=xls", "group_id=0"],
)
def test_bad_report_arguments_are_422(client, setup, query):
    _s, auth = setup
    assert client.get(f"/api/v1/reports/compliance?{query}", headers=auth).status_code == 422


def test_report_for_a_group_of_another_practice_is_404(client, setup):
    _s, auth = setup
    other = build(1)
    assert client.get(f"/api/v1/reports/compliance?group_id={other.group.id}", headers=auth).status_code == 404


def test_the_openapi_document_lists_the_attendance_api(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/sessions/{session_id}/attendance"])
    assert "patch" in paths["/api/v1/follow-ups/{follow_up_id}"]
    assert "get" in paths["/api/v1/reports/compliance"]


def test_no_follow_up_is_duplicated_by_repeated_saves(client, setup):
    s, auth = setup
    for n in range(3):
        body = {"records": [{"patient_id": s.patients[0].id, "status": "absent"}]}
        client.put(url(s, n), json=body, headers=auth)
        client.put(url(s, n), json=body, headers=auth)
    assert count(FollowUp) == 1
