"""Supervision use cases on a real database: what an assessment stores and sets in motion, level decisions and
their history, safety tasks, barriers and actions, goals, ratios, the due list, permissions and scoping."""

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from core.actor import Actor
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from extensions import db
from patients.models import Patient
from supervision import operations as ops
from supervision.definitions import DEFAULT_RATIOS
from supervision.models import (
    Assessment,
    Barrier,
    BarrierAction,
    Goal,
    GoalScore,
    SafetyTask,
    SupervisionDecision,
    SupervisionSettings,
)
from tests.factories import make_patient, make_practice, make_user
from tests.supervision.samples import CALM, DEPRESSED, INTAKE, ITEM9, answers


@pytest.fixture
def therapist(app, ctx):
    return make_user(role="therapist")


@pytest.fixture
def actor(therapist):
    return Actor.for_user(therapist)


@pytest.fixture
def patient(therapist):
    return make_patient(therapist.practice)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def audits(action: str, object_type: str) -> list[AuditEvent]:
    return list(
        db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_type == object_type)
        ).scalars()
    )


# ---------------------------------------------------------------------------------------------------------
# Assessments


def test_assessment_stores_scores_proposal_reasons_and_an_audit_row(actor, patient):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)

    assert assessment.proposed_level == 2
    assert [r["code"] for r in assessment.reasons] == [
        "SBST_MEDIUM",
        "PAIN_MODERATE",
        "FEAR_MODERATE",
        "STAGE_PREPARATION",
    ]
    assert assessment.reasons[1]["text_en"] == "Moderate pain: NRS = 6."
    assert assessment.reasons[1]["text_nl"] == "Matige pijn: NRS = 6."
    assert assessment.scores["TSK11"]["total"] == 24 and assessment.scores["TSK11"]["band"] == "moderate"
    assert "sum of 11 items = 24" in assessment.scores["TSK11"]["explanation_en"]
    assert assessment.scores["PSFS"]["mean"] == 3.5
    assert assessment.safety_flags == [] and assessment.missing == []
    assert assessment.source == "staff" and assessment.reviewed_by_id == actor.user_id
    assert assessment.answers["PSFS"][0] == {"activity": "Walking the dog", "score": 4}
    [event] = audits("create", "assessment")
    assert event.patient_id == patient.id and event.object_id == assessment.id and event.user_id == actor.user_id


def test_missing_items_are_missing_not_zero_and_block_level_1(actor, patient):
    """CLINICAL.md: missing answers are shown as missing, never counted as 0; level 1 needs complete data."""
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=answers(CALM, TSK11=[1] * 10 + [None]))
    assert assessment.scores["TSK11"]["total"] is None
    assert "not answered: item 11" in assessment.scores["TSK11"]["explanation_en"]
    assert assessment.missing == ["TSK11"]
    assert assessment.proposed_level == 2
    assert [r["code"] for r in assessment.reasons] == ["SCREEN_INCOMPLETE"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"NRS": 11}, "answers.NRS"),  # out of range
        ({"NRS": "6"}, "answers.NRS"),  # text for a number
        ({"NRS": True}, "answers.NRS"),
        ({"TSK11": [1] * 10}, "answers.TSK11"),  # wrong item count
        ({"SBST": [0] * 8 + [5]}, "answers.SBST"),  # item 9 is 0–4
        ({"PHQ9": [0] * 8 + ["x"]}, "answers.PHQ9"),
        ({"STAGE": "ready"}, "answers.STAGE"),
        ({"ENV": ["NO_BUS"]}, "answers.ENV"),
        ({"FOO": 1}, "answers.FOO"),  # unknown instrument
        ({"PSFS": [{"activity": "", "score": 3}]}, "answers.PSFS"),
        ({"PSFS": [{"activity": "Cycling", "score": 11}]}, "answers.PSFS"),
        ({"PSFS": [{"activity": "Cycling", "score": 3}, {"activity": "cycling", "score": 4}]}, "answers.PSFS"),
        ({"PSFS": [3, 4]}, "answers.PSFS"),
    ],
)
def test_invalid_answers_name_the_instrument_and_store_nothing(actor, patient, bad, field):
    with pytest.raises(Invalid) as raised:
        ops.create_assessment(actor, patient.id, kind="intake", answers={**CALM, **bad})
    assert field in raised.value.fields
    assert count(Assessment) == 0 and count(Barrier) == 0 and count(Goal) == 0
    assert audits("create", "assessment") == []


