"""Benchmark: a patient's feed of 250 sessions through the Flask app (token lookup, query, validators, building,
headers) against building the same calendar directly with icalendar from one raw SQL query, in the same run
(target: full endpoint <= 1.5 x direct); and the 304 path (If-None-Match) against the full path.

    python bench/feeds.py                       # temporary SQLite database
    python bench/feeds.py postgresql://postgres@127.0.0.1:5432/bench_feeds   # a PostgreSQL database (reset)
    python bench/feeds.py --repeat 50
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icalendar import Calendar, Event, vDuration  # noqa: E402

from app import create_app  # noqa: E402
from extensions import db  # noqa: E402
from tests.processes import reset_postgres  # noqa: E402

SESSIONS = 250
HOST = "motio.bench"

RAW_QUERY = """
SELECT s.id, s.starts_at, s.ends_at, s.status, s.sequence, s.updated_at, g.name, r.name, r.address
FROM group_sessions s
JOIN groups g ON g.id = s.group_id
JOIN rooms r ON r.id = s.room_id
JOIN enrolments e ON e.group_id = s.group_id AND e.patient_id = :patient
WHERE s.ends_at > :window_start AND s.starts_at < :window_end
ORDER BY s.starts_at, s.id
"""


def _utc(value) -> datetime:
    if isinstance(value, str):  # SQLite through a raw query
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def direct_feed(connection, patient_id: int, now: datetime, name: str, address: str, sqlite: bool) -> bytes:
    """The baseline: one raw query, then icalendar directly (the same properties as the app's feed)."""
    start, end = now - timedelta(days=30), now + timedelta(days=180)
    params = {"patient": patient_id, "window_start": start, "window_end": end}
    if sqlite:
        params = {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()}
    rows = connection.execute(sa.text(RAW_QUERY), params).all()
    calendar = Calendar()
    calendar.add("prodid", "-//Motio//Motio calendars//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(timedelta(hours=1)))
    for sid, starts, ends, status, sequence, updated, group, room, room_address in rows:
        event = Event()
        event.add("uid", f"session-{sid}@{HOST}")
        event.add("sequence", sequence)
        event.add("dtstamp", _utc(updated))
        event.add("last-modified", _utc(updated))
        event.add("dtstart", _utc(starts))
        event.add("dtend", _utc(ends))
        event.add("summary", group)
        event.add("location", ", ".join(p for p in (room, room_address or address) if p))
        event.add("status", "CONFIRMED" if status == "scheduled" else "CANCELLED")
        calendar.add_component(event)
    return calendar.to_ical()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from accounts import operations as accounts
    from calendars import operations as ops
    from core.actor import Actor
    from groups import operations as groups
    from groups.models import Enrolment, Session
    from patients import operations as patients

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    if url.startswith("postgres"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        reset_postgres(url)
    sqlite = url.startswith("sqlite")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MOTIO_ENV": "testing",
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": f"https://{HOST}",
        }
    )
    with app.app_context():
        upgrade()
        practice = accounts.get_or_create_practice("Bench", address="Oudegracht 1, Utrecht", locale="nl")
        db.session.flush()
        actor = Actor.system(practice.id)
        room = groups.create_room(actor, {"name": "Zaal", "capacity": 12})
        programme = groups.create_programme(
            actor,
            {
                "name": "Rug",
                "session_count": 4,
                "sessions_per_week": 2,
                "session_minutes": 60,
                "default_group_size": 10,
            },
        )
        now = datetime.now(UTC)
        group = groups.create_group(
            actor,
            {
                "programme_id": programme.id,
                "room_id": room.id,
                "start_date": (now + timedelta(days=7)).date(),
                "weekdays": ["MO", "TH"],
                "start_time": clock(18),
                "capacity": 10,
            },
        )
        db.session.execute(sa.delete(Session).where(Session.group_id == group.id))
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=25)
        for n in range(SESSIONS):
            start = first + timedelta(hours=19 * n)
            db.session.add(
                Session(
                    practice_id=practice.id,
                    group_id=group.id,
                    number=n + 1,
                    starts_at=start,
                    ends_at=start + timedelta(hours=1),
                    room_id=room.id,
                    status="cancelled" if n % 25 == 0 and start > now else "scheduled",
                    sequence=n % 3,
                    updated_at=now - timedelta(days=40),
                )
            )
        patient = patients.create_patient(actor, {"name": "Anna", "email": "anna@example.com"})
        db.session.add(
            Enrolment(
                practice_id=practice.id,
                group_id=group.id,
                patient_id=patient.id,
                status="enrolled",
                enrolled_at=now - timedelta(days=60),
                requested_at=now - timedelta(days=60),
            )
        )
        path = f"/feeds/{ops.link_token(ops.issue_link(practice.id, 'patient', patient.id, now))}.ics"
        db.session.commit()
        name, address, patient_id = practice.name, practice.address, patient.id

    client = app.test_client()
    full = client.get(path)
    assert full.status_code == 200, full.status_code
    etag = full.headers["ETag"]
    events = full.data.count(b"BEGIN:VEVENT")
    assert events == SESSIONS, events

    def timed(fn) -> float:
        fn()  # warm up
        started = time.perf_counter()
        for _ in range(args.repeat):
            fn()
        return (time.perf_counter() - started) / args.repeat

    def endpoint():
        assert client.get(path).status_code == 200

    def not_modified():
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

    with app.app_context():
        engine = db.engine

        def direct():
            with engine.connect() as connection:
                return direct_feed(connection, patient_id, datetime.now(UTC), name, address, sqlite)

        same = direct() == full.data
        t_direct = timed(direct)
    t_full = timed(endpoint)
    t_304 = timed(not_modified)
    print(f"database:                {url.split('://')[0]}")
    print(f"sessions in feed:        {events} ({len(full.data)} bytes; same bytes as direct: {same})")
    print(f"direct (raw SQL+icalendar): {t_direct * 1000:8.2f} ms")
    print(f"full endpoint:           {t_full * 1000:8.2f} ms")
    print(f"304 endpoint:            {t_304 * 1000:8.2f} ms")
    print(f"ratio full/direct:       {t_full / t_direct:8.2f}   (target <= 1.5)")
    print(f"ratio 304/full:          {t_304 / t_full:8.2f}")


if __name__ == "__main__":
    main()
