"""Use cases for rooms, programmes, closure days, groups, sessions, enrolment, the waitlist and make-up bookings.

Every function takes the acting user (`Actor`), scopes every query by the actor's practice, checks the role
here (not only in the views), flushes and never commits. Capacity checks lock the group row first (FOR UPDATE on
PostgreSQL; SQLite transactions begin IMMEDIATE, so writers already take turns), which makes "two requests for the
last place" give one place and one waitlist entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_datetime, format_time
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import Practice, User
from accounts.operations import audit
from core.access import PERMISSIONS, get_scoped
from core.actor import Actor
from core.db import MAX_ID, utcnow
from core.errors import Conflict, Forbidden, Invalid
from core.events import enrolment_changed, session_changed
from core.validation import clean_name
from extensions import db
from groups import rules
from groups.models import (
    ClosureDay,
    Enrolment,
    Group,
    Programme,
    Room,
    Session,
    SessionChange,
    SessionGuest,
    session_supervisors,
)
from patients.models import LANGUAGES, Patient

MAX_CAPACITY = 200
MAX_SESSIONS = 200
MAX_MINUTES = 8 * 60
MIN_MINUTES = 5
#: Groups and moved sessions must fall within this window around today (typos like 2207 are refused).
PLAN_YEARS_BACK = 2
PLAN_YEARS_AHEAD = 5
SUPERVISOR_ROLES = ("admin", "therapist")
SCOPES = ("one", "future")
_PLAN_WINDOW = _l(
    "Choose a date within %(back)d years before and %(ahead)d years after today.",
    back=PLAN_YEARS_BACK,
    ahead=PLAN_YEARS_AHEAD,
)


def _require(actor: Actor, permission: str) -> None:
    if actor.kind == "system":  # CLI and demo data run as the practice itself
        return
    if actor.role not in PERMISSIONS[permission]:
        raise Forbidden(_l("You do not have permission to do this."))


def _fail(field_name: str, message) -> Invalid:
    """A refusal naming one field; `message` may be a lazy string or the ValueError of a cleaner."""
    text = str(message)
    return Invalid(text, {field_name: text})


def _find(model, object_id, practice_id: int):
    """A referenced row of this practice, or None (an id in a request body: 'unknown', never 'not yours')."""
    if not isinstance(object_id, int) or isinstance(object_id, bool) or not 0 < object_id <= MAX_ID:
        return None
    return db.session.execute(
        sa.select(model).where(model.id == object_id, model.practice_id == practice_id)
    ).scalar_one_or_none()


def _int(value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(_l("Enter a whole number."))
    if not low <= value <= high:
        raise ValueError(_l("Enter a number from %(low)d to %(high)d.", low=low, high=high))
    return value


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_l("Choose yes or no."))
    return value


def _no_control_characters(value: str) -> str:
    # PostgreSQL cannot store NUL at all, and other control characters are never meant in these fields.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError(_l("Remove the control characters from this text."))
    return value


def _name(value, max_length: int = 200) -> str:
    if isinstance(value, str):
        _no_control_characters(value)
    return clean_name(value, max_length)


def _text(value, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(_l("Enter text."))
    value = _no_control_characters(value).strip()
    if len(value) > max_length:
        raise ValueError(_l("Use at most %(n)d characters.", n=max_length))
    return value


def _clean(values: dict, cleaners: dict, required: Iterable[str]) -> tuple[dict, dict[str, str]]:
    """Run each field's cleaner; collect every error so a form can mark all bad fields at once."""
    clean, errors = {}, {}
    for name in values:
        if name not in cleaners:
            errors[name] = str(_l("Unknown field."))
    for name in required:
        if values.get(name) is None:
            errors.setdefault(name, str(_l("This field is required.")))
    for name, value in values.items():
        if name in cleaners and name not in errors:
            try:
                clean[name] = cleaners[name](value)
            except ValueError as exc:
                errors[name] = str(exc)
    return clean, errors


def practice_timezone(actor: Actor) -> str:
    # Through the user when there is one: it holds its practice for the whole request, so this is one query.
    if actor.user is not None:
        return actor.user.practice.timezone
    return db.session.get(Practice, actor.practice_id).timezone


def _locale() -> str:
    return str(get_locale() or "en")


def describe_session(session: Session, timezone: str) -> str:
    """'Group name, session 3, Thu 4 Mar 2027 18:00–19:00' in the reader's language and the practice's zone."""
    zone = ZoneInfo(timezone)
    start = format_datetime(session.starts_at, "EEE d MMM y HH:mm", tzinfo=zone, locale=_locale())
    end = format_time(session.ends_at, "HH:mm", tzinfo=zone, locale=_locale())
    return str(
        _l(
            "%(group)s, session %(n)d, %(start)s–%(end)s",
            group=session.group.name,
            n=session.number,
            start=start,
            end=end,
        )
    )


# --- rooms ---------------------------------------------------------------------------------------------------

_ROOM_CLEANERS = {
    "name": lambda v: _name(v, 100),
    "address": lambda v: _text(v, 300),
    "capacity": lambda v: _int(v, 1, MAX_CAPACITY),
    "active": _bool,
}


def list_rooms(actor: Actor, *, active_only: bool = False) -> list[Room]:
    query = sa.select(Room).where(Room.practice_id == actor.practice_id)
    if active_only:
        query = query.where(Room.active.is_(True))
    return list(db.session.execute(query.order_by(Room.name, Room.id)).scalars())


def get_room(actor: Actor, room_id) -> Room:
    return get_scoped(Room, room_id, actor.practice_id)


def _unique_name(model, practice_id: int, name: str, current_id: int | None) -> None:
    query = sa.select(model.id).where(model.practice_id == practice_id, model.name == name)
    if current_id is not None:
        query = query.where(model.id != current_id)
    if db.session.execute(query).first():
        message = _l("This name is already in use.")
        raise Conflict(message, {"name": str(message)})


def create_room(actor: Actor, values: dict) -> Room:
    _require(actor, "manage_groups")
    clean, errors = _clean(values, _ROOM_CLEANERS, required=("name", "capacity"))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    _unique_name(Room, actor.practice_id, clean["name"], None)
    room = Room(practice_id=actor.practice_id, **clean)
    db.session.add(room)
    db.session.flush()
    return room


def update_room(actor: Actor, room_id, values: dict) -> Room:
    _require(actor, "manage_groups")
    room = get_room(actor, room_id)
    clean, errors = _clean(values, _ROOM_CLEANERS, required=())
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    if "name" in clean:
        _unique_name(Room, actor.practice_id, clean["name"], room.id)
    for name, value in clean.items():
        setattr(room, name, value)
    db.session.flush()
    return room


# --- programmes ----------------------------------------------------------------------------------------------


def _language(value) -> str:
    if value not in LANGUAGES:
        raise ValueError(_l("Choose Dutch (nl) or English (en)."))
    return value


