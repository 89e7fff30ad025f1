"""Supervision pages: the assessment form and its result (scores, proposed level, reasons, decision), the patient
page section, barriers and actions, education assignments, the reassessment due list, dashboard panels and the
supervision ratio settings. Thin: every change goes through `supervision.operations` and commits once."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice

from accounts.auth import current_actor
from accounts.models import User
from accounts.operations import audit
from core.access import can, get_scoped, require_permission
from core.actor import Actor
from core.errors import DomainError, Invalid
from core.views import add_dashboard_panel
from extensions import db
from patients.models import Patient
from patients.views import add_patient_section
from supervision import education
from supervision import operations as ops
from supervision.definitions import (
    BAND_LABELS,
    BANDS,
    BARRIERS,
    FOLLOW_UPS,
    INSTRUMENTS,
    LEVELS,
    MISCONCEPTIONS,
    RED_FLAGS,
    REQUIRED_INSTRUMENTS,
    STAGE_STRATEGIES,
    load_instrument_items,
)
from supervision.forms import (
    ActionForm,
    ActionUpdateForm,
    AssessmentForm,
    BarrierForm,
    DecisionForm,
    RatiosForm,
    SafetyReviewForm,
    TeachBackForm,
    answers_from_form,
    item_numbers,
    lang,
)
from supervision.models import ASSESSMENT_KINDS, CUSTOM_ACTION, Assessment, Barrier, BarrierAction, SafetyTask
from supervision.scoring import SCORERS, AnswerError

bp = Blueprint("supervision", __name__)


def init_app(app: Flask) -> None:
    add_patient_section(app, patient_section)
    add_dashboard_panel(app, urgent_panel)
    add_dashboard_panel(app, tasks_panel)


# ---------------------------------------------------------------------------------------------------------
# Labels for templates (data tables in the reader's language)


@bp.app_template_filter("level_name")
def level_name(level: int | None) -> str:
    return LEVELS[level].name.get(lang()) if level in LEVELS else _("not set")


@bp.app_context_processor
def roster_levels():
    """`patient_levels(ids)` for rosters on other packages' pages: confirmed levels, if the user may see them."""

    def patient_levels(patient_ids) -> dict:
        actor = current_actor()
        if not ops.allowed(actor, "view_levels"):
            return {}
        return ops.current_levels(actor.practice_id, list(patient_ids))

    return {"patient_levels": patient_levels}


@bp.app_template_filter("level_meaning")
def level_meaning(level: int | None) -> str:
    return LEVELS[level].meaning.get(lang()) if level in LEVELS else ""


@bp.app_template_filter("barrier_label")
def barrier_label(code: str) -> str:
    return BARRIERS[code].label.get(lang()) if code in BARRIERS else code


@bp.app_template_filter("action_label")
def action_label(action: BarrierAction) -> str:
    barrier = BARRIERS.get(action.barrier.code)
    for candidate in barrier.actions if barrier else ():
        if candidate.code == action.code:
            return candidate.text.get(lang()) + (f": {action.text}" if action.text else "")
    return action.text or action.code


@bp.app_template_filter("stage_label")
def stage_label(code: str | None) -> str:
    return STAGE_STRATEGIES[code].label.get(lang()) if code in STAGE_STRATEGIES else "—"


@bp.app_template_filter("band_label")
def band_label(band: str | None) -> str:
    if band in BAND_LABELS:
        return BAND_LABELS[band].get(lang())
    return stage_label(band) if band in STAGE_STRATEGIES else ""


@bp.app_template_filter("instrument_name")
def instrument_name(code: str) -> str:
    return INSTRUMENTS[code].name.get(lang()) if code in INSTRUMENTS else code


@bp.app_template_filter("red_flag_label")
def red_flag_label(code: str) -> str:
    return RED_FLAGS[code].get(lang()) if code in RED_FLAGS else code


@bp.app_template_filter("reason_text")
def reason_text(reason: dict) -> str:
    return reason["text_nl"] if lang() == "nl" else reason["text_en"]


@bp.app_template_filter("tag_label")
def tag_label(tag: tuple[str, str]) -> str:
    kind, code = tag
    if kind == "barrier":
        return barrier_label(code)
    if kind == "stage":
        return stage_label(code)
    return MISCONCEPTIONS[code].get(lang()) if code in MISCONCEPTIONS else code


@bp.app_template_global("stage_strategies")
def stage_strategies(code: str | None) -> list[str]:
    return [text.get(lang()) for text in STAGE_STRATEGIES[code].strategies] if code in STAGE_STRATEGIES else []


