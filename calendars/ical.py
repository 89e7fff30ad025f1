"""Pure iCalendar builders: one VEVENT per session, subscription feeds (PUBLISH) and iMIP invitations.

The rules are in ``ICAL.md``. Nothing here reads the clock: the same input gives the same bytes, so a
feed keeps a stable ETag and a resent invitation is recognisable. All times are written in UTC; no
TZID/VTIMEZONE (the VTIMEZONE icalendar generates is misread by vobject and ical.js) and no RRULE.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vDuration

PRODID = "-//Motio//Motio calendars//EN"
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
CANCELLED_KEPT_FOR = timedelta(days=7)
FEED_REFRESH = timedelta(hours=1)

SessionStatus = Literal["scheduled", "cancelled"]
InvitationMethod = Literal["REQUEST", "CANCEL"]

_ICAL_STATUS = {"scheduled": "CONFIRMED", "cancelled": "CANCELLED"}
# Message-ID parts must stay inside an RFC 5322 dot-atom, or the header is invalid.
_MESSAGE_ID_PART = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CalendarSession:
    """What a calendar may know about one session; calendars reach third parties, so no clinical data."""

    id: int
    starts_at: datetime  # timezone-aware
    ends_at: datetime  # timezone-aware
    summary: str  # the group/programme name
    location: str  # room and address; "" leaves LOCATION out
    description: str  # "" leaves DESCRIPTION out
    status: SessionStatus
    sequence: int  # increased on every change of time, place or status
    changed_at: datetime  # last change: DTSTAMP and LAST-MODIFIED, so the output does not depend on "now"


def _utc(value: datetime, name: str) -> datetime:
    # icalendar writes a naive datetime as floating time, which each client places in its own zone.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def session_uid(session_id: int, host: str) -> str:
    """The stable UID of a session, the same in feeds and invitations."""
    return f"session-{session_id}@{host}"


def session_event(session: CalendarSession, host: str) -> Event:
    """One VEVENT for one session, all times in UTC."""
    if session.status not in _ICAL_STATUS:
        raise ValueError(f"unknown session status {session.status!r}")
    starts_at = _utc(session.starts_at, "starts_at")
    ends_at = _utc(session.ends_at, "ends_at")
    changed_at = _utc(session.changed_at, "changed_at")
    if ends_at <= starts_at:
        raise ValueError(f"session {session.id} ends before it starts")
    event = Event()
    event.add("uid", session_uid(session.id, host))
    event.add("sequence", session.sequence)
    event.add("dtstamp", changed_at)
    event.add("last-modified", changed_at)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add("summary", session.summary)
    if session.location:
        event.add("location", session.location)
    if session.description:
        event.add("description", session.description)
    event.add("status", _ICAL_STATUS[session.status])
    return event


def _calendar(method: str, prodid: str) -> Calendar:
    # Calendar.new() is not used: it adds a random UID, which would break byte-identical output.
    calendar = Calendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    return calendar


def build_feed(name: str, sessions: Iterable[CalendarSession], host: str, *, prodid: str = PRODID) -> bytes:
    """A subscription feed (METHOD:PUBLISH) of the given sessions; filter them with `feed_includes` first."""
    calendar = _calendar("PUBLISH", prodid)
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    # RFC 7986 requires VALUE=DURATION; icalendar's `refresh_interval` setter leaves it out.
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    # X- properties are text to icalendar: a bare timedelta would come out as "1:00:00".
    calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
    # Sorted so that the bytes (and the ETag) do not depend on the order of the database rows.
    for session in sorted(sessions, key=lambda s: (_utc(s.starts_at, "starts_at"), s.id)):
        calendar.add_component(session_event(session, host))
    return calendar.to_ical()


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    """The period a feed covers: from 30 days back to 180 days ahead."""
    now = _utc(now, "now")
    return now - FEED_PAST, now + FEED_AHEAD


def feed_includes(session: CalendarSession, now: datetime) -> bool:
    """Whether a session belongs in a feed built at `now`."""
    window_start, window_end = feed_window(now)
    starts_at = _utc(session.starts_at, "starts_at")
    ends_at = _utc(session.ends_at, "ends_at")
    # A subscribed client silently deletes an event that leaves the feed. A cancelled session therefore
    # stays, shown as cancelled, so people notice; a week after it would have ended nobody needs it.
    if session.status == "cancelled" and ends_at <= _utc(now, "now") - CANCELLED_KEPT_FOR:
        return False
    return ends_at > window_start and starts_at < window_end


def build_invitation(
    session: CalendarSession,
    method: InvitationMethod,
    *,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    host: str,
    prodid: str = PRODID,
) -> bytes:
    """An iTIP REQUEST or CANCEL for one recipient (RFC 5546).

    For CANCEL the caller passes the session with its sequence already increased; a CANCEL is also how a
    withdrawn patient loses a session that goes on, so its STATUS is CANCELLED whatever the session's is.
    """
    if method == "CANCEL":
        session = dataclasses.replace(session, status="cancelled")
    elif method != "REQUEST":
        raise ValueError(f"unsupported iTIP method {method!r}")
    elif session.status == "cancelled":
        raise ValueError(f"session {session.id} is cancelled: send CANCEL, not REQUEST")
    event = session_event(session, host)
    event.add("organizer", vCalAddress.new(organizer_email, cn=organizer_name or None))
    # The recipient only: other group members' addresses must never reach a patient.
    event.add(
        "attendee",
        vCalAddress.new(
            attendee_email, cn=attendee_name or None, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp=True
        ),
    )
    calendar = _calendar(method, prodid)
    calendar.add_component(event)
    return calendar.to_ical()


def message_id(session_id: int, recipient_key: str, kind: str, sequence: int, host: str) -> str:
    """A Message-ID that is the same for a resend, e.g. ``<invite-REQUEST-s12-p7-q3@host>``.

    `recipient_key` names the recipient in a way that cannot collide, such as ``p7`` for patient 7.
    """
    for part in (recipient_key, kind, host):
        if not _MESSAGE_ID_PART.fullmatch(part):
            raise ValueError(f"{part!r} cannot be used in a Message-ID")
    return f"<invite-{kind}-s{session_id}-{recipient_key}-q{sequence}@{host}>"


def invitation_message(
    session: CalendarSession,
    method: InvitationMethod,
    *,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    recipient_key: str,
    host: str,
    subject: str,
    text: str,
    html: str,
    date: datetime,
    prodid: str = PRODID,
) -> EmailMessage:
    """The iMIP email (RFC 6047) for one recipient.

    multipart/mixed -> [multipart/alternative -> [text/plain, text/html, text/calendar], invite.ics]
    """
    ics = build_invitation(
        session,
        method,
        organizer_email=organizer_email,
        organizer_name=organizer_name,
        attendee_email=attendee_email,
        attendee_name=attendee_name,
        host=host,
        prodid=prodid,
    )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(organizer_name, addr_spec=organizer_email)
    message["To"] = Address(attendee_name, addr_spec=attendee_email)
    message["Date"] = _utc(date, "date")
    message["Message-ID"] = message_id(session.id, recipient_key, method, session.sequence, host)
    # Quoted-printable keeps non-ASCII text 7-bit clean for relays without 8BITMIME.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    # Passed as bytes (base64) so the calendar arrives byte for byte, CRLFs and folding included.
    message.add_alternative(ics, maintype="text", subtype="calendar", params={"charset": "utf-8", "method": method})
    message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return message
