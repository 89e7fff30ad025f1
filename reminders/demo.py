"""Demo reminders: quiet hours off, and a session within the next day, so that `flask reminders dispatch --once`
right after `flask demo load` sends real reminders (to the local mail sink of `make run`)."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from accounts.models import Practice
from core.actor import Actor
from core.db import utcnow
from core.errors import DomainError
from extensions import db
from groups import operations as groups
from groups.models import Enrolment, Group, Session
from reminders.models import ReminderSettings

log = logging.getLogger(__name__)


def load_reminders_demo(practice: Practice) -> None:
    prefs = db.session.get(ReminderSettings, practice.id)
    if prefs is None:
        db.session.add(ReminderSettings(practice_id=practice.id, remind_24h=True, remind_2h=True, quiet_hours=False))
    now = utcnow()
    soon = sa.select(Session.id).join(Enrolment, Enrolment.group_id == Session.group_id).where(
        Session.practice_id == practice.id, Session.status == "scheduled", Session.starts_at > now,
        Session.starts_at <= now + timedelta(hours=23), Enrolment.status == "enrolled",
    )
    if db.session.execute(soon.limit(1)).first():
        return
    # No session in the coming day (a weekend, say): bring the next session of a running group forward to
    # tomorrow's slot, the way a practice would plan an extra session.
    upcoming = db.session.execute(
        sa.select(Session).join(Group, Group.id == Session.group_id)
        .join(Enrolment, Enrolment.group_id == Group.id)
        .where(Session.practice_id == practice.id, Session.status == "scheduled", Session.starts_at > now,
               Enrolment.status == "enrolled")
        .order_by(Session.starts_at).limit(1)
    ).scalar_one_or_none()
    if upcoming is None:
        return
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=20)
    try:
        with db.session.begin_nested():
            groups.change_session(
                Actor.system(practice.id), upcoming.id,
                {"starts_at": start, "ends_at": start + (upcoming.ends_at - upcoming.starts_at)},
                reason="Extra sessie ingepland (demo)", override_supervisor_conflicts=True,
            )
    except DomainError as exc:  # the room is taken then: the demo simply has no reminder due tonight
        log.info("demo: no session moved to tomorrow (%s)", exc.message)