@bp.app_template_global("allowed")
def allowed_to(permission: str) -> bool:
    return can(current_user, permission)


@bp.app_template_filter("paragraphs")
def paragraphs(text: str) -> Markup:
    """Plain text with blank lines between paragraphs, as escaped HTML paragraphs."""
    parts = [part.strip() for part in (text or "").replace("\r\n", "\n").split("\n\n") if part.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(part) for part in parts)


@bp.app_template_global("barrier_actions")
def barrier_actions(code: str) -> list[tuple[str, str]]:
    """The suggested actions of a barrier (CLINICAL.md table), as (code, label)."""
    return [(action.code, action.text.get(lang())) for action in BARRIERS[code].actions] if code in BARRIERS else []


@lru_cache(maxsize=4)
def _wording(path: str) -> dict:
    return load_instrument_items(path or None)


def wording() -> dict:
    return _wording(current_app.config.get("INSTRUMENT_ITEMS_FILE") or "")


# ---------------------------------------------------------------------------------------------------------
# Assessment form


def instrument_blocks(language: str) -> list[dict]:
    """Everything the form shows per instrument: title, instruction, and per item its field name, text and options."""
    texts = wording()
    blocks = []
    for code, instrument in INSTRUMENTS.items():
        words = texts.get(code, {}).get(language, {})
        block = {
            "code": code,
            "name": instrument.name.get(language),
            "title": words.get("title") or instrument.name.get(language),
            "instruction": words.get("instruction", ""),
            "required": code in REQUIRED_INSTRUMENTS,
            "answer": instrument.answer,
            "items": [],
            "anchors": "",
        }
        options = words.get("options", {})
        if code == "RED_FLAGS":
            block["choices"] = [(flag, text.get(language)) for flag, text in RED_FLAGS.items()]
        elif instrument.answer in ("choice", "codes"):
            block["choices"] = [(choice, options.get(choice, choice)) for choice in instrument.choices]
        elif code == "PSFS":
            low, high = instrument.item_ranges[0]
            block["rows"] = list(range(1, instrument.item_count + 1))
            block["scale"] = list(range(low, high + 1))
            block["anchors"] = " · ".join(f"{value} = {label}" for value, label in options.items())
        else:
            item_texts = words.get("items", [])
            numbers = item_numbers(code)
            all_numbers = [instrument.first_item + n for n in range(instrument.item_count)]
            labelled = all(str(v) in options for low, high in instrument.item_ranges[:1] for v in range(low, high + 1))
            if not labelled:
                block["anchors"] = " · ".join(f"{value} = {label}" for value, label in options.items())
            for number in numbers:
                index = all_numbers.index(number)
                low, high = instrument.item_ranges[index]
                labels = words.get("item_options", {}).get(str(number), options if labelled else {})
                block["items"].append(
                    {
                        "name": code if instrument.answer == "number" else f"{code}-{number}",
                        "number": number,
                        "text": item_texts[index] if index < len(item_texts) else "",
                        "options": [(value, labels.get(str(value), "")) for value in range(low, high + 1)],
                        "labelled": bool(labels),
                    }
                )
        blocks.append(block)
    return blocks


def _positive_screen(answers: dict) -> bool:
    """A screen (PHQ-2) in the band that requires its follow-up (PHQ-9), with the follow-up not answered."""
    for follow_up in FOLLOW_UPS:
        if follow_up.then in answers or follow_up.screen not in answers:
            continue
        try:
            score = SCORERS[follow_up.screen](answers[follow_up.screen])
        except AnswerError:
            continue
        if score.complete and score.band == follow_up.band:
            return True
    return False


def follow_up_from(screen: str, band: str) -> int:
    """Lowest total of `band`, for the script that shows PHQ-9 as soon as PHQ-2 reaches it."""
    lowest = sum(low for low, _high in INSTRUMENTS[screen].item_ranges)
    for highest, name in BANDS[screen]:
        if name == band:
            return lowest
        lowest = highest + 1
    raise ValueError(band)


