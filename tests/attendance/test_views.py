"""HTML pages: the tablet roll-call (forms with CSRF, no JavaScript needed), follow-ups, reports with charts and
CSV, the GP summary, the dashboard panel and the patient-page section."""

from __future__ import annotations

import sqlalchemy as sa

from attendance.models import AttendanceRecord, FollowUp
from extensions import db
from tests.attendance.helpers import build
from tests.conftest import csrf_token
from tests.factories import login, make_patient, make_practice, make_user


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def page(s, n=0):
    return f"/attendance/sessions/{s.sessions[n].id}"


def test_roll_call_page_and_one_tap_per_patient(client, ctx):
    s = build(2, names=["Anna Jansen", "Zoë Çelik"])
    login(client, s.therapist)
    html = client.get(page(s)).get_data(as_text=True)
    assert "Anna Jansen" in html and "Zoë Çelik" in html
    assert 'name="status" value="present"' in html and "<script>" not in html and "style=" not in html
    token = csrf_token(client, page(s))
    response = client.post(
        page(s), data={"csrf_token": token, "patient_id": s.patients[1].id, "status": "absent", "reason": "NO_TIME"}
    )
    assert response.status_code == 302
    record = db.session.execute(sa.select(AttendanceRecord)).scalar_one()
    assert (record.patient_id, record.status, record.reason) == (s.patients[1].id, "absent", "NO_TIME")
    client.post(page(s), data={"csrf_token": token, "action": "all_present"})
    assert count(AttendanceRecord) == 2
    html = client.get(page(s)).get_data(as_text=True)
    assert "2 of 2 recorded" in html


def test_roll_call_form_needs_csrf_and_bad_input_writes_nothing(client, ctx):
    s = build(1)
    login(client, s.therapist)
    assert client.post(page(s), data={"patient_id": s.patients[0].id, "status": "present"}).status_code == 400
    token = csrf_token(client, page(s))
    response = client.post(page(s), data={"csrf_token": token, "patient_id": s.patients[0].id, "status": "nap"})
    assert response.status_code == 302
    assert "Nothing was saved" in client.get(page(s)).get_data(as_text=True)
    future = page(s, len(s.sessions) - 1)
    client.post(future, data={"csrf_token": token, "patient_id": s.patients[0].id, "status": "present"})
    assert client.post(page(s), data={"csrf_token": token, "patient_id": "x", "status": "present"}).status_code == 400
    assert count(AttendanceRecord) == 0


def test_roll_call_of_another_practice_is_404(client, ctx):
    s = build(1)
    other = build(1)
    login(client, s.therapist)
    assert client.get(page(other)).status_code == 404


def test_the_roll_call_page_takes_the_same_number_of_queries_for_10_and_30_patients(app, client, ctx):
    def queries(s) -> int:
        statements = []

        def listener(*args):
            statements.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(page(s)).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    practice = make_practice()
    small = build(10, practice=practice)
    large = build(30, practice=practice)
    for setup in (small, large):
        ops_rows = [{"patient_id": p.id, "status": "present"} for p in setup.patients[::2]]
        from attendance import operations as ops

        ops.record_attendance(setup.actor, setup.sessions[0].id, ops_rows, now=setup.at(0))
    login(client, small.therapist)
    client.get(page(small))  # warm-up: first-request work (login record, caches) is not the page's
    assert queries(small) == queries(large)


def test_follow_up_page_closes_with_an_outcome(client, ctx):
    s = build(1)
    from attendance import operations as ops

    ops.record_attendance(s.actor, s.sessions[0].id, [{"patient_id": s.patients[0].id, "status": "absent"}])
    login(client, s.therapist)
    html = client.get("/attendance/follow-ups").get_data(as_text=True)
    assert s.patients[0].name in html and "first 2 weeks" in html
    follow_up = db.session.execute(sa.select(FollowUp)).scalar_one()
    from supervision import operations as supervision

    supervision.add_barrier(s.actor, s.patients[0].id, code="NO_TIME")
    assert "Other time slot" in client.get("/attendance/follow-ups").get_data(as_text=True)
    token = csrf_token(client, "/attendance/follow-ups")
    client.post(
        f"/attendance/follow-ups/{follow_up.id}",
        data={"csrf_token": token, "outcome": "MAKEUP_PLANNED", "note": "Thursday group"},
    )
    db.session.expire_all()
    assert follow_up.status == "closed" and follow_up.outcome == "MAKEUP_PLANNED"


def test_assistants_cannot_open_follow_ups_or_reports(client, ctx):
    s = build(1)
    login(client, make_user(s.practice, "assistant"))
    assert client.get("/attendance/follow-ups").status_code == 403
    assert client.get("/attendance/reports").status_code == 403
    assert client.get(page(s)).status_code == 200


def test_report_page_with_charts_and_csv(client, ctx):
    s = build(2, names=["Anna Jansen", "Zoë Çelik"])
    from attendance import operations as ops

    ops.record_attendance(
        s.actor,
        s.sessions[0].id,
        [{"patient_id": s.patients[0].id, "status": "present"}, {"patient_id": s.patients[1].id, "status": "late"}],
    )
    login(client, s.therapist)
    html = client.get(f"/attendance/reports?group_id={s.group.id}").get_data(as_text=True)
    assert html.count("<svg") == 3 and "<title" in html and "Zoë Çelik" in html
    response = client.get(f"/attendance/reports.csv?group_id={s.group.id}&table=patients")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    assert "Zoë Çelik" in response.data.decode("utf-8")
    assert client.get("/attendance/reports.csv?table=nope").status_code == 404
    assert client.get("/attendance/reports?from=2026-99-01").status_code == 302
    assert client.get("/attendance/reports?group_id=999999").status_code == 404


def test_gp_summary_and_patient_section(client, ctx):
    s = build(1, names=["Zoë Çelik"])
    from attendance import operations as ops

    ops.record_attendance(s.actor, s.sessions[0].id, [{"patient_id": s.patients[0].id, "status": "present"}])
    login(client, s.therapist)
    summary = client.get(f"/attendance/patients/{s.patients[0].id}/summary").get_data(as_text=True)
    assert "Zoë Çelik" in summary and "attendance.css" in summary
    detail = client.get(f"/patients/{s.patients[0].id}").get_data(as_text=True)
    assert 'id="attendance"' in detail and "100%" in detail
    assert client.get(f"/attendance/patients/{make_patient(make_practice()).id}/summary").status_code == 404


def test_dashboard_shows_today_and_follow_ups(client, ctx):
    s = build(1)
    login(client, s.therapist)
    html = client.get("/").get_data(as_text=True)
    assert "Today&#39;s sessions" in html or "Today's sessions" in html
    assert "Open follow-ups" in html
