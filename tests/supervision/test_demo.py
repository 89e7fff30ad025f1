"""The demo's supervision data: a realistic mix, and loading it twice duplicates nothing."""

import sqlalchemy as sa

from demo.data import load_demo
from extensions import db
from supervision import operations as ops
from supervision.models import (
    Assessment,
    BarrierAction,
    EducationAssignment,
    EducationItem,
    GoalScore,
    SafetyTask,
    SupervisionDecision,
)

TABLES = (Assessment, SupervisionDecision, SafetyTask, BarrierAction, GoalScore, EducationItem, EducationAssignment)


def counts() -> dict:
    return {m.__name__: db.session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one() for m in TABLES}


def test_demo_has_a_realistic_supervision_mix_and_is_idempotent(app, ctx):
    result = load_demo()
    first = counts()
    levels = ops.current_levels(result.practice.id, [p.id for p in result.patients])
    assert {1, 2, 3, 4} <= set(levels.values())
    assert None in levels.values()  # not assessed yet, or a new assessment waiting for a decision
    assert db.session.execute(sa.select(SupervisionDecision).where(SupervisionDecision.is_override)).first()
    open_tasks = db.session.execute(sa.select(SafetyTask).where(SafetyTask.status == "open")).scalars().all()
    assert len(open_tasks) == 1
    assert db.session.execute(sa.select(BarrierAction).where(BarrierAction.status == "open")).first()
    assert db.session.execute(sa.select(BarrierAction).where(BarrierAction.status == "done")).first()
    reassessed = db.session.execute(sa.select(Assessment).where(Assessment.kind == "reassessment")).scalars().all()
    assert reassessed and any(a.suggestion["direction"] == "up" for a in reassessed)
    assert first["GoalScore"] > first["Assessment"]  # goals scored at more than one assessment
    assert first["EducationItem"] == 6 and first["EducationAssignment"] > 0

    again = load_demo()
    assert again.assessed == 0 and counts() == first
