"""Calendar, groups, sessions, programmes, rooms and closure days (HTML).

Thin: read the form, call one operation, commit once. A refused change re-renders the page with the message at
the form (status 422) and writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date, format_time
from flask_babel import gettext as _
from flask_login import current_user

from accounts.auth import current_actor
from accounts.forms import EmptyForm
from core.access import can, require_permission
from core.db import MAX_ID, utcnow
from core.errors import DomainError
from core.validation import positive_int
from extensions import db
from groups import labels, operations, rules
from groups.forms import (
    CancelForm,
    ClosureForm,
    GroupForm,
    GroupSettingsForm,
    NotesForm,
    PatientChoiceForm,
    ProgrammeForm,
    RoomForm,
    SessionChangeForm,
    WithdrawForm,
)

bp = Blueprint("groups", __name__)


def add_session_section(app: Flask, provider) -> None:
    """Let another domain add a section to the session page. `provider(actor, session)` returns None or a dict
    with the section's "template" and its variables; it runs before the page's commit, so it can audit reads."""
    app.extensions.setdefault("motio.session_sections", []).append(provider)


#: The calendar shows weeks in this range; other dates fall back to the current week.
CALENDAR_YEARS = (2000, 2100)


@bp.app_template_filter("hm")
def hours_minutes(value) -> str:
    return "" if value is None else format_time(value, "HH:mm")


@bp.app_template_filter("day")
def short_day(value, fmt: str = "EEE d MMM y") -> str:
    return "" if value is None else format_date(value, fmt)


@bp.app_context_processor
def group_helpers():
    return {
        "can": lambda permission: can(current_user, permission),
        "group_labels": labels,
        "group_memberships": _memberships,
        "weekday_label": operations.weekday_label,
    }


def _memberships(patient_id: int):
    """For the patient page: the patient's groups and make-up bookings (the page itself is audit-logged)."""
    return operations.patient_groups(current_actor(), patient_id)


def _apply_errors(form, exc: DomainError, mapping: dict[str, str] | None = None) -> None:
    """Show an operation's refusal at the matching form field, or above the form."""
    placed = False
    for name, message in exc.fields.items():
        target = (mapping or {}).get(name, name)
        if hasattr(form, target) and target != "meta":
            field = getattr(form, target)
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        form.form_errors.append(exc.message)


def _local_today() -> date:
    return rules.utc_to_local(utcnow(), operations.practice_timezone(current_actor())).date()


def _arg_id(name: str) -> int | None:
    raw = request.args.get(name, "")
    return positive_int(raw, maximum=MAX_ID)


# --- calendar ------------------------------------------------------------------------------------------------


@bp.route("/calendar")
def calendar():
    actor = current_actor()
    try:
        day = date.fromisoformat(request.args.get("week", ""))
        if not CALENDAR_YEARS[0] <= day.year < CALENDAR_YEARS[1]:
            raise ValueError
    except ValueError:
        day = _local_today()
    room_id, supervisor_id = _arg_id("room"), _arg_id("supervisor")
    week = operations.week(actor, day, room_id=room_id, supervisor_id=supervisor_id)
    filters = {"room": room_id, "supervisor": supervisor_id}
    return render_template(
        "groups/calendar.html",
        week=week,
        today=_local_today(),
        rooms=operations.list_rooms(actor),
        supervisors=operations.list_supervisors(actor),
        filters=filters,
        previous=week.monday - timedelta(days=7),
        following=week.monday + timedelta(days=7),
        iso_week=week.monday.isocalendar().week,
    )


# --- groups --------------------------------------------------------------------------------------------------


@bp.route("/groups")
def group_list():
    finished = request.args.get("finished") == "1"
    summaries, total = operations.list_groups(current_actor(), include_finished=finished)
    return render_template("groups/index.html", summaries=summaries, total=total, finished=finished, now=utcnow())