@bp.route("/patients/<id:patient_id>/assessments/new", methods=["GET", "POST"])
@require_permission("assess_patients")
def new_assessment(patient_id: int):
    actor = current_actor()
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    form = AssessmentForm()
    values = request.form if request.method == "POST" else MultiDict()
    errors: dict[str, str] = {}
    ask_follow_up = False
    if request.method == "GET":
        has_intake = db.session.execute(sa.select(Assessment.id).where(Assessment.patient_id == patient.id)).first()
        wanted = request.args.get("kind")
        form.kind.data = wanted if wanted in ASSESSMENT_KINDS else ("reassessment" if has_intake else "intake")
        goals = ops.latest_goals(patient.id)
        values = MultiDict({f"PSFS-activity-{n}": activity for n, activity in enumerate(goals, start=1)})
        if goals:
            audit(actor, "view", patient_id=patient.id, object_type="goal", detail="assessment form")
            db.session.commit()
    elif form.validate_on_submit():
        answers = answers_from_form(request.form)
        if _positive_screen(answers) and not form.phq9_skipped.data:
            ask_follow_up = True
        else:
            try:
                assessment = ops.create_assessment(actor, patient.id, kind=form.kind.data, answers=answers)
            except DomainError as exc:
                db.session.rollback()
                errors = exc.fields or {"answers": exc.message}
            else:
                db.session.commit()
                flash(_("Assessment saved."), "success")
                return redirect(url_for("supervision.assessment", assessment_id=assessment.id))
    answers = answers_from_form(values)
    show_phq9 = ask_follow_up or "PHQ9" in answers or _positive_screen(answers)
    by_code = {key.split(".", 1)[1]: message for key, message in errors.items() if key.startswith("answers.")}
    general = [message for key, message in errors.items() if not key.startswith("answers.")]
    status = 422 if (errors or form.errors) else 200
    phq = FOLLOW_UPS[0]
    return render_template(
        "supervision/assessment_form.html",
        patient=patient,
        form=form,
        blocks=instrument_blocks(lang()),
        values=values,
        errors=by_code,
        general_errors=general,
        ask_follow_up=ask_follow_up,
        show_phq9=show_phq9,
        follow_up_min=follow_up_from(phq.screen, phq.band),
        activity_max=ops.ACTIVITY_MAX,
    ), status


# ---------------------------------------------------------------------------------------------------------
# Result page: scores, proposal, decision


