"""JSON API of supervision: assessments (answers in, scores/proposal/reasons out) and level decisions."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_babel import get_locale

from accounts.auth import current_actor
from core.access import require_permission
from core.api import PageArgs, PageSchema, StrictSchema, api_blueprint, page_of
from extensions import db
from supervision import operations as ops
from supervision.definitions import INSTRUMENTS, LEVELS
from supervision.models import ASSESSMENT_KINDS

blp = api_blueprint(
    "Supervision",
    __name__,
    "Assessments with scores and the proposed supervision level with its reasons (CLINICAL.md), and the "
    "therapist's confirmation or override.",
)

LEVEL_RANGE = ma.validate.Range(min=min(LEVELS), max=max(LEVELS))


def _lang() -> str:
    return "nl" if str(get_locale() or "nl") == "nl" else "en"


# ---------------------------------------------------------------------------------------------------------
# Answers: one field per instrument, built from the instrument definitions


class PsfsRowSchema(StrictSchema):
    activity = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=ops.ACTIVITY_MAX),
        metadata={"description": "An activity the patient finds hard because of the pain: their goal."},
    )
    score = ma.fields.Integer(
        required=True,
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=10),
        metadata={"description": "0 = cannot do it at all … 10 = as well as before the pain; null = not scored."},
    )


def _answer_field(code: str) -> ma.fields.Field:
    instrument = INSTRUMENTS[code]
    description = f"{instrument.name.en}. null or absent = not answered."
    if code == "PSFS":
        return ma.fields.List(
            ma.fields.Nested(PsfsRowSchema),
            allow_none=True,
            validate=ma.validate.Length(min=instrument.min_items, max=instrument.item_count),
            metadata={"description": f"{description} 1–{instrument.item_count} activities."},
        )
    if instrument.answer == "number":
        low, high = instrument.item_ranges[0]
        return ma.fields.Integer(
            strict=True,
            allow_none=True,
            validate=ma.validate.Range(min=low, max=high),
            metadata={"description": description},
        )
    if instrument.answer == "items":
        ranges = set(instrument.item_ranges)
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        per_item = (
            ", ".join(
                f"item {instrument.first_item + n}: {lo}–{hi}" for n, (lo, hi) in enumerate(instrument.item_ranges)
            )
            if len(ranges) > 1
            else f"each {low}–{high}"
        )
        return ma.fields.List(
            ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=low, max=high)),
            allow_none=True,
            validate=ma.validate.Length(equal=instrument.item_count),
            metadata={
                "description": f"{description} {instrument.item_count} answers ({per_item}); a null item is "
                "missing and the total is then not computed (never counted as 0)."
            },
        )
    if instrument.answer == "choice":
        return ma.fields.String(
            allow_none=True, validate=ma.validate.OneOf(instrument.choices), metadata={"description": description}
        )
    return ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(instrument.choices)),
        allow_none=True,
        metadata={"description": f"{description} Ticked codes."},
    )


AnswersSchema = StrictSchema.from_dict({code: _answer_field(code) for code in INSTRUMENTS}, name="Answers")


class AssessmentInSchema(StrictSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(ASSESSMENT_KINDS))
    answers = ma.fields.Nested(AnswersSchema, required=True)


# ---------------------------------------------------------------------------------------------------------
# Results


class ScoreSchema(ma.Schema):
    total = ma.fields.Integer(allow_none=True, metadata={"description": "null when an item is missing"})
    band = ma.fields.String(allow_none=True)
    explanation = ma.fields.String(metadata={"description": "How the score was computed, in the reader's language."})
    items = ma.fields.List(ma.fields.Integer(allow_none=True))
    codes = ma.fields.List(ma.fields.String())
    psychosocial = ma.fields.Integer(allow_none=True, metadata={"description": "SBST psychosocial subscale"})
    item9 = ma.fields.Integer(allow_none=True, metadata={"description": "PHQ-9 item 9 (safety question)"})
    mean = ma.fields.Float(allow_none=True, metadata={"description": "PSFS mean"})


class ReasonSchema(ma.Schema):
    code = ma.fields.String(required=True)
    level = ma.fields.Integer(allow_none=True, metadata={"description": "null for a safety gate"})
    text = ma.fields.String(required=True)


class SuggestionSchema(ma.Schema):
    direction = ma.fields.String(allow_none=True, metadata={"description": "up, down or null (no change)"})
    previous_assessment_id = ma.fields.Integer()
    attendance_rate = ma.fields.Float(
        allow_none=True, metadata={"description": "Not available yet (needs group sessions): always null for now."}
    )
    reasons = ma.fields.List(ma.fields.Nested(ReasonSchema))


class AssessmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    patient_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    taken_at = ma.fields.AwareDateTime(required=True)
    source = ma.fields.String(required=True)
    entered_by_id = ma.fields.Integer(allow_none=True)
    reviewed_by_id = ma.fields.Integer(allow_none=True)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)
    answers = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw())
    scores = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ScoreSchema))
    proposed_level = ma.fields.Integer(allow_none=True, metadata={"description": "null when a safety gate fired"})
    safety_flags = ma.fields.List(ma.fields.String())
    reasons = ma.fields.List(ma.fields.Nested(ReasonSchema))
    missing = ma.fields.List(ma.fields.String())
    suggestion = ma.fields.Nested(SuggestionSchema, allow_none=True)


class AssessmentPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(AssessmentSchema), required=True)


def _reason(reason: dict, lang: str) -> dict:
    return {"code": reason["code"], "level": reason["level"], "text": reason[f"text_{lang}"]}


def assessment_json(assessment) -> dict:
    lang = _lang()
    suggestion = assessment.suggestion
    return {
        "id": assessment.id,
        "patient_id": assessment.patient_id,
        "kind": assessment.kind,
        "taken_at": assessment.taken_at,
        "source": assessment.source,
        "entered_by_id": assessment.entered_by_id,
        "reviewed_by_id": assessment.reviewed_by_id,
        "reviewed_at": assessment.reviewed_at,
        "answers": assessment.answers,
        "scores": {
            code: {
                **{k: v for k, v in score.items() if not k.startswith("explanation_")},
                "explanation": score[f"explanation_{lang}"],
            }
            for code, score in assessment.scores.items()
        },
        "proposed_level": assessment.proposed_level,
        "safety_flags": assessment.safety_flags,
        "reasons": [_reason(reason, lang) for reason in assessment.reasons],
        "missing": assessment.missing,
        "suggestion": None
        if suggestion is None
        else {**suggestion, "reasons": [_reason(reason, lang) for reason in suggestion["reasons"]]},
    }


@blp.route("/patients/<id:patient_id>/assessments")
class Assessments(MethodView):
    @require_permission("view_assessments")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AssessmentPageSchema)
    def get(self, args, patient_id: int):
        """The patient's assessments, newest first (therapists and admins)."""
        rows, total = ops.list_assessments(current_actor(), patient_id, page=args["page"], per_page=args["per_page"])
        db.session.commit()
        return page_of([assessment_json(row) for row in rows], total, args["page"], args["per_page"])

    @require_permission("assess_patients")
    @blp.arguments(AssessmentInSchema)
    @blp.response(201, AssessmentSchema)
    def post(self, data, patient_id: int):
        """Enter an assessment: answers per instrument, any subset.

        Returns every score with how it was computed, the proposed level 1–4 (null when a safety gate fired:
        PHQ-9 item 9 > 0 or a red flag; an urgent clinician review task is then raised), every reason that
        fired and the instruments still missing. Invalid answers: 422 naming the instrument, nothing stored.
        """
        assessment = ops.create_assessment(current_actor(), patient_id, kind=data["kind"], answers=data["answers"])
        db.session.commit()
        return assessment_json(assessment)


