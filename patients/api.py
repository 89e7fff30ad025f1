"""JSON API for patients: list/search, create, read, partial update."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from accounts.auth import current_actor
from core.api import PageArgs, PageSchema, StrictSchema, api_blueprint, page_of
from extensions import db
from patients import operations
from patients.models import CALENDAR_PREFERENCES, LANGUAGES

blp = api_blueprint("Patients", __name__, "Patient records of the practice.")


class PatientSchema(StrictSchema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    #: null when the patient has no email address
    email = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=254), metadata={"format": "email"})
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=40))
    date_of_birth = ma.fields.Date(allow_none=True)
    language = ma.fields.String(validate=ma.validate.OneOf(LANGUAGES))
    calendar_preference = ma.fields.String(validate=ma.validate.OneOf(CALENDAR_PREFERENCES))
    reminders_enabled = ma.fields.Boolean()
    email_consent = ma.fields.Boolean()
    email_consent_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    #: Limited health literacy: emails and the portal use plain-language texts (set from SILS ≥ 3 or by hand).
    plain_language = ma.fields.Boolean()
    archived = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)

    @ma.post_dump
    def empty_contact_is_null(self, data, **kwargs):
        for key in ("email", "phone"):
            if data.get(key) == "":
                data[key] = None
        return data


class PatientUpdateSchema(PatientSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))


class PatientQueryArgs(PageArgs):
    q = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    archived = ma.fields.Boolean(load_default=False)


class PatientPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(PatientSchema), required=True)


@blp.route("/patients")
class Patients(MethodView):
    @blp.arguments(PatientQueryArgs, location="query")
    @blp.response(200, PatientPageSchema)
    def get(self, args):
        """List and search patients (name, email, phone), paged."""
        rows, total = operations.search_patients(
            current_actor(), q=args["q"], page=args["page"], per_page=args["per_page"], archived=args["archived"]
        )
        db.session.commit()
        return page_of(rows, total, args["page"], args["per_page"])

    @blp.arguments(PatientSchema)
    @blp.response(201, PatientSchema)
    def post(self, data):
        """Create a patient; only `name` is required (add `email` to send invitations and reminders)."""
        patient = operations.create_patient(current_actor(), data)
        db.session.commit()
        return patient


@blp.route("/patients/<id:patient_id>")
class PatientItem(MethodView):
    @blp.response(200, PatientSchema)
    def get(self, patient_id: int):
        """Read one patient."""
        patient = operations.get_patient(current_actor(), patient_id)
        db.session.commit()
        return patient

    @blp.arguments(PatientUpdateSchema)
    @blp.response(200, PatientSchema)
    def patch(self, data, patient_id: int):
        """Change some fields of a patient."""
        patient = operations.update_patient(current_actor(), patient_id, data)
        db.session.commit()
        return patient
