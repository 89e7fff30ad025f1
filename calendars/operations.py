"""Use cases of calendars: personal links (feeds, portal), feed data with cheap validators, invitations (iMIP)
through the outbox, the welcome email, and the horizon scan.

Invitations react to domain events (core.events) sent by groups' operations, inside their transaction: a
rolled-back change queues nothing. The pure iCalendar building lives in calendars.ical.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from accounts.models import Practice, User
from accounts.operations import audit
from calendars import ical
from calendars.models import AbsenceNotice, CalendarToken, QuestionnaireRequest
from core.access import can, get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.events import enrolment_changed, session_changed
from core.tokens import token_hash
from extensions import db
from groups.models import Enrolment, Group, Room, Session, SessionGuest, session_supervisors
from groups.operations import enrolment_covers
from patients.export import register_section
from patients.models import CALENDAR_PREFERENCES, Patient
from reminders import dispatch
from reminders.jobs import register_scan
from reminders.models import OutboxMessage
from reminders.operations import compose, host, queue, sender_for, session_facts, wants_email
from supervision.definitions import ABSENCE_REASON_CODES

DEFAULT_HORIZON_DAYS = 14
#: A link token: 32 bytes, base64url without padding.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
FEED_KINDS = ("patient", "staff", "room")
NOTE_MAX = 500
#: An enrolment recorded with a date longer ago than this is history: no welcome email, no invitations.
BACKDATED = timedelta(days=1)


# --- personal links ------------------------------------------------------------------------------------------


def _derive(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"motio-calendar-link:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_token(row: CalendarToken) -> str:
    return _derive(row.nonce)


def _subject(kind: str, subject_id: int) -> dict:
    column = {"patient": "patient_id", "portal": "patient_id", "staff": "user_id", "room": "room_id"}[kind]
    return {column: subject_id}


def active_token(kind: str, subject_id: int) -> CalendarToken | None:
    ((column, value),) = _subject(kind, subject_id).items()
    return db.session.execute(
        sa.select(CalendarToken).where(
            CalendarToken.kind == kind, getattr(CalendarToken, column) == value, CalendarToken.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def _revoke(kind: str, subject_id: int, now: datetime) -> bool:
    row = active_token(kind, subject_id)
    if row is None:
        return False
    row.revoked_at = now
    db.session.flush()
    return True


def issue_link(practice_id: int, kind: str, subject_id: int, now: datetime) -> CalendarToken:
    """Revoke the active link (if any) and make a new one: rotation."""
    _revoke(kind, subject_id, now)
    nonce = secrets.token_urlsafe(32)
    row = CalendarToken(
        practice_id=practice_id,
        kind=kind,
        nonce=nonce,
        token_hash=token_hash(_derive(nonce)),
        created_at=now,
        **_subject(kind, subject_id),
    )
    db.session.add(row)
    db.session.flush()
    return row


def ensure_link(practice_id: int, kind: str, subject_id: int) -> CalendarToken:
    return active_token(kind, subject_id) or issue_link(practice_id, kind, subject_id, utcnow())


def resolve(token: str, kinds: tuple[str, ...]) -> CalendarToken | None:
    """The active link with this token, or None for unknown, revoked or malformed tokens (callers answer 404)."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        return None
    row = db.session.execute(
        sa.select(CalendarToken).where(CalendarToken.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.kind not in kinds:
        return None
    return row


@dataclass(frozen=True)
class FeedLinks:
    url: str
    webcal_url: str
    google_url: str


@dataclass(frozen=True)
class PatientLinks:
    feed: FeedLinks | None
    portal_url: str | None


def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def feed_links(row: CalendarToken) -> FeedLinks:
    url = f"{_base()}/feeds/{link_token(row)}.ics"
    webcal = "webcal://" + url.split("://", 1)[1]
    return FeedLinks(url, webcal, "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe=""))


def portal_url(row: CalendarToken) -> str:
    return f"{_base()}/p/{link_token(row)}"


def patient_links(patient: Patient) -> PatientLinks:
    feed = active_token("patient", patient.id)
    portal = active_token("portal", patient.id)
    return PatientLinks(feed_links(feed) if feed else None, portal_url(portal) if portal else None)


def _staff_patient(actor: Actor, patient_id) -> Patient:
    if actor.kind == "patient" or (actor.kind == "staff" and actor.role is None):
        raise Forbidden(_l("You do not have permission to do this."))
    return get_scoped(Patient, patient_id, actor.practice_id)


def rotate_patient_link(actor: Actor, patient_id, kind: str) -> CalendarToken:
    """A new feed or portal link for the patient; the old one stops working at once."""
    if kind not in ("patient", "portal"):
        raise NotFound(_l("Not found."))
    patient = _staff_patient(actor, patient_id)
    row = issue_link(actor.practice_id, kind, patient.id, utcnow())
    audit(actor, "rotate", patient_id=patient.id, object_type=f"calendar_link:{kind}", object_id=row.id)
    return row


def revoke_patient_link(actor: Actor, patient_id, kind: str) -> bool:
    if kind not in ("patient", "portal"):
        raise NotFound(_l("Not found."))
    patient = _staff_patient(actor, patient_id)
    revoked = _revoke(kind, patient.id, utcnow())
    audit(actor, "revoke", patient_id=patient.id, object_type=f"calendar_link:{kind}")
    return revoked


def _staff_subject(actor: Actor, user_id) -> User:
    user = get_scoped(User, user_id, actor.practice_id)
    if actor.user_id != user.id and actor.role != "admin":
        # Another staff member's schedule: only admins manage those links; say "not found" like other refusals.
        raise NotFound(_l("Not found."))
    return user


def rotate_staff_feed(actor: Actor, user_id) -> CalendarToken:
    user = _staff_subject(actor, user_id)
    return issue_link(actor.practice_id, "staff", user.id, utcnow())


def revoke_staff_feed(actor: Actor, user_id) -> bool:
    user = _staff_subject(actor, user_id)
    return _revoke("staff", user.id, utcnow())


def _admin_room(actor: Actor, room_id) -> Room:
    if actor.role != "admin":
        raise Forbidden(_l("Only a practice admin can manage room calendars."))
    return get_scoped(Room, room_id, actor.practice_id)


def rotate_room_feed(actor: Actor, room_id) -> CalendarToken:
    room = _admin_room(actor, room_id)
    return issue_link(actor.practice_id, "room", room.id, utcnow())


def revoke_room_feed(actor: Actor, room_id) -> bool:
    room = _admin_room(actor, room_id)
    return _revoke("room", room.id, utcnow())


def room_feeds(actor: Actor) -> list[tuple[Room, FeedLinks | None]]:
    if actor.role != "admin":
        return []
    rooms = db.session.execute(
        sa.select(Room).where(Room.practice_id == actor.practice_id).order_by(Room.name)
    ).scalars()
    result = []
    for room in rooms:
        row = active_token("room", room.id)
        result.append((room, feed_links(row) if row else None))
    return result


# --- feeds ---------------------------------------------------------------------------------------------------


def _head_count():
    enrolled = (
        sa.select(sa.func.count()).select_from(Enrolment).where(enrolment_covers()).correlate(Session).scalar_subquery()
    )
    guests = (
        sa.select(sa.func.count())
        .select_from(SessionGuest)
        .where(SessionGuest.session_id == Session.id)
        .correlate(Session)
        .scalar_subquery()
    )
    return (enrolled + guests).label("head_count")


@dataclass(frozen=True)
class FeedData:
    name: str
    rows: list  # (id, starts_at, ends_at, status, sequence, updated_at, group, room, address, head_count)
    etag: str
    last_modified: datetime
    host: str


def _feed_name(row: CalendarToken, practice: Practice) -> str:
    if row.kind == "room":
        room = db.session.get(Room, row.room_id)
        return f"{practice.name} – {room.name}"
    if row.kind == "staff":
        user = db.session.get(User, row.user_id)
        return f"{practice.name} – {user.name}"
    return practice.name


def feed_data(row: CalendarToken, now: datetime) -> FeedData:
    """One query for everything the feed shows; its validators (ETag, Last-Modified) come from the same rows, so
    a conditional request is answered without building the calendar."""
    practice = db.session.get(Practice, row.practice_id)
    window_start, window_end = ical.feed_window(now)
    columns = [
        Session.id,
        Session.starts_at,
        Session.ends_at,
        Session.status,
        Session.sequence,
        Session.updated_at,
        Group.name,
        Room.name,
        Room.address,
    ]
    if row.kind == "staff":
        columns.append(_head_count())
    query = (
        sa.select(*columns)
        .join(Group, Group.id == Session.group_id)
        .join(Room, Room.id == Session.room_id)
        .where(
            Session.practice_id == row.practice_id,
            Session.ends_at > window_start,
            Session.starts_at < window_end,
            sa.or_(Session.status == "scheduled", Session.ends_at > now - ical.CANCELLED_KEPT_FOR),
        )
    )
    extra_changes: list[datetime] = [row.created_at]
    if row.kind == "patient":
        enrolled = sa.select(Enrolment.id).where(enrolment_covers(), Enrolment.patient_id == row.patient_id).exists()
        guest = (
            sa.select(SessionGuest.id)
            .where(SessionGuest.session_id == Session.id, SessionGuest.patient_id == row.patient_id)
            .exists()
        )
        query = query.where(sa.or_(enrolled, guest))
        # A withdrawal or a new enrolment changes which sessions are in the feed without touching them.
        extra_changes += [
            value
            for pair in db.session.execute(
                sa.select(sa.func.max(Enrolment.enrolled_at), sa.func.max(Enrolment.withdrawn_at)).where(
                    Enrolment.patient_id == row.patient_id
                )
            ).all()
            for value in pair
            if value is not None
        ]
    elif row.kind == "staff":
        query = query.join(
            session_supervisors,
            sa.and_(session_supervisors.c.session_id == Session.id, session_supervisors.c.user_id == row.user_id),
        )
    else:
        query = query.where(Session.room_id == row.room_id)
    rows = db.session.execute(query.order_by(Session.starts_at, Session.id)).all()
    name = _feed_name(row, practice)
    fingerprint = hashlib.sha256(
        repr((name, practice.address, row.kind, [tuple(r) for r in rows])).encode()
    ).hexdigest()[:32]
    changes = [r.updated_at for r in rows] + extra_changes
    last_modified = max(changes).replace(microsecond=0)
    return FeedData(name, rows, f'"{fingerprint}"', last_modified, host())


def build_feed_bytes(data: FeedData, practice_address: str, kind: str) -> bytes:
    sessions = []
    for r in data.rows:
        description = ""
        if kind == "staff":
            description = f"{r[6]}: {r[9]}"  # the group and how many patients are expected; never their names
        sessions.append(
            ical.CalendarSession(
                id=r[0],
                starts_at=r[1],
                ends_at=r[2],
                summary=r[6],
                location=", ".join(part for part in (r[7], r[8] or practice_address) if part),
                description=description,
                status=r[3],
                sequence=r[4],
                changed_at=r[5],
            )
        )
    return ical.build_feed(data.name, sessions, data.host)


# --- invitations ---------------------------------------------------------------------------------------------


def horizon() -> timedelta:
    return timedelta(days=current_app.config.get("INVITATION_HORIZON_DAYS", DEFAULT_HORIZON_DAYS))


def _calendar_session(session: Session, practice: Practice, sequence: int | None = None) -> ical.CalendarSession:
    room = session.room
    return ical.CalendarSession(
        id=session.id,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        summary=session.group.name,
        location=", ".join(part for part in (room.name, room.address or practice.address) if part),
        description="",
        status=session.status,
        sequence=session.sequence if sequence is None else sequence,
        changed_at=session.updated_at or utcnow(),
    )


@dataclass(frozen=True)
class Recipient:
    key: str  # "p7" or "u3": unique in Message-IDs and dedupe keys
    email: str
    name: str
    language: str
    patient_id: int | None = None
    user_id: int | None = None


def patient_recipient(patient: Patient) -> Recipient:
    return Recipient(f"p{patient.id}", patient.email, patient.name, patient.language, patient_id=patient.id)


def _user_recipient(user: User, practice: Practice) -> Recipient:
    return Recipient(f"u{user.id}", user.email, user.name, practice.locale, user_id=user.id)


def wants_invitations(patient: Patient) -> bool:
    return patient.calendar_preference == "invitations" and wants_email(patient)


def queue_invitation(
    practice: Practice, session: Session, method: str, recipient: Recipient, *, sequence: int | None = None
) -> OutboxMessage | None:
    """Queue one REQUEST or CANCEL for one recipient (deduplicated per session, recipient, method and sequence)."""
    sequence = session.sequence if sequence is None else sequence
    with force_locale(recipient.language):
        facts = session_facts(session, practice, recipient.language)
        context = {"practice": practice, "name": recipient.name, "facts": facts, "method": method}
        if method == "CANCEL":
            subject = str(
                _l("Cancelled: %(group)s on %(day)s at %(start)s", group=facts.group, day=facts.day, start=facts.start)
            )
        else:
            subject = str(
                _l("Invitation: %(group)s on %(day)s at %(start)s", group=facts.group, day=facts.day, start=facts.start)
            )
        text = render_template("calendars/email/invitation.txt", **context)
        html = render_template("calendars/email/invitation.html", **context)
    _, mailbox = sender_for(practice)
    message = ical.invitation_message(
        _calendar_session(session, practice, sequence),
        method,
        organizer_email=mailbox,
        organizer_name=practice.name,
        attendee_email=recipient.email,
        attendee_name=recipient.name,
        recipient_key=recipient.key,
        host=host(),
        subject=subject,
        text=text,
        html=html,
        date=utcnow(),
    )
    message["Auto-Submitted"] = "auto-generated"
    return queue(
        practice=practice,
        kind="cancellation" if method == "CANCEL" else "invitation",
        dedupe_key=f"invitation:{method}:s{session.id}:{recipient.key}:q{sequence}",
        recipient=recipient.email,
        message=message,
        patient_id=recipient.patient_id,
        user_id=recipient.user_id,
        session_id=session.id,
        sequence=sequence,
        not_after=session.starts_at,
    )


def _session_patients(session_ids) -> dict[int, list[Patient]]:
    """The patients each session is for: enrolled then (the reminders' rule) or booked as a guest."""
    found: dict[int, dict[int, Patient]] = {}
    ids = list(session_ids)
    if not ids:
        return {}
    enrolled = db.session.execute(
        sa.select(Session.id, Patient)
        .join(Enrolment, enrolment_covers())
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(Session.id.in_(ids))
    ).all()
    guests = db.session.execute(
        sa.select(SessionGuest.session_id, Patient)
        .join(Patient, Patient.id == SessionGuest.patient_id)
        .where(SessionGuest.session_id.in_(ids))
    ).all()
    for session_id, patient in [*enrolled, *guests]:
        found.setdefault(session_id, {})[patient.id] = patient
    return {sid: list(people.values()) for sid, people in found.items()}


def _invited(session_id: int) -> set[str]:
    """Recipient keys that were ever sent (or queued) an invitation for this session."""
    rows = db.session.execute(
        sa.select(OutboxMessage.patient_id, OutboxMessage.user_id).where(
            OutboxMessage.session_id == session_id, OutboxMessage.kind == "invitation"
        )
    ).all()
    return {f"p{p}" if p else f"u{u}" for p, u in rows}


def _staff_recipients(users, practice: Practice) -> list[Recipient]:
    return [_user_recipient(u, practice) for u in users if u.active and u.email]


def on_session_changed(session: Session, *, actor: Actor, kind: str, previous_supervisor_ids=None, **_) -> None:
    now = utcnow()
    if session.ends_at <= now:
        return
    practice = db.session.get(Practice, session.practice_id)
    invited = _invited(session.id)
    patients = [p for p in _session_patients([session.id]).get(session.id, []) if wants_email(p)]
    staff = _staff_recipients(session.supervisors, practice)
    if kind == "cancelled":
        # Only those who have it in their calendar; their preference may have changed since.
        for recipient in [*map(patient_recipient, patients), *staff]:
            if recipient.key in invited:
                queue_invitation(practice, session, "CANCEL", recipient)
        return
    in_horizon = session.starts_at <= now + horizon()
    if kind == "supervisors":
        current = {u.id for u in session.supervisors}
        for user_id in set(previous_supervisor_ids or ()) - current:
            user = db.session.get(User, user_id)
            if user is not None and f"u{user.id}" in invited:
                # The session goes on without them: a CANCEL above the current sequence removes it.
                queue_invitation(
                    practice, session, "CANCEL", _user_recipient(user, practice), sequence=session.sequence + 1
                )
        for recipient in staff:
            if in_horizon or recipient.key in invited:
                queue_invitation(practice, session, "REQUEST", recipient)
        return
    recipients = [patient_recipient(p) for p in patients if wants_invitations(p)] + staff
    for recipient in recipients:
        if in_horizon or recipient.key in invited:
            queue_invitation(practice, session, "REQUEST", recipient)


def on_enrolment_changed(enrolment: Enrolment, *, actor: Actor, kind: str, **_) -> None:
    patient = enrolment.patient
    if not wants_email(patient):
        return
    practice = db.session.get(Practice, enrolment.practice_id)
    now = utcnow()
    if kind in ("enrolled", "promoted"):
        if enrolment.enrolled_at < now - BACKDATED:
            return  # recording an enrolment from the past (history, the demo): nothing to tell the patient now
        queue_welcome(practice, enrolment)
        if wants_invitations(patient):
            for session in _upcoming_group_sessions(enrolment, now, now + horizon()):
                queue_invitation(practice, session, "REQUEST", patient_recipient(patient))
    elif kind == "withdrawn":
        recipient = patient_recipient(patient)
        sessions = db.session.execute(
            sa.select(Session).where(
                Session.group_id == enrolment.group_id,
                Session.status == "scheduled",
                Session.starts_at >= enrolment.withdrawn_at,
                Session.starts_at > now,
            )
        ).scalars()
        for session in sessions:
            if recipient.key in _invited(session.id):
                # The session goes on without this patient: a CANCEL above the current sequence removes it.
                queue_invitation(practice, session, "CANCEL", recipient, sequence=session.sequence + 1)


def _upcoming_group_sessions(enrolment: Enrolment, start: datetime, end: datetime) -> list[Session]:
    return list(
        db.session.execute(
            sa.select(Session)
            .where(
                Session.group_id == enrolment.group_id,
                Session.status == "scheduled",
                Session.starts_at > start,
                Session.starts_at <= end,
                Session.ends_at > enrolment.enrolled_at,
            )
            .order_by(Session.starts_at)
        ).scalars()
    )


def queue_invitations(now: datetime) -> int:
    """The horizon scan: invite patients (who prefer invitations) and supervisors to sessions that have come
    within the horizon. Idempotent: the dedupe key makes a second run queue nothing."""
    sessions = list(
        db.session.execute(
            sa.select(Session)
            .where(Session.status == "scheduled", Session.starts_at > now, Session.starts_at <= now + horizon())
            .order_by(Session.starts_at, Session.id)
        ).scalars()
    )
    patients = _session_patients(s.id for s in sessions)
    practices: dict[int, Practice] = {}
    queued = 0
    for session in sessions:
        practice = practices.get(session.practice_id) or practices.setdefault(
            session.practice_id, db.session.get(Practice, session.practice_id)
        )
        recipients = [patient_recipient(p) for p in patients.get(session.id, []) if wants_invitations(p)]
        recipients += _staff_recipients(session.supervisors, practice)
        for recipient in recipients:
            queued += queue_invitation(practice, session, "REQUEST", recipient) is not None
    return queued


def invitations_stale(rows: list[OutboxMessage]) -> dict[int, str]:
    """A REQUEST whose session changed again (a newer one is queued), was cancelled, or whose patient no longer
    wants invitations or left the group, is not sent."""
    session_ids = {row.session_id for row in rows if row.session_id}
    sessions = {s.id: s for s in db.session.execute(sa.select(Session).where(Session.id.in_(session_ids))).scalars()}
    covered = {sid: {p.id: p for p in people} for sid, people in _session_patients(session_ids).items()}
    stale = {}
    for row in rows:
        session = sessions.get(row.session_id)
        if session is None or session.status != "scheduled":
            stale[row.id] = "session cancelled"
        elif session.sequence != row.sequence:
            stale[row.id] = "session changed; a newer invitation is queued"
        elif row.patient_id is not None:
            patient = covered.get(session.id, {}).get(row.patient_id)
            if patient is None:
                stale[row.id] = "patient no longer in the group"
            elif not wants_invitations(patient):
                stale[row.id] = "patient does not want invitations"
    return stale


session_changed.connect(on_session_changed)
enrolment_changed.connect(on_enrolment_changed)
register_scan("invitation_scan", 300, queue_invitations)
dispatch.register_stale_check("invitation", invitations_stale)


def invitation_status(actor: Actor, session_id) -> list[dict]:
    """Per patient of the session: their calendar preference and the latest invitation message, for staff."""
    session = get_scoped(Session, session_id, actor.practice_id)
    latest: dict[int, OutboxMessage] = {}
    for row in db.session.execute(
        sa.select(OutboxMessage)
        .where(OutboxMessage.session_id == session.id, OutboxMessage.kind.in_(("invitation", "cancellation")))
        .order_by(OutboxMessage.id)
    ).scalars():
        if row.patient_id:
            latest[row.patient_id] = row
    people = sorted(_session_patients([session.id]).get(session.id, []), key=lambda p: p.name)
    result = []
    for patient in people:
        row = latest.get(patient.id)
        result.append(
            {
                "patient": patient,
                "email": wants_email(patient),
                "preference": patient.calendar_preference,
                "message": row,
                "current": row is not None and row.sequence >= session.sequence,
            }
        )
    audit(actor, "list", patient_id=None, object_type="invitation_status", object_id=session.id)
    return result


# --- welcome email -------------------------------------------------------------------------------------------


def welcome_message(practice: Practice, patient: Patient, enrolment: Enrolment) -> tuple:
    portal = ensure_link(practice.id, "portal", patient.id)
    feed = feed_links(ensure_link(practice.id, "patient", patient.id))
    first = next(iter(_upcoming_group_sessions(enrolment, utcnow(), utcnow() + timedelta(days=3650))), None)
    with force_locale(patient.language):
        context = {
            "practice": practice,
            "patient": patient,
            "group": enrolment.group,
            "programme": enrolment.group.programme,
            "first": session_facts(first, practice, patient.language) if first else None,
            "portal_url": portal_url(portal),
            "feed": feed,
        }
        subject = str(_l("Welcome to %(group)s", group=enrolment.group.name))
        text = render_template("calendars/email/welcome.txt", **context)
        html = render_template("calendars/email/welcome.html", **context)
    return compose(
        practice=practice,
        recipient=patient.email,
        recipient_name=patient.name,
        subject=subject,
        text=text,
        html=html,
        message_id=f"<welcome-e{enrolment.id}-p{patient.id}@{host()}>",
    )


def queue_welcome(practice: Practice, enrolment: Enrolment, *, resend: int = 0) -> OutboxMessage | None:
    patient = enrolment.patient
    if not wants_email(patient):
        return None
    suffix = f":r{resend}" if resend else ""
    return queue(
        practice=practice,
        kind="welcome",
        dedupe_key=f"welcome:e{enrolment.id}{suffix}",
        recipient=patient.email,
        message=welcome_message(practice, patient, enrolment),
        patient_id=patient.id,
    )


def resend_welcome(actor: Actor, patient_id) -> OutboxMessage:
    """Staff send the welcome email again (for the patient's latest enrolment)."""
    patient = _staff_patient(actor, patient_id)
    if not wants_email(patient):
        raise Invalid(_l("This patient has no email address or gave no consent for email."))
    enrolment = db.session.execute(
        sa.select(Enrolment)
        .where(Enrolment.patient_id == patient.id, Enrolment.status == "enrolled")
        .order_by(Enrolment.enrolled_at.desc(), Enrolment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if enrolment is None:
        raise Conflict(_l("This patient is not enrolled in a group."))
    practice = db.session.get(Practice, actor.practice_id)
    count = db.session.execute(
        sa.select(sa.func.count()).where(OutboxMessage.kind == "welcome", OutboxMessage.patient_id == patient.id)
    ).scalar_one()
    row = queue_welcome(practice, enrolment, resend=count + 1)
    audit(actor, "send", patient_id=patient.id, object_type="welcome_email", object_id=row.id if row else None)
    return row


# --- portal --------------------------------------------------------------------------------------------------


def portal_actor(token_row: CalendarToken, ip: str) -> Actor:
    return Actor(practice_id=token_row.practice_id, kind="patient", ip=ip, patient_id=token_row.patient_id)


def upcoming_sessions(patient: Patient, now: datetime) -> list[Session]:
    enrolled = sa.select(Enrolment.id).where(enrolment_covers(), Enrolment.patient_id == patient.id).exists()
    guest = (
        sa.select(SessionGuest.id)
        .where(SessionGuest.session_id == Session.id, SessionGuest.patient_id == patient.id)
        .exists()
    )
    return list(
        db.session.execute(
            sa.select(Session)
            .where(
                Session.practice_id == patient.practice_id,
                Session.ends_at > now,
                Session.starts_at < now + ical.FEED_AHEAD,
                sa.or_(enrolled, guest),
            )
            .order_by(Session.starts_at, Session.id)
        ).scalars()
    )


def absences_told_in_advance(session_ids: list[int]) -> dict[tuple[int, int], str]:
    """For the roll-call: (session, patient) → reason of every "I can't come" the patient sent from the portal."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        sa.select(AbsenceNotice.session_id, AbsenceNotice.patient_id, AbsenceNotice.reason).where(
            AbsenceNotice.session_id.in_(session_ids)
        )
    ).all()
    return {(session_id, patient_id): reason for session_id, patient_id, reason in rows}


def notices_for(patient_id: int) -> dict[int, AbsenceNotice]:
    return {
        n.session_id: n
        for n in db.session.execute(sa.select(AbsenceNotice).where(AbsenceNotice.patient_id == patient_id)).scalars()
    }


def report_absence(actor: Actor, session_id, reason, note, *, now: datetime | None = None) -> AbsenceNotice:
    """The patient cannot come to one of their own future sessions: stored as an excused absence."""
    now = now or utcnow()
    patient = db.session.get(Patient, actor.patient_id)
    errors: dict[str, str] = {}
    session_ok = None
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        session_id = None
    if session_id is not None:
        session_ok = next((s for s in upcoming_sessions(patient, now) if s.id == session_id), None)
    if session_ok is None or session_ok.starts_at <= now:
        errors["session_id"] = str(_l("Choose one of your next sessions."))
    elif session_ok.cancelled:
        errors["session_id"] = str(_l("This session is cancelled. You do not need to tell us."))
    if reason not in ABSENCE_REASON_CODES:
        errors["reason"] = str(_l("Choose a reason from the list."))
    if not isinstance(note, str) or len(note) > NOTE_MAX or any(ord(c) < 32 and c not in "\n\r\t" for c in note):
        errors["note"] = str(_l("Write at most %(n)d letters.", n=NOTE_MAX))
    if errors:
        raise Invalid(_l("Please check what you filled in."), errors)
    if session_ok.id in notices_for(patient.id):
        raise Conflict(_l("You already told us you cannot come to this session."))
    notice = AbsenceNotice(
        practice_id=patient.practice_id,
        patient_id=patient.id,
        session_id=session_ok.id,
        reason=reason,
        note=note.strip(),
        created_at=now,
    )
    db.session.add(notice)
    db.session.flush()
    audit(actor, "create", patient_id=patient.id, object_type="absence_notice", object_id=notice.id)
    return notice


def update_preferences(actor: Actor, values: dict) -> Patient:
    """The patient chooses how they get their sessions (feed, invitations, neither) and reminders on or off."""
    patient = db.session.get(Patient, actor.patient_id)
    preference = values.get("calendar_preference")
    reminders = values.get("reminders_enabled")
    errors = {}
    if preference not in CALENDAR_PREFERENCES:
        errors["calendar_preference"] = str(_l("Choose one of the options."))
    if reminders not in ("0", "1"):
        errors["reminders_enabled"] = str(_l("Choose one of the options."))
    if errors:
        raise Invalid(_l("Please check what you filled in."), errors)
    patient.calendar_preference = preference
    patient.reminders_enabled = reminders == "1"
    db.session.flush()
    audit(
        actor,
        "update",
        patient_id=patient.id,
        object_type="patient",
        object_id=patient.id,
        detail="calendar_preference, reminders_enabled (portal)",
    )
    return patient


def open_questionnaires(patient_id: int) -> list[QuestionnaireRequest]:
    return list(
        db.session.execute(
            sa.select(QuestionnaireRequest)
            .where(QuestionnaireRequest.patient_id == patient_id, QuestionnaireRequest.completed_at.is_(None))
            .order_by(QuestionnaireRequest.requested_at)
        ).scalars()
    )


def request_questionnaire(actor: Actor, patient_id, kind: str) -> QuestionnaireRequest:
    """A therapist asks the patient to fill in their questionnaires through the portal."""
    if not can(actor.user, "assess_patients"):
        raise Forbidden(_l("You do not have permission to do this."))
    patient = _staff_patient(actor, patient_id)
    if kind not in ("intake", "reassessment"):
        raise Invalid(_l("Choose intake or reassessment."), {"kind": str(_l("Choose intake or reassessment."))})
    if open_questionnaires(patient.id):
        raise Conflict(_l("The patient already has questionnaires to fill in."))
    row = QuestionnaireRequest(
        practice_id=actor.practice_id, patient_id=patient.id, kind=kind, requested_by_id=actor.user_id
    )
    db.session.add(row)
    db.session.flush()
    audit(actor, "create", patient_id=patient.id, object_type="questionnaire_request", object_id=row.id)
    return row


def complete_questionnaire(actor: Actor, request_id, answers) -> QuestionnaireRequest:
    """The patient's answers become a self-report assessment (source "patient"), reviewed later by a therapist."""
    from supervision import operations as supervision

    row = db.session.get(QuestionnaireRequest, request_id) if isinstance(request_id, int) else None
    if row is None or row.patient_id != actor.patient_id or row.completed_at is not None:
        raise NotFound(_l("Not found."))
    assessment = supervision.create_assessment(actor, actor.patient_id, kind=row.kind, answers=answers)
    row.completed_at, row.assessment_id = utcnow(), assessment.id
    db.session.flush()
    return row


# --- export --------------------------------------------------------------------------------------------------


def _export(patient: Patient) -> dict:
    tokens = db.session.execute(
        sa.select(CalendarToken).where(CalendarToken.patient_id == patient.id).order_by(CalendarToken.id)
    ).scalars()
    notices = db.session.execute(
        sa.select(AbsenceNotice).where(AbsenceNotice.patient_id == patient.id).order_by(AbsenceNotice.id)
    ).scalars()
    requests = db.session.execute(
        sa.select(QuestionnaireRequest)
        .where(QuestionnaireRequest.patient_id == patient.id)
        .order_by(QuestionnaireRequest.id)
    ).scalars()
    return {
        "links": [{"kind": t.kind, "created_at": t.created_at, "revoked_at": t.revoked_at} for t in tokens],
        "absence_notices": [
            {"session_id": n.session_id, "reason": n.reason, "note": n.note, "created_at": n.created_at}
            for n in notices
        ],
        "questionnaire_requests": [
            {"kind": r.kind, "requested_at": r.requested_at, "completed_at": r.completed_at} for r in requests
        ],
    }


register_section("calendars", _export)
