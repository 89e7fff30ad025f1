"""The outbox and dispatcher in-process, against a real aiosmtpd server (RELIABILITY.md 4, 5, 7, 8)."""

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations as groups
from reminders import operations
from reminders.dispatch import dispatch
from reminders.mail import SmtpSettings
from reminders.models import OutboxMessage
from tests.reminders.helpers import practice_with_session
from tests.smtp import SmtpServer


def settings(server: SmtpServer) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", server.port, timeout=5)


def rows(**where):
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    db.session.expire_all()
    return db.session.execute(query).scalars().all()


def test_due_reminders_are_sent_once_in_the_patients_language(app, smtp, ctx):
    start = utcnow() + timedelta(hours=20)
    practice, group, session, (anna, bob) = practice_with_session(start)
    bob.language = "en"
    assert operations.queue_due_reminders(utcnow()) == 2
    assert operations.queue_due_reminders(utcnow()) == 0  # a second scan queues nothing twice

    stats = dispatch(settings(smtp))
    assert stats.sent == 2
    by_recipient = {r.recipients[0]: r.message for r in smtp.received}
    nl, en = by_recipient[anna.email], by_recipient[bob.email]
    assert nl["Subject"].startswith("Herinnering: " + group.name)
    assert en["Subject"].startswith("Reminder: " + group.name)
    text = en.get_body(preferencelist=("plain",)).get_content()
    assert "sports shoes" in text and "030 111 2233" in text and "/reminders/stop/" in text
    assert en["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = en.get_body(preferencelist=("html",)).get_content()
    assert "<img" not in html and " src=" not in html and "<link" not in html  # no remote images or styles
    assert dispatch(settings(smtp)).sent == 0
    assert len(smtp.received) == 2


def test_patients_who_opted_out_or_gave_no_consent_get_nothing(app, smtp, ctx):
    start = utcnow() + timedelta(hours=20)
    practice, group, session, (quiet, no_consent) = practice_with_session(start)
    quiet.reminders_enabled = False
    no_consent.email_consent = False
    assert operations.queue_due_reminders(utcnow()) == 0


def test_reminder_is_queued_only_when_due_and_expires_once_the_session_started(app, smtp, ctx):
    start = utcnow() + timedelta(hours=30)
    practice_with_session(start, patients=1)
    assert operations.queue_due_reminders(utcnow()) == 0  # 24 h before is 6 hours away
    # Queued a few minutes ahead (the scan runs every minute), to be sent exactly 24 hours before.
    assert operations.queue_due_reminders(start - timedelta(hours=24, minutes=5)) == 1
    [row] = rows(kind="reminder")
    assert row.next_attempt_at == start - timedelta(hours=24) and row.not_after == start
    # The scheduler was down until after the session began: the reminder is never sent late.
    stats = dispatch(settings(smtp), now_fn=lambda: start + timedelta(minutes=1))
    assert stats.expired == 1 and smtp.received == []
    assert rows(kind="reminder")[0].status == "expired"


def test_moved_session_cancels_the_old_reminder_and_queues_a_new_one(app, smtp, ctx):
    start = utcnow() + timedelta(hours=20)
    practice, group, session, (patient,) = practice_with_session(start, patients=1)
    operations.queue_due_reminders(utcnow())
    groups.change_session(
        Actor.system(practice.id),
        session.id,
        {"starts_at": start + timedelta(hours=2), "ends_at": start + timedelta(hours=3)},
        reason="zaal bezet",
    )
    assert session.sequence == 1
    assert operations.queue_due_reminders(utcnow()) == 1
    dispatch(settings(smtp))
    old, new = rows(kind="reminder")
    assert old.status == "cancelled" and "changed" in old.last_error
    assert new.status == "sent" and new.sequence == 1
    assert len(smtp.received) == 1 and "-q1@" in smtp.received[0].message_id


def test_cancelled_session_sends_no_reminder(app, smtp, ctx):
    start = utcnow() + timedelta(hours=20)
    practice, group, session, _ = practice_with_session(start)
    operations.queue_due_reminders(utcnow())
    groups.cancel_session(Actor.system(practice.id), session.id, reason="ziekte trainer")
    stats = dispatch(settings(smtp))
    assert stats.cancelled == 2 and smtp.received == []


def test_550_for_one_recipient_fails_that_row_with_the_reason_and_delivers_the_rest(app, smtp, ctx):
    practice, group, session, (bad, good) = practice_with_session(utcnow() + timedelta(hours=20))
    smtp.behaviour.refuse[bad.email] = "550 5.1.1 mailbox unavailable"
    operations.queue_due_reminders(utcnow())
    stats = dispatch(settings(smtp))
    assert (stats.sent, stats.failed) == (1, 1)
    failed = rows(status="failed")[0]
    assert failed.recipient == bad.email and "550" in failed.last_error and "mailbox unavailable" in failed.last_error
    assert [r.recipients for r in smtp.received] == [[good.email]]


def test_421_is_retried_with_backoff_and_delivered_when_the_server_recovers(app, smtp, ctx):
    practice_with_session(utcnow() + timedelta(hours=20), patients=1)
    operations.queue_due_reminders(utcnow())
    smtp.behaviour.data_reply = "421 4.3.2 busy, try later"
    now = utcnow()
    assert dispatch(settings(smtp), now_fn=lambda: now).retried == 1
    [row] = rows(kind="reminder")
    assert row.status == "pending" and row.attempts == 1 and "421" in row.last_error
    assert row.next_attempt_at == now + timedelta(minutes=1)
    assert dispatch(settings(smtp), now_fn=lambda: now).claimed == 0  # not before the backoff has passed
    now += timedelta(minutes=1)
    assert dispatch(settings(smtp), now_fn=lambda: now).retried == 1
    assert rows(kind="reminder")[0].next_attempt_at == now + timedelta(minutes=2)  # doubled
    smtp.behaviour.data_reply = None
    now += timedelta(minutes=2)
    assert dispatch(settings(smtp), now_fn=lambda: now).sent == 1
    assert len(smtp.received) == 1


def test_server_down_then_up(app, ctx):
    practice_with_session(utcnow() + timedelta(hours=20), patients=2)
    operations.queue_due_reminders(utcnow())
    server = SmtpServer()  # port chosen, nothing listening yet: connection refused
    now = utcnow()
    stats = dispatch(settings(server), now_fn=lambda: now)
    assert stats.retried == 2
    assert all("Cannot reach SMTP server" in r.last_error for r in rows(kind="reminder"))
    server.start()
    try:
        assert dispatch(settings(server), now_fn=lambda: now + timedelta(minutes=1)).sent == 2
        assert len(server.received) == 2
    finally:
        server.stop()


def test_a_rolled_back_change_sends_nothing(app, smtp, ctx):
    practice_with_session(utcnow() + timedelta(hours=20), patients=1)
    savepoint = db.session.begin_nested()
    operations.queue_due_reminders(utcnow())
    assert rows(kind="reminder")
    savepoint.rollback()
    assert dispatch(settings(smtp)).claimed == 0 and smtp.received == []


def test_bad_configuration_gives_backed_off_rows_not_a_crash(app, ctx, caplog):
    practice_with_session(utcnow() + timedelta(hours=20), patients=1)
    operations.queue_due_reminders(utcnow())
    bad_settings = (SmtpSettings("no-such-host.invalid", 25, timeout=2), SmtpSettings("127.0.0.1", 1, timeout=2))
    for minutes, bad in zip((0, 5), bad_settings, strict=True):
        stats = dispatch(bad, now_fn=lambda minutes=minutes: utcnow() + timedelta(minutes=minutes))
        assert stats.retried == 1
    assert "SMTP unavailable" in caplog.text


def test_scheduler_down_for_two_hours_sends_what_is_due_and_expires_what_started(app, smtp, ctx):
    """RELIABILITY.md acceptance test 3: the last scan ran two hours ago, then the scheduler was down."""
    now = utcnow()
    two_hours_ago = now - timedelta(hours=2)
    _, _, soon, (waiting,) = practice_with_session(now + timedelta(hours=1), patients=1)
    _, _, started, (too_late,) = practice_with_session(now - timedelta(minutes=30), patients=1)
    assert operations.queue_due_reminders(two_hours_ago) == 2  # both were due then
    # Back up: the scan finds nothing new, the dispatcher sends one and expires the other.
    assert operations.queue_due_reminders(now) == 0
    stats = dispatch(settings(smtp), now_fn=lambda: now)
    assert (stats.sent, stats.expired) == (1, 1)
    assert [r.recipients for r in smtp.received] == [[waiting.email]]
    assert {r.recipient: r.status for r in rows(kind="reminder")} == {waiting.email: "sent", too_late.email: "expired"}


def test_reminders_around_the_dst_change_go_24_real_hours_ahead(app, smtp, ctx):
    """RELIABILITY.md acceptance test 6: a Monday 18:00 session after the clocks went forward on Sunday."""
    from zoneinfo import ZoneInfo

    from tests.groups.helpers import last_sunday

    ams = ZoneInfo("Europe/Amsterdam")
    sunday = last_sunday(2027, 3)
    start = datetime.combine(sunday, time(18), ams).astimezone(UTC)  # 18:00 CEST on the day of the change
    practice_with_session(start, patients=1)
    before = start - timedelta(hours=24, minutes=5)
    assert operations.queue_due_reminders(before) == 1
    [row] = rows(kind="reminder")
    assert row.next_attempt_at == start - timedelta(hours=24)
    assert row.next_attempt_at.astimezone(ams).hour == 17  # Saturday 17:00 CET is 24 hours before Sunday 18:00 CEST
    assert dispatch(settings(smtp), now_fn=lambda: row.next_attempt_at).sent == 1
    text = smtp.received[0].message.get_body(preferencelist=("plain",)).get_content()
    assert "18:00" in text  # the email shows the local time of the session


def test_quiet_hours_move_a_night_reminder_to_the_evening_before(app, smtp, ctx):
    from zoneinfo import ZoneInfo

    ams = ZoneInfo("Europe/Amsterdam")
    tomorrow = (utcnow() + timedelta(days=2)).astimezone(ams).date()
    start = datetime.combine(tomorrow, time(6, 30), ams).astimezone(UTC)  # 24 h before is 06:30, in quiet hours
    practice_with_session(start, patients=1, quiet_hours=True)
    operations.queue_due_reminders(start - timedelta(hours=33, minutes=5))  # 21:25 the evening before
    [row] = rows(kind="reminder")
    local = row.next_attempt_at.astimezone(ams)
    assert (local.date(), local.hour, local.minute) == (tomorrow - timedelta(days=2), 21, 30)


def test_refused_smtp_login_is_logged_and_retried_later(app, ctx, caplog):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.smtp import Handler, free_port

    practice_with_session(utcnow() + timedelta(hours=20), patients=1)
    operations.queue_due_reminders(utcnow())
    port = free_port()
    server = Controller(
        Handler(SmtpServer().behaviour),
        hostname="127.0.0.1",
        port=port,
        authenticator=lambda *args: AuthResult(success=False, handled=False),
        auth_require_tls=False,
    )
    server.start()
    try:
        stats = dispatch(SmtpSettings("127.0.0.1", port, username="motio", password="wrong", timeout=5))
    finally:
        server.stop()
    assert stats.retried == 1
    [row] = rows(kind="reminder")
    assert row.status == "pending" and "SMTP login refused" in row.last_error
    assert "SMTP login refused" in caplog.text
