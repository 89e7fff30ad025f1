"""What Motio holds about one patient, for the patient's right of access (GDPR art. 15/20).

Each domain package registers a section, so the export grows with the product and nothing is forgotten:
`register_section("groups", lambda patient: {...})` at import time of that package's operations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from patients.models import Patient

Section = Callable[[Patient], object]
_SECTIONS: dict[str, Section] = {}


def register_section(name: str, build: Section) -> None:
    _SECTIONS[name] = build


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def patient_record(patient: Patient) -> dict:
    return {
        "id": patient.id,
        "name": patient.name,
        "email": patient.email or None,
        "phone": patient.phone or None,
        "date_of_birth": patient.date_of_birth,
        "language": patient.language,
        "calendar_preference": patient.calendar_preference,
        "reminders_enabled": patient.reminders_enabled,
        "email_consent": patient.email_consent,
        "email_consent_at": patient.email_consent_at,
        "archived_at": patient.archived_at,
        "created_at": patient.created_at,
        "updated_at": patient.updated_at,
    }


register_section("patient", patient_record)


def build_export(patient: Patient, practice_name: str, exported_at: datetime) -> dict:
    return _plain(
        {
            "format": "motio-patient-export/1",
            "practice": practice_name,
            "exported_at": exported_at,
            **{name: build(patient) for name, build in _SECTIONS.items()},
        }
    )
