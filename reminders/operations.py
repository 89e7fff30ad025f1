"""Use cases of the outbox: queue messages, the reminder scan, what staff see and retry.

Messages are queued in the caller's transaction (a rolled-back enrolment sends nothing) and deduplicated by
a unique key, so a scan that runs twice, or two scheduler processes, queue each message once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime as rfc2822_date
from email.utils import formataddr
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date, format_time
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from accounts.models import Practice
from accounts.operations import audit
from core.access import get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Forbidden, Invalid
from extensions import db
from groups.models import Enrolment, Session
from groups.operations import enrolment_covers
from patients.models import Patient
from reminders import dispatch, rules
from reminders.jobs import register_scan
from reminders.models import KINDS, STATUSES, OutboxMessage, ReminderSettings

#: How far ahead the reminder scan looks beyond "due now", so a reminder is queued before it is due and the
#: dispatcher sends it on time even if the scan runs only every minute.
LOOKAHEAD = timedelta(minutes=10)


# --- queueing ------------------------------------------------------------------------------------------------


def host() -> str:
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "motio.local"


def sender_for(practice: Practice) -> tuple[str, str]:
    """(envelope sender, From address): the relay's address if configured, and the practice's own mailbox."""
    mailbox = practice.sender_email or current_app.config["MAIL_FROM"] or f"noreply@{host()}"
    return current_app.config["MAIL_FROM"] or mailbox, mailbox


def queue(
    *,
    practice: Practice,
    kind: str,
    dedupe_key: str,
    recipient: str,
    message: EmailMessage,
    patient_id: int | None = None,
    user_id: int | None = None,
    session_id: int | None = None,
    sequence: int = 0,
    send_at: datetime | None = None,
    not_after: datetime | None = None,
) -> OutboxMessage | None:
    """Queue one message in the current transaction; None if the same message is already queued."""
    assert kind in KINDS
    existing = db.session.execute(sa.select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if existing:
        return None
    envelope, _ = sender_for(practice)
    row = OutboxMessage(
        practice_id=practice.id,
        kind=kind,
        patient_id=patient_id,
        user_id=user_id,
        session_id=session_id,
        sequence=sequence,
        dedupe_key=dedupe_key,
        sender=envelope,
        recipient=recipient,
        subject=str(message["Subject"]),
        mime=message.as_bytes(policy=SMTP),
        message_id=message["Message-ID"],
        next_attempt_at=send_at or utcnow(),
        not_after=not_after,
    )
    # A savepoint: if another process queued the same key in between, only this insert is undone.
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:
        return None
    return row


def compose(
    *,
    practice: Practice,
    recipient: str,
    recipient_name: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    _, mailbox = sender_for(practice)
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((practice.name, mailbox))
    message["To"] = formataddr((recipient_name, recipient))
    message["Subject"] = subject
    message["Date"] = rfc2822_date(utcnow())
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# --- patient links -------------------------------------------------------------------------------------------


def _stop_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="motio-stop-reminders")


def stop_reminders_url(patient: Patient) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/reminders/stop/{_stop_serializer().dumps(patient.id)}"


def patient_for_stop_token(token: str) -> Patient | None:
    try:
        patient_id = _stop_serializer().loads(token)
    except BadSignature:
        return None
    return db.session.get(Patient, patient_id) if isinstance(patient_id, int) else None


def stop_reminders(patient: Patient, ip: str) -> None:
    """The patient followed the link in a reminder: no more reminders (other messages still come)."""
    if patient.reminders_enabled:
        patient.reminders_enabled = False
        actor = Actor(practice_id=patient.practice_id, kind="patient", ip=ip, patient_id=patient.id)
        audit(
            actor,
            "update",
            patient_id=patient.id,
            object_type="patient",
            object_id=patient.id,
            detail="reminders_enabled (unsubscribe link)",
        )
    pending = (
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.patient_id == patient.id, OutboxMessage.kind == "reminder", OutboxMessage.status == "pending"
        )
        .values(status="cancelled", last_error="patient stopped reminders")
    )
    db.session.execute(pending.execution_options(synchronize_session=False))
    db.session.flush()


# --- reminders -----------------------------------------------------------------------------------------------


def settings_for(practice_id: int) -> ReminderSettings:
    return db.session.get(ReminderSettings, practice_id) or ReminderSettings(practice_id=practice_id)


def offsets(settings: ReminderSettings) -> list[timedelta]:
    chosen = []
    if settings.remind_24h:
        chosen.append(timedelta(hours=24))
    if settings.remind_2h:
        chosen.append(timedelta(hours=2))
    return chosen


def wants_email(patient: Patient) -> bool:
    return bool(patient.email and patient.email_consent and patient.archived_at is None)


@dataclass(frozen=True)
class SessionFacts:
    """What a reminder says about a session, in the patient's language and the practice's time zone."""

    group: str
    day: str
    start: str
    end: str
    place: str
    address: str


def session_facts(session: Session, practice: Practice, language: str) -> SessionFacts:
    zone = ZoneInfo(session.group.timezone or practice.timezone)
    start, end = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
    room = session.room
    return SessionFacts(
        group=session.group.name,
        day=format_date(start, "EEEE d MMMM", locale=language),
        start=format_time(start, "HH:mm", locale=language),
        end=format_time(end, "HH:mm", locale=language),
        place=room.name,
        address=room.address or practice.address,
    )


def reminder_message(
    practice: Practice, patient: Patient, session: Session, offset: timedelta, send_at: datetime
) -> EmailMessage:
    hours = int(offset.total_seconds() // 3600)
    zone = ZoneInfo(session.group.timezone or practice.timezone)
    # "Today", "tomorrow" or the date, as seen on the day the patient reads it (quiet hours or a late queue can
    # make a 24-hour reminder arrive on the same day as the session).
    days_ahead = (session.starts_at.astimezone(zone).date() - send_at.astimezone(zone).date()).days
    with force_locale(patient.language):
        facts = session_facts(session, practice, patient.language)
        stop_url = stop_reminders_url(patient)
        context = {
            "practice": practice,
            "patient": patient,
            "facts": facts,
            "hours": hours,
            "stop_url": stop_url,
            "days_ahead": days_ahead,
        }
        subject = str(
            _l("Reminder: %(group)s on %(day)s at %(start)s", group=facts.group, day=facts.day, start=facts.start)
        )
        text = render_template("reminders/email/reminder.txt", **context)
        html = render_template("reminders/email/reminder.html", **context)
    return compose(
        practice=practice,
        recipient=patient.email,
        recipient_name=patient.name,
        subject=subject,
        text=text,
        html=html,
        message_id=f"<reminder-{hours}h-s{session.id}-p{patient.id}-q{session.sequence}@{host()}>",
        extra_headers={"List-Unsubscribe": f"<{stop_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def queue_due_reminders(now: datetime) -> int:
    """Queue every reminder that is due before now + LOOKAHEAD and not queued yet (idempotent)."""
    queued = 0
    longest = timedelta(hours=24)
    rows = db.session.execute(
        sa.select(Session, Enrolment, Patient, Practice)
        .join(Enrolment, enrolment_covers())
        .join(Patient, Patient.id == Enrolment.patient_id)
        .join(Practice, Practice.id == Session.practice_id)
        .where(
            Session.status == "scheduled",
            Session.starts_at > now,
            Session.starts_at <= now + longest + LOOKAHEAD + timedelta(days=1),  # quiet hours move reminders earlier
            Patient.reminders_enabled.is_(True),
        )
        .order_by(Session.starts_at)
    ).all()
    settings: dict[int, ReminderSettings] = {}
    due = []
    for session, _enrolment, patient, practice in rows:
        if not wants_email(patient):
            continue
        prefs = settings.setdefault(practice.id, settings_for(practice.id))
        quiet = rules.QuietHours(prefs.quiet_start, prefs.quiet_end) if prefs.quiet_hours else None
        for offset in offsets(prefs):
            send_at = rules.reminder_time(session.starts_at, offset, session.group.timezone, quiet)
            if send_at <= now + LOOKAHEAD:
                hours = int(offset.total_seconds() // 3600)
                key = f"reminder:{hours}h:s{session.id}:p{patient.id}:q{session.sequence}"
                due.append((key, session, patient, practice, offset, max(send_at, now)))
    # The scan runs every minute: find what is already queued in one query and render only the new messages.
    known = set()
    keys = [item[0] for item in due]
    for start in range(0, len(keys), 500):
        known.update(
            db.session.execute(
                sa.select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys[start : start + 500]))
            ).scalars()
        )
    for key, session, patient, practice, offset, send_at in due:
        if key in known:
            continue
        row = queue(
            practice=practice,
            kind="reminder",
            patient_id=patient.id,
            session_id=session.id,
            sequence=session.sequence,
            dedupe_key=key,
            recipient=patient.email,
            message=reminder_message(practice, patient, session, offset, send_at),
            send_at=send_at,
            not_after=session.starts_at,
        )
        queued += row is not None
    return queued


def reminders_stale(rows: list[OutboxMessage]) -> dict[int, str]:
    """Reminders whose session moved, was cancelled, or whose patient opted out or left the group."""
    session_ids = {row.session_id for row in rows if row.session_id}
    sessions = {s.id: s for s in db.session.execute(sa.select(Session).where(Session.id.in_(session_ids))).scalars()}
    patients = {
        p.id: p
        for p in db.session.execute(
            sa.select(Patient).where(Patient.id.in_({row.patient_id for row in rows if row.patient_id}))
        ).scalars()
    }
    covered = set(
        db.session.execute(
            sa.select(Session.id, Enrolment.patient_id)
            .join(Enrolment, enrolment_covers())
            .where(Session.id.in_(session_ids))
        ).all()
    )
    stale = {}
    for row in rows:
        session, patient = sessions.get(row.session_id), patients.get(row.patient_id)
        if session is None or session.status != "scheduled":
            stale[row.id] = "session cancelled"
        elif session.sequence != row.sequence:
            stale[row.id] = "session changed; a new reminder is queued"
        elif patient is None or not patient.reminders_enabled or not wants_email(patient):
            stale[row.id] = "patient does not want reminders"
        elif (session.id, patient.id) not in covered:
            stale[row.id] = "patient no longer in the group"
    return stale


def cancel_pending_for_session(session_id: int, reason: str) -> int:
    """Drop queued reminders of a session that moved or was cancelled (the scan queues new ones if needed)."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.session_id == session_id, OutboxMessage.kind == "reminder", OutboxMessage.status == "pending"
        )
        .values(status="cancelled", last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


register_scan("reminder_scan", 60, queue_due_reminders)
dispatch.register_stale_check("reminder", reminders_stale)


# --- staff views ---------------------------------------------------------------------------------------------


def outbox_page(actor: Actor, *, status: str | None, kind: str | None, page: int, per_page: int = 50):
    query = sa.select(OutboxMessage).where(OutboxMessage.practice_id == actor.practice_id)
    if status:
        if status not in STATUSES:
            raise Invalid(_l("Unknown status."), {"status": str(_l("Unknown status."))})
        query = query.where(OutboxMessage.status == status)
    if kind:
        if kind not in KINDS:
            raise Invalid(_l("Unknown kind."), {"kind": str(_l("Unknown kind."))})
        query = query.where(OutboxMessage.kind == kind)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(
            query.order_by(OutboxMessage.next_attempt_at.desc(), OutboxMessage.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        .scalars()
        .all()
    )
    return rows, total


def outbox_counts(practice_id: int) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count())
            .where(OutboxMessage.practice_id == practice_id)
            .group_by(OutboxMessage.status)
        ).all()
    )
    return counts


