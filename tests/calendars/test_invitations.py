"""Invitations (iMIP) through the outbox to a real aiosmtpd server: MIME tree, iTIP properties, sequences, CANCEL
on cancellation and withdrawal, supervisors, one recipient per message (ICAL.md, RELIABILITY.md 7 and 8)."""

from __future__ import annotations

from datetime import UTC, timedelta

import icalendar
import sqlalchemy as sa

from calendars import ical
from calendars import operations as ops
from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations as groups
from groups.models import Enrolment
from reminders.dispatch import dispatch
from reminders.mail import SmtpSettings
from reminders.models import OutboxMessage
from tests.calendars.helpers import assert_parsers_agree, assert_wire_format, setup_group
from tests.factories import make_user

HOST = "motio.test"


def send(smtp) -> list:
    before = len(smtp.received)
    dispatch(SmtpSettings("127.0.0.1", smtp.port, timeout=5))
    return smtp.received[before:]


def invitations(received) -> list:
    return [r for r in received if r.message.get_content_type() == "multipart/mixed"]


def calendar_of(received) -> tuple[bytes, icalendar.Calendar, icalendar.Event]:
    """Check the MIME tree of ICAL.md and return the calendar bytes, calendar and its one event."""
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html", "text/calendar"]
    part = alternative.get_payload()[2]
    data = part.get_payload(decode=True)
    calendar = icalendar.Calendar.from_ical(data)
    assert part.get_param("method") == str(calendar["METHOD"])
    assert part.get_param("charset") == "utf-8"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == data
    assert_wire_format(data)
    [event] = calendar.walk("VEVENT")
    return data, calendar, event


def check_itip(received, session, method: str, sequence: int, organizer: str = "praktijk@example.com") -> None:
    data, calendar, event = calendar_of(received)
    [recipient] = received.recipients
    assert str(calendar["METHOD"]) == method
    assert str(event["UID"]) == f"session-{session.id}@{HOST}"
    assert int(event["SEQUENCE"]) == sequence
    assert str(event["ORGANIZER"]) == f"mailto:{organizer}"
    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list), "only the recipient is an attendee"
    assert str(attendee) == f"mailto:{recipient}"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["RSVP"] == "TRUE"
    assert str(event["STATUS"]) == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")
    for name in ("DTSTART", "DTEND", "DTSTAMP"):
        assert event[name].to_ical().endswith(b"Z"), name
    assert_parsers_agree(data, {f"session-{session.id}@{HOST}": session.starts_at.astimezone(UTC)})
    assert received.message_id == ical.message_id(session.id, received_key(received), method, sequence, HOST)


def received_key(received) -> str:
    return received.message_id.split("-")[3]


def in_horizon(sessions):
    return [s for s in sessions if s.starts_at <= utcnow() + timedelta(days=ops.DEFAULT_HORIZON_DAYS)]


def test_patients_who_want_invitations_and_supervisors_get_one_message_each(app, smtp, ctx):
    practice, supervisor, group, sessions, people = setup_group(
        patients=[
            {"name": "Anna Invite", "calendar_preference": "invitations"},
            {"name": "Bob Invite", "calendar_preference": "invitations"},
            {"name": "Carl Feed", "calendar_preference": "feed"},
            {"name": "Dora Geen Toestemming", "calendar_preference": "invitations", "email_consent": False},
        ]
    )
    anna, bob, carl, dora = people
    soon = in_horizon(sessions)
    assert soon
    ops.queue_invitations(utcnow())
    assert ops.queue_invitations(utcnow()) == 0  # idempotent
    received = send(smtp)

    welcomes = [r for r in received if r.message.get_content_type() == "multipart/alternative"]
    assert sorted(r.recipients[0] for r in welcomes) == sorted([anna.email, bob.email, carl.email])
    invites = invitations(received)
    assert len(invites) == 3 * len(soon)
    everyone = {p.email for p in people}
    by_id = {s.id: s for s in sessions}
    for message in invites:
        [recipient] = message.recipients
        assert recipient in {anna.email, bob.email, supervisor.email}
        for other in everyone - {recipient}:
            assert other.encode() not in message.data
        _, _, event = calendar_of(message)
        session = by_id[int(str(event["UID"]).split("-")[1].split("@")[0])]
        check_itip(message, session, "REQUEST", 0)
    assert not any(dora.email in r.recipients for r in received)
    assert not any(carl.email in r.recipients for r in invites)
    # Supervisors get a message for each session they supervise, with their own address as attendee.
    assert sum(r.recipients == [supervisor.email] for r in invites) == len(soon)