def _group_form_choices(form: GroupForm) -> None:
    actor = current_actor()
    form.programme_id.choices = [(p.id, p.name) for p in operations.list_programmes(actor, active_only=True)]
    form.room_id.choices = [
        (r.id, _("%(name)s (%(n)d places)", name=r.name, n=r.capacity))
        for r in operations.list_rooms(actor, active_only=True)
    ]
    form.supervisor_ids.choices = [(u.id, u.name) for u in operations.list_supervisors(actor)]


@bp.route("/groups/new", methods=["GET", "POST"])
@require_permission("manage_groups")
def group_create():
    form = GroupForm()
    _group_form_choices(form)
    if form.validate_on_submit():
        actor = current_actor()
        values = {
            "programme_id": form.programme_id.data,
            "room_id": form.room_id.data,
            "start_date": form.start_date.data,
            "weekdays": list(form.weekdays.data),
            "start_time": form.start_time.data,
            "supervisor_ids": list(form.supervisor_ids.data or []),
        }
        if form.name.data:
            values["name"] = form.name.data
        programme = operations.get_programme(actor, form.programme_id.data)
        values["capacity"] = form.capacity.data or programme.default_group_size
        try:
            group = operations.create_group(
                actor, values, override_supervisor_conflicts=bool(form.override_supervisor_conflicts.data)
            )
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Group %(name)s is planned.", name=group.name), "success")
            return redirect(url_for("groups.group_detail", group_id=group.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("groups/group_form.html", form=form), status


def _render_group(group_id: int, status: int = 200, **forms):
    actor = current_actor()
    group = operations.get_group(actor, group_id)
    sessions = operations.group_sessions(actor, group_id)
    enrolments = operations.group_enrolments(actor, group_id)
    live = {e.patient_id for e in enrolments if e.status != "withdrawn"}
    enrol_form = forms.get("enrol_form") or PatientChoiceForm(formdata=None)
    enrol_form.patient_id.choices = [(p.id, p.name) for p in operations.active_patients(actor) if p.id not in live]
    settings_form = forms.get("settings_form") or GroupSettingsForm(obj=group, formdata=None)
    counted = {e.id: len(operations.sessions_counted(e, sessions)) for e in enrolments}
    db.session.commit()  # the roster read is audit-logged
    return render_template(
        "groups/group.html",
        group=group,
        sessions=sessions,
        enrolled=[e for e in enrolments if e.status == "enrolled"],
        waitlist=[e for e in enrolments if e.status == "waitlisted"],
        withdrawn=[e for e in enrolments if e.status == "withdrawn"],
        counted=counted,
        held=sum(1 for s in sessions if not s.cancelled),
        needed=rules.sessions_needed_to_complete(group.programme.session_count, group.programme.completion_threshold),
        enrol_form=enrol_form,
        withdraw_form=forms.get("withdraw_form") or WithdrawForm(formdata=None),
        withdraw_failed=forms.get("withdraw_failed"),
        settings_form=settings_form,
        now=utcnow(),
    ), status


@bp.route("/groups/<id:group_id>")
def group_detail(group_id: int):
    return _render_group(group_id)


@bp.route("/groups/<id:group_id>/enrol", methods=["POST"])
@require_permission("enrol_patients")
def group_enrol(group_id: int):
    form = PatientChoiceForm()
    form.patient_id.choices = None  # any id: the operation checks it belongs to the practice
    form.patient_id.validate_choice = False
    if form.validate_on_submit():
        try:
            enrolment = operations.enrol(current_actor(), group_id, form.patient_id.data)
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            name = enrolment.patient.name
            db.session.commit()
            if enrolment.status == "enrolled":
                flash(_("%(name)s is enrolled.", name=name), "success")
            else:
                flash(
                    _("The group is full: %(name)s is number %(n)d on the waitlist.", name=name, n=enrolment.position),
                    "warning",
                )
            return redirect(url_for("groups.group_detail", group_id=group_id, _anchor="roster"))
    return _render_group(group_id, 422, enrol_form=form)


@bp.route("/enrolments/<id:enrolment_id>/withdraw", methods=["POST"])
@require_permission("enrol_patients")
def enrolment_withdraw(enrolment_id: int):
    actor = current_actor()
    enrolment = operations.get_enrolment(actor, enrolment_id, log=False)
    group_id = enrolment.group_id
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            withdrawn, promoted = operations.withdraw(
                actor, enrolment_id, reason=form.reason.data, note=form.note.data or ""
            )
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            names = [e.patient.name for e in promoted]
            name = withdrawn.patient.name
            db.session.commit()
            flash(_("%(name)s is withdrawn.", name=name), "success")
            for promoted_name in names:
                flash(_("%(name)s moved up from the waitlist and has a place now.", name=promoted_name), "success")
            return redirect(url_for("groups.group_detail", group_id=group_id, _anchor="roster"))
    return _render_group(group_id, 422, withdraw_form=form, withdraw_failed=enrolment_id)


@bp.route("/groups/<id:group_id>/settings", methods=["POST"])
@require_permission("manage_groups")
def group_settings(group_id: int):
    form = GroupSettingsForm()
    if form.validate_on_submit():
        try:
            promoted = operations.update_group(
                current_actor(), group_id, {"name": form.name.data, "capacity": form.capacity.data}
            )[1]
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            names = [e.patient.name for e in promoted]
            db.session.commit()
            flash(_("Changes saved."), "success")
            for name in names:
                flash(_("%(name)s moved up from the waitlist and has a place now.", name=name), "success")
            return redirect(url_for("groups.group_detail", group_id=group_id))
    return _render_group(group_id, 422, settings_form=form)


# --- sessions ------------------------------------------------------------------------------------------------


def _change_form_choices(form: SessionChangeForm) -> None:
    actor = current_actor()
    form.room_id.choices = [(r.id, r.name) for r in operations.list_rooms(actor, active_only=True)]
    form.supervisor_ids.choices = [(u.id, u.name) for u in operations.list_supervisors(actor)]


def _render_session(session_id: int, status: int = 200, **forms):
    actor = current_actor()
    session = operations.get_session(actor, session_id)
    timezone = session.group.timezone
    change_form = forms.get("change_form")
    if change_form is None:
        start = rules.utc_to_local(session.starts_at, timezone)
        change_form = SessionChangeForm(
            formdata=None,
            day=start.date(),
            start_time=start.time(),
            end_time=rules.utc_to_local(session.ends_at, timezone).time(),
            room_id=session.room_id,
            supervisor_ids=[u.id for u in session.supervisors],
        )
    _change_form_choices(change_form)
    if session.room_id not in dict(change_form.room_id.choices):  # an inactive room stays selectable here
        change_form.room_id.choices.insert(0, (session.room_id, session.room.name))
    guest_form = forms.get("guest_form") or PatientChoiceForm(formdata=None)
    roster = operations.session_roster(actor, session_id)
    present = {entry.patient.id for entry in roster}
    guest_form.patient_id.choices = [
        (e.patient.id, f"{e.patient.name} ({e.group.name})")
        for e in operations.makeup_candidates(actor, session_id)
        if e.patient.id not in present
    ]
    changes = operations.session_changes(actor, session_id)
    providers = current_app.extensions.get("motio.session_sections", [])
    sections = [section for provider in providers if (section := provider(actor, session))]
    db.session.commit()  # the roster read is audit-logged
    return render_template(
        "groups/session.html",
        session=session,
        group=session.group,
        roster=roster,
        changes=changes,
        change_form=change_form,
        cancel_form=forms.get("cancel_form") or CancelForm(formdata=None),
        notes_form=forms.get("notes_form") or NotesForm(formdata=None, notes=session.notes),
        guest_form=guest_form,
        action_form=EmptyForm(),
        now=utcnow(),
        sections=sections,
    ), status


@bp.route("/sessions/<id:session_id>")
def session_detail(session_id: int):
    return _render_session(session_id)


@bp.route("/sessions/<id:session_id>/change", methods=["POST"])
@require_permission("manage_groups")
def session_change(session_id: int):
    form = SessionChangeForm()
    _change_form_choices(form)
    form.room_id.validate_choice = False  # the operation checks the room (it may be the current inactive one)
    if form.validate_on_submit():
        actor = current_actor()
        session = operations.get_session(actor, session_id)
        timezone = session.group.timezone
        starts_at = rules.local_to_utc(form.day.data, form.start_time.data, timezone)
        ends_at = rules.local_to_utc(form.day.data, form.end_time.data, timezone)
        values = {
            "starts_at": starts_at,
            "ends_at": ends_at,
            "room_id": form.room_id.data,
            "supervisor_ids": list(form.supervisor_ids.data or []),
        }
        try:
            operations.change_session(
                actor,
                session_id,
                values,
                scope=form.scope.data,
                reason=form.reason.data or "",
                override_supervisor_conflicts=bool(form.override_supervisor_conflicts.data),
            )
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc, {"starts_at": "day", "ends_at": "end_time", "room_id": "room_id", "status": "day"})
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("groups.session_detail", session_id=session_id))
    return _render_session(session_id, 422, change_form=form)


