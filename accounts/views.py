"""Login/logout, staff management, practice settings and the audit log (HTML)."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from accounts import operations
from accounts.auth import client_ip, current_actor
from accounts.forms import (
    AuditFilterForm,
    EmptyForm,
    InviteForm,
    LoginForm,
    PracticeForm,
    RoleForm,
    SetPasswordForm,
    TokenForm,
)
from accounts.labels import AUDIT_LABELS
from core.access import public, require_permission
from core.errors import DomainError, Invalid
from core.validation import positive_int
from core.views import safe_next
from extensions import db, limiter

bp = Blueprint("accounts", __name__)


def _login_email_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response) -> bool:
    # Only failed attempts count towards the throttle; a successful login redirects.
    return request.method == "POST" and response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"],
    key_func=_login_email_key,
    methods=["POST"],
    deduct_when=_failed,
    override_defaults=False,
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_IP"], methods=["POST"], deduct_when=_failed, override_defaults=False
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data, form.password.data)
        if user is not None:
            # A fresh session (and a fresh server-side login id) at every login prevents session fixation.
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            login = operations.start_login_session(user, client_ip())
            session["sid"] = login.id
            login_user(user)
            db.session.commit()
            return redirect(safe_next(form.next.data, url_for("core.dashboard")))
        db.session.commit()
        flash(_("Email or password is not correct."), "error")
        return render_template("accounts/login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    operations.end_login_session(session.get("sid"))
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept_invite(token: str):
    user = operations.user_for_invite(token)
    if user is None:
        return render_template(
            "error.html",
            status=404,
            message=_("This invitation link is not valid any more. Ask your practice admin for a new one."),
        ), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            operations.accept_invite(token, form.password.data)
        except DomainError as exc:
            form.password.errors.append(exc.fields.get("password", exc.message))
        else:
            db.session.commit()
            flash(_("Your password is set. You can log in now."), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/set_password.html", form=form, user=user)


@bp.route("/staff", methods=["GET", "POST"])
@require_permission("manage_staff")
def staff():
    form = InviteForm()
    invite_link = None
    if form.validate_on_submit():
        try:
            user, token = operations.invite_staff(
                current_actor(), email=form.email.data, name=form.name.data, role=form.role.data
            )
        except DomainError as exc:
            for field, message in exc.fields.items():
                getattr(form, field).errors.append(message)
            if not exc.fields:
                flash(exc.message, "error")
        else:
            db.session.commit()
            invite_link = url_for("accounts.accept_invite", token=token, _external=True)
            flash(_("%(name)s is invited. Send them the link below; it works for 7 days.", name=user.name), "success")
            form = InviteForm(formdata=None)
    return render_template(
        "accounts/staff.html",
        form=form,
        staff=operations.list_staff(current_actor()),
        invite_link=invite_link,
        role_form=RoleForm(),
        action_form=EmptyForm(),
    )


def _staff_change(change, success_message) -> None:
    """Run a staff change from the staff page; a refusal (e.g. demoting yourself) is shown there, not as an
    error page."""
    try:
        user = change()
    except Invalid as exc:  # a refusal; NotFound and Forbidden keep their status
        db.session.rollback()
        flash(exc.message, "error")
        return
    db.session.commit()
    flash(success_message(user), "success")


@bp.route("/staff/<id:user_id>/active", methods=["POST"])
@require_permission("manage_staff")
def staff_active(user_id: int):
    if EmptyForm().validate_on_submit():
        active = request.form.get("active") == "1"
        _staff_change(
            lambda: operations.set_staff_active(current_actor(), user_id, active),
            lambda user: (
                _("%(name)s is active again.", name=user.name)
                if active
                else _("%(name)s is deactivated.", name=user.name)
            ),
        )
    return redirect(url_for("accounts.staff"))


@bp.route("/staff/<id:user_id>/role", methods=["POST"])
@require_permission("manage_staff")
def staff_role(user_id: int):
    form = RoleForm()
    if form.validate_on_submit():
        _staff_change(
            lambda: operations.change_role(current_actor(), user_id, form.role.data),
            lambda user: _("The role of %(name)s is changed.", name=user.name),
        )
    else:
        flash(_("Choose admin, therapist or assistant."), "error")
    return redirect(url_for("accounts.staff"))


@bp.route("/staff/<id:user_id>/invite", methods=["POST"])
@require_permission("manage_staff")
def staff_reinvite(user_id: int):
    if EmptyForm().validate_on_submit():
        try:
            user, token = operations.renew_invite(current_actor(), user_id)
        except Invalid as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(
                _(
                    "New invitation link for %(name)s: %(link)s",
                    name=user.name,
                    link=url_for("accounts.accept_invite", token=token, _external=True),
                ),
                "success",
            )
    return redirect(url_for("accounts.staff"))


@bp.route("/settings", methods=["GET", "POST"])
@require_permission("manage_practice")
def practice_settings():
    practice = current_user.practice
    form = PracticeForm(obj=practice)
    if form.validate_on_submit():
        try:
            operations.update_practice(
                current_actor(),
                name=form.name.data,
                address=form.address.data or "",
                timezone=form.timezone.data,
                locale=form.locale.data,
                sender_email=form.sender_email.data or "",
                phone=form.phone.data or "",
            )
        except DomainError as exc:
            db.session.rollback()
            for field, message in exc.fields.items():
                getattr(form, field).errors.append(message)
        else:
            db.session.commit()
            flash(_("Practice settings saved."), "success")
            return redirect(url_for("accounts.practice_settings"))
    return render_template("accounts/settings.html", form=form)


@bp.route("/account/tokens", methods=["GET", "POST"])
def api_tokens():
    """Each staff member manages their own API tokens; a new token is shown once and only its hash is kept."""
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        new_token = operations.issue_api_token(current_user, form.label.data)
        db.session.commit()
        form = TokenForm(formdata=None)
    return render_template(
        "accounts/tokens.html",
        form=form,
        new_token=new_token,
        tokens=operations.list_api_tokens(current_actor()),
        action_form=EmptyForm(),
    )


@bp.route("/account/tokens/<id:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int):
    if EmptyForm().validate_on_submit():
        operations.revoke_api_token(current_actor(), token_id)
        db.session.commit()
        flash(_("The token no longer works."), "success")
    return redirect(url_for("accounts.api_tokens"))


def _audit_filters(form: AuditFilterForm) -> dict:
    patient_id = None
    if form.validate() and form.patient_id.data:
        patient_id = positive_int(form.patient_id.data)
        if patient_id is None:
            form.patient_id.errors.append(_("Enter a number."))
    return {"patient_id": patient_id, "action": form.action.data or None}


@bp.route("/audit")
@require_permission("view_audit")
def audit_log():
    form = AuditFilterForm(request.args)
    page = positive_int(request.args.get("page"), default=1, maximum=100_000)
    events, total = operations.audit_events(current_actor(), **_audit_filters(form), page=page)
    staff = {u.id: u for u in operations.list_staff(current_actor())}
    return render_template(
        "accounts/audit.html",
        form=form,
        events=events,
        total=total,
        page=page,
        per_page=50,
        staff=staff,
        patient_names=operations.patient_names(current_actor(), {e.patient_id for e in events if e.patient_id}),
        labels=AUDIT_LABELS,
    )


@bp.route("/audit/export.csv")
@require_permission("view_audit")
def audit_export():
    """The (filtered) audit log as CSV for the practice's privacy officer; a BOM so spreadsheets read UTF-8."""
    form = AuditFilterForm(request.args)
    rows = operations.audit_rows_for_export(current_actor(), **_audit_filters(form))
    staff = {u.id: u for u in operations.list_staff(current_actor())}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "time_utc",
            "user",
            "actor_type",
            "patient_id",
            "action",
            "object_type",
            "object_id",
            "on_behalf_of",
            "ip",
            "detail",
        ]
    )
    for e in rows:
        writer.writerow(
            [
                e.at.isoformat(),
                staff[e.user_id].email if e.user_id in staff else "",
                e.actor_type,
                e.patient_id or "",
                e.action,
                e.object_type,
                e.object_id or "",
                e.on_behalf_of,
                e.ip,
                e.detail,
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=motio-audit-log.csv"},
    )