_PROGRAMME_CLEANERS = {
    "name": _name,
    "description": lambda v: _text(v, 5000),
    "session_count": lambda v: _int(v, 1, MAX_SESSIONS),
    "sessions_per_week": lambda v: _int(v, 1, 7),
    "session_minutes": lambda v: _int(v, 15, MAX_MINUTES),
    "education_sessions": lambda v: _int(v, 0, MAX_SESSIONS),
    "default_group_size": lambda v: _int(v, 1, MAX_CAPACITY),
    "completion_threshold": lambda v: _int(v, 1, 100),
    "language": _language,
    "active": _bool,
}
_PROGRAMME_REQUIRED = ("name", "session_count", "sessions_per_week", "session_minutes", "default_group_size")


def list_programmes(actor: Actor, *, active_only: bool = False) -> list[Programme]:
    query = sa.select(Programme).where(Programme.practice_id == actor.practice_id)
    if active_only:
        query = query.where(Programme.active.is_(True))
    return list(db.session.execute(query.order_by(Programme.name, Programme.id)).scalars())


def get_programme(actor: Actor, programme_id) -> Programme:
    return get_scoped(Programme, programme_id, actor.practice_id)


def _check_programme(clean: dict, current: Programme | None, errors: dict[str, str]) -> None:
    count = clean.get("session_count", current.session_count if current else None)
    education = clean.get("education_sessions", current.education_sessions if current else 0)
    if count is not None and education is not None and education > count and "education_sessions" not in errors:
        errors["education_sessions"] = str(_l("There cannot be more education sessions than sessions."))


