"""Benchmark for attendance: the compliance report over 1,000,000 roll-call rows, and the roll-call page.

    python bench/compliance.py                          # a temporary SQLite database
    python bench/compliance.py postgresql://user@host/db  # a temporary database next to db on that server

1. Bulk-loads 10,000 patients in 500 groups of 20 (a 100-session programme, every session held) and 1,000,000
   attendance rows (executemany on SQLite, COPY on PostgreSQL; the ORM would take far too long).
2. Times the practice-wide compliance report (attendance.reports.compliance: one SQL aggregation plus building the
   per-patient rows) against one hand-written SQL query computing the same per-patient figures, in the same run,
   and prints the ratio (target ≤ 1.5×).
3. Prints the SQL statements of one roll-call page view (GET /attendance/sessions/<id>, logged in) for a session
   of 10 and one of 30 patients: they must be equal (no query per patient).
Exits with status 1 when the query counts differ or the ratio is above 1.5.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time as clock
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from config import normalise_database_url  # noqa: E402

PASSWORD = "bench-password-123"
#: BENCH_SMALL=1 runs a small version (200 patients, 10 groups) to check the script itself.
SMALL = bool(os.environ.get("BENCH_SMALL"))
PATIENTS = 200 if SMALL else 10_000
GROUPS = 10 if SMALL else 500
SESSIONS = 100  # per group: 500 × 100 sessions, 10,000 × 100 = 1,000,000 attendance rows
REPEAT = 3
TARGET_RATIO = 1.5

#: The baseline: the same per-patient figures (as in attendance.reports), written by hand as one query.
RAW_SQL = """
WITH e AS (
    SELECT id, patient_id, group_id, enrolled_at, withdrawn_at FROM enrolments
    WHERE practice_id = :practice AND status <> 'waitlisted' AND enrolled_at IS NOT NULL
), u AS (
    SELECT e.id AS eid, s.starts_at, r.status, 0 AS makeup
    FROM e
    JOIN group_sessions s ON s.group_id = e.group_id AND s.status = 'scheduled' AND s.ends_at > e.enrolled_at
         AND (e.withdrawn_at IS NULL OR s.starts_at < e.withdrawn_at)
    LEFT JOIN attendance_records r ON r.session_id = s.id AND r.patient_id = e.patient_id AND r.guest = :false
    UNION ALL
    SELECT r.enrolment_id, s.starts_at, r.status, 1
    FROM attendance_records r JOIN group_sessions s ON s.id = r.session_id
    WHERE r.guest = :true AND s.status = 'scheduled' AND r.enrolment_id IN (SELECT id FROM e)
), w AS (
    SELECT u.*, MAX(CASE WHEN starts_at <= :now AND status IN ('present', 'late') THEN starts_at END)
                OVER (PARTITION BY eid) AS la
    FROM u
), agg AS (
    SELECT eid,
        SUM(CASE WHEN starts_at <= :now AND makeup = 0 AND status IS NOT NULL THEN 1 ELSE 0 END) AS scheduled,
        SUM(CASE WHEN starts_at <= :now AND status IN ('present', 'late') THEN 1 ELSE 0 END) AS attended,
        SUM(CASE WHEN starts_at <= :now AND makeup = 0 AND status = 'excused' THEN 1 ELSE 0 END) AS excused,
        SUM(CASE WHEN starts_at <= :now AND makeup = 0 AND status = 'absent' THEN 1 ELSE 0 END) AS absent,
        SUM(CASE WHEN starts_at <= :now AND makeup = 0 AND status IS NULL THEN 1 ELSE 0 END) AS unrecorded,
        SUM(CASE WHEN starts_at > :now AND makeup = 0 THEN 1 ELSE 0 END) AS remaining,
        SUM(CASE WHEN starts_at <= :now AND makeup = 0 AND status = 'absent' AND (la IS NULL OR starts_at > la)
            THEN 1 ELSE 0 END) AS consecutive,
        MAX(la) AS last_attended
    FROM w GROUP BY eid
)
SELECT en.patient_id, p.name, agg.scheduled, agg.attended, agg.excused, agg.absent,
    CASE WHEN agg.scheduled - agg.excused > 0
         THEN CAST(agg.attended AS REAL) / (agg.scheduled - agg.excused) END AS rate,
    agg.consecutive, agg.last_attended,
    CASE WHEN agg.attended >= (pr.session_count * pr.completion_threshold + 99) / 100 THEN 'reached'
         WHEN agg.attended + agg.remaining + agg.unrecorded >= (pr.session_count * pr.completion_threshold + 99) / 100
         THEN 'reachable' ELSE 'unreachable' END AS completion
