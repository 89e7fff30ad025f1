"""Calendar feeds (/feeds/<token>.ics), the patient portal (/p/<token>) and the staff pages for links.

Feeds and the portal are public endpoints that carry their own token; an unknown, revoked or malformed token
gets the same plain 404. Thin: every change goes through calendars.operations and commits once.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.http import http_date, parse_date

from accounts.auth import client_ip, current_actor
from accounts.forms import EmptyForm
from accounts.models import Practice
from accounts.operations import audit
from calendars import operations as ops
from core.access import can, public
from core.db import utcnow
from core.errors import DomainError
from core.views import safe_next
from extensions import db
from groups.views import add_session_section
from patients.models import Patient
from patients.views import add_patient_section
from reminders.operations import session_facts
from supervision import education
from supervision.definitions import ABSENCE_REASON_CODES, ABSENCE_REASONS
from supervision.models import EducationAssignment
from supervision.views import instrument_blocks

bp = Blueprint("calendars", __name__)

LARGE_COOKIE = "motio_large_text"


def init_app(app: Flask) -> None:
    from attendance.operations import register_known_absences

    add_patient_section(app, patient_section)
    add_session_section(app, session_section)
    # The roll-call shows "I can't come" from the portal as an excused absence known in advance.
    register_known_absences(ops.absences_told_in_advance)


# --- feeds ---------------------------------------------------------------------------------------------------


def _not_found():
    # The same bytes for every unknown, revoked or malformed link: nothing tells which it was (or echoes it).
    abort(Response("Not found.\n", status=404, content_type="text/plain; charset=utf-8"))


def _not_modified(data: ops.FeedData) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip() for tag in if_none_match.split(",")}
        return "*" in tags or data.etag in tags or f"W/{data.etag}" in tags
    since = parse_date(request.headers.get("If-Modified-Since"))
    return since is not None and data.last_modified <= since


@bp.route("/feeds/<token>.ics")
@public
def feed(token: str):
    row = ops.resolve(token, ops.FEED_KINDS)
    if row is None:
        _not_found()
    data = ops.feed_data(row, utcnow())
    headers = {
        "ETag": data.etag,
        "Last-Modified": http_date(data.last_modified),
        # Revalidate every time: the 304 is cheap, and a changed session must show up at the next poll.
        "Cache-Control": "no-cache",
    }
    if _not_modified(data):
        return Response(status=304, headers=headers)
    practice = db.session.get(Practice, row.practice_id)
    body = ops.build_feed_bytes(data, practice.address, row.kind)
    return Response(body, status=200, headers=headers, content_type="text/calendar; charset=utf-8")


# --- patient portal ------------------------------------------------------------------------------------------


def _portal_row(token: str):
    row = ops.resolve(token, ("portal",))
    if row is None:
        _not_found()
    return row


def _large_text() -> bool:
    choice = request.args.get("large")
    if choice in ("0", "1"):
        return choice == "1"
    return request.cookies.get(LARGE_COOKIE) == "1"


def _qr(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_data_uri(scale=5, border=2)


def _render_portal(token: str, row, patient: Patient, *, errors=None, values=None, status: int = 200):
    actor = ops.portal_actor(row, client_ip())
    now = utcnow()
    sessions = ops.upcoming_sessions(patient, now)
    notices = ops.notices_for(patient.id)
    practice = db.session.get(Practice, patient.practice_id)
    feed = ops.feed_links(ops.ensure_link(patient.practice_id, "patient", patient.id))
    assignments = education.patient_assignments(patient.id)
    questionnaires = ops.open_questionnaires(patient.id)
    audit(actor, "view", patient_id=patient.id, object_type="portal")
    db.session.commit()
    large = _large_text()
    with force_locale(patient.language):
        html = render_template(
            "calendars/portal.html",
            token=token,
            patient=patient,
            practice=practice,
            sessions=sessions,
            notices=notices,
            feed=feed,
            qr=_qr(feed.webcal_url),
            assignments=assignments,
            questionnaires=questionnaires,
            reasons=[(code, ABSENCE_REASONS[code].label.get(patient.language)) for code in ABSENCE_REASON_CODES],
            errors=errors or {},
            values=values or MultiDict(),
            large=large,
            facts=lambda session: session_facts(session, practice, patient.language),
            now=now,
            lang=patient.language,
        )
    response = current_app.make_response((html, status))
    response.set_cookie(LARGE_COOKIE, "1" if large else "0", max_age=365 * 86400, samesite="Lax", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    return response


def _portal_patient(row) -> Patient:
    patient = db.session.get(Patient, row.patient_id)
    if patient is None or patient.archived:
        _not_found()
    return patient


@bp.route("/p/<token>")
@public
def portal(token: str):
    row = _portal_row(token)
    return _render_portal(token, row, _portal_patient(row))


@bp.route("/p/<token>/absence", methods=["POST"])
@public
def portal_absence(token: str):
    row = _portal_row(token)
    patient = _portal_patient(row)
    form = request.form
    try:
        ops.report_absence(
            ops.portal_actor(row, client_ip()), form.get("session_id"), form.get("reason"), form.get("note", "")
        )
    except DomainError as exc:
        db.session.rollback()
        patient = _portal_patient(row)
        errors = dict(exc.fields) or {"_": exc.message}
        errors.setdefault("_", exc.message)
        return _render_portal(token, row, patient, errors=errors, values=form, status=exc.status)
    db.session.commit()
    with force_locale(patient.language):
        flash(_("Thank you for letting us know. We hope to see you next time."), "success")
    return redirect(url_for("calendars.portal", token=token, _anchor="sessions"))


@bp.route("/p/<token>/preferences", methods=["POST"])
@public
def portal_preferences(token: str):
    row = _portal_row(token)
    patient = _portal_patient(row)
    try:
        ops.update_preferences(ops.portal_actor(row, client_ip()), request.form)
    except DomainError as exc:
        db.session.rollback()
        patient = _portal_patient(row)
        errors = {**exc.fields, "_": exc.message}
        return _render_portal(token, row, patient, errors=errors, values=request.form, status=exc.status)
    db.session.commit()
    with force_locale(patient.language):
        flash(_("Your choices are saved."), "success")
    return redirect(url_for("calendars.portal", token=token, _anchor="preferences"))


@bp.route("/p/<token>/education/<id:assignment_id>/video")
@public
def portal_video(token: str, assignment_id: int):
    row = _portal_row(token)
    assignment = db.session.get(EducationAssignment, assignment_id)
    if assignment is None or assignment.patient_id != row.patient_id:
        _not_found()
    path = education.video_path(current_app.config["UPLOAD_FOLDER"], assignment.item.video_file)
    if path is None or not path.is_file():
        _not_found()
    audit(
        ops.portal_actor(row, client_ip()),
        "view",
        patient_id=row.patient_id,
        object_type="education_video",
        object_id=assignment.item_id,
    )
    db.session.commit()
    response = send_file(path, mimetype=assignment.item.video_type, conditional=True, max_age=0)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/p/<token>/questionnaire/<id:request_id>", methods=["GET", "POST"])
@public
def portal_questionnaire(token: str, request_id: int):
    from supervision.forms import answers_from_form

    row = _portal_row(token)
    patient = _portal_patient(row)
    actor = ops.portal_actor(row, client_ip())
    pending = {q.id: q for q in ops.open_questionnaires(patient.id)}
    if request_id not in pending:
        _not_found()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            ops.complete_questionnaire(actor, request_id, answers_from_form(request.form))
        except DomainError as exc:
            db.session.rollback()
            patient = _portal_patient(row)
            errors, status = {**exc.fields, "_": exc.message}, exc.status
        else:
            db.session.commit()
            with force_locale(patient.language):
                flash(_("Thank you. Your physiotherapist will look at your answers."), "success")
            return redirect(url_for("calendars.portal", token=token))
    audit(actor, "view", patient_id=patient.id, object_type="portal_questionnaire", object_id=request_id)
    db.session.commit()
    with force_locale(patient.language):
        blocks = [b for b in instrument_blocks(patient.language) if b["code"] != "RED_FLAGS"]
        html = render_template(
            "calendars/questionnaire.html",
            token=token,
            patient=patient,
            blocks=blocks,
            errors={k.split(".", 1)[-1]: v for k, v in errors.items()},
            values=request.form if request.method == "POST" else MultiDict(),
            large=_large_text(),
            lang=patient.language,
        )
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- staff ---------------------------------------------------------------------------------------------------


def patient_section(actor, patient: Patient):
    return {
        "template": "calendars/_patient_section.html",
        "calendar_links": ops.patient_links(patient),
        "calendar_form": EmptyForm(),
        "can_request_questionnaire": can(actor.user, "assess_patients"),
        "open_questionnaires": ops.open_questionnaires(patient.id),
    }


def session_section(actor, session):
    return {"template": "calendars/_session_section.html", "invitations": ops.invitation_status(actor, session.id)}


def _checked_form() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _back_to_patient(patient_id: int):
    return redirect(url_for("patients.detail", patient_id=patient_id, _anchor="calendar-links"))


@bp.route("/calendars/patients/<id:patient_id>/links/<kind>/<action>", methods=["POST"])
def patient_link(patient_id: int, kind: str, action: str):
    _checked_form()
    kinds = {"feed": "patient", "portal": "portal"}
    if kind not in kinds or action not in ("rotate", "revoke"):
        abort(404)
    actor = current_actor()
    if action == "rotate":
        ops.rotate_patient_link(actor, patient_id, kinds[kind])
        message = _("A new link is made. The old link no longer works.")
    else:
        ops.revoke_patient_link(actor, patient_id, kinds[kind])
        message = _("The link no longer works.")
    db.session.commit()
    flash(message, "success")
    return _back_to_patient(patient_id)


@bp.route("/calendars/patients/<id:patient_id>/welcome", methods=["POST"])
def resend_welcome(patient_id: int):
    _checked_form()
    try:
        ops.resend_welcome(current_actor(), patient_id)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("The welcome email will be sent again."), "success")
    return _back_to_patient(patient_id)


@bp.route("/calendars/patients/<id:patient_id>/questionnaire", methods=["POST"])
def request_questionnaire(patient_id: int):
    _checked_form()
    try:
        ops.request_questionnaire(current_actor(), patient_id, request.form.get("kind", ""))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("The patient can fill in the questionnaires through their personal page."), "success")
    return _back_to_patient(patient_id)


@bp.route("/calendars/links")
def links():
    actor = current_actor()
    own = ops.active_token("staff", actor.user_id)
    return render_template(
        "calendars/links.html",
        own=ops.feed_links(own) if own else None,
        rooms=ops.room_feeds(actor),
        form=EmptyForm(),
    )


@bp.route("/calendars/<subject>/<id:subject_id>/feed/<action>", methods=["POST"])
def subject_feed(subject: str, subject_id: int, action: str):
    _checked_form()
    if subject not in ("staff", "rooms") or action not in ("rotate", "revoke"):
        abort(404)
    actor = current_actor()
    if subject == "staff":
        (ops.rotate_staff_feed if action == "rotate" else ops.revoke_staff_feed)(actor, subject_id)
    else:
        (ops.rotate_room_feed if action == "rotate" else ops.revoke_room_feed)(actor, subject_id)
    db.session.commit()
    flash(
        _("A new link is made. The old link no longer works.")
        if action == "rotate"
        else _("The link no longer works."),
        "success",
    )
    return redirect(safe_next(request.form.get("next"), url_for("calendars.links")))
