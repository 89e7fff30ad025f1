"""Demo calendars: feed and portal links for the demo patients, a few "I can't come" notices, and the invitations
due now for patients who prefer invitations (and for supervisors)."""

from __future__ import annotations

import sqlalchemy as sa

from accounts.models import Practice
from calendars import operations as ops
from calendars.models import AbsenceNotice
from core.db import utcnow
from extensions import db
from patients.models import Patient

#: (patient index, reason): patients who already said they cannot come to their next session.
NOTICES = ((1, "ILLNESS"), (4, "NO_TIME"), (7, "PAIN_INTENSITY"))


def load_calendars_demo(practice: Practice, patients: list[Patient]) -> int:
    now = utcnow()
    for patient in patients:
        if patient.email:
            ops.ensure_link(practice.id, "portal", patient.id)
            ops.ensure_link(practice.id, "patient", patient.id)
    for index, reason in NOTICES:
        if index >= len(patients):
            continue
        patient = patients[index]
        upcoming = [s for s in ops.upcoming_sessions(patient, now) if not s.cancelled]
        if not upcoming:
            continue
        exists = db.session.execute(
            sa.select(AbsenceNotice.id).where(
                AbsenceNotice.patient_id == patient.id, AbsenceNotice.session_id == upcoming[0].id
            )
        ).first()
        if not exists:
            db.session.add(
                AbsenceNotice(
                    practice_id=practice.id,
                    patient_id=patient.id,
                    session_id=upcoming[0].id,
                    reason=reason,
                    note="",
                    created_at=now,
                )
            )
    db.session.flush()
    return ops.queue_invitations(now)
