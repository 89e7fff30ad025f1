"""Tests for the pure calendar builders: bytes, three parsers, DST, MIME tree and a real SMTP delivery."""

import dataclasses
import email
import email.policy
import smtplib
import socket
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import vobject
from aiosmtpd.controller import Controller

from calendars.ical import (
    CalendarSession,
    build_feed,
    build_invitation,
    feed_includes,
    feed_window,
    invitation_message,
    message_id,
    session_event,
)

HOST = "motio.example"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# The last Sundays of March and October 2027, when Europe/Amsterdam switches to and from summer time.
SUMMER_TIME_STARTS = date(2027, 3, 28)
SUMMER_TIME_ENDS = date(2027, 10, 31)
# Long and non-ASCII, so that lines must be folded and multi-byte characters must not be split.
LONG_LOCATION = (
    "Fysiotherapie Zuidoost — Ruimte één, Bijlmerdreef 1234, 1102 AB Amsterdam-Zuidoost (ingang naast de apotheek)"
)
LONG_SUMMARY = (
    "Rug- en nektraining onder begeleiding — groep één (maandag/donderdag) Fysiotherapie Zuidoost — Ruimte één"
)
ORGANIZER = {"organizer_email": "praktijk@zuidoost.example", "organizer_name": "Fysiotherapie Zuidoost"}
ATTENDEE = {"attendee_email": "jan.devries@patient.example", "attendee_name": "Jan de Vries"}
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def amsterdam(day: date, hour: int = 18) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=AMSTERDAM).astimezone(UTC)


def make_session(session_id: int = 1, starts_at: datetime | None = None, **changes) -> CalendarSession:
    starts_at = starts_at or amsterdam(date(2027, 3, 25))
    session = CalendarSession(
        id=session_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        summary=LONG_SUMMARY,
        location=LONG_LOCATION,
        description="Neem water en een handdoek mee.\nOefeningen: zie het portaal.",
        status="scheduled",
        sequence=0,
        changed_at=datetime(2027, 3, 1, 9, 30, tzinfo=UTC),
    )
    return dataclasses.replace(session, **changes)


def dst_sessions() -> list[CalendarSession]:
    """Daily 18:00 Amsterdam sessions from 4 days before to 4 days after each switch."""
    days = [
        switch + timedelta(days=offset) for switch in (SUMMER_TIME_STARTS, SUMMER_TIME_ENDS) for offset in range(-4, 5)
    ]
    return [make_session(100 + n, amsterdam(day)) for n, day in enumerate(days)]


def uid(session: CalendarSession) -> str:
    return f"session-{session.id}@{HOST}"


def expected_starts(sessions: list[CalendarSession]) -> dict[str, datetime]:
    return {uid(s): s.starts_at for s in sessions}


def feed(sessions: list[CalendarSession]) -> bytes:
    return build_feed("Motio — Jan de Vries", sessions, HOST)


def invitation(session: CalendarSession, method: str = "REQUEST") -> bytes:
    return build_invitation(session, method, host=HOST, **ORGANIZER, **ATTENDEE)


def message(session: CalendarSession, method: str = "REQUEST") -> email.message.EmailMessage:
    return invitation_message(
        session,
        method,
        recipient_key="p7",
        host=HOST,
        subject="Uitnodiging: rugtraining één",
        text="U bent uitgenodigd voor de training.",
        html="<p>U bent uitgenodigd voor de training één.</p>",
        date=datetime(2027, 3, 2, 8, 0, tzinfo=UTC),
        **ORGANIZER,
        **ATTENDEE,
    )


def aware_utc(value: datetime) -> datetime:
    # A floating (naive) start would mean a parser had to guess the zone: that must never happen.
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value
    return value.astimezone(UTC)


def starts_by_icalendar(data: bytes) -> dict[str, datetime]:
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    return {str(e["UID"]): aware_utc(e.decoded("DTSTART")) for e in events}


