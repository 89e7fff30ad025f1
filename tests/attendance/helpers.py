"""Builders for attendance tests: a practice with a therapist, a group that started some weeks ago (sessions in the
past and to come) and enrolled patients, all made through the real operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from accounts.models import Practice, User
from core.actor import Actor
from groups import operations as groups
from groups.models import Group, Session
from tests.factories import make_patient, make_practice, make_user
from tests.groups.helpers import make_group, make_programme, make_room, monday


@dataclass
class Setup:
    practice: Practice
    therapist: User
    actor: Actor
    group: Group
    sessions: list[Session]
    patients: list
    enrolments: list

    def at(self, n: int, hours: float = 2):
        """A moment `hours` after session n (0-based) started."""
        return self.sessions[n].starts_at + timedelta(hours=hours)


def build(
    patients: int = 3,
    *,
    practice=None,
    weeks_ago: int = 4,
    session_count: int = 12,
    threshold: int = 75,
    names: list[str] | None = None,
    programme=None,
) -> Setup:
    practice = practice or make_practice()
    therapist = make_user(practice, "therapist")
    programme = programme or make_programme(
        practice, session_count=session_count, sessions_per_week=2, education_sessions=0, completion_threshold=threshold
    )
    size = max(10, patients)
    group = make_group(
        practice,
        programme=programme,
        room=make_room(practice, capacity=size),
        capacity=size,
        start_date=monday(-weeks_ago),
        supervisor_ids=[therapist.id],
        override=True,
    )
    actor = Actor.for_user(therapist)
    sessions = groups.group_sessions(actor, group.id)
    people = [make_patient(practice, **({"name": names[n]} if names else {})) for n in range(patients)]
    enrolments = [groups.enrol(actor, group.id, p.id, at=sessions[0].starts_at - timedelta(days=1)) for p in people]
    return Setup(practice, therapist, actor, group, sessions, people, enrolments)