@blp.route("/assessments/<id:assessment_id>")
class AssessmentItem(MethodView):
    @require_permission("view_assessments")
    @blp.response(200, AssessmentSchema)
    def get(self, assessment_id: int):
        """One assessment."""
        assessment = ops.get_assessment(current_actor(), assessment_id)
        db.session.commit()
        return assessment_json(assessment)


# ---------------------------------------------------------------------------------------------------------
# Level decisions


class DecisionInSchema(StrictSchema):
    level = ma.fields.Integer(required=True, strict=True, validate=LEVEL_RANGE)
    reason = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=ops.REASON_MAX),
        metadata={"description": "Optional to confirm the proposed level; required for an override."},
    )


class DecisionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    assessment_id = ma.fields.Integer(required=True)
    proposed_level = ma.fields.Integer(allow_none=True)
    final_level = ma.fields.Integer(required=True)
    is_override = ma.fields.Boolean(required=True)
    reason = ma.fields.String(
        metadata={"description": "Empty for assistants: an override reason can hold clinical detail."}
    )
    decided_by_id = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.AwareDateTime(required=True)


class LevelSchema(ma.Schema):
    level = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "The confirmed level; null when not set (no decision on the latest assessment)."},
    )
    proposed_level = ma.fields.Integer(allow_none=True, metadata={"description": "Of the latest assessment."})
    latest_assessment_id = ma.fields.Integer(allow_none=True)
    decisions = ma.fields.List(ma.fields.Nested(DecisionSchema), metadata={"description": "Newest first."})


