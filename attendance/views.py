"""Attendance pages: the tablet roll-call, follow-up tasks, compliance reports (HTML with SVG charts, CSV) and the
one-page patient summary for the GP; dashboard panels and the patient-page section. Thin: every change goes
through `attendance.operations` and commits once. Works without JavaScript: each tap is a small form POST."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from accounts.auth import current_actor
from accounts.models import Practice
from accounts.operations import audit
from attendance import charts, operations, reports, rules
from core.access import get_scoped, require_permission
from core.actor import Actor
from core.db import utcnow
from core.errors import DomainError, Invalid
from core.views import add_dashboard_panel
from extensions import db
from groups.models import Group, Programme, Session
from groups.rules import WITHDRAWAL_REASONS
from patients.models import Patient
from patients.views import add_patient_section
from supervision.definitions import ABSENCE_REASON_CODES, ABSENCE_REASONS, BARRIERS

bp = Blueprint("attendance", __name__, url_prefix="/attendance")

#: The longest period a report covers (a typo like 0179 must not scan everything).
MAX_RANGE_DAYS = 3 * 366


def init_app(app: Flask) -> None:
    add_dashboard_panel(app, today_panel)
    add_patient_section(app, patient_section)


def _lang() -> str:
    from supervision.forms import lang

    return lang()


STATUS_LABELS = {
    "present": lambda: _("Present"),
    "late": lambda: _("Late"),
    "excused": lambda: _("Excused"),
    "absent": lambda: _("Absent"),
}
TRIGGER_LABELS = {
    "CONSECUTIVE_ABSENCES": lambda: _("2 absences in a row without notice"),
    "EARLY_ABSENCE": lambda: _("Absent without notice in the first 2 weeks"),
    "LOW_RATE": lambda: _("Attendance below the threshold after 4 or more sessions"),
    "COMPLETION_UNREACHABLE": lambda: _("Completion no longer reachable"),
    "NO_ATTENDANCE": lambda: _("14 days without attending while enrolled"),
}
OUTCOME_LABELS = {
    "BARRIER_RECORDED": lambda: _("Reached: barrier recorded"),
    "MAKEUP_PLANNED": lambda: _("Make-up planned"),
    "RESCHEDULED": lambda: _("Rescheduled"),
    "WITHDRAWN": lambda: _("Withdrawn with reason"),
    "UNREACHABLE": lambda: _("Unreachable"),
}
COMPLETION_LABELS = {
    "reached": lambda: _("reached"),
    "reachable": lambda: _("reachable"),
    "unreachable": lambda: _("no longer reachable"),
}
FLAG_LABELS = {
    "INDIVIDUAL_START": lambda: _("individual start"),
    "LEVEL_NOT_SET": lambda: _("level not set"),
    "LOW_HEALTH_LITERACY": lambda: _("plain language"),
    "SAFETY_FLAG": lambda: _("safety: clinician review"),
}


def _label(table: dict, code: str | None) -> str:
    return table[code]() if code in table else (code or "")


@bp.app_template_filter("attendance_status")
def status_label(code: str | None) -> str:
    return _label(STATUS_LABELS, code) if code else _("not recorded")


@bp.app_template_filter("absence_reason")
def absence_reason(code: str | None) -> str:
    return ABSENCE_REASONS[code].label.get(_lang()) if code in ABSENCE_REASONS else ""


@bp.app_template_filter("trigger_label")
def trigger_label(code: str) -> str:
    return _label(TRIGGER_LABELS, code)


@bp.app_template_filter("outcome_label")
def outcome_label(code: str | None) -> str:
    return _label(OUTCOME_LABELS, code)


@bp.app_template_filter("completion_label")
def completion_label(code: str) -> str:
    return _label(COMPLETION_LABELS, code)


@bp.app_template_filter("flag_label")
def flag_label(code: str) -> str:
    return _label(FLAG_LABELS, code)


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _reasons() -> list[tuple[str, str]]:
    return [(code, absence_reason(code)) for code in ABSENCE_REASON_CODES]


# --- roll-call -----------------------------------------------------------------------------------------------


@bp.route("/sessions/<id:session_id>")
@require_permission("record_attendance")
def roll_call(session_id: int):
    call = operations.roll_call(current_actor(), session_id)
    # Render before the commit (which expires every loaded row): the page then needs no query per patient.
    html = render_template("attendance/roll_call.html", call=call, statuses=rules.STATUSES, reasons=_reasons())
    db.session.commit()  # the roster read is audit-logged
    return html


def _back(session_id: int, anchor: str | None = None):
    return redirect(url_for("attendance.roll_call", session_id=session_id, _anchor=anchor))


@bp.route("/sessions/<id:session_id>", methods=["POST"])
@require_permission("record_attendance")
def save(session_id: int):
    """One patient per tap (the row's form), or every row at once ("save all" sends status-<id> fields)."""
    form = request.form
    records = []
    if form.get("patient_id"):
        try:
            patient_id = int(form["patient_id"])
        except ValueError:
            abort(400)
        records.append(
            {
                "patient_id": patient_id,
                "status": form.get("status") or None,
                "reason": form.get("reason") or None,
                "note": form.get("note", ""),
                "guest": form.get("guest") == "1",
            }
        )
    try:
        if form.get("action") == "all_present":
            operations.mark_all_present(current_actor(), session_id)
            flash(_("Everyone not yet recorded is marked present."), "success")
        elif records:
            operations.record_attendance(current_actor(), session_id, records)
        else:
            raise Invalid(_("Choose a patient and a status."))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        detail = " ".join(dict.fromkeys(exc.fields.values())) if exc.fields else ""
        flash(f"{exc.message} {detail}".strip(), "error")
        return _back(session_id)
    return _back(session_id, f"p{records[0]['patient_id']}" if records else None)


# --- follow-ups ----------------------------------------------------------------------------------------------


@bp.route("/follow-ups")
@require_permission("manage_follow_ups")
def follow_ups():
    status = request.args.get("status", "open")
    if status not in ("open", "closed"):
        status = "open"
    mine = request.args.get("mine") == "1"
    rows, total = operations.list_follow_ups(current_actor(), status=status, mine=mine, per_page=200)
    barriers = {
        row.patient_id: [
            (code, [a.text.get(_lang()) for a in BARRIERS[code].actions if a.code in actions])
            for code, actions in operations.suggested_actions(row.patient_id)
        ]
        for row in rows
    }
    db.session.commit()
    return render_template(
        "attendance/follow_ups.html",
        rows=rows,
        total=total,
        status=status,
        mine=mine,
        barriers=barriers,
        outcomes=rules.FOLLOW_UP_OUTCOMES,
        barrier_codes=list(BARRIERS),
        withdrawal_reasons=list(WITHDRAWAL_REASONS),
    )


@bp.route("/follow-ups/<id:follow_up_id>", methods=["POST"])
@require_permission("manage_follow_ups")
def close_follow_up(follow_up_id: int):
    outcome = request.form.get("outcome")
    reason = None
    if outcome == "BARRIER_RECORDED":
        reason = request.form.get("barrier") or None
    elif outcome == "WITHDRAWN":
        reason = request.form.get("withdrawal_reason") or None
    try:
        operations.close_follow_up(
            current_actor(), follow_up_id, outcome=outcome, note=request.form.get("note", ""), reason=reason
        )
        db.session.commit()
        flash(_("Follow-up closed."), "success")
    except DomainError as exc:
        db.session.rollback()
        detail = " ".join(dict.fromkeys(exc.fields.values())) if exc.fields else ""
        flash(f"{exc.message} {detail}".strip(), "error")
    return redirect(url_for("attendance.follow_ups"))


@bp.route("/settings", methods=["POST"])
@require_permission("manage_practice")
def settings():
    operations.update_settings(current_actor(), missed_you_email=request.form.get("missed_you_email") == "1")
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("attendance.follow_ups"))


