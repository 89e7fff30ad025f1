"""The outbox page for staff, reminder settings, and the patient's "no more reminders" link."""

from __future__ import annotations

from email import message_from_bytes, policy

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from accounts.auth import client_ip, current_actor
from accounts.forms import EmptyForm
from core.access import public, require_permission
from core.errors import DomainError, Invalid
from core.validation import positive_int
from extensions import csrf, db, talisman
from reminders import operations
from reminders.forms import ReminderSettingsForm
from reminders.labels import STATUS_LABELS
from reminders.models import KINDS, STATUSES

bp = Blueprint("reminders", __name__)

#: An email's HTML part shown to staff: inline styles allowed (emails need them), scripts and loads not.
EMAIL_PART_CSP = {"default-src": "'none'", "style-src": "'unsafe-inline'", "img-src": "data:", "sandbox": ""}


@bp.route("/outbox")
def outbox():
    status = request.args.get("status") or None
    kind = request.args.get("kind") or None
    page = positive_int(request.args.get("page"), default=1, maximum=100_000)
    rows, total = operations.outbox_page(current_actor(), status=status, kind=kind, page=page)
    return render_template(
        "reminders/outbox.html",
        rows=rows,
        total=total,
        page=page,
        per_page=50,
        status=status,
        kind=kind,
        statuses=STATUSES,
        kinds=KINDS,
        counts=operations.outbox_counts(current_actor().practice_id),
        action_form=EmptyForm(),
        labels=STATUS_LABELS,
    )


def _parts(raw: bytes):
    """The text, the HTML and the attachments of a stored message, as staff should see them."""
    message = message_from_bytes(raw, policy=policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachments = [
        part
        for part in message.walk()
        if part.get_content_disposition() == "attachment" or part.get_content_type() == "text/calendar"
    ]
    return message, text, html, attachments


@bp.route("/outbox/<id:message_id>")
def message(message_id: int):
    row = operations.get_message(current_actor(), message_id)
    db.session.commit()
    parsed, text, html, attachments = _parts(row.mime)
    return render_template(
        "reminders/message.html",
        row=row,
        headers=list(parsed.items()),
        text=text.get_content() if text else "",
        has_html=html is not None,
        attachments=attachments,
        action_form=EmptyForm(),
        labels=STATUS_LABELS,
    )


@bp.route("/outbox/<id:message_id>/html")
@talisman(content_security_policy=EMAIL_PART_CSP)
def message_html(message_id: int):
    row = operations.get_message(current_actor(), message_id)
    db.session.commit()
    _, _, html, _ = _parts(row.mime)
    if html is None:
        abort(404)
    return Response(html.get_content(), mimetype="text/html")


@bp.route("/outbox/<id:message_id>/attachment/<int:index>")
def message_attachment(message_id: int, index: int):
    row = operations.get_message(current_actor(), message_id)
    db.session.commit()
    _, _, _, attachments = _parts(row.mime)
    if index >= len(attachments):
        abort(404)
    part = attachments[index]
    filename = part.get_filename() or "invite.ics"
    return Response(
        part.get_payload(decode=True),
        mimetype=part.get_content_type(),
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


@bp.route("/outbox/<id:message_id>/retry", methods=["POST"])
def retry(message_id: int):
    if EmptyForm().validate_on_submit():
        try:
            operations.retry(current_actor(), message_id)
        except Invalid as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(_("The message will be sent again."), "success")
    return redirect(url_for("reminders.message", message_id=message_id))


@bp.route("/settings/reminders", methods=["GET", "POST"])
@require_permission("manage_practice")
def settings():
    prefs = operations.settings_for(current_actor().practice_id)
    form = ReminderSettingsForm(obj=prefs)
    if form.validate_on_submit():
        try:
            operations.update_settings(current_actor(), form.data)
        except DomainError as exc:
            db.session.rollback()
            for field, text in exc.fields.items():
                getattr(form, field).errors.append(text)
        else:
            db.session.commit()
            flash(_("Reminder settings saved."), "success")
            return redirect(url_for("reminders.settings"))
    return render_template("reminders/settings.html", form=form)


@bp.route("/reminders/stop/<token>", methods=["GET", "POST"])
@public
@csrf.exempt  # one-click unsubscribe (RFC 8058) posts without a form; the signed token is the proof
def stop(token: str):
    patient = operations.patient_for_stop_token(token)
    if patient is None:
        return render_template("reminders/stop.html", patient=None), 404
    done = False
    if request.method == "POST":
        operations.stop_reminders(patient, client_ip())
        db.session.commit()
        done = True
    with force_locale(patient.language):  # the patient's own language, whatever the browser says
        return render_template("reminders/stop.html", patient=patient, done=done)


def messages_panel(actor) -> dict | None:
    """Dashboard: messages that failed (staff must act) and how many are waiting to go out."""
    counts = operations.outbox_counts(actor.practice_id)
    if not (counts["failed"] or counts["pending"]):
        return None
    return {"template": "reminders/_dashboard_panel.html", "urgent": False, "counts": counts}


def init_app(app) -> None:
    from core.views import add_dashboard_panel

    add_dashboard_panel(app, messages_panel)
