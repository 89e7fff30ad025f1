"""The demo shows attendance history with realistic patterns and loads twice without duplicates."""

from __future__ import annotations

import sqlalchemy as sa

from attendance.models import AttendanceRecord, FollowUp
from demo.data import load_demo
from extensions import db


def counts() -> tuple[int, int]:
    return (
        db.session.execute(sa.select(sa.func.count(AttendanceRecord.id))).scalar_one(),
        db.session.execute(sa.select(sa.func.count(FollowUp.id))).scalar_one(),
    )


def test_the_demo_has_attendance_history_and_loads_twice_without_duplicates(ctx):
    load_demo()
    first = counts()
    load_demo()
    assert counts() == first
    statuses = dict(
        db.session.execute(sa.select(AttendanceRecord.status, sa.func.count()).group_by(AttendanceRecord.status)).all()
    )
    assert statuses["present"] > 100 and statuses["late"] and statuses["excused"] and statuses["absent"]
    assert db.session.execute(
        sa.select(sa.func.count()).where(AttendanceRecord.status == "excused", AttendanceRecord.reason.is_not(None))
    ).scalar_one()
    open_follow_ups = db.session.execute(sa.select(FollowUp).where(FollowUp.status == "open")).scalars().all()
    assert any(f.trigger == "CONSECUTIVE_ABSENCES" for f in open_follow_ups)
    assert all(f.assigned_to_id for f in open_follow_ups)
    # Early drop-outs missed their last sessions with the withdrawal's reason.
    assert db.session.execute(
        sa.select(sa.func.count()).where(
            AttendanceRecord.reason == "PAIN_INTENSITY", AttendanceRecord.status == "absent"
        )
    ).scalar_one()