def get_message(actor: Actor, message_id) -> OutboxMessage:
    row = get_scoped(OutboxMessage, message_id, actor.practice_id)
    if row.patient_id:
        audit(actor, "view", patient_id=row.patient_id, object_type="outbox_message", object_id=row.id)
    return row


def retry(actor: Actor, message_id) -> OutboxMessage:
    if actor.role not in ("admin", "therapist", "assistant"):
        raise Forbidden(_l("You do not have permission to do this."))
    row = get_scoped(OutboxMessage, message_id, actor.practice_id)
    if row.status != "failed":
        raise Invalid(_l("Only failed messages can be sent again."))
    if row.not_after is not None and row.not_after <= utcnow():
        raise Invalid(_l("Too late: the session has already started."))
    dispatch.retry_failed(actor.practice_id, [row.id], utcnow())
    db.session.refresh(row)
    return row


def update_settings(actor: Actor, values: dict) -> ReminderSettings:
    if actor.role != "admin":
        raise Forbidden(_l("Only a practice admin can change reminder settings."))
    prefs = db.session.get(ReminderSettings, actor.practice_id)
    if prefs is None:
        prefs = ReminderSettings(practice_id=actor.practice_id)
        db.session.add(prefs)
    for key in ("remind_24h", "remind_2h", "quiet_hours"):
        setattr(prefs, key, bool(values.get(key)))
    for key in ("quiet_start", "quiet_end"):
        if values.get(key) is None:
            raise Invalid(_l("Enter a time like 22:00."), {key: str(_l("Enter a time like 22:00."))})
        setattr(prefs, key, values[key])
    if prefs.quiet_hours and prefs.quiet_start == prefs.quiet_end:
        raise Invalid(
            _l("Quiet hours need a different start and end."),
            {"quiet_end": str(_l("Quiet hours need a different start and end."))},
        )
    db.session.flush()
    return prefs