def _result(assessment: Assessment, decision_form: DecisionForm, status: int = 200):
    actor = current_actor()
    patient = db.session.get(Patient, assessment.patient_id)
    latest = db.session.execute(
        sa.select(Assessment.id)
        .where(Assessment.patient_id == patient.id)
        .order_by(Assessment.taken_at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one()
    tasks = (
        db.session.execute(
            sa.select(SafetyTask).where(SafetyTask.assessment_id == assessment.id).order_by(SafetyTask.id)
        )
        .scalars()
        .all()
    )
    rows = [
        {"code": code, **score, "explanation": score["explanation_nl" if lang() == "nl" else "explanation_en"]}
        for code, score in assessment.scores.items()
    ]
    return render_template(
        "supervision/assessment.html",
        assessment=assessment,
        patient=patient,
        rows=rows,
        not_answered=[code for code in assessment.missing if code not in assessment.scores],
        is_latest=latest == assessment.id,
        decision_form=decision_form,
        safety_form=SafetyReviewForm(formdata=None),
        tasks=tasks,
        can_decide=ops.allowed(actor, "decide_levels"),
        can_review=ops.allowed(actor, "review_safety"),
    ), status


@bp.route("/assessments/<id:assessment_id>")
@require_permission("view_assessments")
def assessment(assessment_id: int):
    found = ops.get_assessment(current_actor(), assessment_id)
    form = DecisionForm(formdata=None)
    if found.proposed_level is not None:
        form.level.data = str(found.proposed_level)
    response = _result(found, form)
    db.session.commit()
    return response


@bp.route("/assessments/<id:assessment_id>/decision", methods=["POST"])
@require_permission("decide_levels")
def decide(assessment_id: int):
    actor = current_actor()
    found = get_scoped(Assessment, assessment_id, actor.practice_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            ops.decide_level(
                actor,
                found.patient_id,
                level=int(form.level.data),
                reason=form.reason.data or "",
                assessment_id=found.id,
            )
        except DomainError as exc:
            db.session.rollback()
            found = get_scoped(Assessment, assessment_id, actor.practice_id)
            for name, message in exc.fields.items():
                if hasattr(form, name):
                    getattr(form, name).errors = [*getattr(form, name).errors, message]
            if not exc.fields:
                form.level.errors = [*form.level.errors, exc.message]
        else:
            db.session.commit()
            flash(_("Supervision level saved."), "success")
            return redirect(url_for("patients.detail", patient_id=found.patient_id, _anchor="supervision"))
    return _result(found, form, 422)


@bp.route("/assessments/<id:assessment_id>/review", methods=["POST"])
@require_permission("assess_patients")
def review(assessment_id: int):
    """A therapist has checked answers the patient gave through their portal link."""
    _validate(TeachBackForm())  # CSRF only
    found = ops.review_assessment(current_actor(), assessment_id)
    db.session.commit()
    flash(_("Marked as reviewed."), "success")
    return redirect(url_for("supervision.assessment", assessment_id=found.id))


@bp.route("/safety-reviews/<id:task_id>", methods=["POST"])
@require_permission("review_safety")
def resolve_safety(task_id: int):
    actor = current_actor()
    form = SafetyReviewForm()
    _validate(form)
    task = ops.resolve_safety_task(actor, task_id, form.note.data)
    db.session.commit()
    flash(_("Clinician review recorded."), "success")
    return _back(task.patient_id)


def _validate(form) -> None:
    """Small forms on the patient page: a bad value is a 4xx error page naming the field; nothing is written."""
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        fields = {name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()}
        raise Invalid(_l("Please correct the marked fields."), fields)


def _back(patient_id: int):
    return redirect(url_for("patients.detail", patient_id=patient_id, _anchor="supervision"))


# ---------------------------------------------------------------------------------------------------------
# Barriers and actions


@bp.route("/patients/<id:patient_id>/barriers", methods=["POST"])
@require_permission("manage_barriers")
def add_barrier(patient_id: int):
    form = BarrierForm()
    _validate(form)
    ops.add_barrier(current_actor(), patient_id, code=form.code.data, note=form.note.data or "")
    db.session.commit()
    flash(_("Barrier added."), "success")
    return _back(patient_id)


@bp.route("/barriers/<id:barrier_id>/resolve", methods=["POST"])
@require_permission("manage_barriers")
def resolve_barrier(barrier_id: int):
    form = TeachBackForm()  # only its CSRF token is used
    _validate(form)
    barrier = ops.resolve_barrier(current_actor(), barrier_id)
    db.session.commit()
    flash(_("Barrier marked as resolved."), "success")
    return _back(barrier.patient_id)


def _owner_choices(practice_id: int) -> list[tuple[str, str]]:
    staff = db.session.execute(
        sa.select(User).where(User.practice_id == practice_id, User.active.is_(True)).order_by(User.name)
    ).scalars()
    return [SelectChoice("", _("nobody yet"))] + [SelectChoice(str(user.id), user.name) for user in staff]


@bp.route("/barriers/<id:barrier_id>/actions", methods=["POST"])
@require_permission("manage_barriers")
def add_action(barrier_id: int):
    actor = current_actor()
    barrier = get_scoped(Barrier, barrier_id, actor.practice_id)
    form = ActionForm()
    form.code.choices = [SelectChoice(code, label) for code, label in barrier_actions(barrier.code)] + [
        SelectChoice(CUSTOM_ACTION, _("Other"))
    ]
    form.owner_id.choices = _owner_choices(actor.practice_id)
    _validate(form)
    owner = form.owner_id.data or ""
    ops.add_action(
        actor,
        barrier.id,
        code=form.code.data,
        text=form.text.data or "",
        owner_id=int(owner) if owner.isascii() and owner.isdigit() and len(owner) < 19 else owner or None,
        due_on=form.due_on.data,
    )
    db.session.commit()
    flash(_("Action added."), "success")
    return _back(barrier.patient_id)


@bp.route("/barrier-actions/<id:action_id>", methods=["POST"])
def update_action(action_id: int):
    actor = current_actor()
    form = ActionUpdateForm()
    _validate(form)
    action = ops.update_action(actor, action_id, status=form.status.data, outcome=form.outcome.data or "")
    db.session.commit()
    flash(_("Action updated."), "success")
    if request.form.get("next") == "dashboard":
        return redirect(url_for("core.dashboard"))
    return _back(action.barrier.patient_id)


# ---------------------------------------------------------------------------------------------------------
# Education for a patient


@bp.route("/patients/<id:patient_id>/education", methods=["POST"])
@require_permission("manage_education")
def assign_education(patient_id: int):
    form = TeachBackForm()  # CSRF only; the item comes as item_id
    _validate(form)
    raw = request.form.get("item_id", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Invalid(_l("Please correct the marked fields."), {"item_id": _("Choose an education item.")})
    education.assign_item(current_actor(), patient_id, int(raw))
    db.session.commit()
    flash(_("Education item assigned."), "success")
    return _back(patient_id)


@bp.route("/education-assignments/<id:assignment_id>/teach-back", methods=["POST"])
@require_permission("manage_education")
def teach_back(assignment_id: int):
    form = TeachBackForm()
    _validate(form)
    assignment = education.confirm_teach_back(current_actor(), assignment_id, form.note.data or "")
    db.session.commit()
    flash(_("Teach-back recorded."), "success")
    return _back(assignment.patient_id)


# ---------------------------------------------------------------------------------------------------------
# Patient page section and dashboard panels


def patient_section(actor: Actor, patient: Patient) -> dict | None:
    if not ops.allowed(actor, "view_levels"):
        return None
    decision = ops.current_decision(patient.id)
    section = {
        "template": "supervision/_patient_section.html",
        "level": decision.final_level if decision else None,
        "decision": decision,
        "history": ops.decision_history(patient.id),
        "full": ops.allowed(actor, "view_assessments"),
    }
    audit(actor, "view", patient_id=patient.id, object_type="supervision", detail="patient page")
    if not section["full"]:
        return section
    timeline = ops.timeline(patient.id)
    latest = timeline.assessments[-1] if timeline.assessments else None
    can_education = ops.allowed(actor, "manage_education")
    section.update(
        latest=latest,
        timeline=timeline,
        safety_tasks=db.session.execute(
            sa.select(SafetyTask)
            .where(SafetyTask.patient_id == patient.id, SafetyTask.status == "open")
            .order_by(SafetyTask.id)
        )
        .scalars()
        .all(),
        barriers=ops.patient_barriers(patient.id),
        assignments=education.patient_assignments(patient.id),
        proposals=education.propose_items(actor, patient.id) if can_education else [],
        owners=_owner_choices(actor.practice_id),
        barrier_form=BarrierForm(formdata=None),
        can_assess=ops.allowed(actor, "assess_patients"),
        can_manage=ops.allowed(actor, "manage_barriers"),
        can_education=can_education,
        can_review=ops.allowed(actor, "review_safety"),
        custom_action=CUSTOM_ACTION,
    )
    return section


def urgent_panel(actor: Actor) -> dict | None:
    if not ops.allowed(actor, "review_safety"):
        return None
    tasks = ops.open_safety_tasks(actor)
    if not tasks:
        return None
    audit(actor, "list", patient_id=None, object_type="safety_task", detail=f"dashboard n={len(tasks)}")
    patients = {
        p.id: p
        for p in db.session.execute(
            sa.select(Patient).where(Patient.id.in_({task.patient_id for task in tasks}))
        ).scalars()
    }
    return {"template": "supervision/_dashboard_urgent.html", "urgent": True, "tasks": tasks, "patients": patients}


def tasks_panel(actor: Actor) -> dict | None:
    actions = ops.my_open_actions(actor)
    due = ops.reassessments_due(actor) if ops.allowed(actor, "view_levels") else []
    if actions or due:
        audit(
            actor,
            "list",
            patient_id=None,
            object_type="supervision",
            detail=f"dashboard actions={len(actions)} due={len(due)}",
        )
    patients = (
        {
            p.id: p
            for p in db.session.execute(
                sa.select(Patient).where(Patient.id.in_({action.barrier.patient_id for action in actions}))
            ).scalars()
        }
        if actions
        else {}
    )
    return {
        "template": "supervision/_dashboard_tasks.html",
        "urgent": False,
        "actions": actions,
        "patients": patients,
        "due": due[:10],
        "today": ops.practice_today(actor.practice_id),
        "due_total": len(due),
        "update_form": ActionUpdateForm(formdata=None),
    }


@bp.route("/reassessments")
@require_permission("view_levels")
def reassessments():
    actor = current_actor()
    due = ops.reassessments_due(actor)
    audit(actor, "list", patient_id=None, object_type="assessment", detail=f"reassessments due n={len(due)}")
    db.session.commit()
    return render_template("supervision/reassessments.html", due=due)


# ---------------------------------------------------------------------------------------------------------
# Practice settings: supervision ratios


@bp.route("/settings/supervision", methods=["GET", "POST"])
@require_permission("manage_supervision_settings")
def settings():
    actor = current_actor()
    ratios = ops.supervision_ratios(actor.practice_id)
    form = RatiosForm(data={f"ratio_{level}": ratio for level, ratio in ratios.items()})
    for level in LEVELS:
        getattr(form, f"ratio_{level}").label.text = _(
            "Level %(n)d · %(name)s: patients per supervisor", n=level, name=level_name(level)
        )
    if form.validate_on_submit():
        try:
            ops.update_ratios(actor, {level: getattr(form, f"ratio_{level}").data for level in LEVELS})
        except DomainError as exc:
            db.session.rollback()
            for name, message in exc.fields.items():
                getattr(form, name).errors = [*getattr(form, name).errors, message]
        else:
            db.session.commit()
            flash(_("Supervision ratios saved."), "success")
            return redirect(url_for("supervision.settings"))
    status = 422 if form.errors else 200
    return render_template("supervision/settings.html", form=form), status
