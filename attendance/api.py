"""JSON API for roll-call, follow-ups and the compliance report."""

from __future__ import annotations

from datetime import date, timedelta

import marshmallow as ma
from flask import Response
from flask.views import MethodView

from accounts.auth import current_actor
from attendance import operations, reports, rules
from attendance.views import report_for
from core.api import PageArgs, PageSchema, StrictSchema, api_blueprint, page_of
from core.db import MAX_ID
from extensions import db
from groups.rules import WITHDRAWAL_REASONS
from supervision.definitions import ABSENCE_REASON_CODES, BARRIERS

blp = api_blueprint(
    "Attendance",
    __name__,
    "Roll-call per session, follow-up tasks for patients slipping away, and compliance reports.",
)


def _id(**kwargs):
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


class RecordSchema(StrictSchema):
    patient_id = _id(required=True)
    status = ma.fields.String(
        required=True,
        allow_none=True,
        validate=ma.validate.OneOf(rules.STATUSES),
        metadata={"description": "present, late (counts as attended), excused, absent; null where not recorded."},
    )
    reason = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(ABSENCE_REASON_CODES),
        metadata={"description": "Absence reason code (excused/absent), mapped to a barrier."},
    )
    note = ma.fields.String(validate=ma.validate.Length(max=operations.NOTE_MAX))
    guest = ma.fields.Boolean(metadata={"description": "A make-up patient from another group of the programme."})


class RecordInSchema(RecordSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(rules.STATUSES))


class SheetSchema(ma.Schema):
    session_id = ma.fields.Integer(required=True)
    records = ma.fields.List(ma.fields.Nested(RecordSchema), required=True)


class SheetInSchema(StrictSchema):
    records = ma.fields.List(
        ma.fields.Nested(RecordInSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=operations.MAX_RECORDS),
    )


@blp.route("/sessions/<id:session_id>/attendance")
class Attendance(MethodView):
    @blp.response(200, SheetSchema)
    def get(self, session_id: int):
        """The roll-call of a session: every expected patient (make-up guests included), status null where not
        recorded yet."""
        session, records = operations.attendance_sheet(current_actor(), session_id)
        db.session.commit()  # the read is audit-logged
        return {"session_id": session.id, "records": records}

    @blp.arguments(SheetInSchema)
    @blp.response(200, SheetSchema)
    def put(self, data, session_id: int):
        """Record or correct the listed patients (others stay as they are). Validated as a whole: one bad record
        and nothing is written. Idempotent; the last change per patient wins. A session that has not started
        can only get excused records."""
        actor = current_actor()
        operations.record_attendance(actor, session_id, data["records"])
        session, records = operations.attendance_sheet(actor, session_id)
        db.session.commit()
        return {"session_id": session.id, "records": records}


# --- follow-ups --------------------------------------------------------------------------------------------------


class BarrierSchema(ma.Schema):
    code = ma.fields.String(required=True)
    actions = ma.fields.List(ma.fields.String(), required=True)


class FollowUpSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    patient_id = ma.fields.Integer(required=True)
    patient_name = ma.fields.Function(lambda f: f.patient.name)
    enrolment_id = ma.fields.Integer(allow_none=True)
    group_id = ma.fields.Function(lambda f: f.enrolment.group_id if f.enrolment else None, allow_none=True)
    trigger = ma.fields.String(required=True, metadata={"description": f"One of {', '.join(rules.TRIGGERS)}."})
    triggers = ma.fields.Function(lambda f: f.detail.split(",") if f.detail else [f.trigger])
    opened_at = ma.fields.AwareDateTime(required=True)
    assigned_to_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(required=True)
    outcome = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    note = ma.fields.String()
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    barriers = ma.fields.Function(
        lambda f: [{"code": c, "actions": a} for c, a in operations.suggested_actions(f.patient_id)],
        metadata={"description": "The patient's open barriers with suggested actions."},
    )


class FollowUpPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(FollowUpSchema), required=True)


class FollowUpArgs(PageArgs):
    status = ma.fields.String(load_default="open", validate=ma.validate.OneOf(("open", "closed", "all")))
    mine = ma.fields.Boolean(load_default=False)


class CloseSchema(StrictSchema):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(rules.FOLLOW_UP_OUTCOMES))
    note = ma.fields.String(validate=ma.validate.Length(max=operations.FOLLOW_UP_NOTE_MAX))
    reason = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(sorted(set(BARRIERS) | set(WITHDRAWAL_REASONS))),
        metadata={"description": "BARRIER_RECORDED: the barrier code; WITHDRAWN: the withdrawal reason."},
    )


@blp.route("/follow-ups")
class FollowUps(MethodView):
    @blp.arguments(FollowUpArgs, location="query")
    @blp.response(200, FollowUpPageSchema)
    def get(self, args):
        """Follow-up tasks (open ones by default)."""
        status = None if args["status"] == "all" else args["status"]
        rows, total = operations.list_follow_ups(
            current_actor(), status=status, mine=args["mine"], page=args["page"], per_page=args["per_page"]
        )
        db.session.commit()
        return page_of(rows, total, args["page"], args["per_page"])