@bp.route("/sessions/<id:session_id>/cancel", methods=["POST"])
@require_permission("manage_groups")
def session_cancel(session_id: int):
    form = CancelForm()
    if form.validate_on_submit():
        try:
            operations.cancel_session(current_actor(), session_id, reason=form.reason.data, scope=form.scope.data)
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("The session is cancelled."), "success")
            return redirect(url_for("groups.session_detail", session_id=session_id))
    return _render_session(session_id, 422, cancel_form=form)


@bp.route("/sessions/<id:session_id>/restore", methods=["POST"])
@require_permission("manage_groups")
def session_restore(session_id: int):
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            operations.restore_session(
                current_actor(), session_id, override_supervisor_conflicts=request.form.get("override") == "1"
            )
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(_("The session takes place again."), "success")
    return redirect(url_for("groups.session_detail", session_id=session_id))


@bp.route("/sessions/<id:session_id>/notes", methods=["POST"])
@require_permission("manage_groups")
def session_notes(session_id: int):
    form = NotesForm()
    if form.validate_on_submit():
        try:
            operations.change_session(current_actor(), session_id, {"notes": form.notes.data or ""})
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Notes saved."), "success")
            return redirect(url_for("groups.session_detail", session_id=session_id))
    return _render_session(session_id, 422, notes_form=form)