def starts_by_vobject(data: bytes) -> dict[str, datetime]:
    calendar = vobject.readOne(data.decode("utf-8"))
    return {e.uid.value: aware_utc(e.dtstart.value) for e in calendar.vevent_list}


def starts_by_recurring_ical_events(data: bytes) -> dict[str, datetime]:
    events = recurring_ical_events.of(icalendar.Calendar.from_ical(data)).between(FAR_PAST, FAR_FUTURE)
    return {str(e["UID"]): aware_utc(e["DTSTART"].dt) for e in events}


PARSERS = [starts_by_icalendar, starts_by_vobject, starts_by_recurring_ical_events]


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[: -len(b"\r\n")].split(b"\r\n")


def mime_tree(part: email.message.Message):
    if part.is_multipart():
        return (part.get_content_type(), [mime_tree(p) for p in part.iter_parts()])
    return part.get_content_type()


EXPECTED_TREE = (
    "multipart/mixed",
    [("multipart/alternative", ["text/plain", "text/html", "text/calendar"]), "application/ics"],
)


# --- time zones and parsers -------------------------------------------------------------------------


def test_dst_switch_dates_are_the_last_sundays():
    for switch in (SUMMER_TIME_STARTS, SUMMER_TIME_ENDS):
        assert switch.weekday() == 6
        assert (switch + timedelta(days=7)).month != switch.month


def test_18h_amsterdam_is_17z_in_winter_and_16z_in_summer():
    data = feed(dst_sessions())
    utc_starts = [line for line in lines(data) if line.startswith(b"DTSTART")]
    winter, summer = 17, 16
    expected = [
        *(datetime(2027, 3, day, winter) for day in (24, 25, 26, 27)),
        *(datetime(2027, 3, day, summer) for day in (28, 29, 30, 31)),
        datetime(2027, 4, 1, summer),
        *(datetime(2027, 10, day, summer) for day in (27, 28, 29, 30)),
        datetime(2027, 10, 31, winter),
        *(datetime(2027, 11, day, winter) for day in (1, 2, 3, 4)),
    ]
    assert utc_starts == [b"DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ").encode() for start in expected]


@pytest.mark.parametrize("parse", PARSERS)
def test_feed_starts_agree_across_parsers(parse):
    sessions = dst_sessions()
    assert parse(feed(sessions)) == expected_starts(sessions)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invitation_starts_agree_across_parsers(parse, method):
    for session in dst_sessions():
        assert parse(invitation(session, method)) == expected_starts([session])


def test_non_utc_aware_input_is_written_in_utc():
    local_start = datetime(2027, 7, 1, 18, tzinfo=AMSTERDAM)
    session = make_session(starts_at=local_start, changed_at=datetime(2027, 6, 1, 12, tzinfo=AMSTERDAM))
    data = feed([session])
    assert b"DTSTART:20270701T160000Z\r\n" in data
    assert b"DTEND:20270701T170000Z\r\n" in data
    assert b"DTSTAMP:20270601T100000Z\r\n" in data


@pytest.mark.parametrize("field", ["starts_at", "ends_at", "changed_at"])
def test_naive_datetimes_are_rejected(field):
    session = make_session()
    naive = dataclasses.replace(session, **{field: getattr(session, field).replace(tzinfo=None)})
    with pytest.raises(ValueError, match=field):
        session_event(naive, HOST)
    with pytest.raises(ValueError, match=field):
        build_feed("x", [naive], HOST)
    with pytest.raises(ValueError, match=field):
        invitation(naive)