@blp.route("/follow-ups/<id:follow_up_id>")
class FollowUpItem(MethodView):
    @blp.response(200, FollowUpSchema)
    def get(self, follow_up_id: int):
        """One follow-up task with the patient's barriers and suggested actions."""
        follow_up = operations.get_follow_up(current_actor(), follow_up_id)
        db.session.commit()
        return follow_up

    @blp.arguments(CloseSchema)
    @blp.response(200, FollowUpSchema)
    def patch(self, data, follow_up_id: int):
        """Close with a coded outcome. BARRIER_RECORDED adds the barrier in supervision; WITHDRAWN withdraws the
        enrolment with the reason."""
        follow_up = operations.close_follow_up(
            current_actor(), follow_up_id, outcome=data["outcome"], note=data.get("note", ""), reason=data.get("reason")
        )
        db.session.commit()
        return follow_up


# --- compliance report -------------------------------------------------------------------------------------------


class ReportArgs(StrictSchema):
    group_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))
    programme_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))
    from_ = ma.fields.Date(data_key="from", metadata={"description": "YYYY-MM-DD, default 90 days before `to`."})
    to = ma.fields.Date(metadata={"description": "YYYY-MM-DD, default today."})
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv")))

    @ma.validates_schema
    def range_ok(self, data, **kwargs):
        start, end = data.get("from_"), data.get("to")
        if start and end and start > end:
            raise ma.ValidationError("`from` must not be after `to`.", "from")
        if start and end and end - start > timedelta(days=3 * 366):
            raise ma.ValidationError("Choose a range of at most three years.", "to")


class PatientFiguresSchema(ma.Schema):
    patient_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    enrolment_id = ma.fields.Integer(required=True)
    group_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"description": "Enrolment status."})
    scheduled = ma.fields.Integer(required=True, metadata={"description": "Held sessions with a roll-call."})
    attended = ma.fields.Integer(required=True, metadata={"description": "Present or late, make-ups included."})
    makeups = ma.fields.Integer(required=True)
    excused = ma.fields.Integer(required=True)
    absent = ma.fields.Integer(required=True)
    rate = ma.fields.Float(
        required=True, allow_none=True, metadata={"description": "attended / (scheduled − excused)."}
    )
    consecutive_absences = ma.fields.Integer(required=True)
    days_since_last = ma.fields.Integer(required=True, allow_none=True)
    early_miss = ma.fields.Boolean(required=True)
    completion = ma.fields.String(required=True, metadata={"description": "reached, reachable or unreachable."})


class GroupFiguresSchema(ma.Schema):
    patients = ma.fields.Integer()
    completion_reached = ma.fields.Integer()
    completion_rate = ma.fields.Float(allow_none=True)
    unreachable = ma.fields.Integer()
    mean_rate = ma.fields.Float(allow_none=True)
    below_threshold = ma.fields.Integer()
    dropouts = ma.fields.Integer()
    dropouts_after_session = ma.fields.List(ma.fields.List(ma.fields.Integer()))
    dropout_curve = ma.fields.List(ma.fields.List(ma.fields.Integer()))
    dropout_reasons = ma.fields.List(ma.fields.Dict())
    staffing = ma.fields.List(ma.fields.Dict())
    outcomes = ma.fields.List(ma.fields.Dict())


class ComplianceSchema(ma.Schema):
    group_id = ma.fields.Integer(allow_none=True)
    programme_id = ma.fields.Integer(allow_none=True)
    from_ = ma.fields.Date(data_key="from", required=True)
    to = ma.fields.Date(required=True)
    threshold = ma.fields.Integer(allow_none=True)
    patients = ma.fields.List(ma.fields.Nested(PatientFiguresSchema), required=True)
    group = ma.fields.Nested(GroupFiguresSchema, required=True)


@blp.route("/reports/compliance")
class Compliance(MethodView):
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, ComplianceSchema)
    @blp.doc(
        responses={
            "200": {
                "description": "The report as JSON, or with format=csv the patients table as CSV.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Compliance"}},
                    "text/csv": {
                        "schema": {"type": "string", "description": "format=csv: the patients table, UTF-8 with BOM"}
                    },
                },
            }
        }
    )
    def get(self, args):
        """Adherence per patient and group figures over a date range (one group, one programme or the practice).
        `format=csv` returns the patients table as comma-separated UTF-8 (with a byte-order mark) and a header."""
        actor = current_actor()
        report = report_for(
            actor,
            group_id=args.get("group_id"),
            programme_id=args.get("programme_id"),
            start=args.get("from_"),
            end=args.get("to"),
        )
        db.session.commit()  # the report is audit-logged
        if args["format"] == "csv":
            return _csv_response(reports.patients_csv(report), report)
        summary = dict(report.summary)
        summary["staffing"] = [
            {**row, "starts_at": row["starts_at"].isoformat()} for row in summary.get("staffing", [])
        ]
        return {
            "group_id": report.group.id if report.group else None,
            "programme_id": report.programme.id if report.programme else None,
            "from_": report.start,
            "to": report.end,
            "threshold": report.threshold,
            "patients": report.patients,
            "group": summary,
        }


def _csv_response(text: str, report: reports.Report, table: str = "patients") -> Response:
    name = f"compliance-{table}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "text/csv; charset=utf-8"},
    )


def default_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    end = end or today
    return start or end - timedelta(days=90), end
