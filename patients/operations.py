"""Use cases for patient records. Every read and change is audit-logged and scoped to the actor's practice."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from accounts.models import Practice
from accounts.operations import audit
from core.access import get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Forbidden, Invalid
from core.validation import PHONE_RE, clean_name, normalise_email
from extensions import db
from patients.export import build_export
from patients.models import CALENDAR_PREFERENCES, LANGUAGES, Patient

EDITABLE = (
    "name",
    "email",
    "phone",
    "date_of_birth",
    "language",
    "calendar_preference",
    "reminders_enabled",
    "email_consent",
    "plain_language",
)


def _clean(values: dict, current: Patient | None) -> dict:
    """Validate the given fields (all of them or, for an update, a subset); raise Invalid naming every bad field."""
    errors: dict[str, str] = {}
    clean: dict = {}
    unknown = set(values) - set(EDITABLE)
    for field in unknown:
        errors[field] = str(_l("Unknown field."))
    if current is None and "name" not in values:
        errors["name"] = str(_l("Enter a name."))
    for field, value in values.items():
        if field in unknown:
            continue
        try:
            clean[field] = _clean_field(field, value)
        except ValueError as exc:
            errors[field] = str(exc)
    email = clean.get("email", current.email if current else "")
    consent = clean.get("email_consent", current.email_consent if current else False)
    if consent and not email:
        errors.setdefault("email_consent", str(_l("Consent for email needs an email address.")))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    return clean


def _clean_field(field: str, value):
    if field == "name":
        return clean_name(value)
    if field == "email":
        if value is None or (isinstance(value, str) and not value.strip()):
            return ""
        return normalise_email(value)
    if field == "phone":
        if value is None or (isinstance(value, str) and not value.strip()):
            return ""
        if not isinstance(value, str) or not PHONE_RE.match(value.strip()):
            raise ValueError(_l("Enter a phone number with digits, spaces, + or -."))
        return value.strip()
    if field == "date_of_birth":
        if value is None or value == "":
            return None
        if not isinstance(value, date):
            raise ValueError(_l("Enter a date as YYYY-MM-DD."))
        if not date(1900, 1, 1) <= value <= date.today():
            raise ValueError(_l("Enter a date of birth between 1900 and today."))
        return value
    if field == "language":
        if value not in LANGUAGES:
            raise ValueError(_l("Choose Dutch (nl) or English (en)."))
        return value
    if field == "calendar_preference":
        if value not in CALENDAR_PREFERENCES:
            raise ValueError(_l("Choose feed, invitations or none."))
        return value
    if field in ("reminders_enabled", "email_consent", "plain_language"):
        if not isinstance(value, bool):
            raise ValueError(_l("Choose yes or no."))
        return value
    raise ValueError(_l("Unknown field."))


def create_patient(actor: Actor, values: dict) -> Patient:
    clean = _clean(values, None)
    patient = Patient(practice_id=actor.practice_id, **clean)
    if patient.email_consent:
        patient.email_consent_at = utcnow()
    db.session.add(patient)
    db.session.flush()
    audit(
        actor,
        "create",
        patient_id=patient.id,
        object_type="patient",
        object_id=patient.id,
        detail=",".join(sorted(clean)),
    )
    return patient


def get_patient(actor: Actor, patient_id, *, log: bool = True) -> Patient:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    if log:
        audit(actor, "view", patient_id=patient.id, object_type="patient", object_id=patient.id)
    return patient


def update_patient(actor: Actor, patient_id, values: dict) -> Patient:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    clean = _clean(values, patient)
    changed = sorted(field for field, value in clean.items() if getattr(patient, field) != value)
    if "email_consent" in changed:
        patient.email_consent_at = utcnow() if clean["email_consent"] else None
    for field in changed:
        setattr(patient, field, clean[field])
    db.session.flush()
    if changed:
        audit(
            actor,
            "update",
            patient_id=patient.id,
            object_type="patient",
            object_id=patient.id,
            detail=",".join(changed),
        )
    return patient


def set_archived(actor: Actor, patient_id, archived: bool) -> Patient:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    if archived != patient.archived:
        patient.archived_at = utcnow() if archived else None
        db.session.flush()
        audit(
            actor,
            "archive" if archived else "restore",
            patient_id=patient.id,
            object_type="patient",
            object_id=patient.id,
        )
    return patient


def export_patient(actor: Actor, patient_id) -> dict:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    practice = db.session.get(Practice, actor.practice_id)
    audit(actor, "export", patient_id=patient.id, object_type="patient", object_id=patient.id)
    return build_export(patient, practice.name, utcnow())


def erase_patient(actor: Actor, patient_id, *, confirm_name: str, reason: str) -> None:
    """Delete a patient and everything linked to them (GDPR art. 17 / WGBO art. 7:455 request).

    Only the audit trail stays: it names the patient by number, and the erasure itself is recorded in it.
    All tables that reference patients cascade on delete, so nothing clinical is left behind.
    """
    if actor.role != "admin":
        raise Forbidden(_l("Only a practice admin can erase a patient."))
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    errors = {}
    if " ".join((confirm_name or "").split()).casefold() != patient.name.casefold():
        errors["confirm_name"] = str(_l("Type the patient's full name exactly to confirm."))
    reason = " ".join((reason or "").split())
    if not reason:
        errors["reason"] = str(_l("Say why (for example: the patient's written request of a date)."))
    if errors:
        raise Invalid(_l("The patient was not erased."), errors)
    audit(actor, "erase", patient_id=patient.id, object_type="patient", object_id=patient.id, detail=reason[:500])
    db.session.execute(sa.delete(Patient).where(Patient.id == patient.id))
    db.session.expunge(patient)


def search_patients(actor: Actor, *, q: str = "", page: int = 1, per_page: int = 50, archived: bool = False):
    """One page of the practice's patients matching `q` (name, email or phone), and the total."""
    query = sa.select(Patient).where(Patient.practice_id == actor.practice_id)
    query = query.where(Patient.archived_at.is_not(None) if archived else Patient.archived_at.is_(None))
    q = (q or "").strip()[:100]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                Patient.name.ilike(like, escape="\\"),
                Patient.email.ilike(like, escape="\\"),
                Patient.phone.ilike(like, escape="\\"),
            )
        )
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(query.order_by(Patient.name, Patient.id).offset((page - 1) * per_page).limit(per_page))
        .scalars()
        .all()
    )
    # Listing shows names and contact details: one audit row for the list, not one per patient.
    audit(actor, "list", patient_id=None, object_type="patient", detail=f"q={q!r} page={page} n={len(rows)}")
    return rows, total


def dashboard_counts(practice_id: int) -> dict:
    active = db.session.execute(
        sa.select(sa.func.count(Patient.id)).where(Patient.practice_id == practice_id, Patient.archived_at.is_(None))
    ).scalar_one()
    return {"patients": active}
