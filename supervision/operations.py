"""Use cases of supervision: assessments, level decisions, safety tasks, barriers and actions, goals, stages,
ratio settings and the reassessment due list.

The clinical logic is the pure `scoring` and `rules` modules; this module stores what they compute, scoped to
the actor's practice and audit-logged. Operations flush but never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from accounts.models import Practice, User
from accounts.operations import audit
from core.access import PERMISSIONS, get_scoped
from core.actor import Actor
from core.db import MAX_ID, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from extensions import db
from patients.models import Patient
from supervision.definitions import (
    BARRIERS,
    DEFAULT_RATIOS,
    INSTRUMENTS,
    LEVELS,
    REASSESSMENT_WINDOW,
    WEEK_6_AFTER_INTAKE,
)
from supervision.models import (
    ACTION_STATUSES,
    ASSESSMENT_KINDS,
    CUSTOM_ACTION,
    Assessment,
    Barrier,
    BarrierAction,
    Goal,
    GoalScore,
    SafetyTask,
    SupervisionDecision,
    SupervisionSettings,
)
from supervision.rules import derive_barriers, propose_level, suggest_reassessment
from supervision.scoring import AnswerError, Score, ScoreSet, score_answers

ACTIVITY_MAX = 200
REASON_MAX = 2000
NOTE_MAX = 2000
ACTION_TEXT_MAX = 300
RATIO_MAX = 100
#: Barriers that do not change the level (CLINICAL.md: limited health literacy and environmental barriers "add
#: actions"): their first suggested action is opened as a task at once, so they are not lost.
BARRIERS_WITH_AUTOMATIC_ACTION = (
    "LOW_HEALTH_LITERACY",
    "NO_FACILITY_NEARBY",
    "NO_TIME",
    "INSUFFICIENT_SUPPORT",
    "POOR_COMMUNICATION",
)
AUTOMATIC_ACTION_DUE = timedelta(days=7)


def require(actor: Actor, permission: str) -> None:
    """Staff need the permission's role; the system (CLI, demo, scheduler) may do everything."""
    if actor.kind == "system":
        return
    if actor.kind == "staff" and actor.role in PERMISSIONS[permission]:
        return
    raise Forbidden(_l("You do not have permission to do this."))


def allowed(actor: Actor, permission: str) -> bool:
    try:
        require(actor, permission)
    except Forbidden:
        return False
    return True


def scoped_patient(actor: Actor, patient_id) -> Patient:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    if actor.kind == "patient" and actor.patient_id != patient.id:
        raise NotFound(_l("Not found."))
    return patient


def clean_text(value: Any, max_length: int, field_name: str, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field_name] = str(_l("Enter text."))
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors[field_name] = str(_l("Use at most %(n)d characters.", n=max_length))
    return value


# ---------------------------------------------------------------------------------------------------------
# Answers → scores → proposal


def _normalise_answers(answers: Any) -> tuple[dict, dict, dict[str, str]]:
    """(answers to store, answers in the scoring format, errors keyed "answers.CODE").

    PSFS comes as [{"activity", "score"}]: the activities are the patient's goals, the scores go to scoring.
    Instruments given as null are left out (not answered).
    """
    if not isinstance(answers, Mapping):
        return {}, {}, {"answers": str(_l("Send the answers as an object with one entry per instrument."))}
    stored: dict[str, Any] = {}
    scoring: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for code, value in answers.items():
        if value is None:
            continue
        if code != "PSFS":
            stored[code] = list(value) if isinstance(value, tuple) else value
            scoring[code] = stored[code]
            continue
        rows = _psfs_rows(value)
        if isinstance(rows, str):
            errors["answers.PSFS"] = rows
            continue
        stored["PSFS"] = rows
        scoring["PSFS"] = [row["score"] for row in rows]
    if not stored and not errors:
        errors["answers"] = str(_l("Answer at least one instrument."))
    return stored, scoring, errors


