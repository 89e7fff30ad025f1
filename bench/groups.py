"""Benchmark for groups: materialising a year of sessions, and the practice's week view.

    python bench/groups.py                          # a temporary SQLite database
    python bench/groups.py postgresql://user@host/db  # a temporary database next to db on that server

1. Plans 200 groups of a 104-session programme (a year, twice a week) through the real operation: recurrence
   expansion, room and supervisor conflict checks, inserts.
2. Renders the week calendar (the real page, logged in) for a practice growing to 60 sessions and 600
   enrolments in that week, and prints the SQL queries per page view (they must not grow with the sessions:
   no N+1) and the time against one raw SQL query that fetches the same rows.
Exits with status 1 when the number of queries changes with the number of sessions.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time as clock
from datetime import time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from config import normalise_database_url  # noqa: E402

PASSWORD = "bench-password-123"
GROUPS = 200
YEAR_SESSIONS = 104
WEEK_STAGES = (3, 15, 30)  # groups meeting twice in the bench week: 6, 30 and 60 sessions
PATIENTS_PER_GROUP = 20
REPEAT = 15

RAW_WEEK_SQL = """
SELECT s.id, s.starts_at, s.ends_at, s.status, s.kind, s.sequence, g.id, g.name, g.capacity, p.name, r.name, u.name,
       (SELECT COUNT(*) FROM enrolments e
         WHERE e.group_id = s.group_id AND e.enrolled_at IS NOT NULL AND e.enrolled_at < s.ends_at
           AND (e.withdrawn_at IS NULL OR e.withdrawn_at > s.starts_at)),
       (SELECT COUNT(*) FROM session_guests sg WHERE sg.session_id = s.id)