def test_every_problem_is_reported_at_once(actor, patient):
    with pytest.raises(Invalid) as raised:
        ops.create_assessment(actor, patient.id, kind="later", answers={"NRS": 12, "TSK11": [1]})
    assert set(raised.value.fields) == {"kind", "answers.NRS", "answers.TSK11"}


@pytest.mark.parametrize("bad", [{}, None, [], "NRS=3"])
def test_answers_must_be_a_non_empty_object(actor, patient, bad):
    with pytest.raises(Invalid) as raised:
        ops.create_assessment(actor, patient.id, kind="intake", answers=bad)
    assert "answers" in raised.value.fields
    assert count(Assessment) == 0


def test_phq9_item9_raises_an_urgent_safety_task_and_no_level(actor, patient):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    assert assessment.proposed_level is None
    assert assessment.safety_flags == ["SAFETY_PHQ9_ITEM9"]
    assert assessment.reasons[0]["code"] == "SAFETY_PHQ9_ITEM9"
    [task] = ops.open_safety_tasks(actor)
    assert task.assessment_id == assessment.id and task.reason_codes == ["SAFETY_PHQ9_ITEM9"]


def test_red_flag_is_a_safety_gate_too(actor, patient):
    assessment = ops.create_assessment(
        actor, patient.id, kind="intake", answers=answers(CALM, RED_FLAGS=["CAUDA_EQUINA"])
    )
    assert assessment.proposed_level is None and assessment.safety_flags == ["SAFETY_RED_FLAG"]
    assert "Cauda equina" in assessment.reasons[0]["text_en"]
    assert count(SafetyTask) == 1


def test_resolving_a_safety_task_needs_a_note_and_happens_once(actor, patient):
    ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    [task] = ops.open_safety_tasks(actor)
    with pytest.raises(Invalid) as raised:
        ops.resolve_safety_task(actor, task.id, "  ")
    assert "note" in raised.value.fields
    ops.resolve_safety_task(actor, task.id, "Called the patient; GP informed, no acute risk.")
    assert task.status == "resolved" and task.resolved_by_id == actor.user_id
    assert ops.open_safety_tasks(actor) == []
    with pytest.raises(Conflict):
        ops.resolve_safety_task(actor, task.id, "again")


def test_limited_health_literacy_sets_plain_language_and_opens_an_action(actor, patient):
    """CLINICAL.md: SILS ≥ 3 does not change the level; it changes delivery and adds a barrier action."""
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=answers(CALM, SILS=3))
    assert assessment.proposed_level == 1
    assert db.session.get(Patient, patient.id).plain_language is True
    [barrier] = ops.patient_barriers(patient.id)
    assert barrier.code == "LOW_HEALTH_LITERACY" and barrier.source == "assessment"
    [action] = barrier.actions
    assert action.code == "PLAIN_LANGUAGE" and action.owner_id == actor.user_id and action.status == "open"
    assert action.due_on == (assessment.taken_at + timedelta(days=7)).date()
    assert [e.detail for e in audits("update", "patient")] == ["plain_language (SILS)"]


def test_adequate_health_literacy_leaves_the_flag_alone(actor, patient):
    ops.create_assessment(actor, patient.id, kind="intake", answers=answers(CALM, SILS=2))
    assert db.session.get(Patient, patient.id).plain_language is False


