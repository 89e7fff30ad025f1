"""Demo programmes, rooms and groups, relative to the day `flask demo load` runs. Safe to run again: rows are
found by name (or date) and only missing ones are made, through the same operations the app uses.

Six groups over two rooms and three supervisors: two finished (with withdrawals, a moved and a cancelled
session), two running (one with a late enrolment and an upcoming cancelled session, one whose sessions span the
nearest change of daylight saving time), and two upcoming (one full with a waitlist, one skipping a closure day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from accounts.models import Practice, User
from core.actor import Actor
from core.db import utcnow
from extensions import db
from groups import operations, rules
from groups.models import ClosureDay, Group, Session
from patients.models import Patient

ROOMS = [
    {"name": "Oefenzaal 1", "capacity": 12, "address": "Oudegracht 100, 3511 AX Utrecht (begane grond)"},
    {"name": "Oefenzaal 2", "capacity": 8, "address": "Oudegracht 100, 3511 AX Utrecht (eerste verdieping)"},
]

PROGRAMMES = [
    {
        "name": "Rug in beweging",
        "description": "Acht weken samen oefenen voor mensen met langdurige lage rugpijn. Eerst twee lessen over "
        "pijn en bewegen. Daarna zestien keer trainen in een kleine groep, twee keer per week. U leert weer te "
        "vertrouwen op uw rug.",
        "session_count": 18,
        "education_sessions": 2,
        "sessions_per_week": 2,
        "session_minutes": 60,
        "default_group_size": 10,
    },
    {
        "name": "Sterk in zes weken",
        "description": "Zes weken lang twee keer per week trainen in een groep van acht tot tien mensen. U werkt "
        "aan kracht en conditie, op uw eigen tempo.",
        "session_count": 12,
        "education_sessions": 1,
        "sessions_per_week": 2,
        "session_minutes": 60,
        "default_group_size": 10,
    },
    {
        "name": "Nek in balans",
        "description": "Twaalf keer oefenen voor mensen met langdurige nekpijn. U leert hoe u uw nek en schouders "
        "soepel en sterk houdt, ook thuis.",
        "session_count": 12,
        "education_sessions": 1,
        "sessions_per_week": 2,
        "session_minutes": 45,
        "default_group_size": 8,
    },
]


#: Index of the demo patient (enrolled in "Rug B") who books a make-up session in "Rug C".
MAKEUP_PATIENT = 10


@dataclass(frozen=True)
class DemoGroup:
    name: str
    programme: str
    room: str
    weekdays: tuple[str, ...]
    start_time: time
    capacity: int
    supervisors: tuple[str, ...]  # staff emails
    start: date
    patients: range


def nearest_dst_change(today: date, timezone: str) -> date:
    """The local date of the DST change closest to today (past or future)."""
    zone = ZoneInfo(timezone)
    changes = []
    for offset in range(-200, 200):
        day = today + timedelta(days=offset)
        before = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).utcoffset()
        if before != after:
            changes.append(day)
    return min(changes, key=lambda d: abs((d - today).days))


def _plan(today: date, timezone: str) -> tuple[list[DemoGroup], date]:
    monday = rules.week_start(today)
    dst_week = rules.week_start(nearest_dst_change(today, timezone))
    eva, daan, annelies = "therapeut@example.com", "therapeut2@example.com", "admin@example.com"
    closure = monday + timedelta(weeks=2, days=3)  # the Thursday of group "Nek B"'s first week
    groups = [
        DemoGroup(
            "Rug A · ma/do 18:00", "Rug in beweging", "Oefenzaal 1", ("MO", "TH"), time(18), 10, (eva,),
            monday - timedelta(weeks=12), range(0, 9),
        ),
        DemoGroup(
            "Nek A · wo/vr 13:00", "Nek in balans", "Oefenzaal 1", ("WE", "FR"), time(13), 8, (annelies,),
            monday - timedelta(weeks=7), range(20, 26),
        ),
        DemoGroup(
            "Rug B · di/vr 09:30", "Rug in beweging", "Oefenzaal 2", ("TU", "FR"), time(9, 30), 8, (daan,),
            monday - timedelta(weeks=4), range(9, 16),
        ),
        DemoGroup(
            "Rug C · di/vr 17:00 (wisseling zomertijd)", "Rug in beweging", "Oefenzaal 1", ("TU", "FR"), time(17),
            10, (eva,), dst_week - timedelta(weeks=3), range(34, 40),
        ),
        DemoGroup(
            "Sterk · ma/wo 19:15", "Sterk in zes weken", "Oefenzaal 1", ("MO", "WE"), time(19, 15), 10,
            (annelies, eva), monday + timedelta(weeks=1), range(17, 30),
        ),
        DemoGroup(
            "Nek B · ma/do 11:00", "Nek in balans", "Oefenzaal 2", ("MO", "TH"), time(11), 8, (daan,),
            monday + timedelta(weeks=2), range(30, 35),
        ),
    ]  # fmt: skip
    return groups, closure


def _local(day: date, at: time, timezone: str) -> datetime:
    return rules.local_to_utc(day, at, timezone)


def load_groups_demo(practice: Practice, staff: list[User], patients: list[Patient]) -> list[Group]:
    actor = Actor.system(practice.id)
    timezone = practice.timezone
    today = rules.utc_to_local(utcnow(), timezone).date()
    now = utcnow()

    rooms = {r.name: r for r in operations.list_rooms(actor)}
    for values in ROOMS:
        if values["name"] not in rooms:
            rooms[values["name"]] = operations.create_room(actor, values)
    programmes = {p.name: p for p in operations.list_programmes(actor)}
    for values in PROGRAMMES:
        if values["name"] not in programmes:
            programmes[values["name"]] = operations.create_programme(actor, values)
    by_email = {u.email: u for u in staff}
    plan, closure_day = _plan(today, timezone)
    existing = {
        g.name: g for g in db.session.execute(sa.select(Group).where(Group.practice_id == practice.id)).scalars()
    }

    groups = []
    for spec in plan:
        group = existing.get(spec.name)
        if group is None:
            if (
                spec.name.startswith("Nek B")
                and not db.session.execute(
                    sa.select(ClosureDay.id).where(ClosureDay.practice_id == practice.id, ClosureDay.day == closure_day)
                ).first()
            ):
                operations.add_closure(actor, closure_day, "Teamscholing: praktijk gesloten")
            group = operations.create_group(
                actor,
                {
                    "programme_id": programmes[spec.programme].id,
                    "room_id": rooms[spec.room].id,
                    "name": spec.name,
                    "start_date": spec.start,
                    "weekdays": list(spec.weekdays),
                    "start_time": spec.start_time,
                    "capacity": spec.capacity,
                    "supervisor_ids": [by_email[e].id for e in spec.supervisors],
                },
            )
            _history(actor, spec, group, [patients[i] for i in spec.patients], now, timezone)
            if spec.name.startswith("Rug C"):
                _makeup(actor, group, patients[MAKEUP_PATIENT], now)
        groups.append(group)
    db.session.flush()
    return groups


def _makeup(actor: Actor, group: Group, patient: Patient, now: datetime) -> None:
    """A patient of "Rug B" makes up a missed session in "Rug C" (same programme, free places)."""
    upcoming = next((s for s in _sessions(group) if s.starts_at > now and not s.cancelled), None)
    if upcoming is not None:
        operations.book_guest(actor, upcoming.id, patient.id, at=now)


def _sessions(group: Group) -> list[Session]:
    return list(
        db.session.execute(sa.select(Session).where(Session.group_id == group.id).order_by(Session.starts_at)).scalars()
    )


def _history(actor: Actor, spec: DemoGroup, group: Group, members: list[Patient], now: datetime, tz: str) -> None:
    """Enrolments, withdrawals and session changes as they would have happened, dated in the past."""
    first = _local(spec.start, time(9), tz)
    sessions = _sessions(group)
    # Signed up a week before the start (or yesterday, for a group that starts soon).
    signed_up = min(first - timedelta(days=7), now - timedelta(days=1))
    if spec.name.startswith("Rug B"):
        late = members.pop()  # joins two weeks after the start: sessions count from then
        for patient in members:
            operations.enrol(actor, group.id, patient.id, at=signed_up)
        operations.enrol(actor, group.id, late.id, at=first + timedelta(weeks=2))
        upcoming = next(s for s in sessions if s.starts_at > now + timedelta(days=1))
        operations.cancel_session(actor, upcoming.id, reason="Therapeut op cursus; de sessie vervalt.")
        past = [s for s in sessions if s.ends_at < now]
        if len(past) > 3:
            operations.change_session(
                actor, past[2].id, {"notes": "Nieuwe elastieken gebruikt; werkte goed bij de schouderoefeningen."}
            )
        return
    for patient in members:
        operations.enrol(actor, group.id, patient.id, at=signed_up)
    enrolments = {e.patient_id: e for e in operations.group_enrolments(actor, group.id, log=False)}
    if spec.name.startswith("Rug A"):
        operations.withdraw(actor, enrolments[members[3].id].id, reason="PAIN_INTENSITY", at=first + timedelta(weeks=3))
        operations.withdraw(
            actor,
            enrolments[members[7].id].id,
            reason="NO_TIME",
            note="Nieuwe baan met avonddiensten.",
            at=first + timedelta(weeks=5),
        )
        moved = sessions[5]
        operations.change_session(
            actor,
            moved.id,
            {"starts_at": moved.starts_at + timedelta(hours=1)},
            reason="Zaal eerder in gebruik voor onderhoud",
        )
        operations.cancel_session(actor, sessions[9].id, reason="Storing aan de verwarming")
    elif spec.name.startswith("Nek A"):
        operations.withdraw(actor, enrolments[members[1].id].id, reason="RECOVERED", at=first + timedelta(weeks=4))
    elif spec.name.startswith("Rug C"):
        withdrawn_at = min(first + timedelta(weeks=3), now - timedelta(hours=1))
        if withdrawn_at > first:
            operations.withdraw(actor, enrolments[members[4].id].id, reason="FEAR_OF_MOVEMENT", at=withdrawn_at)