# --- reports -------------------------------------------------------------------------------------------------


def _today(practice_id: int) -> date:
    return datetime.now(ZoneInfo(db.session.get(Practice, practice_id).timezone)).date()


def report_for(
    actor: Actor,
    *,
    group_id=None,
    programme_id=None,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> reports.Report:
    operations.require(actor, "view_reports")
    group = get_scoped(Group, group_id, actor.practice_id) if group_id is not None else None
    programme = get_scoped(Programme, programme_id, actor.practice_id) if programme_id is not None else None
    end = end or _today(actor.practice_id)
    start = start or (group.start_date if group else end - timedelta(days=90))
    if start > end:
        raise Invalid(_("The start date must not be after the end date."), {"from": _("Not after the end date.")})
    if (end - start).days > MAX_RANGE_DAYS:
        raise Invalid(
            _("Choose a period of at most three years."), {"from": _("Choose a period of at most three years.")}
        )
    report = reports.compliance(actor.practice_id, start, end, now=now or utcnow(), group=group, programme=programme)
    audit(
        actor,
        "report",
        patient_id=None,
        object_type="compliance",
        object_id=group.id if group else None,
        detail=f"n={len(report.patients)} {start}..{end}",
    )
    return report


def _date_arg(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(_("Enter a date as YYYY-MM-DD."), {name: _("Enter a date as YYYY-MM-DD.")}) from None


def _id_arg(name: str) -> int | None:
    value = request.args.get(name)
    if not value:
        return None
    if not value.isdigit():
        raise Invalid(_("Not found."), {name: _("Not found.")})
    return int(value)


def _report_from_args() -> reports.Report:
    return report_for(
        current_actor(),
        group_id=_id_arg("group_id"),
        programme_id=_id_arg("programme_id"),
        start=_date_arg("from"),
        end=_date_arg("to"),
    )


def attendance_over_time(report: reports.Report) -> list[tuple[str, float | None]]:
    """Weekly attendance rate of the report's patients (attended / (recorded − excused)), from the records."""
    from sqlalchemy import func, select

    from attendance.models import AttendanceRecord

    ids = [p.enrolment_id for p in report.patients]
    if not ids:
        return []
    start_at, end_at = reports._bounds(report.practice_id, report.start, report.end)
    rows = db.session.execute(
        select(Session.starts_at, AttendanceRecord.status, func.count())
        .join(AttendanceRecord, AttendanceRecord.session_id == Session.id)
        .where(
            AttendanceRecord.enrolment_id.in_(ids[:5000]),
            Session.starts_at >= start_at,
            Session.starts_at < min(end_at, utcnow()),
            Session.status == "scheduled",
        )
        .group_by(Session.starts_at, AttendanceRecord.status)
    ).all()
    zone = ZoneInfo(db.session.get(Practice, report.practice_id).timezone)
    weeks: dict[date, list[int]] = {}
    for starts, status, count in rows:
        day = starts.astimezone(zone).date()
        week = weeks.setdefault(day - timedelta(days=day.weekday()), [0, 0])
        if status in rules.ATTENDED:
            week[0] += count
        if status != "excused":
            week[1] += count
    return [(week.strftime("%d-%m"), (a / d * 100) if d else None) for week, (a, d) in sorted(weeks.items())]


@bp.route("/reports")
@require_permission("view_reports")
def report():
    actor = current_actor()
    try:
        report = _report_from_args()
    except Invalid as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("attendance.report"))
    s = report.summary
    svg = {
        "over_time": charts.line_chart(
            _("Attendance per week"),
            attendance_over_time(report),
            x_label=_("Week starting"),
            y_label=_("Attendance %"),
            threshold=report.threshold,
            threshold_label=_("threshold %(n)d%%", n=report.threshold) if report.threshold else "",
            unit="%",
            empty=_("No roll-call in this period."),
        ),
        "dropout": charts.step_chart(
            _("Patients still enrolled after each session"),
            s["dropout_curve"],
            x_label=_("Session"),
            y_label=_("Patients"),
            empty=_("No patients."),
        ),
        "outcomes": charts.grouped_bars(
            _("NRS (pain) by supervision level: intake and latest reassessment"),
            [
                (
                    _("level %(n)s", n=row["level"]) if row["level"] else _("not set"),
                    row["NRS_before"],
                    row["NRS_after"],
                )
                for row in s["outcomes"]
            ],
            series=(_("intake"), _("latest")),
            x_label=_("Supervision level"),
            y_label=_("NRS 0–10"),
            empty=_("No assessments."),
        ),
    }
    db.session.commit()
    return render_template(
        "attendance/report.html",
        report=report,
        s=s,
        svg=svg,
        groups=db.session.execute(
            db.select(Group).where(Group.practice_id == actor.practice_id).order_by(Group.start_date.desc(), Group.name)
        ).scalars(),
        programmes=db.session.execute(
            db.select(Programme).where(Programme.practice_id == actor.practice_id).order_by(Programme.name)
        ).scalars(),
        args=request.args,
        tables=reports.CSV_TABLES,
        barrier_label=lambda code: BARRIERS[code].label.get(_lang()) if code in BARRIERS else "—",
    )


@bp.route("/reports.csv")
@require_permission("view_reports")
def report_csv():
    table = request.args.get("table", "patients")
    if table not in reports.CSV_TABLES:
        abort(404)
    report = _report_from_args()
    db.session.commit()
    name = f"compliance-{table}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
    return Response(
        reports.table_csv(report, table).encode("utf-8"),
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "text/csv; charset=utf-8"},
    )


