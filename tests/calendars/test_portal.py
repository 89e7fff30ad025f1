"""The patient portal: audit-logged views as the patient, "I can't come", preferences, education, questionnaires."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import AuditEvent
from calendars import operations as ops
from calendars.models import AbsenceNotice, QuestionnaireRequest
from core.actor import Actor
from core.db import utcnow
from extensions import db
from supervision import education
from supervision.models import Assessment
from tests.calendars.helpers import setup_group
from tests.conftest import csrf_from
from tests.factories import make_patient


def portal_path(practice, patient) -> str:
    row = ops.rotate_patient_link(Actor.system(practice.id), patient.id, "portal")
    return f"/p/{ops.link_token(row)}"


def notices() -> list[AbsenceNotice]:
    return db.session.execute(sa.select(AbsenceNotice)).scalars().all()


def test_portal_shows_sessions_feed_link_and_qr_and_is_audited_as_the_patient(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"name": "Anna", "language": "en"}])
    path = portal_path(practice, anna)
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Hello Anna" in html and group.name in html
    assert "webcal://motio.test/feeds/" in html and "calendar.google.com/calendar/r?cid=" in html
    assert 'src="data:image/svg+xml' in html
    assert '<meta name="referrer" content="no-referrer">' in html
    assert "<script" not in html and "style=" not in html
    [event] = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.object_type == "portal", AuditEvent.patient_id == anna.id)
    ).scalars()
    assert event.actor_type == "patient" and event.action == "view" and event.user_id is None


def test_large_text_toggle_is_remembered(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = portal_path(practice, anna)
    assert 'class="portal large-text"' in client.get(path + "?large=1").get_data(as_text=True)
    assert 'class="portal large-text"' in client.get(path).get_data(as_text=True)
    assert 'class="portal"' in client.get(path + "?large=0").get_data(as_text=True)


def test_portal_is_in_the_patients_language(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"language": "nl"}])
    html = client.get(portal_path(practice, anna)).get_data(as_text=True)
    assert '<html lang="nl">' in html


def _absence(client, path, **data):
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path + "/absence", data={"csrf_token": token, **data})


def test_i_cant_come_is_stored_as_an_excused_absence(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = portal_path(practice, anna)
    response = _absence(client, path, session_id=str(sessions[0].id), reason="ILLNESS", note="griep")
    assert response.status_code == 302
    [notice] = notices()
    assert (notice.patient_id, notice.session_id, notice.reason, notice.note) == (
        anna.id,
        sessions[0].id,
        "ILLNESS",
        "griep",
    )
    assert "U heeft zich afgemeld" in client.get(path).get_data(as_text=True)  # the patient reads Dutch
    again = _absence(client, path, session_id=str(sessions[0].id), reason="ILLNESS")
    assert again.status_code == 409 and len(notices()) == 1


def test_bad_absence_input_gets_a_clear_message_and_stores_nothing(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    other_practice, _, other_group, other_sessions, _ = setup_group(patients=[{}])
    path = portal_path(practice, anna)
    past = sessions[-1]
    past.starts_at, past.ends_at = utcnow() - timedelta(days=1), utcnow() - timedelta(days=1) + timedelta(hours=1)
    db.session.flush()
    cases = [
        ({"session_id": str(sessions[0].id), "reason": "BROKEN_LEG"}, "reason"),
        ({"session_id": str(sessions[0].id), "reason": "RECOVERED"}, "reason"),  # withdrawal only
        ({"session_id": str(other_sessions[0].id), "reason": "ILLNESS"}, "session"),
        ({"session_id": str(past.id), "reason": "ILLNESS"}, "session"),
        ({"session_id": "abc", "reason": "ILLNESS"}, "session"),
        ({"session_id": str(sessions[0].id), "reason": "ILLNESS", "note": "x" * 501}, "note"),
    ]
    for data, _field in cases:
        response = _absence(client, path, **data)
        assert response.status_code == 422, data
        assert "Kijk nog eens goed naar wat u heeft ingevuld." in response.get_data(as_text=True)
    assert notices() == []


def test_preferences_are_saved_and_bad_values_refused(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"calendar_preference": "feed"}])
    path = portal_path(practice, anna)
    token = csrf_from(client.get(path).get_data(as_text=True))
    bad = client.post(
        path + "/preferences", data={"csrf_token": token, "calendar_preference": "fax", "reminders_enabled": "0"}
    )
    assert bad.status_code == 422
    db.session.refresh(anna)
    assert anna.calendar_preference == "feed" and anna.reminders_enabled
    good = client.post(
        path + "/preferences",
        data={"csrf_token": token, "calendar_preference": "invitations", "reminders_enabled": "0"},
    )
    assert good.status_code == 302
    db.session.refresh(anna)
    assert anna.calendar_preference == "invitations" and not anna.reminders_enabled


def test_forms_without_csrf_token_are_refused(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = portal_path(practice, anna)
    response = client.post(path + "/absence", data={"session_id": str(sessions[0].id), "reason": "ILLNESS"})
    assert response.status_code == 400 and notices() == []


def test_unknown_revoked_and_malformed_portal_links_are_404(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = portal_path(practice, anna)
    ops.revoke_patient_link(Actor.system(practice.id), anna.id, "portal")
    feed = ops.rotate_patient_link(Actor.system(practice.id), anna.id, "patient")
    for base in (path, "/p/" + "B" * 43, "/p/short", f"/p/{ops.link_token(feed)}"):
        assert client.get(base).status_code == 404
        assert client.post(base + "/preferences", data={"calendar_preference": "none"}).status_code in (400, 404)


def test_assigned_education_items_are_shown_in_plain_language(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"language": "en", "plain_language": True}])
    actor = Actor.for_user(supervisor)
    item = education.create_item(
        actor,
        {
            "title_en": "Hurt is not harm",
            "text_en": "Long text.",
            "plain_en": "Pain does not mean damage.",
            "video_url": "https://video.example/hurt",
        },
    )
    education.assign_item(actor, anna.id, item.id)
    html = client.get(portal_path(practice, anna)).get_data(as_text=True)
    assert "Hurt is not harm" in html and "Pain does not mean damage." in html and "Long text." not in html
    assert 'href="https://video.example/hurt" rel="noreferrer noopener"' in html


def test_questionnaire_requested_by_the_therapist_becomes_a_patient_assessment(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"language": "en"}])
    ops.request_questionnaire(Actor.for_user(supervisor), anna.id, "reassessment")
    path = portal_path(practice, anna)
    html = client.get(path).get_data(as_text=True)
    [request] = db.session.execute(sa.select(QuestionnaireRequest)).scalars()
    link = f"{path}/questionnaire/{request.id}"
    assert link in html
    form = client.get(link)
    assert form.status_code == 200 and "RED_FLAGS" not in form.get_data(as_text=True)
    token = csrf_from(form.get_data(as_text=True))
    bad = client.post(link, data={"csrf_token": token, "NRS": "99"})
    assert bad.status_code == 422
    assert db.session.execute(sa.select(Assessment)).first() is None
    answers = {"csrf_token": token, "NRS": "3", "STAGE": "action"}
    answers.update({f"TSK11-{n}": "1" for n in range(1, 12)})
    response = client.post(link, data=answers)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    [assessment] = db.session.execute(sa.select(Assessment)).scalars()
    assert assessment.source == "patient" and assessment.patient_id == anna.id and assessment.reviewed_at is None
    db.session.refresh(request)
    assert request.completed_at is not None and request.assessment_id == assessment.id
    assert client.get(link).status_code == 404


def test_another_patients_link_never_shows_this_patients_sessions(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"name": "Anna"}])
    stranger = make_patient(practice, name="Stranger")
    html = client.get(portal_path(practice, stranger)).get_data(as_text=True)
    assert group.name not in html and "Anna" not in html
