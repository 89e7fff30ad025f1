"""Demo supervision data: assessments with a realistic mix of levels, confirmations and overrides, a safety review,
barriers with open actions, PSFS goals with progress, education assignments, and the starter education set.

Built through supervision's operations; a patient who already has an assessment is left alone, so loading the
demo twice adds nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import Practice, User
from core.actor import Actor
from core.db import utcnow
from extensions import db
from patients.models import Patient
from supervision import education
from supervision import operations as ops
from supervision.models import Assessment, EducationItem, SafetyTask

ACTIVITIES = {
    "nl": [
        "Wandelen met de hond",
        "Tuinieren",
        "Fietsen naar het werk",
        "Kleinkind optillen",
        "Een film uitzitten",
        "Stofzuigen",
        "Tennissen",
        "Boodschappen dragen",
        "Een uur autorijden",
        "Zwemmen",
    ],
    "en": [
        "Walking the dog",
        "Gardening",
        "Cycling to work",
        "Lifting my grandchild",
        "Sitting through a film",
        "Vacuuming",
        "Playing tennis",
        "Carrying groceries",
        "Driving for an hour",
        "Swimming",
    ],
}


def _spread(total: int, count: int, low: int, high: int) -> list[int]:
    spare, items = total - count * low, []
    for _ in range(count):
        step = min(high - low, spare)
        items.append(low + step)
        spare -= step
    return items


def _sbst(band: str) -> list[int]:
    return {
        "low": [1, 0, 1, 0, 0, 0, 0, 0, 1],
        "medium": [1, 1, 1, 1, 1, 0, 0, 0, 2],
        "high": [1, 1, 0, 1, 1, 1, 1, 0, 3],
    }[band]


@dataclass
class Profile:
    """What one demo patient's intake looks like (see PLAN)."""

    nrs: int
    tsk: int
    sbst: str
    stage: str
    phq2: tuple[int, int] = (0, 1)
    phq9: list[int] | None = None
    sils: int = 1
    env: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()


#: (patient number, profile, decision, weeks since intake, reassessment) — a mix across the four levels.
#: decision: "confirm", ("override", level, reason) or None (not decided yet).
#: reassessment: None, "better" (PSFS up, pain down) or "worse" (pain up).
PLAN: list[tuple[int, Profile, object, int, str | None]] = [
    (0, Profile(3, 18, "low", "action"), "confirm", 8, "better"),
    (1, Profile(6, 25, "medium", "preparation", env=("NO_TIME",)), "confirm", 7, "better"),
    (2, Profile(7, 31, "medium", "preparation"), "confirm", 7, "better"),
    (3, Profile(8, 37, "high", "contemplation"), "confirm", 8, "better"),
    (4, Profile(5, 24, "medium", "preparation", sils=4), "confirm", 7, "worse"),
    (5, Profile(2, 16, "low", "maintenance"), "confirm", 6, None),
    (
        6,
        Profile(6, 27, "high", "action"),
        ("override", 2, "Very motivated and trained before; prefers the regular group. Reassess at session 4."),
        6,
        None,
    ),
    (7, Profile(4, 20, "low", "preparation", env=("NO_FACILITY_NEARBY",)), "confirm", 6, None),
    (8, Profile(6, 23, "medium", "contemplation", phq2=(2, 2), phq9=[2, 2, 2, 1, 1, 1, 1, 1, 0]), "confirm", 5, None),
    (9, Profile(7, 33, "high", "preparation", phq2=(3, 2), phq9=[3, 2, 2, 2, 2, 2, 2, 2, 0]), "confirm", 4, None),
    (10, Profile(5, 22, "low", "action", sils=3, env=("INSUFFICIENT_SUPPORT",)), "confirm", 4, None),
    (11, Profile(6, 26, "medium", "preparation", phq2=(1, 1), phq9=[1, 1, 1, 1, 0, 1, 0, 0, 1]), None, 0, None),
    (
        12,
        Profile(5, 21, "medium", "preparation", red_flags=("UNEXPLAINED_WEIGHT_LOSS",)),
        ("override", 3, "GP checked: weight loss explained by a change of diet. Start in a small group."),
        3,
        None,
    ),
    (13, Profile(3, 19, "low", "action"), "confirm", 3, None),
    (14, Profile(7, 30, "medium", "preparation", env=("POOR_COMMUNICATION",)), "confirm", 2, None),
    (
        15,
        Profile(8, 28, "medium", "action"),
        ("override", 2, "Pain is high but stable for years; copes well and knows the exercises."),
        2,
        None,
    ),
    (16, Profile(4, 24, "low", "preparation", skip=("TSK11",)), "confirm", 1, None),
    (17, Profile(6, 29, "high", "precontemplation", sils=5), "confirm", 1, None),
    (18, Profile(5, 23, "medium", "action"), None, 0, None),
    (19, Profile(2, 14, "low", "maintenance"), "confirm", 6, None),
]