# --- patient: section and the one-page summary for the GP ------------------------------------------------------


def _patient_summary(actor: Actor, patient: Patient) -> dict:
    from supervision import operations as supervision

    figures = operations.patient_adherence(actor, patient.id)
    follow_ups = list(
        db.session.execute(
            db.select(operations.FollowUp)
            .where(operations.FollowUp.patient_id == patient.id)
            .order_by(operations.FollowUp.opened_at.desc())
        ).scalars()
    )
    timeline = supervision.timeline(patient.id) if operations.allowed(actor, "view_assessments") else None
    decision = supervision.current_decision(patient.id)
    open_barriers = [b for b in supervision.patient_barriers(patient.id) if b.resolved_at is None]
    return {
        "figures": figures,
        "follow_ups": follow_ups,
        "timeline": timeline,
        "decision": decision,
        "barriers": open_barriers,
        "safety": db.session.execute(
            db.select(db.func.count())
            .select_from(operations.SafetyTask)
            .where(operations.SafetyTask.patient_id == patient.id, operations.SafetyTask.status == "open")
        ).scalar_one()
        if operations.allowed(actor, "review_safety")
        else None,
    }


def patient_section(actor: Actor, patient: Patient) -> dict | None:
    if not operations.allowed(actor, "record_attendance"):
        return None
    data = _patient_summary(actor, patient)
    if not data["figures"] and not data["follow_ups"]:
        return None
    audit(actor, "view", patient_id=patient.id, object_type="attendance", detail="patient page")
    return {"template": "attendance/_patient_section.html", **data}


