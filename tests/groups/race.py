"""Processes for the enrolment race test: each builds its own app, engine and connection on a shared database.

Run with the spawn start method, so nothing (connections, app state) is inherited from the pytest process.
"""

from __future__ import annotations

import os
import time as clock
from datetime import time, timedelta

#: How long each process sleeps right after counting a group's places: a wide window for the two transactions to
#: interleave. Without the group row lock both would see one free place and the group would end up over-full.
RACE_WINDOW_SECONDS = 0.3


def _app(url: str):
    os.environ.update(MOTIO_ENV="testing", SECRET_KEY="race-test", DATABASE_URL=url)
    from app import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "RATELIMIT_ENABLED": False, "SECRET_KEY": "race-test"}
    )


def prepare(url: str, rounds: int, results) -> None:
    """Build the schema with the real migrations and the groups to race for; report their ids."""
    from flask_migrate import upgrade

    from core.actor import Actor
    from core.db import utcnow
    from extensions import db
    from groups import operations, rules
    from tests.factories import make_patient, make_practice

    app = _app(url)
    with app.app_context():
        upgrade()
        practice = make_practice("Race practice")
        actor = Actor.system(practice.id)
        room = operations.create_room(actor, {"name": "Gym", "capacity": 12})
        programme = operations.create_programme(
            actor,
            {
                "name": "Back",
                "session_count": 2,
                "sessions_per_week": 2,
                "session_minutes": 60,
                "default_group_size": 2,
            },
        )
        start = rules.week_start(utcnow().date()) + timedelta(weeks=1)
        last_place, same_patient = [], []
        for n in range(rounds + 1):
            group = operations.create_group(
                actor,
                {
                    "programme_id": programme.id,
                    "room_id": room.id,
                    "start_date": start,
                    "weekdays": ["MO", "TH"],
                    "start_time": time(7 + n),
                    "capacity": 2,
                },
            )
            if n < rounds:  # one place taken, one left, two patients after it
                operations.enrol(actor, group.id, make_patient(practice).id)
                last_place.append((group.id, make_patient(practice).id, make_patient(practice).id))
            else:  # plenty of room, the same patient twice
                patient = make_patient(practice).id
                same_patient.append((group.id, patient, patient))
        db.session.commit()
        results.put({"practice_id": practice.id, "last_place": last_place, "same_patient": same_patient})


def enrol_in_turn(url: str, worker: int, practice_id: int, races: list, barrier, results) -> None:
    """For each race: wait for the other process at the barrier, then enrol this worker's patient at once."""
    import sqlalchemy as sa

    from core.actor import Actor
    from core.errors import DomainError
    from extensions import db
    from groups import operations

    app = _app(url)
    with app.app_context():

        @sa.event.listens_for(db.engine, "after_cursor_execute")
        def widen_the_window(conn, cursor, statement, parameters, context, executemany):
            text = statement.lower()
            if text.startswith("select") and "from enrolments" in text and "count(" in text:
                clock.sleep(RACE_WINDOW_SECONDS)

        actor = Actor.system(practice_id)
        for group_id, first, second in races:
            patient_id = first if worker == 0 else second
            barrier.wait(timeout=60)
            try:
                enrolment = operations.enrol(actor, group_id, patient_id)
                db.session.commit()
                results.put((group_id, worker, enrolment.status))
            except DomainError as exc:
                db.session.rollback()
                results.put((group_id, worker, f"refused:{exc.code}"))
            finally:
                db.session.remove()