def test_barriers_from_scores_and_environment_without_duplicates(actor, patient):
    first = answers(INTAKE, ENV=["NO_TIME"], PHQ2=[2, 2])
    ops.create_assessment(actor, patient.id, kind="intake", answers=first)
    barriers = {b.code: b for b in ops.patient_barriers(patient.id)}
    assert set(barriers) == {"PAIN_INTENSITY", "DEPRESSION", "NO_TIME"}
    # Barriers that raise the level only get suggestions; environmental ones get their first action at once.
    assert barriers["PAIN_INTENSITY"].actions == [] and barriers["DEPRESSION"].actions == []
    assert [a.code for a in barriers["NO_TIME"].actions] == ["OTHER_TIME_SLOT"]
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=first)
    assert count(Barrier) == 3 and count(BarrierAction) == 1


def test_psfs_activities_become_goals_scored_over_time(actor, patient):
    start = utcnow() - timedelta(weeks=6)
    first = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=start)
    later = answers(INTAKE, PSFS=[{"activity": "walking the DOG", "score": 7}, {"activity": "Cycling", "score": 5}])
    second = ops.create_assessment(actor, patient.id, kind="reassessment", answers=later)
    assert count(Goal) == 3 and count(GoalScore) == 4
    timeline = ops.timeline(patient.id)
    rows = {row.goal.activity: row.scores for row in timeline.goals}
    assert rows == {
        "Walking the dog": {first.id: 4, second.id: 7},
        "Gardening": {first.id: 3},
        "Cycling": {second.id: 5},
    }
    assert [stage for _a, stage in timeline.stages] == ["preparation", "preparation"]
    assert ops.latest_goals(patient.id) == ["walking the DOG", "Cycling"]


def test_reassessment_suggests_a_step_up_when_pain_rose(actor, patient):
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(weeks=6))
    reassessment = ops.create_assessment(actor, patient.id, kind="reassessment", answers=answers(INTAKE, NRS=8))
    suggestion = reassessment.suggestion
    assert suggestion["direction"] == "up" and suggestion["attendance_rate"] is None
    assert [r["code"] for r in suggestion["reasons"]] == ["PAIN_ROSE"]
    assert suggestion["reasons"][0]["text_en"] == "NRS rose from 6 to 8: consider one level up."


def test_a_barrier_added_by_hand_since_the_last_assessment_suggests_a_step_up(actor, patient):
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(weeks=6))
    ops.add_barrier(actor, patient.id, code="INSUFFICIENT_SUPPORT")
    reassessment = ops.create_assessment(actor, patient.id, kind="reassessment", answers=INTAKE)
    assert reassessment.suggestion["direction"] == "up"
    assert [r["code"] for r in reassessment.suggestion["reasons"]] == ["NEW_BARRIER"]


def test_without_attendance_there_is_no_step_down_yet(actor, patient):
    """Step down needs attendance ≥ 75%, which needs group sessions: for now PSFS progress alone suggests nothing."""
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(weeks=6))
    better = answers(INTAKE, PSFS=[{"activity": "Walking the dog", "score": 8}, {"activity": "Gardening", "score": 7}])
    reassessment = ops.create_assessment(actor, patient.id, kind="reassessment", answers=better)
    assert reassessment.suggestion == {
        "direction": None,
        "previous_assessment_id": reassessment.suggestion["previous_assessment_id"],
        "attendance_rate": None,
        "reasons": [],
    }


def test_first_assessment_has_no_suggestion_even_as_reassessment(actor, patient):
    assert ops.create_assessment(actor, patient.id, kind="reassessment", answers=CALM).suggestion is None


def test_patient_link_assessment_waits_for_review(actor, patient, therapist):
    portal = Actor(practice_id=patient.practice_id, kind="patient", patient_id=patient.id)
    assessment = ops.create_assessment(portal, patient.id, kind="reassessment", answers=CALM)
    assert assessment.source == "patient" and assessment.reviewed_at is None and assessment.entered_by_id is None
    other = make_patient(therapist.practice)
    with pytest.raises(NotFound):
        ops.create_assessment(portal, other.id, kind="intake", answers=CALM)
    ops.review_assessment(actor, assessment.id)
    assert assessment.reviewed_by_id == actor.user_id and assessment.reviewed_at is not None


# ---------------------------------------------------------------------------------------------------------
# Decisions and current levels