@bp.route("/patients/<id:patient_id>/summary")
@require_permission("view_reports")
def patient_summary(patient_id: int):
    actor = current_actor()
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    data = _patient_summary(actor, patient)
    audit(actor, "view", patient_id=patient.id, object_type="attendance_summary", detail="GP summary")
    html = render_template("attendance/patient_summary.html", patient=patient, today=utcnow(), **data)
    db.session.commit()
    return html


# --- dashboard -----------------------------------------------------------------------------------------------


def today_panel(actor: Actor) -> dict | None:
    from reminders.operations import outbox_counts
    from supervision import operations as supervision

    if not operations.allowed(actor, "record_attendance"):
        return None
    zone = ZoneInfo(db.session.get(Practice, actor.practice_id).timezone)
    now = utcnow()
    today = now.astimezone(zone).date()
    start = datetime.combine(today, datetime.min.time(), zone)
    sessions = operations.sessions_between(actor, start, start + timedelta(days=1))
    upcoming = [s for s in operations.sessions_between(actor, now, now + timedelta(days=14)) if s.understaffed]
    clinical = operations.allowed(actor, "manage_follow_ups")
    follow_ups = operations.list_follow_ups(actor, status="open", per_page=10) if clinical else ([], 0)
    risk = operations.at_risk(actor, now, limit=10) if clinical else []
    due = supervision.reassessments_due(actor) if supervision.allowed(actor, "view_levels") else []
    failed = outbox_counts(actor.practice_id).get("failed", 0) if operations.allowed(actor, "manage_practice") else 0
    audit(actor, "list", patient_id=None, object_type="attendance", detail=f"dashboard at_risk={len(risk)}")
    return {
        "template": "attendance/_dashboard.html",
        "urgent": False,
        "sessions": sessions,
        "now": now,
        "understaffed": upcoming,
        "follow_ups": follow_ups[0],
        "follow_ups_total": follow_ups[1],
        "at_risk": risk,
        "due": len(due),
        "failed": failed,
        "clinical": clinical,
    }