def _psfs_rows(value: Any) -> list[dict] | str:
    """The PSFS rows cleaned, or an error message."""
    instrument = INSTRUMENTS["PSFS"]
    shape = str(_l('Give 1 to %(n)d activities, each as {"activity": text, "score": 0–10}.', n=instrument.item_count))
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= instrument.item_count:
        return shape
    rows, seen = [], set()
    for number, row in enumerate(value, start=1):
        if not isinstance(row, Mapping) or set(row) - {"activity", "score"} or "activity" not in row:
            return shape
        activity = row["activity"]
        if not isinstance(activity, str) or not activity.strip():
            return str(_l("Activity %(n)d: describe the activity.", n=number))
        activity = " ".join(activity.split())
        if len(activity) > ACTIVITY_MAX:
            return str(_l("Activity %(n)d: use at most %(max)d characters.", n=number, max=ACTIVITY_MAX))
        if activity.casefold() in seen:
            return str(_l("Activity %(n)d: each activity only once.", n=number))
        seen.add(activity.casefold())
        rows.append({"activity": activity, "score": row.get("score")})
    return rows


def _answer_errors(error: AnswerError) -> dict[str, str]:
    return {("answers" if code == "answers" else f"answers.{code}"): message for code, message in error.fields.items()}


def score_stored_answers(answers: Mapping) -> ScoreSet:
    """Re-score stored answers (they were valid when stored)."""
    _stored, scoring, _errors = _normalise_answers(answers)
    return score_answers(scoring)


def _score_json(score: Score) -> dict:
    return {
        "total": score.total,
        "band": score.band,
        "explanation_en": score.explanation,
        "explanation_nl": score.explanation_nl,
        "items": list(score.items),
        "codes": list(score.codes),
        "psychosocial": score.psychosocial,
        "item9": score.item9,
        "mean": None if score.mean is None else round(float(score.mean), 2),
    }


def _reason_json(reason) -> dict:
    return {"code": reason.code, "level": reason.level, "text_en": reason.text_en, "text_nl": reason.text_nl}


def check_answers(answers: Any) -> tuple[dict, ScoreSet]:
    """Validate and score answers without storing anything; raises Invalid naming every bad instrument."""
    stored, scoring, errors = _normalise_answers(answers)
    scores = None
    try:
        scores = score_answers(scoring)
    except AnswerError as error:
        errors.update(_answer_errors(error))
    if errors:
        raise Invalid(_l("Some answers are not valid."), errors)
    return stored, scores


def create_assessment(
    actor: Actor, patient_id, *, kind: str, answers: Any, taken_at: datetime | None = None
) -> Assessment:
    """Score the answers, propose a level with its reasons and store it all, with what follows from it:
    barriers (and their automatic actions), goals and their scores, an urgent safety task, the plain-language
    flag (SILS ≥ 3) and, for a reassessment, the step up/down suggestion."""
    if actor.kind != "patient":
        require(actor, "assess_patients")
    patient = scoped_patient(actor, patient_id)
    kind_error = {} if kind in ASSESSMENT_KINDS else {"kind": str(_l("Choose intake or reassessment."))}
    try:
        stored, scores = check_answers(answers)
    except Invalid as exc:
        raise Invalid(exc.message, {**kind_error, **exc.fields}) from None
    if kind_error:
        raise Invalid(_l("Some answers are not valid."), kind_error)

    now = utcnow()
    taken_at = taken_at or now
    proposal = propose_level(scores)
    previous = _latest_assessment(patient.id, before=taken_at)
    by_patient = actor.kind == "patient"
    assessment = Assessment(
        practice_id=actor.practice_id,
        patient_id=patient.id,
        kind=kind,
        taken_at=taken_at,
        source="patient" if by_patient else "staff",
        entered_by_id=actor.user_id,
        reviewed_by_id=None if by_patient else actor.user_id,
        reviewed_at=None if by_patient else now,
        answers=stored,
        scores={code: _score_json(score) for code, score in scores.scores.items()},
        proposed_level=proposal.level,
        safety_flags=list(proposal.safety_flags),
        reasons=[_reason_json(reason) for reason in proposal.reasons],
        missing=list(scores.missing),
    )
    if kind == "reassessment" and previous is not None:
        assessment.suggestion = _suggestion(patient.id, previous, scores)
    db.session.add(assessment)
    db.session.flush()

    if proposal.safety_flags:
        db.session.add(
            SafetyTask(
                practice_id=actor.practice_id,
                patient_id=patient.id,
                assessment_id=assessment.id,
                reason_codes=list(proposal.safety_flags),
            )
        )
    _record_barriers(actor, patient, assessment, derive_barriers(scores))
    _record_goals(actor, patient, assessment)
    sils = scores.get("SILS")
    if sils is not None and sils.band == "limited" and not patient.plain_language:
        patient.plain_language = True
        audit(
            actor,
            "update",
            patient_id=patient.id,
            object_type="patient",
            object_id=patient.id,
            detail="plain_language (SILS)",
        )
    db.session.flush()
    audit(
        actor,
        "create",
        patient_id=patient.id,
        object_type="assessment",
        object_id=assessment.id,
        detail=",".join(stored),
    )
    return assessment