FROM group_sessions s
JOIN groups g ON g.id = s.group_id
JOIN programmes p ON p.id = g.programme_id
JOIN rooms r ON r.id = s.room_id
LEFT JOIN session_supervisors ss ON ss.session_id = s.id
LEFT JOIN users u ON u.id = ss.user_id
WHERE s.practice_id = :practice AND s.starts_at >= :start AND s.starts_at < :end
ORDER BY s.starts_at, s.id
"""


def _slots():
    """Non-overlapping weekly patterns for one room: three pairs of days, one-hour slots from 07:00."""
    for hour in range(7, 21):
        for days in (["MO", "TH"], ["TU", "FR"], ["WE", "SA"]):
            yield days, time(hour)


class Database:
    """A throwaway database: a temporary SQLite file, or a new database on the given PostgreSQL server."""

    def __init__(self, server_url: str | None):
        self.server_url = server_url
        if server_url is None:
            self.directory = tempfile.TemporaryDirectory()
            self.url = f"sqlite:///{self.directory.name}/bench.db"
            self.name = "sqlite"
        else:
            base = sa.engine.make_url(normalise_database_url(server_url))
            self.database = f"{base.database or 'motio'}_bench_{os.getpid()}"
            self.admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
            self.url = base.set(database=self.database).render_as_string(hide_password=False)
            self.name = "postgresql"

    def drop(self) -> None:
        if self.server_url is None:
            self.directory.cleanup()
            return
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        self.admin.dispose()


def materialise(app) -> None:
    from core.actor import Actor
    from core.db import utcnow
    from extensions import db
    from groups import operations, rules
    from tests.factories import make_practice, make_user

    with app.app_context():
        practice = make_practice("Bench: a year of sessions")
        actor = Actor.system(practice.id)
        programme = operations.create_programme(
            actor,
            {"name": "Year", "session_count": YEAR_SESSIONS, "sessions_per_week": 2, "session_minutes": 60,
             "default_group_size": 10},
        )  # fmt: skip
        slots = list(_slots())
        rooms_needed = -(-GROUPS // len(slots))
        rooms = [operations.create_room(actor, {"name": f"Room {n}", "capacity": 12}) for n in range(rooms_needed)]
        supervisors = [make_user(practice, role="therapist", password=PASSWORD) for _ in rooms]
        db.session.commit()
        start = rules.week_start(utcnow().date()) + timedelta(weeks=1)
        began = clock.perf_counter()
        for n in range(GROUPS):
            room_index, slot_index = divmod(n, len(slots))
            days, at = slots[slot_index]
            operations.create_group(
                actor,
                {
                    "programme_id": programme.id,
                    "room_id": rooms[room_index].id,
                    "start_date": start,
                    "weekdays": days,
                    "start_time": at,
                    "capacity": 10,
                    "supervisor_ids": [supervisors[room_index].id],
                },
            )
            db.session.commit()  # one transaction per group, as one request would
        elapsed = clock.perf_counter() - began
        sessions = db.session.execute(
            sa.text("SELECT COUNT(*) FROM group_sessions WHERE practice_id = :p"), {"p": practice.id}
        ).scalar_one()
    print(
        f"materialise: {GROUPS} groups x {YEAR_SESSIONS} sessions = {sessions:,} sessions "
        f"(with room and supervisor conflict checks) in {elapsed:.1f} s, {elapsed / GROUPS * 1000:.0f} ms per group"
    )


def _raw_week(conn, practice_id: int, start, end) -> list:
    """The baseline: one hand-written query for the same rows the page shows."""
    return conn.execute(sa.text(RAW_WEEK_SQL), {"practice": practice_id, "start": start, "end": end}).all()


def _login(client, email: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "bench login failed"


def _median_ms(function) -> float:
    timings = []
    for _ in range(REPEAT):
        began = clock.perf_counter()
        function()
        timings.append((clock.perf_counter() - began) * 1000)
    return statistics.median(timings)


def week_view(app) -> bool:
    from accounts.models import Practice
    from core.actor import Actor
    from core.db import utcnow
    from extensions import db
    from groups import operations, rules
    from tests.factories import make_patient, make_practice, make_user

    with app.app_context():
        practice = make_practice("Bench: week view")
        actor = Actor.system(practice.id)
        programme = operations.create_programme(
            actor,
            {"name": "Back", "session_count": 18, "sessions_per_week": 2, "session_minutes": 60,
             "default_group_size": PATIENTS_PER_GROUP},
        )  # fmt: skip
        rooms = [operations.create_room(actor, {"name": f"Gym {n}", "capacity": 25}).id for n in range(3)]
        staff = [make_user(practice, role="therapist", password=PASSWORD) for _ in rooms]
        email, practice_id, programme_id, staff = staff[0].email, practice.id, programme.id, [u.id for u in staff]
        db.session.commit()
    week = rules.week_start(utcnow().date()) + timedelta(weeks=2)
    start = rules.local_to_utc(week, time(0), "Europe/Amsterdam")
    end = rules.local_to_utc(week + timedelta(days=7), time(0), "Europe/Amsterdam")

    client = app.test_client()
    _login(client, email)
    statements: list[str] = []

    def count_statement(conn, cursor, statement, *args):
        statements.append(statement)

    def page():
        response = client.get(f"/calendar?week={week.isoformat()}")
        assert response.status_code == 200

    print("week view (GET /calendar, logged in; median of", REPEAT, "runs):")
    print(f"  {'sessions':>8} {'enrolments':>10} {'queries':>7} {'page ms':>8} {'raw SQL ms':>10} {'ratio':>6}")
    counts = []
    made = 0
    slots = list(_slots())
    with app.app_context():
        engine = db.engine
    for target in WEEK_STAGES:
        with app.app_context():
            while made < target:
                room_index = made % len(rooms)
                days, at = slots[made // len(rooms)]
                group = operations.create_group(
                    actor,
                    {
                        "programme_id": programme_id,
                        "room_id": rooms[room_index],
                        "start_date": week - timedelta(weeks=1),
                        "weekdays": days,
                        "start_time": at,
                        "capacity": PATIENTS_PER_GROUP,
                        "supervisor_ids": [staff[room_index]],
                    },
                )
                owner = db.session.get(Practice, practice_id)
                for _ in range(PATIENTS_PER_GROUP):
                    operations.enrol(actor, group.id, make_patient(owner).id)
                db.session.commit()
                made += 1
            enrolments = db.session.execute(
                sa.text("SELECT COUNT(*) FROM enrolments WHERE practice_id = :p"), {"p": practice_id}
            ).scalar_one()
            db.session.commit()
        # Each page request runs in its own app context (and database session), as in production.
        page()  # warm up
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count_statement)
        page()
        sa.event.remove(engine, "before_cursor_execute", count_statement)
        queries = len(statements)
        if os.environ.get("BENCH_SHOW_SQL"):
            print("\n".join("    " + " ".join(q.split())[:110] for q in statements))
        page_ms = _median_ms(page)
        with engine.connect() as conn:
            rows = _raw_week(conn, practice_id, start, end)
            raw_ms = _median_ms(lambda conn=conn: _raw_week(conn, practice_id, start, end))
        sessions = len({row[0] for row in rows})
        counts.append(queries)
        ratio = page_ms / raw_ms
        print(f"  {sessions:>8} {enrolments:>10} {queries:>7} {page_ms:>8.1f} {raw_ms:>10.2f} {ratio:>5.0f}x")
    constant = len(set(counts)) == 1
    print(f"  queries per page view constant as sessions grow: {'yes' if constant else 'NO (N+1?)'}")
    print(
        "  (queries: every SQL statement of the request, including the login check and, on SQLite, BEGIN IMMEDIATE;"
        " BENCH_SHOW_SQL=1 lists them. ratio = page render time / raw query time)"
    )
    return constant


def main() -> int:
    server = sys.argv[1] if len(sys.argv) > 1 else None
    os.environ.setdefault("MOTIO_ENV", "testing")
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    database = Database(server)
    try:
        os.environ["DATABASE_URL"] = database.url
        import logging

        from flask_migrate import upgrade

        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "RATELIMIT_ENABLED": False, "TESTING": True})
        logging.disable(logging.INFO)  # the migration log would drown the results
        with app.app_context():
            upgrade()
        print(f"Motio groups benchmark on {database.name}")
        materialise(app)
        ok = week_view(app)
        with app.app_context():
            from extensions import db

            db.engine.dispose()
    finally:
        database.drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
