"""The demo data shows every groups feature and can be loaded twice without duplicates."""

from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.db import utcnow
from demo.data import load_demo
from extensions import db
from groups import operations
from groups.models import ClosureDay, Enrolment, Group, Programme, Room, Session, SessionChange, SessionGuest
from tests.groups.helpers import system


def counts() -> dict:
    return {
        model.__name__: db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for model in (Programme, Room, Group, Session, Enrolment, ClosureDay, SessionGuest, SessionChange)
    }


def test_the_demo_shows_the_groups_features_and_loads_twice_without_duplicates():
    result = load_demo()
    first = counts()
    load_demo()
    assert counts() == first
    assert (first["Programme"], first["Room"], first["Group"], first["ClosureDay"]) == (3, 2, 6, 1)

    now = utcnow()
    zone = ZoneInfo(result.practice.timezone)
    groups = db.session.execute(sa.select(Group)).scalars().all()
    ends = {g.id: max(s.ends_at for s in operations.group_sessions(system(result.practice), g.id)) for g in groups}
    starts = {g.id: min(s.starts_at for s in operations.group_sessions(system(result.practice), g.id)) for g in groups}
    assert any(end < now for end in ends.values()), "a finished group"
    assert any(start > now for start in starts.values()), "an upcoming group"
    assert len({g.room_id for g in groups}) == 2
    assert len({u.id for g in groups for u in g.supervisors}) == 3

    by_status = operations.group_counts(system(result.practice), [g.id for g in groups])
    full = [g for g in groups if by_status[g.id]["enrolled"] == g.capacity and by_status[g.id]["waitlisted"]]
    assert full, "a full group with a waitlist"
    statuses = db.session.execute(sa.select(Session.status, Session.replacement)).all()
    assert ("cancelled", False) in statuses and any(replacement for _, replacement in statuses)
    assert db.session.execute(sa.select(Enrolment).where(Enrolment.status == "withdrawn")).first()

    def spans_dst(group) -> bool:
        offsets = {
            s.starts_at.astimezone(zone).utcoffset()
            for s in operations.group_sessions(system(result.practice), group.id)
        }
        return len(offsets) == 2

    assert any(spans_dst(g) for g in groups), "a group whose sessions span a DST change"