def _suggestion(patient_id: int, previous: Assessment, scores: ScoreSet) -> dict:
    # A barrier added by hand since the previous assessment is a "new barrier" too (CLINICAL.md).
    manual = db.session.execute(
        sa.select(sa.func.count(Barrier.id)).where(
            Barrier.patient_id == patient_id, Barrier.source == "manual", Barrier.recorded_at > previous.taken_at
        )
    ).scalar_one()
    # The rate of the current (or latest) enrolment; None before any roll-call: attendance then suggests nothing.
    from attendance.operations import attendance_rate

    rate = attendance_rate(previous.practice_id, patient_id)
    suggestion = suggest_reassessment(score_stored_answers(previous.answers), scores, rate, new_barrier=manual > 0)
    return {
        "direction": suggestion.direction,
        "previous_assessment_id": previous.id,
        "attendance_rate": None if rate is None else round(rate, 4),
        "reasons": [_reason_json(reason) for reason in suggestion.reasons],
    }


def _record_barriers(actor: Actor, patient: Patient, assessment: Assessment, codes: Iterable[str]) -> None:
    """Record each derived barrier the patient does not have open already."""
    open_codes = set(
        db.session.execute(
            sa.select(Barrier.code).where(Barrier.patient_id == patient.id, Barrier.resolved_at.is_(None))
        ).scalars()
    )
    for code in codes:
        if code in open_codes:
            continue
        barrier = Barrier(
            practice_id=actor.practice_id,
            patient_id=patient.id,
            code=code,
            source="assessment",
            assessment_id=assessment.id,
            recorded_by_id=actor.user_id,
            recorded_at=assessment.taken_at,
        )
        db.session.add(barrier)
        db.session.flush()
        if code in BARRIERS_WITH_AUTOMATIC_ACTION:
            db.session.add(
                BarrierAction(
                    practice_id=actor.practice_id,
                    barrier_id=barrier.id,
                    code=BARRIERS[code].actions[0].code,
                    owner_id=actor.user_id,
                    due_on=(assessment.taken_at + AUTOMATIC_ACTION_DUE).date(),
                    created_by_id=actor.user_id,
                    created_at=assessment.taken_at,
                )
            )


def _record_goals(actor: Actor, patient: Patient, assessment: Assessment) -> None:
    """PSFS activities are the patient's goals: the same activity (ignoring case) is the same goal over time."""
    rows = assessment.answers.get("PSFS") or []
    if not rows:
        return
    goals = {
        goal.activity.casefold(): goal
        for goal in db.session.execute(sa.select(Goal).where(Goal.patient_id == patient.id)).scalars()
    }
    for row in rows:
        goal = goals.get(row["activity"].casefold())
        if goal is None:
            goal = Goal(
                practice_id=actor.practice_id,
                patient_id=patient.id,
                activity=row["activity"],
                assessment_id=assessment.id,
                created_at=assessment.taken_at,
            )
            db.session.add(goal)
            db.session.flush()
        db.session.add(
            GoalScore(practice_id=actor.practice_id, goal_id=goal.id, assessment_id=assessment.id, score=row["score"])
        )


def _latest_assessment(patient_id: int, before: datetime | None = None) -> Assessment | None:
    query = sa.select(Assessment).where(Assessment.patient_id == patient_id)
    if before is not None:
        query = query.where(Assessment.taken_at <= before)
    return db.session.execute(
        query.order_by(Assessment.taken_at.desc(), Assessment.id.desc()).limit(1)
    ).scalar_one_or_none()


def get_assessment(actor: Actor, assessment_id) -> Assessment:
    require(actor, "view_assessments")
    assessment = get_scoped(Assessment, assessment_id, actor.practice_id)
    audit(actor, "view", patient_id=assessment.patient_id, object_type="assessment", object_id=assessment.id)
    return assessment


