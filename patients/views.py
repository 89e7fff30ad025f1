"""Patient list, search, create, edit and archive (HTML)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from accounts.auth import current_actor
from accounts.forms import EmptyForm
from core.access import can, require_permission
from core.errors import DomainError
from core.validation import positive_int
from extensions import db
from patients import operations
from patients.forms import EraseForm, PatientForm, SearchForm

bp = Blueprint("patients", __name__, url_prefix="/patients")
PER_PAGE = 25


def _page_arg() -> int:
    return positive_int(request.args.get("page"), default=1, maximum=1_000_000)


@bp.route("/")
def index():
    form = SearchForm(request.args)
    q = form.q.data if form.validate() else ""
    archived = request.args.get("archived") == "1"
    page = _page_arg()
    patients, total = operations.search_patients(
        current_actor(), q=q or "", page=page, per_page=PER_PAGE, archived=archived
    )
    db.session.commit()
    return render_template(
        "patients/index.html",
        form=form,
        patients=patients,
        total=total,
        page=page,
        per_page=PER_PAGE,
        archived=archived,
        q=q or "",
    )


def _apply_errors(form: PatientForm, exc: DomainError) -> None:
    for field, message in exc.fields.items():
        if hasattr(form, field):
            getattr(form, field).errors = [*getattr(form, field).errors, message]
        else:
            flash(message, "error")
    if not exc.fields:
        flash(exc.message, "error")


@bp.route("/new", methods=["GET", "POST"])
def create():
    form = PatientForm()
    if form.validate_on_submit():
        try:
            patient = operations.create_patient(current_actor(), form.values())
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Patient %(name)s added.", name=patient.name), "success")
            return redirect(url_for("patients.detail", patient_id=patient.id))
    status = 422 if form.errors else 200
    return render_template("patients/form.html", form=form, patient=None), status


def add_patient_section(app: Flask, provider) -> None:
    """Let another domain add a section to the patient page. `provider(actor, patient)` returns None (nothing to
    show) or a dict with the section's "template" and the variables it needs; it runs before the page's commit,
    so it can audit what it reads."""
    app.extensions.setdefault("motio.patient_sections", []).append(provider)


@bp.route("/<id:patient_id>")
def detail(patient_id: int):
    actor = current_actor()
    patient = operations.get_patient(actor, patient_id)
    providers = current_app.extensions.get("motio.patient_sections", [])
    sections = [section for provider in providers if (section := provider(actor, patient))]
    db.session.commit()
    return render_template(
        "patients/detail.html",
        patient=patient,
        action_form=EmptyForm(),
        can_archive=can(actor.user, "archive_patients"),
        can_export=can(actor.user, "export_patients"),
        can_erase=can(actor.user, "manage_practice"),
        sections=sections,
    )


@bp.route("/<id:patient_id>/edit", methods=["GET", "POST"])
def edit(patient_id: int):
    patient = operations.get_patient(current_actor(), patient_id, log=False)
    form = PatientForm(obj=patient)
    if form.validate_on_submit():
        try:
            operations.update_patient(current_actor(), patient_id, form.values())
        except DomainError as exc:
            db.session.rollback()
            patient = operations.get_patient(current_actor(), patient_id, log=False)
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("patients.detail", patient_id=patient_id))
    status = 422 if form.errors else 200
    return render_template("patients/form.html", form=form, patient=patient), status


@bp.route("/<id:patient_id>/archive", methods=["POST"])
@require_permission("archive_patients")
def archive(patient_id: int):
    form = EmptyForm()
    if form.validate_on_submit():
        archived = request.form.get("archived") == "1"
        patient = operations.set_archived(current_actor(), patient_id, archived)
        db.session.commit()
        flash(
            _("%(name)s is archived.", name=patient.name)
            if archived
            else _("%(name)s is active again.", name=patient.name),
            "success",
        )
    return redirect(url_for("patients.detail", patient_id=patient_id))


@bp.route("/<id:patient_id>/export")
@require_permission("export_patients")
def export(patient_id: int):
    """Everything Motio holds about the patient: readable (printable) page, or JSON with ?format=json."""
    data = operations.export_patient(current_actor(), patient_id)
    db.session.commit()
    if request.args.get("format") == "json":
        response = jsonify(data)
        response.headers["Content-Disposition"] = f"attachment; filename=motio-patient-{patient_id}.json"
        return response
    return render_template("patients/export.html", data=data, patient_id=patient_id)


@bp.route("/<id:patient_id>/erase", methods=["GET", "POST"])
@require_permission("manage_practice")
def erase(patient_id: int):
    patient = operations.get_patient(current_actor(), patient_id, log=False)
    form = EraseForm()
    if form.validate_on_submit():
        try:
            operations.erase_patient(
                current_actor(), patient_id, confirm_name=form.confirm_name.data, reason=form.reason.data
            )
        except DomainError as exc:
            db.session.rollback()
            patient = operations.get_patient(current_actor(), patient_id, log=False)
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("The patient's data is erased. The audit log keeps a record of the erasure."), "success")
            return redirect(url_for("patients.index"))
    status = 422 if form.errors else 200
    return render_template("patients/erase.html", form=form, patient=patient), status
