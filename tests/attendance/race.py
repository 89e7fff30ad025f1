"""Processes for the concurrent roll-call test: two "tablets", each its own app, engine and connection, saving the
same sessions at once. Run with the spawn start method, so nothing is inherited from the pytest process."""

from __future__ import annotations

import os
import time as clock
from datetime import timedelta

#: Each save sleeps this long after reading the roster and existing records, before writing: a wide window for
#: the two transactions to interleave.
RACE_WINDOW_SECONDS = 0.2


def _app(url: str):
    os.environ.update(MOTIO_ENV="testing", SECRET_KEY="race-test", DATABASE_URL=url)
    from app import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "race-test"}
    )


def prepare(url: str, results) -> None:
    from flask_migrate import upgrade

    from extensions import db
    from tests.attendance.helpers import build
    from tests.factories import make_user

    app = _app(url)
    with app.test_request_context():
        upgrade()
        s = build(8, weeks_ago=5)
        other = make_user(s.practice, "assistant")
        plan = {
            "users": [s.therapist.id, other.id],
            "sessions": [x.id for x in s.sessions[:4]],
            "patients": [p.id for p in s.patients],
            "now": [s.at(n).isoformat() for n in range(4)],
        }
        db.session.commit()
    results.put(plan)


def save_in_turn(url: str, worker: int, plan: dict, barrier, results) -> None:
    """For each session: wait for the other tablet, then save this tablet's half of the roster plus the two
    patients both tablets record (worker 0 says late, worker 1 says absent)."""
    from datetime import datetime

    from accounts.models import User
    from attendance import operations
    from core.actor import Actor
    from extensions import db

    app = _app(url)
    with app.test_request_context():
        original = operations._upsert

        def slow_upsert(values):
            clock.sleep(RACE_WINDOW_SECONDS / 10)
            return original(values)

        operations._upsert = slow_upsert
        import sqlalchemy as sa

        @sa.event.listens_for(db.engine, "after_cursor_execute")
        def widen_the_window(conn, cursor, statement, parameters, context, executemany):
            if statement.lower().startswith("select") and "from attendance_records" in statement.lower():
                clock.sleep(RACE_WINDOW_SECONDS)

        patients = plan["patients"]
        mine = patients[2:5] if worker == 0 else patients[5:8]
        shared = patients[:2]
        user = db.session.get(User, plan["users"][worker])
        actor = Actor.for_user(user)
        # Release the connection before waiting: on SQLite every transaction takes the write lock at BEGIN, so a
        # transaction left open here would make the other tablet wait for us while we wait for it.
        db.session.close()
        for session_id, now in zip(plan["sessions"], plan["now"], strict=True):
            rows = [{"patient_id": p, "status": "present"} for p in mine]
            rows += [{"patient_id": p, "status": "late" if worker == 0 else "absent"} for p in shared]
            barrier.wait(timeout=60)
            try:
                operations.record_attendance(
                    actor, session_id, rows, now=datetime.fromisoformat(now) + timedelta(minutes=worker)
                )
                db.session.commit()
                results.put((session_id, worker, "saved"))
            except Exception as exc:  # reported to the test, which fails on anything but "saved"
                db.session.rollback()
                results.put((session_id, worker, f"error:{type(exc).__name__}:{exc}"))
            finally:
                db.session.remove()