@bp.route("/sessions/<id:session_id>/guests", methods=["POST"])
@require_permission("enrol_patients")
def session_guest(session_id: int):
    form = PatientChoiceForm()
    form.patient_id.choices = None
    form.patient_id.validate_choice = False
    if form.validate_on_submit():
        try:
            guest = operations.book_guest(current_actor(), session_id, form.patient_id.data)
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            name = guest.patient.name
            db.session.commit()
            flash(_("%(name)s is booked for this session as a make-up.", name=name), "success")
            return redirect(url_for("groups.session_detail", session_id=session_id, _anchor="roster"))
    return _render_session(session_id, 422, guest_form=form)


@bp.route("/guests/<id:guest_id>/cancel", methods=["POST"])
@require_permission("enrol_patients")
def guest_cancel(guest_id: int):
    form = EmptyForm()
    guest = operations.cancel_guest(current_actor(), guest_id) if form.validate_on_submit() else None
    if guest is None:
        return redirect(url_for("groups.calendar"))
    session_id = guest.session_id
    db.session.commit()
    flash(_("The make-up booking is cancelled."), "success")
    return redirect(url_for("groups.session_detail", session_id=session_id, _anchor="roster"))


# --- programmes ----------------------------------------------------------------------------------------------


@bp.route("/programmes")
def programme_list():
    programmes = operations.list_programmes(current_actor())
    needed = {p.id: rules.sessions_needed_to_complete(p.session_count, p.completion_threshold) for p in programmes}
    return render_template("groups/programmes.html", programmes=programmes, needed=needed)


