"""Builders for reminder tests: a practice with a group whose first session starts when the test says."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations as groups
from reminders.models import ReminderSettings
from tests.factories import make_patient, make_practice
from tests.groups.helpers import make_group


def practice_with_session(starts_at: datetime, *, patients: int = 2, quiet_hours: bool = False, **patient_values):
    """A practice, a group, its first session moved to `starts_at`, and enrolled patients who want reminders."""
    practice = make_practice(phone="030 111 2233", sender_email="praktijk@example.com")
    db.session.add(ReminderSettings(practice_id=practice.id, quiet_hours=quiet_hours))
    group = make_group(practice)
    session = groups.group_sessions(Actor.system(practice.id), group.id)[0]
    session.starts_at, session.ends_at = starts_at, starts_at + timedelta(hours=1)
    people = []
    for _ in range(patients):
        values = {"email_consent": True, "reminders_enabled": True, **patient_values}
        patient = make_patient(practice, **values)
        groups.enrol(Actor.system(practice.id), group.id, patient.id, at=utcnow() - timedelta(days=1))
        people.append(patient)
    db.session.flush()
    return practice, group, session, people