def test_naive_now_and_date_are_rejected():
    with pytest.raises(ValueError):
        feed_window(datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        feed_includes(make_session(), datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        invitation_message(
            make_session(),
            "REQUEST",
            recipient_key="p7",
            host=HOST,
            subject="s",
            text="t",
            html="<p>h</p>",
            date=datetime(2027, 1, 1),
            **ORGANIZER,
            **ATTENDEE,
        )


def test_session_must_end_after_it_starts_and_have_a_known_status():
    session = make_session()
    with pytest.raises(ValueError):
        session_event(dataclasses.replace(session, ends_at=session.starts_at), HOST)
    with pytest.raises(ValueError):
        session_event(dataclasses.replace(session, status="canceled"), HOST)


# --- raw bytes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["feed", "REQUEST", "CANCEL"])
def test_crlf_everywhere_and_folded_at_75_octets(kind):
    session = make_session()
    data = feed(dst_sessions()) if kind == "feed" else invitation(session, kind)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in lines(data))
    assert any(line.startswith(b" ") for line in lines(data)), "the long SUMMARY/LOCATION should be folded"
    # Folding splits between characters, never inside a UTF-8 sequence.
    for line in lines(data):
        line.decode("utf-8")
    parsed = vobject.readOne(data.decode("utf-8")).vevent_list[0]
    assert parsed.summary.value == LONG_SUMMARY
    assert parsed.location.value == LONG_LOCATION


@pytest.mark.parametrize("kind", ["feed", "REQUEST", "CANCEL"])
def test_no_timezones_recurrences_or_floating_times(kind):
    data = feed(dst_sessions()) if kind == "feed" else invitation(make_session(), kind)
    for forbidden in (b"VTIMEZONE", b"TZID", b"RRULE", b"RDATE"):
        assert forbidden not in data
    for line in lines(data):
        if line.startswith((b"DTSTART", b"DTEND", b"DTSTAMP", b"LAST-MODIFIED")):
            assert line.endswith(b"Z"), line


# --- feeds ---------------------------------------------------------------------------------------------


def test_feed_calendar_properties():
    data = feed([make_session()])
    calendar_lines = lines(data)[: lines(data).index(b"BEGIN:VEVENT")]
    for expected in (
        b"VERSION:2.0",
        b"METHOD:PUBLISH",
        "NAME:Motio — Jan de Vries".encode(),
        "X-WR-CALNAME:Motio — Jan de Vries".encode(),
        b"REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        b"X-PUBLISHED-TTL:PT1H",
    ):
        assert expected in calendar_lines
    assert b"ATTENDEE" not in data
    assert b"ORGANIZER" not in data
    assert b"VALARM" not in data


def test_feed_is_byte_identical_for_identical_input():
    data = feed(dst_sessions())
    assert data == feed(dst_sessions())
    # Two calls within a second would hide a clock read, so also look for today's date.
    assert datetime.now(UTC).strftime("%Y%m%d").encode() not in data
    stamps = {line for line in lines(data) if line.startswith((b"DTSTAMP", b"LAST-MODIFIED"))}
    assert stamps == {b"DTSTAMP:20270301T093000Z", b"LAST-MODIFIED:20270301T093000Z"}


def test_feed_order_does_not_depend_on_input_order():
    same_start = amsterdam(date(2027, 5, 3))
    sessions = [*dst_sessions(), make_session(7, same_start), make_session(5, same_start)]
    reference = feed(sessions)
    assert feed(list(reversed(sessions))) == reference
    assert feed(sessions[1::2] + sessions[::2]) == reference
    uids = [str(e["UID"]) for e in icalendar.Calendar.from_ical(reference).walk("VEVENT")]
    by_start_then_id = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    assert uids == [uid(s) for s in by_start_then_id]
    assert uids.index(f"session-5@{HOST}") + 1 == uids.index(f"session-7@{HOST}")


def test_empty_feed_is_valid():
    calendar = vobject.readOne(feed([]).decode())
    assert calendar.method.value == "PUBLISH"
    assert "vevent" not in calendar.contents


def test_event_properties():
    changed_at = datetime(2027, 3, 20, 14, 5, tzinfo=UTC)
    session = make_session(42, sequence=3, changed_at=changed_at)
    event = session_event(session, HOST)
    assert event["UID"] == f"session-42@{HOST}"
    assert event["SEQUENCE"] == 3
    assert event.decoded("DTSTAMP") == changed_at
    assert event.decoded("LAST-MODIFIED") == changed_at
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert event["SUMMARY"] == LONG_SUMMARY
    assert event["LOCATION"] == LONG_LOCATION
    assert event["DESCRIPTION"] == session.description
    assert event["STATUS"] == "CONFIRMED"
    assert session_event(dataclasses.replace(session, status="cancelled"), HOST)["STATUS"] == "CANCELLED"


def test_empty_location_and_description_are_left_out():
    event = session_event(make_session(location="", description=""), HOST)
    assert "LOCATION" not in event
    assert "DESCRIPTION" not in event


def test_same_uid_in_feed_and_invitation():
    session = make_session(9)
    assert set(starts_by_icalendar(feed([session]))) == set(starts_by_icalendar(invitation(session)))


NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)


