"""Demo attendance: weeks of roll-call history with realistic patterns, recorded through the real operations.

Steady attenders (mostly present, now and then late or excused), early drop-outs who missed their last sessions
before withdrawing (with the withdrawal's reason), one patient in a running group with two unexcused misses in a row
and so an open follow-up, and excused absences with reasons. Idempotent: a session that already has a roll-call is
left as it is; the follow-up scan opens nothing twice.
"""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import Practice, User
from attendance import operations as attendance
from attendance.models import AttendanceRecord
from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations as groups
from groups.models import Group
from supervision.definitions import ABSENCE_REASON_CODES

#: The group whose alphabetically first enrolled patient has missed the last two sessions without notice.
SLIPPING_GROUP = "Rug B"


def _status(rng: random.Random) -> tuple[str, str | None]:
    roll = rng.random()
    if roll < 0.80:
        return "present", None
    if roll < 0.88:
        return "late", None
    if roll < 0.97:
        return "excused", rng.choice(("ILLNESS", "ILLNESS", "NO_TIME", "PAIN_INTENSITY"))
    return "absent", None


def load_attendance_demo(practice: Practice, staff: list[User]) -> int:
    """Record the roll-call of every held session without one; returns how many sessions were recorded."""
    now = utcnow()
    admin = Actor.for_user(next(u for u in staff if u.role == "admin"))
    recorded = 0
    groups_by_name = db.session.execute(
        sa.select(Group).where(Group.practice_id == practice.id).order_by(Group.start_date)
    ).scalars()
    for group in groups_by_name:
        supervisor = group.supervisors[0] if group.supervisors else admin.user
        actor = Actor.for_user(supervisor)
        held = [
            s
            for s in groups.group_sessions(actor, group.id)
            if s.status == "scheduled" and s.starts_at + timedelta(hours=2) < now
        ]
        done = set(
            db.session.execute(
                sa.select(AttendanceRecord.session_id).where(AttendanceRecord.session_id.in_([s.id for s in held]))
            ).scalars()
        )
        slipping = None
        for n, session in enumerate(held):
            if session.id in done:
                continue
            roster = groups.session_roster(actor, session.id)
            if group.name.startswith(SLIPPING_GROUP) and slipping is None:
                enrolled = sorted((e for e in roster if e.guest is None), key=lambda e: e.patient.name)
                slipping = enrolled[0].patient.id if enrolled else -1
            rows = []
            for entry in roster:
                rng = random.Random(f"{group.name}|{session.number}|{entry.patient.name}")
                status, reason = _status(rng)
                enrolment = entry.enrolment
                if enrolment.withdrawn_at is not None:
                    # Early drop-outs missed their last sessions before they withdrew.
                    left = [s for s in held if s.starts_at < enrolment.withdrawn_at][-2:]
                    if session in left:
                        code = enrolment.withdrawal_reason
                        status, reason = "absent", code if code in ABSENCE_REASON_CODES else None
                if entry.patient.id == slipping and n >= len(held) - 2:
                    status, reason = "absent", ("POOR_COMMUNICATION" if n == len(held) - 1 else None)
                elif n < 4 and status == "absent":
                    status = "present"  # keep the first two weeks calm: early misses are shown by the slipping patient
                rows.append({"patient_id": entry.patient.id, "status": status, "reason": reason})
            if rows:
                attendance.record_attendance(
                    actor, session.id, rows, now=session.starts_at + timedelta(hours=1), follow_up=False
                )
                recorded += 1
    attendance.check_follow_ups(practice.id, now)
    return recorded
