"""Subscription feeds: stable bytes, ETag/Last-Modified/304, window and cancelled sessions, tokens (ICAL.md)."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import icalendar
import pytest
import sqlalchemy as sa

from calendars import operations as ops
from calendars.models import CalendarToken
from core.actor import Actor
from core.db import utcnow
from core.errors import Forbidden
from core.tokens import token_hash
from extensions import db
from groups import operations as groups
from supervision import operations as supervision
from tests.calendars.helpers import assert_parsers_agree, assert_wire_format, local, setup_group
from tests.groups.helpers import last_sunday

HOST = "motio.test"


def feed_path(row: CalendarToken) -> str:
    return f"/feeds/{ops.link_token(row)}.ics"


def patient_feed(practice, patient) -> CalendarToken:
    return ops.rotate_patient_link(Actor.system(practice.id), patient.id, "patient")


def uids(data: bytes) -> list[str]:
    return [str(e["UID"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")]


def test_patient_feed_is_a_stable_publish_calendar_with_utc_times(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{"name": "Anna Feed"}])
    path = feed_path(patient_feed(practice, anna))
    first, second = client.get(path), client.get(path)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "Content-Disposition" not in first.headers
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    data = first.data
    assert_wire_format(data)
    assert b"METHOD:PUBLISH\r\n" in data
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in data and b"X-PUBLISHED-TTL:PT1H\r\n" in data
    assert b"X-WR-CALNAME:" in data and b"\r\nNAME:" in data
    assert b"ATTENDEE" not in data and b"TZID" not in data and b"RRULE" not in data
    assert_parsers_agree(data, {f"session-{s.id}@{HOST}": s.starts_at for s in sessions})


def test_conditional_requests_get_304_until_something_changes(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = feed_path(patient_feed(practice, anna))
    full = client.get(path)
    etag, modified = full.headers["ETag"], full.headers["Last-Modified"]
    same = client.get(path, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b"" and same.headers["ETag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    session = sessions[0]
    groups.change_session(
        Actor.system(practice.id), session.id, {"starts_at": session.starts_at + timedelta(hours=1)}, reason="x"
    )
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"SEQUENCE:1\r\n" in changed.data and changed.data != full.data


def test_window_and_cancelled_sessions(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    now = utcnow()
    a, b, c, d = sessions

    def place(session, start, status="scheduled"):
        session.starts_at, session.ends_at, session.status = start, start + timedelta(hours=1), status

    anna_enrolment_start = now - timedelta(days=100)
    from groups.models import Enrolment

    db.session.execute(
        sa.update(Enrolment).where(Enrolment.patient_id == anna.id).values(enrolled_at=anna_enrolment_start)
    )
    place(a, now - timedelta(days=40))  # before the window
    place(b, now + timedelta(days=200))  # after the window
    place(c, now - timedelta(days=3), "cancelled")  # cancelled, recent: stays, shown as cancelled
    place(d, now - timedelta(days=10), "cancelled")  # cancelled more than a week ago: gone
    db.session.flush()
    data = client.get(feed_path(patient_feed(practice, anna))).data
    assert uids(data) == [f"session-{c.id}@{HOST}"]
    [event] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"


def test_feed_has_no_other_patients_scores_or_levels(app, client, ctx):
    practice, supervisor, group, sessions, (anna, bob) = setup_group(
        patients=[{"name": "Anna Eigen"}, {"name": "Bob Ander", "email": "bob.ander@example.com"}]
    )
    supervision_actor = Actor.for_user(supervisor)
    from tests.supervision.samples import CALM  # a complete set of answers

    supervision.create_assessment(supervision_actor, anna.id, kind="intake", answers=CALM)
    data = client.get(feed_path(patient_feed(practice, anna))).data
    text = data.decode()
    for forbidden in ("Bob Ander", "bob.ander", "Anna Eigen", anna.email, "level", "Level", "niveau", "score"):
        assert forbidden not in text


def test_staff_feed_shows_group_and_head_count_without_names(app, client, ctx):
    practice, supervisor, group, sessions, (anna, bob) = setup_group(patients=[{"name": "Anna X"}, {"name": "Bob Y"}])
    row = ops.rotate_staff_feed(Actor.for_user(supervisor), supervisor.id)
    data = client.get(feed_path(row)).data
    assert len(uids(data)) == len(sessions)
    [event, *_] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["DESCRIPTION"]) == f"{group.name}: 2"
    assert str(event["SUMMARY"]) == group.name
    assert b"Anna X" not in data and b"Bob Y" not in data and b"ATTENDEE" not in data


def test_room_feed_for_admins(app, client, ctx):
    from tests.factories import make_user

    practice, supervisor, group, sessions, _ = setup_group(patients=[])
    admin = make_user(practice, role="admin")
    row = ops.rotate_room_feed(Actor.for_user(admin), group.room_id)
    assert len(uids(client.get(feed_path(row)).data)) == len(sessions)
    with pytest.raises(Forbidden):
        ops.rotate_room_feed(Actor.for_user(supervisor), group.room_id)


def test_unknown_revoked_rotated_and_malformed_tokens_get_the_same_404(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    old = patient_feed(practice, anna)
    old_path = feed_path(old)
    assert client.get(old_path).status_code == 200
    new = patient_feed(practice, anna)  # rotate
    assert old.revoked_at is not None and client.get(feed_path(new)).status_code == 200
    rotated = client.get(old_path)
    ops.revoke_patient_link(Actor.system(practice.id), anna.id, "patient")
    revoked = client.get(feed_path(new))
    unknown = client.get("/feeds/" + "A" * 43 + ".ics")
    malformed = client.get("/feeds/not-a-token.ics")
    portal_token_as_feed = client.get(feed_path(ops.rotate_patient_link(Actor.system(practice.id), anna.id, "portal")))
    responses = [rotated, revoked, unknown, malformed, portal_token_as_feed]
    assert {r.status_code for r in responses} == {404}
    assert len({r.data for r in responses}) == 1


def test_only_the_hash_of_a_token_is_looked_up_and_one_link_is_active(app, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    row = patient_feed(practice, anna)
    token = ops.link_token(row)
    assert len(token) == 43 and row.token_hash == token_hash(token) and token not in (row.nonce, row.token_hash)
    patient_feed(practice, anna)
    active = db.session.execute(
        sa.select(sa.func.count()).where(
            CalendarToken.kind == "patient", CalendarToken.patient_id == anna.id, CalendarToken.revoked_at.is_(None)
        )
    ).scalar_one()
    assert active == 1


def _next_dst_change(today: date) -> date:
    for year in (today.year, today.year + 1):
        for month in (3, 10):
            day = last_sunday(year, month)
            if day > today + timedelta(days=10):
                return day
    raise AssertionError


def test_dst_week_parses_to_the_same_utc_starts_in_feed_and_invitation(app, ctx):
    """18:00 Amsterdam time is 17:00Z in winter and 16:00Z in summer; every parser must agree."""
    sunday = _next_dst_change(utcnow().date())
    practice, supervisor, group, sessions, (anna,) = setup_group(
        start_date=sunday - timedelta(days=6), patients=[{"calendar_preference": "invitations"}]
    )
    first_three = sessions[:3]  # Monday and Thursday before the change, Monday after it
    assert [s.starts_at for s in first_three] == [local(s.starts_at.date(), 18) for s in first_three]
    assert len({s.starts_at.astimezone(UTC).hour for s in first_three}) == 2
    row = patient_feed(practice, anna)
    data = ops.build_feed_bytes(ops.feed_data(row, sunday_noon(sunday)), practice.address, "patient")
    assert_wire_format(data)
    assert_parsers_agree(data, {f"session-{s.id}@{HOST}": s.starts_at for s in sessions})
    for session in first_three:
        message = ops.queue_invitation(practice, session, "REQUEST", ops.patient_recipient(anna))
        from email import message_from_bytes, policy

        parsed = message_from_bytes(message.mime, policy=policy.default)
        ics = parsed.get_payload()[1].get_payload(decode=True)
        assert_parsers_agree(ics, {f"session-{session.id}@{HOST}": session.starts_at})


def sunday_noon(day: date):
    from datetime import datetime, time

    return datetime.combine(day, time(12), tzinfo=UTC)


def test_feed_sessions_are_read_in_one_query_for_the_304_path(app, client, ctx):
    practice, supervisor, group, sessions, (anna,) = setup_group(patients=[{}])
    path = feed_path(patient_feed(practice, anna))
    etag = client.get(path).headers["ETag"]
    statements = []

    def count(conn, cursor, statement, *args):
        if "group_sessions" in statement:
            statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