def _decision(decision, with_reason: bool) -> dict:
    fields = ("id", "assessment_id", "proposed_level", "final_level", "is_override", "decided_by_id", "decided_at")
    return {**{name: getattr(decision, name) for name in fields}, "reason": decision.reason if with_reason else ""}


@blp.route("/patients/<id:patient_id>/supervision")
class Supervision(MethodView):
    @require_permission("view_levels")
    @blp.response(200, LevelSchema)
    def get(self, patient_id: int):
        """The patient's confirmed supervision level and the history of decisions (all staff)."""
        actor = current_actor()
        overview = ops.level_overview(actor, patient_id)
        db.session.commit()
        clinical = ops.allowed(actor, "view_assessments")
        return {
            "level": overview.level,
            "proposed_level": overview.latest.proposed_level if overview.latest else None,
            "latest_assessment_id": overview.latest.id if overview.latest else None,
            "decisions": [_decision(decision, clinical) for decision in overview.history],
        }

    @require_permission("decide_levels")
    @blp.arguments(DecisionInSchema)
    @blp.response(201, DecisionSchema)
    def post(self, data, patient_id: int):
        """Decide the level on the latest assessment: the proposed level confirms (reason optional); any other
        level is an override and needs a reason (422 without). 409 when the patient has no assessment yet."""
        decision = ops.decide_level(current_actor(), patient_id, level=data["level"], reason=data["reason"])
        db.session.commit()
        return decision


class StaffingSchema(ma.Schema):
    required = ma.fields.Integer(
        required=True, metadata={"description": "ceil(Σ 1/ratio(level)) over expected patients"}
    )
    assigned = ma.fields.Integer(required=True, metadata={"description": "supervisors assigned to the session"})
    understaffed = ma.fields.Boolean(required=True)
    patients_by_level = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    level_not_set = ma.fields.Integer(
        required=True, metadata={"description": "patients without a confirmed level, counted as level 2"}
    )
    individual_start = ma.fields.List(ma.fields.Integer(), metadata={"description": "ids of level-4 patients"})


@blp.route("/sessions/<id:session_id>/staffing")
class SessionStaffing(MethodView):
    @blp.response(200, StaffingSchema)
    def get(self, session_id: int):
        """Supervisors required for a session from its patients' levels and the practice's ratios, vs assigned."""
        from supervision.staffing import session_staffing

        return session_staffing(current_actor(), session_id)
