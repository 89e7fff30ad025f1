"""Staff see every message with the reason for failures and can retry; patients can stop reminders."""

from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from extensions import db
from reminders import operations
from reminders.dispatch import dispatch
from reminders.mail import SmtpSettings
from reminders.models import OutboxMessage
from tests.conftest import csrf_token
from tests.factories import login, make_practice, make_user
from tests.reminders.helpers import practice_with_session


def _sent_and_failed(smtp):
    practice, group, session, (bad, good) = practice_with_session(utcnow() + timedelta(hours=20))
    smtp.behaviour.refuse[bad.email] = "550 5.1.1 no such user"
    operations.queue_due_reminders(utcnow())
    dispatch(SmtpSettings("127.0.0.1", smtp.port, timeout=5))
    return practice, bad, good


def test_outbox_page_lists_messages_with_failure_reasons_and_retry(client, smtp, ctx):
    practice, bad, good = _sent_and_failed(smtp)
    user = make_user(practice=practice, role="assistant")
    login(client, user)
    page = client.get("/outbox").get_data(as_text=True)
    assert good.email in page and bad.email in page and "550 5.1.1 no such user" in page
    failed_only = client.get("/outbox?status=failed").get_data(as_text=True)
    assert bad.email in failed_only and good.email not in failed_only
    assert client.get("/outbox?status=bogus").status_code == 422

    failed = db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.status == "failed")).scalar_one()
    detail = client.get(f"/outbox/{failed.id}").get_data(as_text=True)
    assert "Send again" in detail and f"Beste {bad.name}" in detail  # the text the Dutch patient would get
    html = client.get(f"/outbox/{failed.id}/html")
    assert html.status_code == 200 and "sandbox" in html.headers["Content-Security-Policy"]

    smtp.behaviour.refuse.clear()
    assert client.post(f"/outbox/{failed.id}/retry", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    dispatch(SmtpSettings("127.0.0.1", smtp.port, timeout=5))
    db.session.expire_all()
    assert db.session.get(OutboxMessage, failed.id).status == "sent"
    assert [r.recipients[0] for r in smtp.received].count(bad.email) == 1


def test_outbox_is_scoped_to_the_practice(client, smtp, ctx):
    _sent_and_failed(smtp)
    stranger = make_user(practice=make_practice(), role="admin")
    login(client, stranger)
    message = db.session.execute(sa.select(OutboxMessage)).scalars().first()
    assert client.get(f"/outbox/{message.id}").status_code == 404
    assert client.get(f"/outbox/{message.id}/html").status_code == 404
    assert client.post(f"/outbox/{message.id}/retry", data={"csrf_token": csrf_token(client, "/")}).status_code == 404
    assert message.recipient not in client.get("/outbox").get_data(as_text=True)


def test_patient_stops_reminders_with_the_link_from_the_email(app, smtp, ctx):
    practice, group, session, (patient, other) = practice_with_session(utcnow() + timedelta(hours=20))
    operations.queue_due_reminders(utcnow())
    url = operations.stop_reminders_url(patient).removeprefix("http://motio.test")
    visitor = app.test_client()
    page = visitor.get(url)
    assert page.status_code == 200 and "Stop" in page.get_data(as_text=True)
    db.session.expire_all()
    assert patient.reminders_enabled  # looking at the page (or a mail scanner fetching it) changes nothing
    done = visitor.post(url)  # one-click unsubscribe: no CSRF token, the signed link is the proof
    assert done.status_code == 200
    db.session.expire_all()
    assert not patient.reminders_enabled and other.reminders_enabled
    statuses = dict(db.session.execute(sa.select(OutboxMessage.recipient, OutboxMessage.status)).all())
    assert statuses == {patient.email: "cancelled", other.email: "pending"}
    assert visitor.get("/reminders/stop/forged-token").status_code == 404


def test_admin_sets_reminder_times_and_quiet_hours(client):
    admin = make_user(role="admin")
    login(client, admin)
    token = csrf_token(client, "/settings/reminders")
    bad = client.post(
        "/settings/reminders",
        data={"remind_24h": "y", "quiet_hours": "y", "quiet_start": "22:00", "quiet_end": "22:00", "csrf_token": token},
    )
    assert "different start and end" in bad.get_data(as_text=True)
    garbage = client.post("/settings/reminders", data={"quiet_start": "25:99", "quiet_end": "", "csrf_token": token})
    assert garbage.status_code == 200 and "Not a valid time" in garbage.get_data(as_text=True)
    ok = client.post(
        "/settings/reminders",
        data={"remind_24h": "y", "remind_2h": "y", "quiet_start": "21:00", "quiet_end": "08:00", "csrf_token": token},
    )
    assert ok.status_code == 302
    prefs = operations.settings_for(admin.practice_id)
    assert prefs.remind_2h and not prefs.quiet_hours and prefs.quiet_start.hour == 21
    therapist = make_user(practice=admin.practice, role="therapist")
    other = client.application.test_client()
    login(other, therapist)
    assert other.get("/settings/reminders").status_code == 403
