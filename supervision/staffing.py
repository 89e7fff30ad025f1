"""Staffing per session (CLINICAL.md "Staffing"): supervisors required by the levels of the expected patients
and the practice's ratios, against the supervisors assigned. Warnings when an enrolment or a staff change
leaves an upcoming session understaffed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import flash, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from core.access import get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Forbidden
from extensions import db
from groups import operations as groups
from groups.models import Enrolment, Session
from supervision import operations as ops
from supervision.rules import required_supervisors

#: How far ahead the dashboard and the warnings look for understaffed sessions.
LOOKAHEAD = timedelta(days=14)


@dataclass
class SessionStaffing:
    session_id: int
    required: int
    assigned: int
    understaffed: bool
    patients_by_level: dict[str, int]
    level_not_set: int
    #: Level-4 patients ("individual start"): they should begin 1:1, not in this group.
    individual_start: list[int] = field(default_factory=list)


def staffing_for(practice_id: int, sessions: Iterable[Session]) -> dict[int, SessionStaffing]:
    """Staffing of many sessions with a fixed number of queries (expected patients, levels, ratios)."""
    sessions = list(sessions)
    expected = groups.expected_patient_ids(practice_id, [s.id for s in sessions])
    levels = ops.current_levels(practice_id, {pid for pids in expected.values() for pid in pids})
    ratios = ops.supervision_ratios(practice_id)
    result = {}
    for session in sessions:
        patient_levels = [levels.get(pid) for pid in expected[session.id]]
        figures = required_supervisors(patient_levels, ratios)
        assigned = len(session.supervisors)
        result[session.id] = SessionStaffing(
            session_id=session.id,
            required=figures.required,
            assigned=assigned,
            understaffed=session.status == "scheduled" and assigned < figures.required,
            patients_by_level=figures.patients_by_level,
            level_not_set=figures.level_not_set,
            individual_start=[pid for pid in expected[session.id] if levels.get(pid) == 4],
        )
    return result


def session_staffing(actor: Actor, session_id) -> SessionStaffing:
    if not ops.allowed(actor, "view_levels"):
        raise Forbidden(_l("You do not have permission to do this."))
    session = get_scoped(Session, session_id, actor.practice_id)
    return staffing_for(actor.practice_id, [session])[session.id]


def _upcoming(practice_id: int, now: datetime, *, group_id: int | None = None, session_ids=None) -> list[Session]:
    query = (
        sa.select(Session)
        .where(
            Session.practice_id == practice_id,
            Session.status == "scheduled",
            Session.starts_at > now,
            Session.starts_at <= now + LOOKAHEAD,
        )
        .options(selectinload(Session.supervisors), selectinload(Session.group))
        .order_by(Session.starts_at)
    )
    if group_id is not None:
        query = query.where(Session.group_id == group_id)
    if session_ids is not None:
        query = query.where(Session.id.in_(list(session_ids)))
    return list(db.session.execute(query).scalars())


def understaffed_upcoming(actor: Actor, now: datetime | None = None) -> list[tuple[Session, SessionStaffing]]:
    sessions = _upcoming(actor.practice_id, now or utcnow())
    staffing = staffing_for(actor.practice_id, sessions)
    return [(s, staffing[s.id]) for s in sessions if staffing[s.id].understaffed]


def _warn(sessions: list[Session], practice_id: int) -> None:
    """Tell the person who made the change, on the page they return to (not an error: they may add staff)."""
    if not has_request_context() or not sessions:
        return
    staffing = staffing_for(practice_id, sessions)
    short = [s for s in sessions if staffing[s.id].understaffed]
    if short:
        first = short[0]
        flash(
            _l(
                "Understaffed: %(n)d upcoming session(s) need more supervisors, the first on %(when)s "
                "(%(required)d needed, %(assigned)d assigned).",
                n=len(short),
                when=groups.describe_session(first, first.group.timezone),
                required=staffing[first.id].required,
                assigned=staffing[first.id].assigned,
            ),
            "warning",
        )


def on_enrolment_changed(enrolment: Enrolment, *, actor: Actor, kind: str, **_) -> None:
    if kind in ("enrolled", "promoted"):
        db.session.flush()
        _warn(_upcoming(actor.practice_id, utcnow(), group_id=enrolment.group_id), actor.practice_id)
        if (
            ops.current_levels(actor.practice_id, [enrolment.patient_id]).get(enrolment.patient_id) == 4
            and has_request_context()
        ):
            flash(
                _l(
                    "This patient has level 4 (individual start): plan 1:1 sessions first and join the group "
                    "after reassessment."
                ),
                "warning",
            )


def on_session_changed(session: Session, *, actor: Actor, kind: str, **_) -> None:
    if kind in ("supervisors", "moved", "restored"):
        db.session.flush()
        _warn(_upcoming(actor.practice_id, utcnow(), session_ids=[session.id]), actor.practice_id)


def init_app(app) -> None:
    from core.events import enrolment_changed, session_changed
    from core.views import add_dashboard_panel
    from groups.views import add_session_section

    enrolment_changed.connect(on_enrolment_changed)
    session_changed.connect(on_session_changed)
    add_session_section(app, session_section)
    add_dashboard_panel(app, dashboard_panel)


def session_section(actor: Actor, session: Session) -> dict | None:
    if not ops.allowed(actor, "view_levels"):
        return None
    return {
        "template": "supervision/_session_staffing.html",
        "staffing": staffing_for(actor.practice_id, [session])[session.id],
        "ratios": ops.supervision_ratios(actor.practice_id),
    }


def dashboard_panel(actor: Actor) -> dict | None:
    if not ops.allowed(actor, "view_levels"):
        return None
    short = understaffed_upcoming(actor)
    if not short:
        return None
    return {"template": "supervision/_dashboard_staffing.html", "urgent": False, "sessions": short}