FROM enrolments en
JOIN agg ON agg.eid = en.id
JOIN patients p ON p.id = en.patient_id
JOIN groups g ON g.id = en.group_id
JOIN programmes pr ON pr.id = g.programme_id
ORDER BY g.name, p.name, en.id
"""


class Database:
    """A throwaway database: a temporary SQLite file, or a new database on the given PostgreSQL server."""

    def __init__(self, server_url: str | None):
        self.server_url = server_url
        if server_url is None:
            self.directory = tempfile.TemporaryDirectory(prefix="motio-bench-compliance-")
            self.url = f"sqlite:///{self.directory.name}/bench.db"
            self.name = "sqlite"
        else:
            base = sa.engine.make_url(normalise_database_url(server_url))
            self.database = f"{base.database or 'motio'}_compliance_{os.getpid()}"
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


def _sqlite_time(value: datetime) -> str:
    # The format SQLAlchemy's SQLite DateTime writes (UTC, no zone): raw inserts must compare like ORM ones.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def load(app) -> dict:
    """The practice, staff and programme through the real operations; groups, sessions, patients, enrolments and
    attendance rows in bulk."""
    from attendance.models import AttendanceRecord
    from core.actor import Actor
    from extensions import db
    from groups import operations
    from groups.models import Enrolment, Group, Session, group_supervisors, session_supervisors
    from patients.models import Patient
    from tests.factories import make_practice, make_user

    rng = random.Random(8)
    began = clock.perf_counter()
    with app.app_context():
        practice = make_practice("Bench: compliance")
        actor = Actor.system(practice.id)
        therapist = make_user(practice, role="therapist", password=PASSWORD)
        room = operations.create_room(actor, {"name": "Gym", "capacity": 30})
        programme = operations.create_programme(
            actor,
            {"name": "Year", "session_count": SESSIONS, "sessions_per_week": 2, "session_minutes": 60,
             "default_group_size": 20},
        )  # fmt: skip
        db.session.commit()
        ids = {"practice": practice.id, "user": therapist.id, "email": therapist.email}
        now = datetime.now(UTC)
        first = (now - timedelta(weeks=SESSIONS // 2 + 2)).replace(hour=17, minute=0, second=0, microsecond=0)
        conn = db.session.connection()
        conn.execute(
            sa.insert(Group),
            [
                {"practice_id": practice.id, "programme_id": programme.id, "room_id": room.id, "name": f"Group {g:03d}",
                 "start_date": first.date(), "weekdays": "MO,TH", "start_time": first.time(), "session_minutes": 60,
                 "timezone": "UTC", "capacity": 20}
                for g in range(GROUPS)
            ],
        )  # fmt: skip
        group_ids = list(
            conn.execute(sa.select(Group.id).where(Group.practice_id == practice.id).order_by(Group.id)).scalars()
        )
        conn.execute(sa.insert(group_supervisors), [{"group_id": g, "user_id": therapist.id} for g in group_ids])
        sessions = []
        for g in group_ids:
            for n in range(SESSIONS):
                start = first + timedelta(days=3.5 * n, minutes=(g % 20) * 3)
                sessions.append(
                    {"practice_id": practice.id, "group_id": g, "number": n + 1, "starts_at": start,
                     "ends_at": start + timedelta(hours=1), "room_id": room.id}
                )  # fmt: skip
        conn.execute(sa.insert(Session), sessions)
        session_rows = conn.execute(
            sa.select(Session.id, Session.group_id, Session.starts_at)
            .where(Session.practice_id == practice.id)
            .order_by(Session.group_id, Session.starts_at)
        ).all()
        conn.execute(
            sa.insert(session_supervisors), [{"session_id": s.id, "user_id": therapist.id} for s in session_rows]
        )
        conn.execute(
            sa.insert(Patient),
            [
                {"practice_id": practice.id, "name": f"Patiënt {n:05d}", "email": f"p{n}@example.com"}
                for n in range(PATIENTS)
            ],
        )  # fmt: skip
        patient_ids = list(
            conn.execute(sa.select(Patient.id).where(Patient.practice_id == practice.id).order_by(Patient.id)).scalars()
        )
        per_group = PATIENTS // GROUPS
        enrolled_at = first - timedelta(days=7)
        conn.execute(
            sa.insert(Enrolment),
            [
                {"practice_id": practice.id, "group_id": group_ids[n // per_group], "patient_id": pid,
                 "status": "enrolled", "enrolled_at": enrolled_at, "requested_at": enrolled_at}
                for n, pid in enumerate(patient_ids)
            ],
        )  # fmt: skip
        enrolments = conn.execute(
            sa.select(Enrolment.id, Enrolment.patient_id, Enrolment.group_id).where(
                Enrolment.practice_id == practice.id
            )
        ).all()
        practice_id, user_id = practice.id, therapist.id
        db.session.commit()
        db.session.close()  # no transaction may hold SQLite's write lock while the raw connection loads
        by_group: dict[int, list[tuple[int, datetime]]] = {}
        for sid, gid, starts in session_rows:
            by_group.setdefault(gid, []).append((sid, starts))
        sqlite = db.engine.dialect.name == "sqlite"
        stamp = _sqlite_time(now) if sqlite else now
        statuses = ["present"] * 80 + ["late"] * 5 + ["excused"] * 8 + ["absent"] * 7

        def rows():
            for eid, pid, gid in enrolments:
                for sid, _starts in by_group[gid]:
                    status = rng.choice(statuses)
                    reason = "ILLNESS" if status == "excused" else None
                    yield (practice_id, sid, pid, eid, status, reason, "", False, user_id, stamp, user_id,
                           stamp)  # fmt: skip

        columns = ("practice_id", "session_id", "patient_id", "enrolment_id", "status", "reason", "note", "guest",
                   "recorded_by_id", "recorded_at", "updated_by_id", "updated_at")  # fmt: skip
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            table = AttendanceRecord.__tablename__
            if sqlite:
                cursor.execute("BEGIN")
                placeholders = ", ".join("?" for _ in columns)
                batch = []
                for row in rows():
                    batch.append(row)
                    if len(batch) == 50_000:
                        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", batch)
                        batch = []
                if batch:
                    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", batch)
                cursor.execute("COMMIT")
                cursor.execute("ANALYZE")
            else:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows():
                        copy.write_row(row)
                raw.commit()
                cursor.execute("ANALYZE")
                raw.commit()
        finally:
            raw.close()
        count = db.session.execute(sa.text("SELECT COUNT(*) FROM attendance_records")).scalar_one()
        db.session.commit()
    print(
        f"setup: {PATIENTS:,} patients, {GROUPS} groups, {len(session_rows):,} sessions, {count:,} attendance rows "
        f"in {clock.perf_counter() - began:.0f} s"
    )
    ids["now"] = now
    ids["sessions"] = by_group
    return ids


def _median_ms(function) -> float:
    timings = []
    for _ in range(REPEAT):
        began = clock.perf_counter()
        function()
        timings.append((clock.perf_counter() - began) * 1000)
    return statistics.median(timings)


def report_time(app, ids) -> tuple[bool, float]:
    from attendance import reports
    from extensions import db

    now = ids["now"]
    start, end = (now - timedelta(weeks=SESSIONS)).date(), now.date()
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        params = {
            "practice": ids["practice"],
            "now": _sqlite_time(now) if sqlite else now,
            "true": True,
            "false": False,
        }

        def report():
            result = reports.compliance(ids["practice"], start, end, now=now, details=False)
            db.session.rollback()
            return result

        def raw():
            with db.engine.connect() as conn:
                return conn.execute(sa.text(RAW_SQL), params).all()

        ours, theirs = report(), raw()
        same = len(ours.patients) == len(theirs) == PATIENTS and all(
            (p.patient_id, p.scheduled, p.attended, p.excused, p.absent, p.consecutive_absences, p.completion)
            == (r[0], r[2], r[3], r[4], r[5], r[7], r[9])
            and (p.rate is None) == (r[6] is None)
            and (p.rate is None or abs(p.rate - r[6]) < 1e-9)
            for p, r in zip(ours.patients, theirs, strict=True)
        )
        report_ms, raw_ms = _median_ms(report), _median_ms(raw)
    ratio = report_ms / raw_ms
    print(f"compliance report, whole practice (median of {REPEAT} runs):")
    print(
        f"  report {report_ms:,.0f} ms   hand-written SQL {raw_ms:,.0f} ms   "
        f"ratio {ratio:.2f}x (target ≤ {TARGET_RATIO}x)"
    )
    print(f"  same per-patient figures as the hand-written query: {'yes' if same else 'NO'}")
    return same, ratio


def roll_call_queries(app, ids) -> bool:
    from accounts.models import Practice
    from attendance import operations as attendance
    from core.actor import Actor
    from extensions import db
    from groups import operations
    from tests.factories import make_patient

    with app.app_context():
        practice = db.session.get(Practice, ids["practice"])
        actor = Actor.system(practice.id)
        programme_id = db.session.execute(
            sa.text("SELECT id FROM programmes WHERE practice_id = :p"), {"p": practice.id}
        ).scalar_one()
        room = operations.create_room(actor, {"name": "Big gym", "capacity": 30})
        sessions = {}
        for size, hour in ((10, 7), (30, 8)):
            now = datetime.now(UTC)
            group = operations.create_group(
                actor,
                {"programme_id": programme_id, "room_id": room.id, "start_date": (now - timedelta(weeks=2)).date(),
                 "weekdays": ["MO", "TH"], "start_time": datetime.min.time().replace(hour=hour), "capacity": size,
                 "supervisor_ids": [ids["user"]]},
                override_supervisor_conflicts=True,
            )  # fmt: skip
            first = operations.group_sessions(actor, group.id)[0]
            patients = [make_patient(practice) for _ in range(size)]
            for patient in patients:
                operations.enrol(actor, group.id, patient.id, at=first.starts_at - timedelta(days=1))
            attendance.record_attendance(
                actor, first.id, [{"patient_id": p.id, "status": "present"} for p in patients[::2]], now=now
            )
            sessions[size] = first.id
        db.session.commit()
        engine = db.engine
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    assert (
        client.post("/login", data={"email": ids["email"], "password": PASSWORD, "csrf_token": token}).status_code
        == 302
    )
    counts = {}
    for size, session_id in sessions.items():
        client.get(f"/attendance/sessions/{session_id}")  # warm up
        statements: list[str] = []

        def count(conn, cursor, statement, *args, statements=statements):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        response = client.get(f"/attendance/sessions/{session_id}")
        sa.event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        counts[size] = len(statements)
        if os.environ.get("BENCH_SHOW_SQL"):
            print("\n".join("    " + " ".join(q.split())[:110] for q in statements))
    print(f"roll-call page SQL statements: 10 patients {counts[10]}, 30 patients {counts[30]} "
          f"({'equal' if counts[10] == counts[30] else 'NOT EQUAL (N+1?)'}; every statement of the request, "
          "login check included)")  # fmt: skip
    return counts[10] == counts[30]


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
        logging.disable(logging.INFO)
        with app.app_context():
            upgrade()
        print(f"Motio compliance benchmark on {database.name}")
        ids = load(app)
        same, ratio = report_time(app, ids)
        equal = roll_call_queries(app, ids)
        with app.app_context():
            from extensions import db

            db.engine.dispose()
    finally:
        database.drop()
    return 0 if same and equal and ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