def _programme_form(programme_id: int | None):
    actor = current_actor()
    programme = operations.get_programme(actor, programme_id) if programme_id else None
    form = ProgrammeForm(obj=programme)
    if form.validate_on_submit():
        try:
            if programme is None:
                programme = operations.create_programme(actor, form.values())
            else:
                operations.update_programme(actor, programme_id, form.values())
        except DomainError as exc:
            db.session.rollback()
            programme = operations.get_programme(actor, programme_id) if programme_id else None
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Programme saved."), "success")
            return redirect(url_for("groups.programme_list"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("groups/programme_form.html", form=form, programme=programme), status


@bp.route("/programmes/new", methods=["GET", "POST"])
@require_permission("manage_groups")
def programme_create():
    return _programme_form(None)


@bp.route("/programmes/<id:programme_id>/edit", methods=["GET", "POST"])
@require_permission("manage_groups")
def programme_edit(programme_id: int):
    return _programme_form(programme_id)


# --- rooms ---------------------------------------------------------------------------------------------------


@bp.route("/rooms", methods=["GET", "POST"])
def room_list():
    form = RoomForm()
    if request.method == "POST":
        if not can(current_user, "manage_groups"):
            return render_template("error.html", status=403, message=_("You do not have permission to do this.")), 403
        if form.validate_on_submit():
            try:
                room = operations.create_room(current_actor(), form.values())
            except DomainError as exc:
                db.session.rollback()
                _apply_errors(form, exc)
            else:
                db.session.commit()
                flash(_("Room %(name)s added.", name=room.name), "success")
                return redirect(url_for("groups.room_list"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("groups/rooms.html", form=form, rooms=operations.list_rooms(current_actor())), status


@bp.route("/rooms/<id:room_id>/edit", methods=["GET", "POST"])
@require_permission("manage_groups")
def room_edit(room_id: int):
    actor = current_actor()
    room = operations.get_room(actor, room_id)
    form = RoomForm(obj=room)
    if form.validate_on_submit():
        try:
            operations.update_room(actor, room_id, form.values())
        except DomainError as exc:
            db.session.rollback()
            room = operations.get_room(actor, room_id)
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("groups.room_list"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("groups/room_form.html", form=form, room=room), status


# --- closure days --------------------------------------------------------------------------------------------


@bp.route("/closures", methods=["GET", "POST"])
@require_permission("manage_closures")
def closures():
    actor = current_actor()
    form = ClosureForm()
    if form.validate_on_submit():
        try:
            closure, planned = operations.add_closure(actor, form.day.data, form.reason.data or "")
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            day = closure.day
            db.session.commit()
            flash(_("The practice is closed on %(day)s. New groups skip this day.", day=format_date(day)), "success")
            if planned:
                flash(
                    _(
                        "%(n)d sessions are already planned on that day: move or cancel them in the calendar.",
                        n=planned,
                    ),
                    "warning",
                )
            return redirect(url_for("groups.closures"))
    status = 422 if form.errors or form.form_errors else 200
    since = _local_today() - timedelta(days=31)
    return render_template(
        "groups/closures.html",
        form=form,
        closures=operations.list_closures(actor, since=since),
        action_form=EmptyForm(),
    ), status


@bp.route("/closures/<id:closure_id>/remove", methods=["POST"])
@require_permission("manage_closures")
def closure_remove(closure_id: int):
    if EmptyForm().validate_on_submit():
        operations.remove_closure(current_actor(), closure_id)
        db.session.commit()
        flash(_("The closure day is removed."), "success")
    return redirect(url_for("groups.closures"))