def test_confirming_needs_no_reason_but_an_override_does(actor, patient):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    confirmed = ops.decide_level(actor, patient.id, level=2)
    assert (confirmed.proposed_level, confirmed.final_level, confirmed.is_override) == (2, 2, False)
    with pytest.raises(Invalid) as raised:
        ops.decide_level(actor, patient.id, level=3, reason="   ")
    assert list(raised.value.fields) == ["reason"]
    override = ops.decide_level(actor, patient.id, level=3, reason="Fear of falling in a big group.")
    assert override.is_override and override.assessment_id == assessment.id
    assert override.decided_by_id == actor.user_id and override.reason == "Fear of falling in a big group."
    assert [d.id for d in ops.decision_history(patient.id)] == [override.id, confirmed.id]
    assert [
        e.action
        for e in db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.object_type == "supervision_decision").order_by(AuditEvent.id)
        ).scalars()
    ] == ["confirm", "override"]


def test_safety_gated_assessment_needs_a_reason_for_any_level(actor, patient):
    ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    with pytest.raises(Invalid):
        ops.decide_level(actor, patient.id, level=3)
    decision = ops.decide_level(actor, patient.id, level=3, reason="Reviewed today with GP; safe to start.")
    assert decision.proposed_level is None and decision.is_override


@pytest.mark.parametrize("level", [0, 5, "2", 2.0, True, None])
def test_level_must_be_1_to_4(actor, patient, level):
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    with pytest.raises(Invalid) as raised:
        ops.decide_level(actor, patient.id, level=level, reason="x")
    assert "level" in raised.value.fields
    assert count(SupervisionDecision) == 0


def test_deciding_needs_an_assessment_and_the_latest_one(actor, patient):
    with pytest.raises(Conflict):
        ops.decide_level(actor, patient.id, level=2)
    old = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(days=9))
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=INTAKE)
    with pytest.raises(Conflict):
        ops.decide_level(actor, patient.id, level=2, assessment_id=old.id)


def test_current_levels_follow_the_latest_decision_until_the_next_assessment(actor, patient, therapist):
    other = make_patient(therapist.practice)
    undecided = make_patient(therapist.practice)
    foreign = make_patient(make_practice())
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(days=50))
    ops.decide_level(actor, patient.id, level=2)
    ops.decide_level(actor, patient.id, level=3, reason="Prefers a small group.")
    ops.create_assessment(actor, other.id, kind="intake", answers=DEPRESSED)
    ops.decide_level(actor, other.id, level=4)
    ops.create_assessment(actor, undecided.id, kind="intake", answers=CALM)
    foreign_actor = Actor.system(foreign.practice_id)
    ops.create_assessment(foreign_actor, foreign.id, kind="intake", answers=CALM)
    ops.decide_level(foreign_actor, foreign.id, level=1)

    ids = [patient.id, other.id, undecided.id, foreign.id]
    assert ops.current_levels(actor.practice_id, ids) == {
        patient.id: 3,
        other.id: 4,
        undecided.id: None,
        foreign.id: None,
    }
    # CLINICAL.md: a decision stays valid until the next assessment.
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=INTAKE)
    assert ops.current_levels(actor.practice_id, [patient.id])[patient.id] is None
    assert ops.current_levels(actor.practice_id, []) == {}


def test_current_levels_handles_many_patients(actor, therapist):
    patients = [make_patient(therapist.practice) for _ in range(3)]
    for n, p in enumerate(patients):
        ops.create_assessment(actor, p.id, kind="intake", answers=CALM)
        if n:
            ops.decide_level(actor, p.id, level=1)
    levels = ops.current_levels(actor.practice_id, [p.id for p in patients] + list(range(10_000, 11_200)))
    assert [levels[p.id] for p in patients] == [None, 1, 1] and len(levels) == 1203


# ---------------------------------------------------------------------------------------------------------
# Permissions and scoping