def create_programme(actor: Actor, values: dict) -> Programme:
    _require(actor, "manage_groups")
    clean, errors = _clean(values, _PROGRAMME_CLEANERS, required=_PROGRAMME_REQUIRED)
    _check_programme(clean, None, errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    _unique_name(Programme, actor.practice_id, clean["name"], None)
    programme = Programme(practice_id=actor.practice_id, **clean)
    db.session.add(programme)
    db.session.flush()
    return programme


def update_programme(actor: Actor, programme_id, values: dict) -> Programme:
    """Changes apply to groups planned from now on; existing groups keep their sessions."""
    _require(actor, "manage_groups")
    programme = get_programme(actor, programme_id)
    clean, errors = _clean(values, _PROGRAMME_CLEANERS, required=())
    _check_programme(clean, programme, errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    if "name" in clean:
        _unique_name(Programme, actor.practice_id, clean["name"], programme.id)
    for name, value in clean.items():
        setattr(programme, name, value)
    db.session.flush()
    return programme


# --- closure days --------------------------------------------------------------------------------------------


def list_closures(actor: Actor, *, since: date | None = None) -> list[ClosureDay]:
    query = sa.select(ClosureDay).where(ClosureDay.practice_id == actor.practice_id)
    if since is not None:
        query = query.where(ClosureDay.day >= since)
    return list(db.session.execute(query.order_by(ClosureDay.day)).scalars())


def _closed_days(practice_id: int, start: date, end: date) -> set[date]:
    return set(
        db.session.execute(
            sa.select(ClosureDay.day).where(
                ClosureDay.practice_id == practice_id, ClosureDay.day >= start, ClosureDay.day <= end
            )
        ).scalars()
    )


def _check_plan_date(value, field_name: str) -> date:
    today = utcnow().date()
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _fail(field_name, _l("Enter a date as YYYY-MM-DD."))
    if not today - timedelta(days=365 * PLAN_YEARS_BACK) <= value <= today + timedelta(days=365 * PLAN_YEARS_AHEAD):
        raise _fail(field_name, _PLAN_WINDOW)
    return value


def add_closure(actor: Actor, day, reason: str = "") -> tuple[ClosureDay, int]:
    """Close the practice on a day; returns the closure and how many scheduled sessions already fall on it
    (they are left for staff to move or cancel: each patient must hear about it)."""
    _require(actor, "manage_closures")
    day = _check_plan_date(day, "day")
    try:
        reason = _text(reason, 200)
    except ValueError as exc:
        raise _fail("reason", exc) from exc
    if db.session.execute(
        sa.select(ClosureDay.id).where(ClosureDay.practice_id == actor.practice_id, ClosureDay.day == day)
    ).first():
        raise Conflict(_l("This day is already a closure day."), {"day": str(_l("This day is already a closure day."))})
    closure = ClosureDay(practice_id=actor.practice_id, day=day, reason=reason)
    db.session.add(closure)
    db.session.flush()
    return closure, len(sessions_on_day(actor, day))


def sessions_on_day(actor: Actor, day: date) -> list[Session]:
    timezone = practice_timezone(actor)
    start = rules.local_to_utc(day, time(0), timezone)
    end = rules.local_to_utc(day + timedelta(days=1), time(0), timezone)
    return list(
        db.session.execute(
            sa.select(Session)
            .where(
                Session.practice_id == actor.practice_id,
                Session.status == "scheduled",
                Session.starts_at >= start,
                Session.starts_at < end,
            )
            .order_by(Session.starts_at)
        ).scalars()
    )


def remove_closure(actor: Actor, closure_id) -> None:
    _require(actor, "manage_closures")
    db.session.delete(get_scoped(ClosureDay, closure_id, actor.practice_id))
    db.session.flush()


# --- conflicts -----------------------------------------------------------------------------------------------


@dataclass
class Planned:
    """A session as it would be after a change: times, room and supervisors (ids)."""

    starts_at: datetime
    ends_at: datetime
    room_id: int
    supervisor_ids: tuple[int, ...] = ()
    session_id: int | None = None


def _room_clashes(practice_id: int, planned: list[Planned], exclude: set[int]) -> list[tuple[int, int]]:
    clashes: list[tuple[int, int]] = []
    by_room: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(planned):
        by_room[item.room_id].append(index)
    for room_id, indices in by_room.items():
        low = min(planned[i].starts_at for i in indices)
        high = max(planned[i].ends_at for i in indices)
        booked = db.session.execute(
            sa.select(Session.starts_at, Session.ends_at, Session.id).where(
                Session.practice_id == practice_id,
                Session.room_id == room_id,
                Session.status == "scheduled",
                Session.starts_at < high,
                Session.ends_at > low,
            )
        ).all()
        booked = [row for row in booked if row.id not in exclude]
        intervals = [(planned[i].starts_at, planned[i].ends_at) for i in indices]
        clashes += [(indices[i], other) for i, other in rules.find_overlaps(intervals, booked)]
    return clashes


def _supervisor_clashes(practice_id: int, planned: list[Planned], exclude: set[int]) -> list[tuple[int, int, int]]:
    by_user: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(planned):
        for user_id in item.supervisor_ids:
            by_user[user_id].append(index)
    if not by_user:
        return []
    low = min(p.starts_at for p in planned)
    high = max(p.ends_at for p in planned)
    rows = db.session.execute(
        sa.select(session_supervisors.c.user_id, Session.starts_at, Session.ends_at, Session.id)
        .join(Session, Session.id == session_supervisors.c.session_id)
        .where(
            session_supervisors.c.user_id.in_(list(by_user)),
            Session.practice_id == practice_id,
            Session.status == "scheduled",
            Session.starts_at < high,
            Session.ends_at > low,
        )
    ).all()
    booked: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.id not in exclude:
            booked[row.user_id].append((row.starts_at, row.ends_at, row.id))
    clashes = []
    for user_id, indices in by_user.items():
        intervals = [(planned[i].starts_at, planned[i].ends_at) for i in indices]
        clashes += [(indices[i], user_id, other) for i, other in rules.find_overlaps(intervals, booked[user_id])]
    return clashes


def _more(n: int) -> str:
    return str(_l(" (and %(n)d more)", n=n - 1)) if n > 1 else ""


def check_conflicts(
    actor: Actor,
    planned: list[Planned],
    *,
    timezone: str,
    rooms: bool = True,
    supervisors: bool = True,
    override_supervisors: bool = False,
) -> None:
    """Refuse a double-booked room (always) or supervisor (unless overridden), naming the other session.

    The rooms' rows are locked first (in id order, so two requests cannot deadlock): two bookings of one room
    take turns until commit, so they cannot both see it free.
    """
    exclude = {p.session_id for p in planned if p.session_id is not None}
    if rooms:
        db.session.execute(
            sa.select(Room.id)
            .where(Room.id.in_(sorted({p.room_id for p in planned})))
            .order_by(Room.id)
            .with_for_update()
        ).all()
        clashes = _room_clashes(actor.practice_id, planned, exclude)
        if clashes:
            other = db.session.get(Session, clashes[0][1])
            message = _l(
                "Room %(room)s is already booked at that time: %(other)s%(more)s.",
                room=other.room.name,
                other=describe_session(other, timezone),
                more=_more(len(clashes)),
            )
            raise Conflict(message, {"room_id": str(message)})
    if supervisors and not override_supervisors:
        clashes = _supervisor_clashes(actor.practice_id, planned, exclude)
        if clashes:
            _, user_id, other_id = clashes[0]
            other = db.session.get(Session, other_id)
            message = _l(
                "%(name)s already supervises at that time: %(other)s%(more)s. Choose someone else, or confirm "
                "the double booking.",
                name=db.session.get(User, user_id).name,
                other=describe_session(other, timezone),
                more=_more(len(clashes)),
            )
            raise Conflict(message, {"supervisor_ids": str(message)})


# --- groups --------------------------------------------------------------------------------------------------

_DAY_NAMES = {
    "MO": _l("Mon"),
    "TU": _l("Tue"),
    "WE": _l("Wed"),
    "TH": _l("Thu"),
    "FR": _l("Fri"),
    "SA": _l("Sat"),
    "SU": _l("Sun"),
}


def weekday_label(codes: Iterable[str]) -> str:
    return "/".join(str(_DAY_NAMES[c]) for c in codes)


def _supervisors(actor: Actor, ids, field_name: str = "supervisor_ids") -> list[User]:
    if ids is None:
        return []
    if not isinstance(ids, list | tuple) or len(ids) > 20:
        raise _fail(field_name, _l("Give a list of staff members."))
    users = []
    for user_id in dict.fromkeys(ids):
        user = _find(User, user_id, actor.practice_id)
        if user is None or not user.active:
            raise _fail(field_name, _l("Unknown or inactive staff member: %(id)s.", id=user_id))
        if user.role not in SUPERVISOR_ROLES:
            message = _l("%(name)s is an assistant; supervisors are therapists or admins.", name=user.name)
            raise _fail(field_name, message)
        users.append(user)
    return users


def _lock_group(actor: Actor, group_id) -> Group:
    """The group row, locked until commit on PostgreSQL, so capacity checks and waitlist changes take turns."""
    get_scoped(Group, group_id, actor.practice_id)
    return db.session.execute(
        sa.select(Group)
        .where(Group.id == group_id, Group.practice_id == actor.practice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _end_time_ok(start: time, minutes: int) -> bool:
    return start.hour * 60 + start.minute + minutes <= 24 * 60


def create_group(actor: Actor, values: dict, *, override_supervisor_conflicts: bool = False) -> Group:
    """Plan a group and materialise its sessions: one row per occurrence of the weekly pattern, closure days
    skipped and replaced at the end, each with the group's room and supervisors."""
    _require(actor, "manage_groups")
    known = {"programme_id", "room_id", "name", "start_date", "weekdays", "start_time", "capacity", "supervisor_ids"}
    errors: dict[str, str] = {name: str(_l("Unknown field.")) for name in values if name not in known}
    for name in ("programme_id", "room_id", "start_date", "weekdays", "start_time", "capacity"):
        if values.get(name) is None:
            errors[name] = str(_l("This field is required."))
    programme = _find(Programme, values.get("programme_id"), actor.practice_id)
    if "programme_id" not in errors and (programme is None or not programme.active):
        errors["programme_id"] = str(_l("Choose an active programme of your practice."))
    room = _find(Room, values.get("room_id"), actor.practice_id)
    if "room_id" not in errors and (room is None or not room.active):
        errors["room_id"] = str(_l("Choose an active room of your practice."))
    weekdays: tuple[str, ...] = ()
    if "weekdays" not in errors:
        try:
            raw = values["weekdays"]
            if not isinstance(raw, list | tuple):
                raise ValueError
            weekdays = rules.parse_weekdays(raw)
        except (ValueError, AttributeError):
            errors["weekdays"] = str(_l("Choose one or more weekdays (MO, TU, WE, TH, FR, SA, SU)."))
    if "start_date" not in errors:
        try:
            _check_plan_date(values["start_date"], "start_date")
        except Invalid as exc:
            errors.update(exc.fields)
    start_time = values.get("start_time")
    if "start_time" not in errors:
        if not isinstance(start_time, time) or start_time.tzinfo is not None:
            errors["start_time"] = str(_l("Enter a time as HH:MM."))
        elif programme is not None and not _end_time_ok(start_time, programme.session_minutes):
            errors["start_time"] = str(_l("Sessions must end before midnight."))
    capacity = values.get("capacity")
    if "capacity" not in errors:
        try:
            _int(capacity, 1, MAX_CAPACITY)
        except ValueError as exc:
            errors["capacity"] = str(exc)
        else:
            if room is not None and capacity > room.capacity:
                errors["capacity"] = str(
                    _l("Room %(room)s holds at most %(n)d patients.", room=room.name, n=room.capacity)
                )
    name = values.get("name")
    if name is not None and "name" not in errors:
        try:
            name = _name(name)
        except ValueError as exc:
            errors["name"] = str(exc)
    try:
        supervisors = _supervisors(actor, values.get("supervisor_ids"))
    except Invalid as exc:
        supervisors = []
        errors.update(exc.fields)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)

    start_time = start_time.replace(second=0, microsecond=0)
    start_date: date = values["start_date"]
    timezone = practice_timezone(actor)
    closed = _closed_days(actor.practice_id, start_date, start_date + timedelta(weeks=rules.MAX_PATTERN_WEEKS))
    try:
        occurrences = rules.expand_pattern(
            start_date=start_date,
            weekdays=weekdays,
            start_time=start_time,
            duration_minutes=programme.session_minutes,
            count=programme.session_count,
            timezone=timezone,
            closures=closed,
        )
    except ValueError as exc:
        raise _fail("weekdays", _l("These sessions do not fit in five years.")) from exc
    supervisor_ids = tuple(u.id for u in supervisors)
    planned = [Planned(o.starts_at, o.ends_at, room.id, supervisor_ids) for o in occurrences]
    check_conflicts(actor, planned, timezone=timezone, override_supervisors=override_supervisor_conflicts)

    group = Group(
        practice_id=actor.practice_id,
        programme_id=programme.id,
        room_id=room.id,
        name=name or f"{programme.name} · {weekday_label(weekdays)} {start_time:%H:%M}",
        start_date=start_date,
        weekdays=",".join(weekdays),
        start_time=start_time,
        session_minutes=programme.session_minutes,
        timezone=timezone,
        capacity=capacity,
        created_by_id=actor.user_id,
        supervisors=supervisors,
    )
    db.session.add(group)
    db.session.flush()
    sessions = [
        Session(
            practice_id=actor.practice_id,
            group_id=group.id,
            number=o.number,
            kind=rules.session_kind(o.number, programme.education_sessions),
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            room_id=room.id,
            replacement=o.replacement,
        )
        for o in occurrences
    ]
    db.session.add_all(sessions)
    db.session.flush()
    if supervisor_ids:
        db.session.execute(
            sa.insert(session_supervisors),
            [{"session_id": s.id, "user_id": u} for s in sessions for u in supervisor_ids],
        )
    return group


def get_group(actor: Actor, group_id) -> Group:
    return get_scoped(Group, group_id, actor.practice_id)


def group_counts(actor: Actor, group_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{group_id: {"enrolled": n, "waitlisted": m}} in one query."""
    ids = list(group_ids)
    counts: dict[int, dict[str, int]] = {gid: {"enrolled": 0, "waitlisted": 0} for gid in ids}
    if not ids:
        return counts
    rows = db.session.execute(
        sa.select(Enrolment.group_id, Enrolment.status, sa.func.count())
        .where(
            Enrolment.practice_id == actor.practice_id,
            Enrolment.group_id.in_(ids),
            Enrolment.status.in_(("enrolled", "waitlisted")),
        )
        .group_by(Enrolment.group_id, Enrolment.status)
    ).all()
    for group_id, status, n in rows:
        counts[group_id][status] = n
    return counts


@dataclass
class GroupSummary:
    group: Group
    enrolled: int
    waitlisted: int
    first_start: datetime | None
    last_end: datetime | None
    next_start: datetime | None


def list_groups(actor: Actor, *, page: int = 1, per_page: int = 200, include_finished: bool = True):
    """A page of groups with counts and first/next/last session, newest start first; and the total."""
    now = utcnow()
    bounds = (
        sa.select(
            Session.group_id,
            sa.func.min(Session.starts_at).label("first_start"),
            sa.func.max(Session.ends_at).label("last_end"),
            sa.func.min(
                sa.case((sa.and_(Session.starts_at > now, Session.status == "scheduled"), Session.starts_at))
            ).label("next_start"),
        )
        .where(Session.practice_id == actor.practice_id)
        .group_by(Session.group_id)
        .subquery()
    )
    query = (
        sa.select(Group, bounds.c.first_start, bounds.c.last_end, bounds.c.next_start)
        .outerjoin(bounds, bounds.c.group_id == Group.id)
        .where(Group.practice_id == actor.practice_id)
        .options(joinedload(Group.programme), joinedload(Group.room), selectinload(Group.supervisors))
    )
    if not include_finished:
        query = query.where(bounds.c.last_end > now)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(
        query.order_by(Group.start_date.desc(), Group.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    counts = group_counts(actor, [row[0].id for row in rows])
    return [
        GroupSummary(group, counts[group.id]["enrolled"], counts[group.id]["waitlisted"], first, last, upcoming)
        for group, first, last, upcoming in rows
    ], total


def update_group(actor: Actor, group_id, values: dict, *, at: datetime | None = None) -> tuple[Group, list[Enrolment]]:
    """Rename or resize a group. More places promote waitlisted patients at once; fewer than the enrolled
    patients is refused. Returns the group and the promoted enrolments."""
    _require(actor, "manage_groups")
    group = _lock_group(actor, group_id)
    clean, errors = _clean(values, {"name": _name, "capacity": lambda v: _int(v, 1, MAX_CAPACITY)}, required=())
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    if "capacity" in clean:
        enrolled = group_counts(actor, [group.id])[group.id]["enrolled"]
        if clean["capacity"] < enrolled:
            message = _l("%(n)d patients are enrolled: the group needs at least as many places.", n=enrolled)
            raise _fail("capacity", message)
        if clean["capacity"] > group.room.capacity:
            message = _l("Room %(room)s holds at most %(n)d patients.", room=group.room.name, n=group.room.capacity)
            raise _fail("capacity", message)
    for name, value in clean.items():
        setattr(group, name, value)
    db.session.flush()
    return group, _fill_places(actor, group, at or utcnow())


# --- sessions ------------------------------------------------------------------------------------------------


def group_sessions(actor: Actor, group_id) -> list[Session]:
    group = get_group(actor, group_id)
    return list(
        db.session.execute(
            sa.select(Session)
            .where(Session.group_id == group.id, Session.practice_id == actor.practice_id)
            .options(selectinload(Session.supervisors), joinedload(Session.room))
            .order_by(Session.starts_at, Session.id)
        ).scalars()
    )


def get_session(actor: Actor, session_id) -> Session:
    return get_scoped(Session, session_id, actor.practice_id)


def session_changes(actor: Actor, session_id) -> list[SessionChange]:
    session = get_session(actor, session_id)
    return list(
        db.session.execute(
            sa.select(SessionChange)
            .where(SessionChange.session_id == session.id, SessionChange.practice_id == actor.practice_id)
            .options(joinedload(SessionChange.user))
            .order_by(SessionChange.at.desc(), SessionChange.id.desc())
        ).scalars()
    )


def _targets(actor: Actor, session: Session, scope: str) -> list[Session]:
    if scope not in SCOPES:
        raise _fail("scope", _l("Choose this session only, or this and all later sessions."))
    if scope == "one":
        return [session]
    return list(
        db.session.execute(
            sa.select(Session)
            .where(
                Session.group_id == session.group_id,
                Session.practice_id == actor.practice_id,
                Session.status == "scheduled",
                Session.starts_at >= session.starts_at,
            )
            .options(selectinload(Session.supervisors))
            .order_by(Session.starts_at)
        ).scalars()
    )


def _log(actor: Actor, session: Session, action: str, detail: str = "", reason: str = "", **times) -> None:
    db.session.add(
        SessionChange(
            practice_id=actor.practice_id,
            session_id=session.id,
            user_id=actor.user_id,
            action=action,
            detail=detail[:1000],
            reason=reason[:500],
            sequence=session.sequence,
            **times,
        )
    )


def _check_start(value, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise _fail(field_name, _l("Enter a date and time with a UTC offset (ISO 8601)."))
    now = utcnow()
    if not now - timedelta(days=365 * PLAN_YEARS_BACK) <= value <= now + timedelta(days=365 * PLAN_YEARS_AHEAD):
        raise _fail(field_name, _PLAN_WINDOW)
    # Calendars work in whole minutes.
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def _expected_count(session: Session) -> int:
    """Patients expected at a session: enrolled at that time, plus make-up guests."""
    enrolled = db.session.execute(
        sa.select(sa.func.count(Enrolment.id)).where(Enrolment.group_id == session.group_id, _covers(session))
    ).scalar_one()
    guests = db.session.execute(
        sa.select(sa.func.count(SessionGuest.id)).where(SessionGuest.session_id == session.id)
    ).scalar_one()
    return enrolled + guests


def _covers(session: Session):
    """SQL condition: this enrolment covers the session (enrolled before it ended, not withdrawn before it began)."""
    return sa.and_(
        Enrolment.enrolled_at.is_not(None),
        Enrolment.enrolled_at < session.ends_at,
        sa.or_(Enrolment.withdrawn_at.is_(None), Enrolment.withdrawn_at > session.starts_at),
    )


def change_session(
    actor: Actor,
    session_id,
    values: dict,
    *,
    scope: str = "one",
    reason: str = "",
    override_supervisor_conflicts: bool = False,
) -> Session:
    """Move, re-room or re-staff one session or this and all later scheduled sessions of its group; edit notes.

    Time and room changes raise each session's sequence (calendars must update); staff and notes changes do not.
    A move of several sessions keeps their local wall-clock relation: "one hour later" stays one hour later in
    local time across a DST change.
    """
    _require(actor, "manage_groups")
    session = get_session(actor, session_id)
    group = _lock_group(actor, session.group_id)
    known = {"starts_at", "ends_at", "room_id", "supervisor_ids", "notes"}
    unknown = {name: str(_l("Unknown field.")) for name in values if name not in known}
    if unknown:
        raise Invalid(_l("Please correct the marked fields."), unknown)
    try:
        reason = _text(reason, 500)
    except ValueError as exc:
        raise _fail("reason", exc) from exc
    timing = "starts_at" in values or "ends_at" in values
    if session.cancelled and (timing or "room_id" in values or "supervisor_ids" in values):
        raise Invalid(_l("This session is cancelled. Restore it before you change it."))
    timezone = group.timezone
    anchor_start = session.starts_at
    targets = _targets(actor, session, scope) if (timing or "room_id" in values or "supervisor_ids" in values) else []

    # Work out every target's new times, room and supervisors before touching anything.
    new_times: dict[int, tuple[datetime, datetime]] = {}
    if timing:
        new_start = _check_start(values["starts_at"], "starts_at") if "starts_at" in values else session.starts_at
        if "ends_at" in values:
            new_end = _check_start(values["ends_at"], "ends_at")
        else:
            new_end = new_start + (session.ends_at - session.starts_at)
        if new_end <= new_start:
            raise _fail("ends_at", _l("The end must be after the start."))
        if new_end - new_start < timedelta(minutes=MIN_MINUTES):
            raise _fail("ends_at", _l("A session lasts at least %(n)d minutes.", n=MIN_MINUTES))
        if new_end - new_start > timedelta(minutes=MAX_MINUTES):
            raise _fail("ends_at", _l("A session lasts at most %(h)d hours.", h=MAX_MINUTES // 60))
        delta = rules.local_delta(session.starts_at, new_start, timezone)
        duration = new_end - new_start
        for target in targets:
            start = new_start if target.id == session.id else rules.shift_local(target.starts_at, delta, timezone)
            new_times[target.id] = (start, start + duration)
        local_days = {rules.utc_to_local(s, timezone).date() for s, _ in new_times.values()}
        closed = _closed_days(actor.practice_id, min(local_days), max(local_days)) & local_days
        if closed:
            raise _fail("starts_at", _l("The practice is closed on %(day)s.", day=min(closed).isoformat()))
    new_room = None
    if "room_id" in values:
        new_room = _find(Room, values["room_id"], actor.practice_id)
        if new_room is None or not new_room.active:
            raise _fail("room_id", _l("Choose an active room of your practice."))
        if new_room.id != session.room_id:
            expected = _expected_count(session)
            if expected > new_room.capacity:
                message = _l(
                    "Room %(room)s holds %(cap)d patients; %(n)d are expected.",
                    room=new_room.name,
                    cap=new_room.capacity,
                    n=expected,
                )
                raise _fail("room_id", message)
    new_supervisors = _supervisors(actor, values["supervisor_ids"]) if "supervisor_ids" in values else None

    planned = [
        Planned(
            *new_times.get(t.id, (t.starts_at, t.ends_at)),
            room_id=new_room.id if new_room else t.room_id,
            supervisor_ids=tuple(u.id for u in (new_supervisors if new_supervisors is not None else t.supervisors)),
            session_id=t.id,
        )
        for t in targets
    ]
    if planned:
        check_conflicts(
            actor,
            planned,
            timezone=timezone,
            rooms=timing or new_room is not None,
            supervisors=timing or new_supervisors is not None,
            override_supervisors=override_supervisor_conflicts,
        )

    changed: list[tuple[Session, str, dict]] = []
    for target in targets:
        bump = False
        if target.id in new_times and new_times[target.id] != (target.starts_at, target.ends_at):
            was_start, was_end = target.starts_at, target.ends_at
            target.starts_at, target.ends_at = new_times[target.id]
            bump = True
            target.sequence += 1
            _log(
                actor,
                target,
                "move",
                reason=reason,
                old_starts_at=was_start,
                old_ends_at=was_end,
                new_starts_at=target.starts_at,
                new_ends_at=target.ends_at,
            )
            changed.append((target, "moved", {}))
        if new_room is not None and new_room.id != target.room_id:
            old_room = target.room.name
            target.room_id, target.room = new_room.id, new_room
            if not bump:
                target.sequence += 1
                changed.append((target, "room", {}))
            _log(actor, target, "room", f"{old_room} → {new_room.name}", reason)
        if new_supervisors is not None and {u.id for u in new_supervisors} != {u.id for u in target.supervisors}:
            old_names = ", ".join(u.name for u in target.supervisors) or "—"
            changed.append((target, "supervisors", {"previous_supervisor_ids": {u.id for u in target.supervisors}}))
            target.supervisors = list(new_supervisors)
            new_names = ", ".join(u.name for u in new_supervisors) or "—"
            _log(actor, target, "supervisors", f"{old_names} → {new_names}", reason)
    if "notes" in values:
        try:
            notes = _text(values["notes"], 5000)
        except ValueError as exc:
            raise _fail("notes", exc) from exc
        if notes != session.notes:
            session.notes = notes
            _log(actor, session, "notes", "", reason)
    if scope == "future" and targets:
        _follow_pattern(group, anchor_start, new_times.get(session.id), new_room, new_supervisors)
    db.session.flush()
    for target, kind, extra in changed:
        session_changed.send(target, actor=actor, kind=kind, **extra)
    return session


def _follow_pattern(
    group: Group,
    old_start: datetime,
    new_times: tuple[datetime, datetime] | None,
    new_room: Room | None,
    new_supervisors: list[User] | None,
) -> None:
    """When all later sessions change, the group's pattern describes them from now on."""
    if new_times is not None:
        start, end = new_times
        old_local = rules.utc_to_local(old_start, group.timezone)
        new_local = rules.utc_to_local(start, group.timezone)
        days = (new_local.date() - old_local.date()).days
        if days % 7:
            group.weekdays = ",".join(rules.shift_weekdays(group.weekday_codes, days))
        group.start_time = new_local.time().replace(second=0, microsecond=0)
        group.session_minutes = int((end - start).total_seconds() // 60)
    if new_room is not None:
        group.room_id, group.room = new_room.id, new_room
    if new_supervisors is not None:
        group.supervisors = list(new_supervisors)


def cancel_session(actor: Actor, session_id, *, reason: str, scope: str = "one") -> Session:
    """Cancel one session, or this and all later ones; they stay visible as cancelled, with the reason."""
    _require(actor, "manage_groups")
    session = get_session(actor, session_id)
    _lock_group(actor, session.group_id)
    try:
        reason = _text(reason, 500)
    except ValueError as exc:
        raise _fail("reason", exc) from exc
    if not reason:
        raise _fail("reason", _l("Give a reason: patients and staff will see it."))
    if session.cancelled and scope == "one":
        raise Conflict(_l("This session is already cancelled."))
    cancelled = []
    for target in _targets(actor, session, scope):
        target.status, target.cancel_reason = "cancelled", reason
        target.sequence += 1
        _log(actor, target, "cancel", "", reason)
        cancelled.append(target)
    db.session.flush()
    for target in cancelled:
        session_changed.send(target, actor=actor, kind="cancelled")
    return session


def restore_session(
    actor: Actor, session_id, *, reason: str = "", override_supervisor_conflicts: bool = False
) -> Session:
    """Undo a cancellation, if the room and supervisors are still free and the practice is open."""
    _require(actor, "manage_groups")
    session = get_session(actor, session_id)
    group = _lock_group(actor, session.group_id)
    if not session.cancelled:
        raise Conflict(_l("This session is not cancelled."))
    try:
        reason = _text(reason, 500)
    except ValueError as exc:
        raise _fail("reason", exc) from exc
    day = rules.utc_to_local(session.starts_at, group.timezone).date()
    if _closed_days(actor.practice_id, day, day):
        raise _fail("status", _l("The practice is closed on %(day)s.", day=day.isoformat()))
    supervisor_ids = tuple(u.id for u in session.supervisors)
    planned = [Planned(session.starts_at, session.ends_at, session.room_id, supervisor_ids, session.id)]
    check_conflicts(actor, planned, timezone=group.timezone, override_supervisors=override_supervisor_conflicts)
    session.status, session.cancel_reason = "scheduled", ""
    session.sequence += 1
    _log(actor, session, "restore", "", reason)
    db.session.flush()
    session_changed.send(session, actor=actor, kind="restored")
    return session


# --- week calendar -------------------------------------------------------------------------------------------


@dataclass
class CalendarEntry:
    session: Session
    expected: int
    guests: int


@dataclass
class Week:
    monday: date
    timezone: str
    days: list[tuple[date, list[CalendarEntry]]] = field(default_factory=list)
    closures: dict[date, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(entries) for _, entries in self.days)


def week(actor: Actor, any_day: date, *, room_id: int | None = None, supervisor_id: int | None = None) -> Week:
    """The practice's sessions of one week (Monday to Sunday, local time), with expected patient counts.

    A fixed number of queries whatever the number of sessions: sessions with group, programme and room joined,
    supervisors in one IN query, and the counts as correlated subqueries of the main query.
    """
    timezone = practice_timezone(actor)
    monday = rules.week_start(any_day)
    start = rules.local_to_utc(monday, time(0), timezone)
    end = rules.local_to_utc(monday + timedelta(days=7), time(0), timezone)
    expected = (
        sa.select(sa.func.count(Enrolment.id))
        .where(
            Enrolment.group_id == Session.group_id,
            Enrolment.enrolled_at.is_not(None),
            Enrolment.enrolled_at < Session.ends_at,
            sa.or_(Enrolment.withdrawn_at.is_(None), Enrolment.withdrawn_at > Session.starts_at),
        )
        .correlate(Session)
        .scalar_subquery()
    )
    guests = (
        sa.select(sa.func.count(SessionGuest.id))
        .where(SessionGuest.session_id == Session.id)
        .correlate(Session)
        .scalar_subquery()
    )
    query = (
        sa.select(Session, expected, guests)
        .where(Session.practice_id == actor.practice_id, Session.starts_at >= start, Session.starts_at < end)
        .options(
            joinedload(Session.group).joinedload(Group.programme),
            joinedload(Session.room),
            selectinload(Session.supervisors),
        )
        .order_by(Session.starts_at, Session.id)
    )
    if room_id is not None:
        query = query.where(Session.room_id == room_id)
    if supervisor_id is not None:
        query = query.where(
            Session.id.in_(
                sa.select(session_supervisors.c.session_id).where(session_supervisors.c.user_id == supervisor_id)
            )
        )
    by_day: dict[date, list[CalendarEntry]] = {monday + timedelta(days=i): [] for i in range(7)}
    for session, n_expected, n_guests in db.session.execute(query).all():
        local_day = rules.utc_to_local(session.starts_at, timezone).date()
        by_day[local_day].append(CalendarEntry(session, n_expected + n_guests, n_guests))
    closures = {
        c.day: c.reason
        for c in db.session.execute(
            sa.select(ClosureDay).where(
                ClosureDay.practice_id == actor.practice_id,
                ClosureDay.day >= monday,
                ClosureDay.day < monday + timedelta(days=7),
            )
        ).scalars()
    }
    return Week(monday=monday, timezone=timezone, days=sorted(by_day.items()), closures=closures)


def list_supervisors(actor: Actor) -> list[User]:
    return list(
        db.session.execute(
            sa.select(User)
            .where(User.practice_id == actor.practice_id, User.active.is_(True), User.role.in_(SUPERVISOR_ROLES))
            .order_by(User.name)
        ).scalars()
    )


# --- enrolment and waitlist ----------------------------------------------------------------------------------


def _patient(actor: Actor, patient_id) -> Patient:
    patient = _find(Patient, patient_id, actor.practice_id)
    if patient is None:
        raise _fail("patient_id", _l("Choose a patient of your practice."))
    if patient.archived:
        raise _fail("patient_id", _l("This patient is archived. Make them active again first."))
    return patient


def _group_finished(group: Group, now: datetime) -> bool:
    return not db.session.execute(
        sa.select(Session.id)
        .where(Session.group_id == group.id, Session.status == "scheduled", Session.ends_at > now)
        .limit(1)
    ).first()


def enrol(actor: Actor, group_id, patient_id, *, at: datetime | None = None) -> Enrolment:
    """Give the patient a place, or the next place on the waitlist when the group is full."""
    _require(actor, "enrol_patients")
    group = _lock_group(actor, group_id)
    patient = _patient(actor, patient_id)
    now = at or utcnow()
    if _group_finished(group, now):
        raise Invalid(_l("This group has no more sessions. Choose a group that is still running."))
    live = db.session.execute(
        sa.select(Enrolment.status).where(
            Enrolment.group_id == group.id, Enrolment.patient_id == patient.id, Enrolment.status != "withdrawn"
        )
    ).scalar_one_or_none()
    if live is not None:
        message = (
            _l("%(name)s is already enrolled in this group.", name=patient.name)
            if live == "enrolled"
            else _l("%(name)s is already on the waitlist of this group.", name=patient.name)
        )
        raise Conflict(message, {"patient_id": str(message)})
    counts = group_counts(actor, [group.id])[group.id]
    enrolment = Enrolment(
        practice_id=actor.practice_id,
        group_id=group.id,
        patient_id=patient.id,
        requested_at=now,
        created_by_id=actor.user_id,
    )
    if counts["enrolled"] < group.capacity:
        enrolment.status, enrolment.enrolled_at = "enrolled", now
    else:
        enrolment.status, enrolment.position = "waitlisted", counts["waitlisted"] + 1
    try:
        with db.session.begin_nested():
            db.session.add(enrolment)
    except IntegrityError as exc:  # the unique index caught a duplicate the lock did not (should not happen)
        message = _l("%(name)s is already in this group.", name=patient.name)
        raise Conflict(message, {"patient_id": str(message)}) from exc
    audit(
        actor,
        "enrol" if enrolment.status == "enrolled" else "waitlist",
        patient_id=patient.id,
        object_type="enrolment",
        object_id=enrolment.id,
        detail=f"group={group.id}",
    )
    if enrolment.status == "enrolled":
        enrolment_changed.send(enrolment, actor=actor, kind="enrolled")
    return enrolment


def _renumber_waitlist(group: Group) -> None:
    waiting = db.session.execute(
        sa.select(Enrolment)
        .where(Enrolment.group_id == group.id, Enrolment.status == "waitlisted")
        .order_by(Enrolment.position, Enrolment.requested_at, Enrolment.id)
    ).scalars()
    for number, enrolment in enumerate(waiting, start=1):
        enrolment.position = number


def _fill_places(actor: Actor, group: Group, now: datetime) -> list[Enrolment]:
    """Promote waitlisted patients, first in line first, while the group has free places."""
    free = group.capacity - group_counts(actor, [group.id])[group.id]["enrolled"]
    if free <= 0:
        return []
    promoted = list(
        db.session.execute(
            sa.select(Enrolment)
            .where(Enrolment.group_id == group.id, Enrolment.status == "waitlisted")
            .order_by(Enrolment.position, Enrolment.id)
            .limit(free)
        ).scalars()
    )
    for enrolment in promoted:
        enrolment.status, enrolment.position, enrolment.enrolled_at = "enrolled", None, now
        audit(
            actor,
            "promote",
            patient_id=enrolment.patient_id,
            object_type="enrolment",
            object_id=enrolment.id,
            detail=f"group={group.id}",
        )
    db.session.flush()
    _renumber_waitlist(group)
    db.session.flush()
    for enrolment in promoted:
        enrolment_changed.send(enrolment, actor=actor, kind="promoted")
    return promoted


def withdraw(
    actor: Actor, enrolment_id, *, reason, note: str = "", at: datetime | None = None
) -> tuple[Enrolment, list[Enrolment]]:
    """Withdraw a patient with a coded reason (CLINICAL.md); a freed place goes to the first on the waitlist.
    Returns the withdrawn enrolment and any promoted ones."""
    _require(actor, "enrol_patients")
    enrolment = get_scoped(Enrolment, enrolment_id, actor.practice_id)
    if reason not in rules.WITHDRAWAL_REASONS:
        raise _fail("reason", _l("Choose one of the reasons in the list."))
    try:
        note = _text(note, 500)
    except ValueError as exc:
        raise _fail("note", exc) from exc
    group = _lock_group(actor, enrolment.group_id)
    db.session.refresh(enrolment)  # another request may have changed it before we got the lock
    if enrolment.status == "withdrawn":
        raise Conflict(_l("This patient has already withdrawn."))
    now = at or utcnow()
    was = enrolment.status
    enrolment.status, enrolment.position = "withdrawn", None
    enrolment.withdrawn_at, enrolment.withdrawal_reason, enrolment.withdrawal_note = now, reason, note
    db.session.flush()
    audit(
        actor,
        "withdraw",
        patient_id=enrolment.patient_id,
        object_type="enrolment",
        object_id=enrolment.id,
        detail=f"group={group.id} reason={reason}",
    )
    if was == "enrolled":
        enrolment_changed.send(enrolment, actor=actor, kind="withdrawn")
    if was == "waitlisted":
        _renumber_waitlist(group)
        db.session.flush()
        return enrolment, []
    return enrolment, _fill_places(actor, group, now)


def get_enrolment(actor: Actor, enrolment_id, *, log: bool = True) -> Enrolment:
    enrolment = get_scoped(Enrolment, enrolment_id, actor.practice_id)
    if log:
        audit(actor, "view", patient_id=enrolment.patient_id, object_type="enrolment", object_id=enrolment.id)
    return enrolment


_STATUS_ORDER = sa.case({"enrolled": 0, "waitlisted": 1, "withdrawn": 2}, value=Enrolment.status)


def group_enrolments(actor: Actor, group_id, *, log: bool = True) -> list[Enrolment]:
    """The roster: enrolled (by name), the waitlist (in order), then withdrawn patients."""
    group = get_group(actor, group_id)
    rows = list(
        db.session.execute(
            sa.select(Enrolment)
            .join(Patient, Patient.id == Enrolment.patient_id)
            .where(Enrolment.group_id == group.id, Enrolment.practice_id == actor.practice_id)
            .options(joinedload(Enrolment.patient))
            .order_by(_STATUS_ORDER, Enrolment.position, Patient.name, Enrolment.id)
        ).scalars()
    )
    if log:
        audit(actor, "list", patient_id=None, object_type="group_roster", object_id=group.id, detail=f"n={len(rows)}")
    return rows


def sessions_counted(enrolment: Enrolment, sessions: Iterable[Session]) -> list[Session]:
    """The sessions that count for this enrolment: from the moment the patient got a place (a late enrolment
    counts from its date) until withdrawal; cancelled sessions never count."""
    if enrolment.enrolled_at is None:
        return []
    return [
        s
        for s in sessions
        if not s.cancelled
        and s.ends_at > enrolment.enrolled_at
        and (enrolment.withdrawn_at is None or s.starts_at < enrolment.withdrawn_at)
    ]


@dataclass
class RosterEntry:
    patient: Patient
    enrolment: Enrolment
    guest: SessionGuest | None = None


def session_roster(actor: Actor, session_id) -> list[RosterEntry]:
    """Who is expected at a session: patients enrolled at that time (by name), then make-up guests."""
    session = get_session(actor, session_id)
    enrolled = db.session.execute(
        sa.select(Enrolment)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.group_id == session.group_id,
            Enrolment.practice_id == actor.practice_id,
            _covers(session),
        )
        .options(joinedload(Enrolment.patient))
        .order_by(Patient.name, Enrolment.id)
    ).scalars()
    guests = db.session.execute(
        sa.select(SessionGuest)
        .join(Patient, Patient.id == SessionGuest.patient_id)
        .where(SessionGuest.session_id == session.id, SessionGuest.practice_id == actor.practice_id)
        .options(joinedload(SessionGuest.patient), joinedload(SessionGuest.enrolment).joinedload(Enrolment.group))
        .order_by(Patient.name)
    ).scalars()
    entries = [RosterEntry(e.patient, e) for e in enrolled] + [RosterEntry(g.patient, g.enrolment, g) for g in guests]
    audit(
        actor, "list", patient_id=None, object_type="session_roster", object_id=session.id, detail=f"n={len(entries)}"
    )
    return entries


# --- make-up sessions ----------------------------------------------------------------------------------------


def active_patients(actor: Actor) -> list[Patient]:
    """Patients who can be enrolled (for choosing one in a form)."""
    return list(
        db.session.execute(
            sa.select(Patient)
            .where(Patient.practice_id == actor.practice_id, Patient.archived_at.is_(None))
            .order_by(Patient.name, Patient.id)
        ).scalars()
    )


def makeup_candidates(actor: Actor, session_id) -> list[Enrolment]:
    """Enrolled patients of the programme's other groups: they may come to this session as a make-up."""
    session = get_session(actor, session_id)
    return list(
        db.session.execute(
            sa.select(Enrolment)
            .join(Group, Group.id == Enrolment.group_id)
            .join(Patient, Patient.id == Enrolment.patient_id)
            .where(
                Enrolment.practice_id == actor.practice_id,
                Enrolment.status == "enrolled",
                Group.programme_id == session.group.programme_id,
                Group.id != session.group_id,
                Patient.archived_at.is_(None),
            )
            .options(joinedload(Enrolment.patient), joinedload(Enrolment.group))
            .order_by(Patient.name, Enrolment.id)
        ).scalars()
    )


def book_guest(actor: Actor, session_id, patient_id, *, at: datetime | None = None) -> SessionGuest:
    """Book a make-up: a patient enrolled in another group of the same programme joins this session, if it
    has a free place."""
    _require(actor, "enrol_patients")
    session = get_session(actor, session_id)
    group = _lock_group(actor, session.group_id)
    patient = _patient(actor, patient_id)
    now = at or utcnow()
    if session.cancelled or session.ends_at <= now:
        raise Invalid(_l("Make-up sessions can only be booked for sessions that are still to come."))
    own = (
        db.session.execute(
            sa.select(Enrolment)
            .join(Group, Group.id == Enrolment.group_id)
            .where(
                Enrolment.patient_id == patient.id,
                Enrolment.practice_id == actor.practice_id,
                Enrolment.status == "enrolled",
                Group.programme_id == group.programme_id,
            )
            .order_by(Enrolment.enrolled_at)
        )
        .scalars()
        .all()
    )
    if any(e.group_id == group.id for e in own):
        raise _fail("patient_id", _l("%(name)s is already in this group.", name=patient.name))
    if not own:
        raise _fail(
            "patient_id",
            _l(
                "Make-up sessions are for patients enrolled in another group of %(programme)s.",
                programme=group.programme.name,
            ),
        )
    if db.session.execute(
        sa.select(SessionGuest.id).where(SessionGuest.session_id == session.id, SessionGuest.patient_id == patient.id)
    ).first():
        raise Conflict(_l("%(name)s is already booked for this session.", name=patient.name))
    if _expected_count(session) >= group.capacity:
        raise Conflict(_l("This session is full."), {"patient_id": str(_l("This session is full."))})
    guest = SessionGuest(
        practice_id=actor.practice_id,
        session_id=session.id,
        patient_id=patient.id,
        enrolment_id=own[0].id,
        created_by_id=actor.user_id,
    )
    db.session.add(guest)
    db.session.flush()
    audit(actor, "book_makeup", patient_id=patient.id, object_type="session_guest", object_id=guest.id)
    return guest


def cancel_guest(actor: Actor, guest_id) -> SessionGuest:
    _require(actor, "enrol_patients")
    guest = get_scoped(SessionGuest, guest_id, actor.practice_id)
    audit(actor, "cancel_makeup", patient_id=guest.patient_id, object_type="session_guest", object_id=guest.id)
    db.session.delete(guest)
    db.session.flush()
    return guest


def session_guests(actor: Actor, session_id) -> list[SessionGuest]:
    session = get_session(actor, session_id)
    guests = list(
        db.session.execute(
            sa.select(SessionGuest)
            .where(SessionGuest.session_id == session.id, SessionGuest.practice_id == actor.practice_id)
            .order_by(SessionGuest.id)
        ).scalars()
    )
    audit(actor, "list", patient_id=None, object_type="session_guests", object_id=session.id, detail=f"n={len(guests)}")
    return guests


# --- the patient's view --------------------------------------------------------------------------------------


@dataclass
class PatientGroup:
    enrolment: Enrolment
    sessions: list[Session]
    next_session: Session | None


def patient_groups(actor: Actor, patient_id) -> tuple[list[PatientGroup], list[SessionGuest]]:
    """A patient's enrolments (with the sessions that count for each) and make-up bookings, in few queries."""
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    enrolments = list(
        db.session.execute(
            sa.select(Enrolment)
            .where(Enrolment.patient_id == patient.id, Enrolment.practice_id == actor.practice_id)
            .options(joinedload(Enrolment.group).joinedload(Group.programme))
            .order_by(_STATUS_ORDER, Enrolment.requested_at.desc())
        ).scalars()
    )
    by_group: dict[int, list[Session]] = defaultdict(list)
    if enrolments:
        for s in db.session.execute(
            sa.select(Session)
            .where(Session.group_id.in_({e.group_id for e in enrolments}), Session.practice_id == actor.practice_id)
            .options(joinedload(Session.room))
            .order_by(Session.starts_at)
        ).scalars():
            by_group[s.group_id].append(s)
    now = utcnow()
    result = []
    for enrolment in enrolments:
        counted = sessions_counted(enrolment, by_group[enrolment.group_id])
        upcoming = next((s for s in counted if s.starts_at > now), None)
        if enrolment.status == "waitlisted":
            counted = []
        result.append(PatientGroup(enrolment, counted, upcoming if enrolment.status == "enrolled" else None))
    guests = list(
        db.session.execute(
            sa.select(SessionGuest)
            .where(SessionGuest.patient_id == patient.id, SessionGuest.practice_id == actor.practice_id)
            .options(joinedload(SessionGuest.session).joinedload(Session.group))
            .order_by(SessionGuest.id)
        ).scalars()
    )
    return result, guests


def enrolment_covers(session=Session):
    """SQL, for joins over many sessions: the enrolment had its place when the session took place (a late
    enrolment counts from its date, a withdrawal ends it). Reminders, invitations and staffing use this rule."""
    return sa.and_(
        Enrolment.group_id == session.group_id,
        Enrolment.enrolled_at.is_not(None),
        Enrolment.enrolled_at < session.ends_at,
        sa.or_(Enrolment.withdrawn_at.is_(None), Enrolment.withdrawn_at > session.starts_at),
    )


def expected_patient_ids(practice_id: int, session_ids: Iterable[int]) -> dict[int, list[int]]:
    """Who is expected at each of these sessions (enrolled at the time, plus make-up guests), in two queries
    for any number of sessions: staffing and roll-call need it for a whole week at once."""
    ids = sorted(set(session_ids))
    expected: dict[int, list[int]] = {sid: [] for sid in ids}
    if not ids:
        return expected
    enrolled = db.session.execute(
        sa.select(Session.id, Enrolment.patient_id)
        .join(Enrolment, enrolment_covers())
        .where(Session.id.in_(ids), Session.practice_id == practice_id)
    ).all()
    guests = db.session.execute(
        sa.select(SessionGuest.session_id, SessionGuest.patient_id).where(
            SessionGuest.session_id.in_(ids), SessionGuest.practice_id == practice_id
        )
    ).all()
    for session_id, patient_id in [*enrolled, *guests]:
        expected[session_id].append(patient_id)
    return expected
