"""Builders and parsers for calendars tests: a running group with patients and a supervisor, and calendar
parsing with three independent libraries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import icalendar
import recurring_ical_events
import vobject

from core.actor import Actor
from extensions import db
from groups import operations as groups
from tests.factories import make_patient, make_practice, make_user
from tests.groups.helpers import make_group, monday


def setup_group(*, start_date: date | None = None, patients=None, **group_values):
    """A practice with a supervisor, a group starting next Monday (MO/TH 18:00), and enrolled patients.

    `patients` is a list of dicts of patient fields; by default one patient who wants invitations."""
    practice = make_practice(sender_email="praktijk@example.com", address="Dorpsstraat 1, Utrecht", phone="030 1")
    supervisor = make_user(practice, role="therapist", name="Sanne Supervisor")
    group = make_group(practice, start_date=start_date or monday(1), supervisor_ids=[supervisor.id], **group_values)
    people = []
    for values in patients if patients is not None else [{"calendar_preference": "invitations"}]:
        patient = make_patient(practice, **{"email_consent": True, **values})
        groups.enrol(Actor.system(practice.id), group.id, patient.id)
        people.append(patient)
    db.session.flush()
    sessions = groups.group_sessions(Actor.system(practice.id), group.id)
    return practice, supervisor, group, sessions, people


def starts_by_parser(data: bytes) -> dict[str, dict[str, datetime]]:
    """UID → UTC start, as read by icalendar, vobject and recurring-ical-events (they must agree)."""
    results: dict[str, dict[str, datetime]] = {}
    calendar = icalendar.Calendar.from_ical(data)
    results["icalendar"] = {str(e["UID"]): e.decoded("DTSTART").astimezone(UTC) for e in calendar.walk("VEVENT")}
    parsed = vobject.readOne(data.decode())
    results["vobject"] = {e.uid.value: e.dtstart.value.astimezone(UTC) for e in getattr(parsed, "vevent_list", [])}
    events = recurring_ical_events.of(calendar).between(
        datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    )
    results["recurring_ical_events"] = {str(e["UID"]): e["DTSTART"].dt.astimezone(UTC) for e in events}
    return results


def assert_parsers_agree(data: bytes, expected: dict[str, datetime]) -> None:
    for parser, starts in starts_by_parser(data).items():
        assert starts == expected, parser


def assert_wire_format(data: bytes) -> None:
    """CRLF line ends everywhere and no line longer than 75 octets (RFC 5545 3.1)."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    for line in data.split(b"\r\n"):
        assert len(line) <= 75, line


def local(day: date, hour: int, zone: str = "Europe/Amsterdam") -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)