def _answers(profile: Profile, language: str, rng: random.Random, n_goals: int) -> dict:
    activities = rng.sample(ACTIVITIES[language], n_goals)
    answers = {
        "NRS": profile.nrs,
        "TSK11": _spread(profile.tsk, 11, 1, 4),
        "PHQ2": list(profile.phq2),
        "SILS": profile.sils,
        "STAGE": profile.stage,
        "SBST": _sbst(profile.sbst),
        "PSFS": [{"activity": activity, "score": rng.randint(2, 5)} for activity in activities],
        "ENV": list(profile.env),
        "RED_FLAGS": list(profile.red_flags),
    }
    if profile.phq9:
        answers["PHQ9"] = profile.phq9
    for code in profile.skip:
        answers.pop(code)
    return answers


def _reassessed(intake: dict, how: str, rng: random.Random) -> dict:
    answers = {key: (list(value) if isinstance(value, list) else value) for key, value in intake.items()}
    answers["RED_FLAGS"] = []
    if how == "better":
        answers["NRS"] = max(0, intake["NRS"] - rng.randint(1, 2))
        answers["TSK11"] = _spread(max(11, sum(intake["TSK11"]) - rng.randint(3, 6)), 11, 1, 4)
        answers["PSFS"] = [{**row, "score": min(10, row["score"] + rng.randint(2, 4))} for row in intake["PSFS"]]
        answers["STAGE"] = "action" if intake["STAGE"] in ("contemplation", "preparation") else intake["STAGE"]
    else:
        answers["NRS"] = min(10, intake["NRS"] + 2)
        answers["PSFS"] = [{**row, "score": max(0, row["score"] - 1)} for row in intake["PSFS"]]
    return answers


def _decide(actor: Actor, patient: Patient, decision, at) -> None:
    if decision is None:
        return
    if decision == "confirm":
        latest = (
            db.session.execute(
                sa.select(Assessment)
                .where(Assessment.patient_id == patient.id)
                .order_by(Assessment.taken_at.desc(), Assessment.id.desc())
            )
            .scalars()
            .first()
        )
        made = ops.decide_level(actor, patient.id, level=latest.proposed_level or 2, reason="")
    else:
        _kind, level, reason = decision
        # A safety-gated assessment is reviewed by a clinician before a level is set.
        for task in db.session.execute(
            sa.select(SafetyTask).where(SafetyTask.patient_id == patient.id, SafetyTask.status == "open")
        ).scalars():
            ops.resolve_safety_task(actor, task.id, reason)
            task.resolved_at = at + timedelta(minutes=10)
        made = ops.decide_level(actor, patient.id, level=level, reason=reason)
    made.decided_at = at + timedelta(minutes=20)  # decided right after the assessment, not at demo load time