def test_feed_window():
    assert feed_window(NOW) == (NOW - timedelta(days=30), NOW + timedelta(days=180))


@pytest.mark.parametrize(
    ("days_from_now", "status", "included"),
    [
        (-29, "scheduled", True),
        (-31, "scheduled", False),
        (0, "scheduled", True),
        (179, "scheduled", True),
        (181, "scheduled", False),
        (30, "cancelled", True),  # upcoming cancellation: shown as cancelled so people notice
        (-6, "cancelled", True),
        (-8, "cancelled", False),  # a week in the past: dropped, so clients remove it
        (-29, "cancelled", False),
        (181, "cancelled", False),
    ],
)
def test_feed_includes(days_from_now, status, included):
    session = make_session(starts_at=NOW + timedelta(days=days_from_now), status=status)
    assert feed_includes(session, NOW) is included


def test_cancelled_session_leaves_the_feed_7_days_after_it_ended():
    session = make_session(starts_at=NOW - timedelta(days=7, hours=1), status="cancelled")
    assert feed_includes(session, NOW - timedelta(seconds=1))
    assert not feed_includes(session, NOW)


# --- invitations -------------------------------------------------------------------------------------------


def parsed_event(data: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_request_properties():
    session = make_session(12, sequence=2)
    data = invitation(session)
    calendar, event = parsed_event(data)
    assert calendar["METHOD"] == "REQUEST"
    assert event["STATUS"] == "CONFIRMED"
    assert event["SEQUENCE"] == 2
    assert event["UID"] == f"session-12@{HOST}"
    assert event["ORGANIZER"] == "mailto:praktijk@zuidoost.example"
    assert event["ORGANIZER"].params["CN"] == "Fysiotherapie Zuidoost"
    # A single attendee, the recipient, with exactly the parameters clients need to show RSVP buttons.
    assert not isinstance(event["ATTENDEE"], list)
    assert event["ATTENDEE"] == "mailto:jan.devries@patient.example"
    assert dict(event["ATTENDEE"].params) == {
        "CN": "Jan de Vries",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    # icalendar quotes every parameter value with a space in it, which RFC 5545 allows.
    unfolded = data.replace(b"\r\n ", b"")
    assert b'ORGANIZER;CN="Fysiotherapie Zuidoost":mailto:praktijk@zuidoost.example\r\n' in unfolded
    assert (
        b'ATTENDEE;CN="Jan de Vries";PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:'
        b"mailto:jan.devries@patient.example\r\n" in unfolded
    )
    attendee = vobject.readOne(data.decode()).vevent.attendee
    assert attendee.value == "mailto:jan.devries@patient.example"
    assert attendee.params["RSVP"] == ["TRUE"]


@pytest.mark.parametrize("status", ["cancelled", "scheduled"])  # cancelled session / withdrawn patient
def test_cancel_properties(status):
    session = make_session(12, sequence=4, status=status)
    calendar, event = parsed_event(invitation(session, "CANCEL"))
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 4
    assert event["UID"] == f"session-12@{HOST}"
    assert event["ATTENDEE"] == "mailto:jan.devries@patient.example"
    assert event["ORGANIZER"] == "mailto:praktijk@zuidoost.example"


def test_request_for_cancelled_session_or_unknown_method_is_rejected():
    with pytest.raises(ValueError):
        invitation(make_session(status="cancelled"), "REQUEST")
    with pytest.raises(ValueError):
        invitation(make_session(), "PUBLISH")


def test_invitation_is_byte_identical_for_identical_input():
    assert invitation(make_session()) == invitation(make_session())


# --- email -------------------------------------------------------------------------------------------------


def assert_invitation_email(msg: email.message.EmailMessage, session: CalendarSession, method: str) -> None:
    assert mime_tree(msg) == EXPECTED_TREE
    alternative, attachment = msg.iter_parts()
    plain, html, calendar_part = alternative.iter_parts()
    # After a trip over SMTP the line ends are CRLF, so compare lines.
    assert plain.get_content().splitlines() == ["U bent uitgenodigd voor de training."]
    assert "één" in html.get_content()
    assert calendar_part.get_content_charset() == "utf-8"
    assert calendar_part.get_param("method") == method
    assert calendar_part.get_content_disposition() is None
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    ics = calendar_part.get_payload(decode=True)
    assert ics == invitation(session, method)
    assert attachment.get_payload(decode=True) == ics
    assert icalendar.Calendar.from_ical(ics)["METHOD"] == calendar_part.get_param("method")
    assert msg["From"].addresses[0].addr_spec == "praktijk@zuidoost.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["jan.devries@patient.example"]
    assert msg["Subject"] == "Uitnodiging: rugtraining één"
    assert msg["Date"].datetime == datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
    assert msg["Message-ID"] == f"<invite-{method}-s{session.id}-p7-q{session.sequence}@{HOST}>"


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invitation_message_structure(method):
    session = make_session(12, sequence=3)
    msg = message(session, method)
    assert_invitation_email(msg, session, method)
    # What a mail client reads back from the wire, not only the object we built.
    reparsed = email.message_from_bytes(msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default)
    assert_invitation_email(reparsed, session, method)


def test_message_id_is_deterministic_and_distinct():
    assert message_id(12, "p7", "REQUEST", 3, HOST) == "<invite-REQUEST-s12-p7-q3@motio.example>"
    assert message_id(12, "p7", "REQUEST", 3, HOST) == message_id(12, "p7", "REQUEST", 3, HOST)
    variants = {
        message_id(12, "p7", "REQUEST", 3, HOST),
        message_id(13, "p7", "REQUEST", 3, HOST),
        message_id(12, "p8", "REQUEST", 3, HOST),
        message_id(12, "p7", "CANCEL", 3, HOST),
        message_id(12, "p7", "REQUEST", 4, HOST),
    }
    assert len(variants) == 5
    assert message(make_session())["Message-ID"] == message(make_session())["Message-ID"]


@pytest.mark.parametrize("bad", ["p 7", "p7>", "p@7", ""])
def test_message_id_rejects_unsafe_parts(bad):
    with pytest.raises(ValueError):
        message_id(12, bad, "REQUEST", 3, HOST)


class CollectingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to check it started).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invitation_arrives_intact_over_smtp(smtp_server, method):
    handler, port = smtp_server
    session = make_session(12, sequence=3, status="cancelled" if method == "CANCEL" else "scheduled")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message(session, method))
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "praktijk@zuidoost.example"
    assert envelope.rcpt_tos == ["jan.devries@patient.example"]
    received = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert_invitation_email(received, session, method)
    (calendar_part,) = [part for part in received.walk() if part.get_content_type() == "text/calendar"]
    assert starts_by_vobject(calendar_part.get_payload(decode=True)) == expected_starts([session])