def test_move_sends_a_request_with_a_higher_sequence_and_cancel_sends_a_cancel(app, smtp, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group()
    session = in_horizon(sessions)[0]
    ops.queue_invitations(utcnow())
    send(smtp)
    actor = Actor.system(practice.id)

    groups.change_session(
        actor,
        session.id,
        {"starts_at": session.starts_at + timedelta(hours=1), "ends_at": session.ends_at + timedelta(hours=1)},
        reason="zaal bezet",
    )
    moved = invitations(send(smtp))
    assert sorted(r.recipients[0] for r in moved) == sorted([anna.email, supervisor.email])
    for message in moved:
        check_itip(message, session, "REQUEST", 1)

    groups.cancel_session(actor, session.id, reason="trainer ziek")
    cancelled = invitations(send(smtp))
    assert sorted(r.recipients[0] for r in cancelled) == sorted([anna.email, supervisor.email])
    for message in cancelled:
        check_itip(message, session, "CANCEL", 2)


def test_two_moves_before_dispatch_send_only_the_latest_version(app, smtp, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group()
    session = in_horizon(sessions)[0]
    ops.queue_invitations(utcnow())
    send(smtp)
    actor = Actor.system(practice.id)
    for _ in range(2):
        groups.change_session(
            actor, session.id, {"starts_at": session.starts_at + timedelta(hours=1)}, reason="verplaatst"
        )
    received = invitations(send(smtp))
    assert len(received) == 2 and {received_key(r)[0] for r in received} == {"p", "u"}
    for message in received:
        check_itip(message, session, "REQUEST", 2)
    stale = (
        db.session.execute(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "invitation", OutboxMessage.sequence == 1)
        )
        .scalars()
        .all()
    )
    assert stale and all(row.status == "cancelled" for row in stale)


def test_withdrawal_sends_cancel_for_invited_sessions_and_nothing_to_others(app, smtp, ctx):
    practice, supervisor, group, sessions, (anna, bob) = setup_group(
        patients=[{"calendar_preference": "invitations"}, {"calendar_preference": "invitations"}]
    )
    soon = in_horizon(sessions)
    ops.queue_invitations(utcnow())
    send(smtp)
    enrolment = db.session.execute(sa.select(Enrolment).where(Enrolment.patient_id == anna.id)).scalar_one()
    groups.withdraw(Actor.system(practice.id), enrolment.id, reason="NO_TIME")
    received = invitations(send(smtp))
    assert [r.recipients for r in received] == [[anna.email]] * len(soon)
    for message, session in zip(received, soon, strict=True):
        # The session goes on: the CANCEL's sequence is above the session's, so clients remove the event.
        check_itip(message, session, "CANCEL", session.sequence + 1)
        assert bob.email.encode() not in message.data


def test_supervisor_change_invites_the_new_one_and_cancels_for_the_old_one(app, smtp, ctx):
    practice, supervisor, group, sessions, _ = setup_group()
    session = in_horizon(sessions)[0]
    ops.queue_invitations(utcnow())
    send(smtp)
    other = make_user(practice, role="therapist", name="Otto Other")
    groups.change_session(Actor.system(practice.id), session.id, {"supervisor_ids": [other.id]})
    received = {r.recipients[0]: r for r in invitations(send(smtp))}
    assert set(received) == {supervisor.email, other.email}
    check_itip(received[other.email], session, "REQUEST", 0)
    check_itip(received[supervisor.email], session, "CANCEL", 1)


def test_a_rolled_back_enrolment_queues_nothing(app, ctx):
    practice, supervisor, group, sessions, _ = setup_group(patients=[])
    from tests.factories import make_patient

    patient = make_patient(practice, email_consent=True, calendar_preference="invitations")
    nested = db.session.begin_nested()
    groups.enrol(Actor.system(practice.id), group.id, patient.id)
    assert db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.patient_id == patient.id)).first()
    nested.rollback()
    assert not db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.patient_id == patient.id)).first()


def test_welcome_email_has_programme_first_session_portal_and_feed_links(app, smtp, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"name": "Anna", "language": "en"}])
    [welcome] = [r for r in send(smtp) if r.message.get_content_type() == "multipart/alternative"]
    text = welcome.message.get_body(preferencelist=("plain",)).get_content()
    assert "Welcome to " + group.name in text
    assert "http://motio.test/p/" in text
    assert "webcal://motio.test/feeds/" in text
    assert "https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2Fmotio.test%2Ffeeds%2F" in text
    assert "Your first session" in text
    # The links in the email work.
    feed_url = next(w for w in text.split() if w.startswith("webcal://")).replace("webcal://", "http://")
    portal = next(w for w in text.split() if w.startswith("http://motio.test/p/"))
    client = app.test_client()
    assert client.get(feed_url.removeprefix("http://motio.test")).status_code == 200
    assert client.get(portal.removeprefix("http://motio.test")).status_code == 200