def load_supervision_demo(practice: Practice, staff: list[User], patients: list[Patient]) -> int:
    """Add the demo's supervision data; returns how many patients got assessments on this run."""
    education.load_starter_items(Actor.system(practice.id))
    therapists = [user for user in staff if user.role == "therapist"]
    assistant = next(user for user in staff if user.role == "assistant")
    items = {
        item.slug: item
        for item in db.session.execute(
            sa.select(EducationItem).where(EducationItem.practice_id == practice.id, EducationItem.slug.is_not(None))
        ).scalars()
    }
    assessed = set(
        db.session.execute(
            sa.select(Assessment.patient_id).where(Assessment.practice_id == practice.id).distinct()
        ).scalars()
    )
    rng = random.Random(2026)  # the same demo every time
    now = utcnow()
    added = 0
    for number, profile, decision, weeks, reassessment in PLAN:
        patient = patients[number]
        if patient.id in assessed:
            continue
        therapist = therapists[number % len(therapists)]
        actor = Actor.for_user(therapist)
        taken = now - timedelta(weeks=weeks, days=rng.randint(0, 3), hours=rng.randint(0, 5))
        intake = _answers(profile, patient.language, rng, n_goals=rng.randint(2, 3))
        assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=intake, taken_at=taken)
        for task in db.session.execute(
            sa.select(SafetyTask).where(SafetyTask.assessment_id == assessment.id)
        ).scalars():
            task.created_at = taken  # raised when the (back-dated) demo assessment was entered
        _decide(actor, patient, decision, taken)
        if reassessment:
            later = now - timedelta(days=rng.randint(2, 6))
            ops.create_assessment(
                actor, patient.id, kind="reassessment", answers=_reassessed(intake, reassessment, rng), taken_at=later
            )
            if reassessment == "better":
                _decide(actor, patient, "confirm", later)
        _demo_follow_up(actor, patient, number, assistant, items, taken)
        added += 1
    db.session.flush()
    return added


def _demo_follow_up(actor: Actor, patient: Patient, number: int, assistant: User, items: dict, taken) -> None:
    """Some hand-made barrier actions (one done), education assignments and teach-back, for a lived-in demo."""
    barriers = {barrier.code: barrier for barrier in ops.patient_barriers(patient.id) if barrier.open}
    if "FEAR_OF_MOVEMENT" in barriers:
        ops.add_action(
            actor,
            barriers["FEAR_OF_MOVEMENT"].id,
            code="HURT_IS_NOT_HARM",
            owner_id=actor.user_id,
            due_on=(utcnow() + timedelta(days=3 + number % 5)).date(),
        )
    if "PAIN_INTENSITY" in barriers and number % 3 == 0:
        action = ops.add_action(
            actor,
            barriers["PAIN_INTENSITY"].id,
            code="LOWER_INTENSITY",
            owner_id=actor.user_id,
            due_on=(taken + timedelta(days=7)).date(),
        )
        ops.update_action(actor, action.id, status="done", outcome="Started at half the load; no flare-up.")
    if "NO_TIME" in barriers:
        ops.add_action(
            actor,
            barriers["NO_TIME"].id,
            code="MAKE_UP_SESSION",
            owner_id=assistant.id,
            due_on=(utcnow() + timedelta(days=2)).date(),
        )
    if number in (1, 14):
        barrier = ops.add_barrier(actor, patient.id, code="INSUFFICIENT_SUPPORT", note="Partner works away all week.")
        ops.add_action(
            actor, barrier.id, code="GROUP_BUDDY", owner_id=actor.user_id, due_on=(utcnow() - timedelta(days=1)).date()
        )
    for slug in ("hurt-is-not-harm", "what-to-expect-in-the-group")[: 1 + number % 2]:
        if number % 4 == 3 or slug not in items:
            continue
        assignment = education.assign_item(actor, patient.id, items[slug].id)
        if number % 3 != 2:
            education.confirm_teach_back(actor, assignment.id, "")