def list_assessments(actor: Actor, patient_id, *, page: int = 1, per_page: int = 50) -> tuple[list[Assessment], int]:
    """A patient's assessments, newest first."""
    require(actor, "view_assessments")
    patient = scoped_patient(actor, patient_id)
    query = sa.select(Assessment).where(Assessment.patient_id == patient.id)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = list(
        db.session.execute(
            query.order_by(Assessment.taken_at.desc(), Assessment.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).scalars()
    )
    audit(actor, "list", patient_id=patient.id, object_type="assessment", detail=f"page={page} n={len(rows)}")
    return rows, total


def review_assessment(actor: Actor, assessment_id) -> Assessment:
    """A therapist checks answers the patient gave through their portal link."""
    require(actor, "assess_patients")
    assessment = get_scoped(Assessment, assessment_id, actor.practice_id)
    if assessment.reviewed_at is None:
        assessment.reviewed_by_id, assessment.reviewed_at = actor.user_id, utcnow()
        db.session.flush()
        audit(actor, "review", patient_id=assessment.patient_id, object_type="assessment", object_id=assessment.id)
    return assessment


# ---------------------------------------------------------------------------------------------------------
# Level decisions


def decide_level(actor: Actor, patient_id, *, level: Any, reason: Any = "", assessment_id=None) -> SupervisionDecision:
    """Confirm (level equals the proposal) or override (reason required) the level of the latest assessment."""
    require(actor, "decide_levels")
    patient = scoped_patient(actor, patient_id)
    latest = _latest_assessment(patient.id)
    if latest is None:
        raise Conflict(_l("Assess the patient before setting a supervision level."))
    if assessment_id is not None and assessment_id != latest.id:
        get_scoped(Assessment, assessment_id, actor.practice_id)
        raise Conflict(_l("A newer assessment exists: decide the level on that one."))
    errors: dict[str, str] = {}
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        errors["level"] = str(_l("Choose a level from 1 to 4."))
    reason = clean_text(reason, REASON_MAX, "reason", errors)
    is_override = level != latest.proposed_level
    if "level" not in errors and is_override and not reason and "reason" not in errors:
        errors["reason"] = str(_l("An override needs a reason."))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    decision = SupervisionDecision(
        practice_id=actor.practice_id,
        patient_id=patient.id,
        assessment_id=latest.id,
        proposed_level=latest.proposed_level,
        final_level=level,
        is_override=is_override,
        reason=reason,
        decided_by_id=actor.user_id,
        decided_at=utcnow(),
    )
    db.session.add(decision)
    db.session.flush()
    audit(
        actor,
        "override" if is_override else "confirm",
        patient_id=patient.id,
        object_type="supervision_decision",
        object_id=decision.id,
    )
    return decision


def current_decision(patient_id: int) -> SupervisionDecision | None:
    """The latest decision on the patient's latest assessment: a decision stays valid until the next assessment."""
    latest = _latest_assessment(patient_id)
    if latest is None:
        return None
    return db.session.execute(
        sa.select(SupervisionDecision)
        .where(SupervisionDecision.assessment_id == latest.id)
        .order_by(SupervisionDecision.decided_at.desc(), SupervisionDecision.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def current_levels(practice_id: int, patient_ids: Iterable[int]) -> dict[int, int | None]:
    """The confirmed level of each patient, or None when not set (staffing counts None as level 2, flagged).

    The confirmed level is the final level of the latest decision on the patient's latest assessment: a new
    assessment ends the previous decision (CLINICAL.md: "a decision stays valid until the next assessment").
    Patients of another practice come back as None.
    """
    ids = sorted({pid for pid in patient_ids if isinstance(pid, int) and not isinstance(pid, bool)})
    # Ids that cannot exist are "not set" without asking the database (PostgreSQL refuses out-of-range integers).
    levels: dict[int, int | None] = dict.fromkeys(ids)
    ids = [pid for pid in ids if 0 < pid <= MAX_ID]
    for start in range(0, len(ids), 500):  # stay far below the databases' bound-parameter limits
        chunk = ids[start : start + 500]
        latest = (
            sa.select(
                Assessment.id.label("assessment_id"),
                Assessment.patient_id,
                sa.func.row_number()
                .over(partition_by=Assessment.patient_id, order_by=(Assessment.taken_at.desc(), Assessment.id.desc()))
                .label("n"),
            )
            .where(Assessment.practice_id == practice_id, Assessment.patient_id.in_(chunk))
            .subquery()
        )
        decisions = (
            sa.select(
                SupervisionDecision.assessment_id,
                SupervisionDecision.final_level,
                sa.func.row_number()
                .over(
                    partition_by=SupervisionDecision.assessment_id,
                    order_by=(SupervisionDecision.decided_at.desc(), SupervisionDecision.id.desc()),
                )
                .label("n"),
            )
            .where(SupervisionDecision.practice_id == practice_id, SupervisionDecision.patient_id.in_(chunk))
            .subquery()
        )
        rows = db.session.execute(
            sa.select(latest.c.patient_id, decisions.c.final_level)
            .join(decisions, decisions.c.assessment_id == latest.c.assessment_id)
            .where(latest.c.n == 1, decisions.c.n == 1)
        )
        for patient_id, level in rows:
            levels[patient_id] = level
    return levels


def decision_history(patient_id: int) -> list[SupervisionDecision]:
    return list(
        db.session.execute(
            sa.select(SupervisionDecision)
            .where(SupervisionDecision.patient_id == patient_id)
            .order_by(SupervisionDecision.decided_at.desc(), SupervisionDecision.id.desc())
        ).scalars()
    )


@dataclass
class LevelOverview:
    #: The confirmed level, or None ("level not set").
    level: int | None
    decision: SupervisionDecision | None
    latest: Assessment | None
    history: list[SupervisionDecision]


def level_overview(actor: Actor, patient_id) -> LevelOverview:
    """What assistants may see too: the confirmed level and its history (without assessment contents)."""
    require(actor, "view_levels")
    patient = scoped_patient(actor, patient_id)
    decision = current_decision(patient.id)
    audit(actor, "view", patient_id=patient.id, object_type="supervision_decision")
    return LevelOverview(
        decision.final_level if decision else None,
        decision,
        _latest_assessment(patient.id),
        decision_history(patient.id),
    )


# ---------------------------------------------------------------------------------------------------------
# Safety tasks


def open_safety_tasks(actor: Actor) -> list[SafetyTask]:
    require(actor, "review_safety")
    return list(
        db.session.execute(
            sa.select(SafetyTask)
            .where(SafetyTask.practice_id == actor.practice_id, SafetyTask.status == "open")
            .order_by(SafetyTask.created_at, SafetyTask.id)
        ).scalars()
    )


def resolve_safety_task(actor: Actor, task_id, note: Any) -> SafetyTask:
    require(actor, "review_safety")
    task = get_scoped(SafetyTask, task_id, actor.practice_id)
    errors: dict[str, str] = {}
    note = clean_text(note, NOTE_MAX, "note", errors)
    if not note and not errors:
        errors["note"] = str(_l("Write down what you did."))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    if task.status != "open":
        raise Conflict(_l("This review is already done."))
    task.status, task.note, task.resolved_by_id, task.resolved_at = "resolved", note, actor.user_id, utcnow()
    db.session.flush()
    audit(actor, "resolve", patient_id=task.patient_id, object_type="safety_task", object_id=task.id)
    return task


# ---------------------------------------------------------------------------------------------------------
# Barriers and actions


def add_barrier(actor: Actor, patient_id, *, code: Any, note: Any = "") -> Barrier:
    require(actor, "manage_barriers")
    patient = scoped_patient(actor, patient_id)
    errors: dict[str, str] = {}
    if code not in BARRIERS:
        errors["code"] = str(_l("Choose a barrier from the list."))
    note = clean_text(note, 500, "note", errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    exists = db.session.execute(
        sa.select(Barrier.id).where(
            Barrier.patient_id == patient.id, Barrier.code == code, Barrier.resolved_at.is_(None)
        )
    ).first()
    if exists:
        raise Conflict(_l("This barrier is already open for the patient."), {"code": str(_l("Already open."))})
    barrier = Barrier(
        practice_id=actor.practice_id,
        patient_id=patient.id,
        code=code,
        source="manual",
        note=note,
        recorded_by_id=actor.user_id,
        recorded_at=utcnow(),
    )
    db.session.add(barrier)
    db.session.flush()
    audit(actor, "create", patient_id=patient.id, object_type="barrier", object_id=barrier.id, detail=code)
    return barrier


def resolve_barrier(actor: Actor, barrier_id) -> Barrier:
    require(actor, "manage_barriers")
    barrier = get_scoped(Barrier, barrier_id, actor.practice_id)
    if barrier.resolved_at is not None:
        return barrier
    if any(action.status == "open" for action in barrier.actions):
        raise Conflict(_l("Close the open actions of this barrier first."))
    barrier.resolved_at, barrier.resolved_by_id = utcnow(), actor.user_id
    db.session.flush()
    audit(actor, "resolve", patient_id=barrier.patient_id, object_type="barrier", object_id=barrier.id)
    return barrier


def add_action(
    actor: Actor, barrier_id, *, code: Any, text: Any = "", owner_id: Any = None, due_on: Any = None
) -> BarrierAction:
    require(actor, "manage_barriers")
    barrier = get_scoped(Barrier, barrier_id, actor.practice_id)
    errors: dict[str, str] = {}
    allowed_codes = [action.code for action in BARRIERS[barrier.code].actions] if barrier.code in BARRIERS else []
    if code not in (*allowed_codes, CUSTOM_ACTION):
        errors["code"] = str(_l("Choose one of the suggested actions, or Other."))
    text = clean_text(text, ACTION_TEXT_MAX, "text", errors)
    if code == CUSTOM_ACTION and not text and "text" not in errors:
        errors["text"] = str(_l("Describe the action."))
    owner = _owner(actor, owner_id, errors)
    if due_on is not None and not isinstance(due_on, date):
        errors["due_on"] = str(_l("Enter a date as YYYY-MM-DD."))
    if barrier.resolved_at is not None:
        errors.setdefault("code", str(_l("This barrier is resolved.")))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    action = BarrierAction(
        practice_id=actor.practice_id,
        barrier_id=barrier.id,
        code=code,
        text=text,
        owner_id=owner.id if owner else None,
        due_on=due_on,
        created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    db.session.add(action)
    db.session.flush()
    audit(
        actor, "create", patient_id=barrier.patient_id, object_type="barrier_action", object_id=action.id, detail=code
    )
    return action


def _owner(actor: Actor, owner_id: Any, errors: dict[str, str]) -> User | None:
    if owner_id in (None, ""):
        return None
    if isinstance(owner_id, bool) or not isinstance(owner_id, int) or not 0 < owner_id <= MAX_ID:
        errors["owner_id"] = str(_l("Choose a staff member."))
        return None
    user = db.session.execute(
        sa.select(User).where(User.id == owner_id, User.practice_id == actor.practice_id, User.active.is_(True))
    ).scalar_one_or_none()
    if user is None:
        errors["owner_id"] = str(_l("Choose a staff member."))
    return user


def update_action(actor: Actor, action_id, *, status: Any, outcome: Any = "") -> BarrierAction:
    """Record progress: the owner may update their own action, therapists and admins any action."""
    action = get_scoped(BarrierAction, action_id, actor.practice_id)
    if not (actor.user_id is not None and action.owner_id == actor.user_id):
        require(actor, "manage_barriers")
    errors: dict[str, str] = {}
    if status not in ACTION_STATUSES:
        errors["status"] = str(_l("Choose open, done or cancelled."))
    outcome = clean_text(outcome, NOTE_MAX, "outcome", errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    if status != action.status:
        action.status = status
        action.closed_at = None if status == "open" else utcnow()
        action.closed_by_id = None if status == "open" else actor.user_id
    action.outcome = outcome
    db.session.flush()
    audit(
        actor,
        "update",
        patient_id=action.barrier.patient_id,
        object_type="barrier_action",
        object_id=action.id,
        detail="status,outcome",
    )
    return action


def my_open_actions(actor: Actor) -> list[BarrierAction]:
    return list(
        db.session.execute(
            sa.select(BarrierAction)
            .join(Barrier)
            .where(
                BarrierAction.practice_id == actor.practice_id,
                BarrierAction.owner_id == actor.user_id,
                BarrierAction.status == "open",
            )
            .order_by(BarrierAction.due_on.is_(None), BarrierAction.due_on, BarrierAction.id)
        ).scalars()
    )


def patient_barriers(patient_id: int) -> list[Barrier]:
    """Open barriers first (in barrier-table order), then resolved ones, newest first."""
    rows = db.session.execute(
        sa.select(Barrier).where(Barrier.patient_id == patient_id).order_by(Barrier.recorded_at.desc(), Barrier.id)
    ).scalars()
    order = {code: n for n, code in enumerate(BARRIERS)}
    return sorted(rows, key=lambda b: (not b.open, order.get(b.code, len(order)) if b.open else 0))


# ---------------------------------------------------------------------------------------------------------
# Goals and stages


@dataclass
class GoalRow:
    goal: Goal
    #: Score per assessment id (None: named but not scored); absent: not named at that assessment.
    scores: dict[int, int | None]


@dataclass
class Timeline:
    #: Assessments oldest first.
    assessments: list[Assessment]
    goals: list[GoalRow]
    #: (assessment, stage code) for each assessment that recorded a stage, oldest first.
    stages: list[tuple[Assessment, str]] = field(default_factory=list)

    def psfs_mean(self, assessment: Assessment) -> float | None:
        score = assessment.scores.get("PSFS")
        return score["mean"] if score else None


def timeline(patient_id: int) -> Timeline:
    assessments = list(
        db.session.execute(
            sa.select(Assessment)
            .where(Assessment.patient_id == patient_id)
            .order_by(Assessment.taken_at, Assessment.id)
        ).scalars()
    )
    goals = db.session.execute(
        sa.select(Goal).where(Goal.patient_id == patient_id).order_by(Goal.created_at, Goal.id)
    ).scalars()
    rows = [GoalRow(goal, {score.assessment_id: score.score for score in goal.scores}) for goal in goals]
    stages = [(a, a.stage) for a in assessments if a.stage]
    return Timeline(assessments, rows, stages)


def latest_goals(patient_id: int) -> list[str]:
    """The activities of the latest PSFS, to offer them again at a reassessment."""
    row = db.session.execute(
        sa.select(Assessment.answers)
        .where(Assessment.patient_id == patient_id)
        .order_by(Assessment.taken_at.desc(), Assessment.id.desc())
    ).scalars()
    for answers in row:
        if answers.get("PSFS"):
            return [entry["activity"] for entry in answers["PSFS"]]
    return []


# ---------------------------------------------------------------------------------------------------------
# Practice settings: supervision ratios


def supervision_ratios(practice_id: int) -> dict[int, int]:
    settings = db.session.get(SupervisionSettings, practice_id)
    return settings.ratios() if settings else dict(DEFAULT_RATIOS)


def update_ratios(actor: Actor, ratios: Mapping[int, Any]) -> SupervisionSettings:
    require(actor, "manage_supervision_settings")
    errors: dict[str, str] = {}
    for level in LEVELS:
        value = ratios.get(level)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RATIO_MAX:
            errors[f"ratio_{level}"] = str(_l("Enter a whole number from 1 to %(max)d.", max=RATIO_MAX))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    settings = db.session.get(SupervisionSettings, actor.practice_id)
    if settings is None:
        settings = SupervisionSettings(practice_id=actor.practice_id)
        db.session.add(settings)
    for level in LEVELS:
        setattr(settings, f"ratio_{level}", ratios[level])
    settings.updated_by_id = actor.user_id
    db.session.flush()
    return settings


# ---------------------------------------------------------------------------------------------------------
# Reassessment due list (week 6 after the intake; session 4 and the end need groups' sessions)


def practice_today(practice_id: int) -> date:
    return datetime.now(ZoneInfo(db.session.get(Practice, practice_id).timezone)).date()


@dataclass
class DueReassessment:
    patient: Patient
    intake_on: date | None
    due_on: date
    today: date
    #: "week_6" (after the intake), "session_4" or "end" (of the programme, in `group`).
    moment: str = "week_6"
    group: str = ""

    @property
    def overdue_days(self) -> int:
        return (self.today - self.due_on).days


def reassessments_due(actor: Actor, today: date | None = None) -> list[DueReassessment]:
    """Active patients whose week-6 reassessment is due within REASSESSMENT_WINDOW or overdue, and not done.

    Dates are the practice's local dates. A reassessment counts when taken at most REASSESSMENT_WINDOW
    before the due date, so a session-4 reassessment does not hide the week-6 one.
    """
    require(actor, "view_levels")
    zone = ZoneInfo(db.session.get(Practice, actor.practice_id).timezone)
    today = today or practice_today(actor.practice_id)
    intakes = (
        sa.select(
            Assessment.patient_id,
            Assessment.taken_at,
            sa.func.row_number()
            .over(partition_by=Assessment.patient_id, order_by=(Assessment.taken_at.desc(), Assessment.id.desc()))
            .label("n"),
        )
        .where(Assessment.practice_id == actor.practice_id, Assessment.kind == "intake")
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Patient, intakes.c.taken_at)
        .join(intakes, intakes.c.patient_id == Patient.id)
        .where(intakes.c.n == 1, Patient.archived_at.is_(None), Patient.practice_id == actor.practice_id)
    ).all()
    due = []
    for patient, intake_at in rows:
        intake_on = intake_at.astimezone(zone).date()
        due_on = intake_on + WEEK_6_AFTER_INTAKE
        if due_on - REASSESSMENT_WINDOW > today:
            continue
        counts_from = datetime.combine(due_on - REASSESSMENT_WINDOW, datetime.min.time(), zone)
        done = db.session.execute(
            sa.select(Assessment.id).where(
                Assessment.patient_id == patient.id,
                Assessment.kind == "reassessment",
                Assessment.taken_at >= counts_from,
                Assessment.taken_at > intake_at,
            )
        ).first()
        if not done:
            due.append(DueReassessment(patient, intake_on, due_on, today))
    due.extend(_session_moments_due(actor, zone, today))
    return sorted(due, key=lambda d: (d.due_on, d.patient.name))


def _session_moments_due(actor: Actor, zone: ZoneInfo, today: date) -> list[DueReassessment]:
    """Reassessments due at the patient's 4th session and at the end of their group's programme
    (CLINICAL.md), for current enrolments; cancelled sessions and those before a late enrolment do not count."""
    from groups.models import Enrolment, Group, Session

    rows = db.session.execute(
        sa.select(Enrolment, Session.starts_at, Group.name)
        .join(Group, Group.id == Enrolment.group_id)
        .join(Session, Session.group_id == Enrolment.group_id)
        .where(
            Enrolment.practice_id == actor.practice_id,
            Enrolment.status == "enrolled",
            Enrolment.enrolled_at.is_not(None),
            Session.status == "scheduled",
            Session.ends_at > Enrolment.enrolled_at,
        )
        .order_by(Enrolment.id, Session.starts_at)
    ).all()
    by_enrolment: dict[int, tuple[Enrolment, str, list[datetime]]] = {}
    for enrolment, starts_at, group_name in rows:
        by_enrolment.setdefault(enrolment.id, (enrolment, group_name, []))[2].append(starts_at)
    patients = {
        p.id: p
        for p in db.session.execute(
            sa.select(Patient).where(
                Patient.id.in_({e.patient_id for e, _, _ in by_enrolment.values()}), Patient.archived_at.is_(None)
            )
        ).scalars()
    }
    done_at: dict[int, list[datetime]] = {}
    for patient_id, taken_at in db.session.execute(
        sa.select(Assessment.patient_id, Assessment.taken_at).where(
            Assessment.practice_id == actor.practice_id,
            Assessment.kind == "reassessment",
            Assessment.patient_id.in_(list(patients)),
        )
    ).all():
        done_at.setdefault(patient_id, []).append(taken_at)
    due = []
    for enrolment, group_name, starts in by_enrolment.values():
        patient = patients.get(enrolment.patient_id)
        if patient is None:
            continue
        moments = [("end", starts[-1])] + ([("session_4", starts[3])] if len(starts) >= 4 else [])
        for moment, when in moments:
            due_on = when.astimezone(zone).date()
            if due_on - REASSESSMENT_WINDOW > today:
                continue
            counts_from = datetime.combine(due_on - REASSESSMENT_WINDOW, datetime.min.time(), zone)
            if not any(taken >= counts_from for taken in done_at.get(patient.id, [])):
                due.append(DueReassessment(patient, None, due_on, today, moment=moment, group=group_name))
    return due