def test_assistants_see_levels_but_cannot_assess_decide_or_read_assessments(therapist, patient, actor):
    assistant = Actor.for_user(make_user(therapist.practice, role="assistant"))
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    ops.decide_level(actor, patient.id, level=2)
    for call in (
        lambda: ops.create_assessment(assistant, patient.id, kind="intake", answers=CALM),
        lambda: ops.decide_level(assistant, patient.id, level=3, reason="x"),
        lambda: ops.get_assessment(assistant, assessment.id),
        lambda: ops.list_assessments(assistant, patient.id),
        lambda: ops.open_safety_tasks(assistant),
        lambda: ops.add_barrier(assistant, patient.id, code="NO_TIME"),
        lambda: ops.update_ratios(assistant, DEFAULT_RATIOS),
    ):
        with pytest.raises(Forbidden):
            call()
    assert ops.level_overview(assistant, patient.id).level == 2
    assert ops.current_levels(assistant.practice_id, [patient.id]) == {patient.id: 2}


def test_another_practice_gets_not_found(actor, patient):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    stranger = Actor.for_user(make_user(role="admin"))
    [task] = db.session.execute(sa.select(SafetyTask)).scalars().all()
    barrier = ops.add_barrier(actor, patient.id, code="NO_TIME")
    for call in (
        lambda: ops.create_assessment(stranger, patient.id, kind="intake", answers=CALM),
        lambda: ops.get_assessment(stranger, assessment.id),
        lambda: ops.list_assessments(stranger, patient.id),
        lambda: ops.decide_level(stranger, patient.id, level=2, reason="x"),
        lambda: ops.level_overview(stranger, patient.id),
        lambda: ops.resolve_safety_task(stranger, task.id, "note"),
        lambda: ops.add_barrier(stranger, patient.id, code="NO_TIME"),
        lambda: ops.add_action(stranger, barrier.id, code="OTHER_TIME_SLOT"),
        lambda: ops.resolve_barrier(stranger, barrier.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert ops.open_safety_tasks(stranger) == []
    assert count(Assessment) == 1


def test_reading_assessments_is_audited(actor, patient):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    ops.get_assessment(actor, assessment.id)
    rows, total = ops.list_assessments(actor, patient.id)
    assert total == 1 and rows == [assessment]
    assert [e.object_id for e in audits("view", "assessment")] == [assessment.id]
    assert [e.patient_id for e in audits("list", "assessment")] == [patient.id]


# ---------------------------------------------------------------------------------------------------------
# Barriers and actions


def test_manual_barrier_with_actions_owner_and_outcome(actor, patient, therapist):
    barrier = ops.add_barrier(actor, patient.id, code="NO_FACILITY_NEARBY", note="Moved to Houten")
    assert barrier.source == "manual" and barrier.note == "Moved to Houten"
    with pytest.raises(Conflict):
        ops.add_barrier(actor, patient.id, code="NO_FACILITY_NEARBY")
    assistant = make_user(therapist.practice, role="assistant")
    action = ops.add_action(
        actor, barrier.id, code="ONLINE_SESSION", owner_id=assistant.id, due_on=date.today() + timedelta(days=3)
    )
    custom = ops.add_action(actor, barrier.id, code="OTHER", text="Ask about carpooling with Henk")
    assert custom.owner_id is None
    # The owner may record progress on their own action, even as an assistant.
    owner = Actor.for_user(assistant)
    assert [a.id for a in ops.my_open_actions(owner)] == [action.id]
    ops.update_action(owner, action.id, status="done", outcome="Joins online on Thursdays.")
    assert action.status == "done" and action.closed_by_id == assistant.id and action.closed_at is not None
    with pytest.raises(Forbidden):
        ops.update_action(Actor.for_user(make_user(therapist.practice, role="assistant")), custom.id, status="done")
    with pytest.raises(Conflict):
        ops.resolve_barrier(actor, barrier.id)
    ops.update_action(actor, custom.id, status="cancelled", outcome="")
    ops.resolve_barrier(actor, barrier.id)
    assert not barrier.open
    ops.add_barrier(actor, patient.id, code="NO_FACILITY_NEARBY")  # a resolved barrier can come back


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"code": "CHECK_IN_CALLS"}, "code"),  # belongs to another barrier
        ({"code": "OTHER", "text": ""}, "text"),
        ({"code": "OTHER_TIME_SLOT", "text": "x" * 301}, "text"),
        ({"code": "OTHER_TIME_SLOT", "owner_id": "1"}, "owner_id"),
        ({"code": "OTHER_TIME_SLOT", "owner_id": 10**12}, "owner_id"),
        ({"code": "OTHER_TIME_SLOT", "due_on": "tomorrow"}, "due_on"),
    ],
)
def test_invalid_actions_are_refused(actor, patient, values, field):
    barrier = ops.add_barrier(actor, patient.id, code="NO_TIME")
    with pytest.raises(Invalid) as raised:
        ops.add_action(actor, barrier.id, **values)
    assert field in raised.value.fields
    assert count(BarrierAction) == 0


def test_owner_must_be_active_staff_of_the_practice(actor, patient):
    barrier = ops.add_barrier(actor, patient.id, code="NO_TIME")
    foreign = make_user(role="therapist")
    with pytest.raises(Invalid):
        ops.add_action(actor, barrier.id, code="OTHER_TIME_SLOT", owner_id=foreign.id)


def test_unknown_barrier_and_bad_status_are_refused(actor, patient):
    with pytest.raises(Invalid):
        ops.add_barrier(actor, patient.id, code="BAD_WEATHER")
    barrier = ops.add_barrier(actor, patient.id, code="NO_TIME")
    action = ops.add_action(actor, barrier.id, code="OTHER_TIME_SLOT")
    with pytest.raises(Invalid):
        ops.update_action(actor, action.id, status="finished")
    assert action.status == "open"


# ---------------------------------------------------------------------------------------------------------
# Ratios and the due list


def test_ratios_default_and_are_changed_by_admins_only(therapist):
    admin = Actor.for_user(make_user(therapist.practice, role="admin"))
    assert ops.supervision_ratios(admin.practice_id) == DEFAULT_RATIOS == {1: 12, 2: 10, 3: 6, 4: 1}
    with pytest.raises(Forbidden):
        ops.update_ratios(Actor.for_user(therapist), {1: 12, 2: 8, 3: 5, 4: 1})
    with pytest.raises(Invalid) as raised:
        ops.update_ratios(admin, {1: 12, 2: 0, 3: "5", 4: True})
    assert set(raised.value.fields) == {"ratio_2", "ratio_3", "ratio_4"}
    assert count(SupervisionSettings) == 0
    ops.update_ratios(admin, {1: 12, 2: 8, 3: 5, 4: 1})
    assert ops.supervision_ratios(admin.practice_id) == {1: 12, 2: 8, 3: 5, 4: 1}
    assert ops.supervision_ratios(make_practice().id) == DEFAULT_RATIOS


def test_week_6_reassessment_due_list(actor, therapist):
    today = ops.practice_today(actor.practice_id)

    def at(days_ago: int) -> datetime:
        return utcnow() - timedelta(days=days_ago)

    due = make_patient(therapist.practice, name="Due Today")
    soon = make_patient(therapist.practice, name="Due Soon")
    early = make_patient(therapist.practice, name="Too Early")
    done = make_patient(therapist.practice, name="Already Done")
    session4 = make_patient(therapist.practice, name="Only Session Four")
    archived = make_patient(therapist.practice, name="Archived")
    for p, days in ((due, 42), (soon, 37), (early, 20), (done, 45), (session4, 45), (archived, 50)):
        ops.create_assessment(actor, p.id, kind="intake", answers=CALM, taken_at=at(days))
    ops.create_assessment(actor, done.id, kind="reassessment", answers=CALM, taken_at=at(2))
    ops.create_assessment(actor, session4.id, kind="reassessment", answers=CALM, taken_at=at(35))
    archived.archived_at = utcnow()
    db.session.flush()

    listed = ops.reassessments_due(actor, today=today)
    assert [d.patient.name for d in listed] == ["Only Session Four", "Due Today", "Due Soon"]
    assert listed[1].due_on == listed[1].intake_on + timedelta(weeks=6)
    assert listed[0].overdue_days == 3 and listed[2].overdue_days == -5
