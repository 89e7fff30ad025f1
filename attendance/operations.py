"""Use cases for roll-call, adherence figures and follow-up tasks.

Every function takes the acting user, scopes by the actor's practice, checks the role here, flushes and never
commits. A roll-call save is a per-patient upsert (INSERT ... ON CONFLICT DO UPDATE), so two tablets saving the same
session at once lose nothing: the last change per patient wins, and who recorded it first and who changed it last
are both kept. "At most one open follow-up per patient" is a partial unique index; opening one runs in a savepoint,
so a scan racing a roll-call simply finds the task already open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import Practice
from accounts.operations import audit
from attendance import rules
from attendance.models import AttendanceRecord, AttendanceSettings, FollowUp
from core.access import PERMISSIONS, get_scoped
from core.actor import Actor
from core.db import MAX_ID, utcnow
from core.errors import Conflict, Forbidden, Invalid
from extensions import db
from groups import operations as groups
from groups.models import Enrolment, Group, Session, SessionGuest
from groups.rules import WITHDRAWAL_REASONS
from patients.export import register_section
from patients.models import Patient
from reminders.jobs import register_scan
from supervision.definitions import ABSENCE_REASON_CODES, ABSENCE_REASONS, BARRIERS
from supervision.models import SafetyTask

NOTE_MAX = 500
FOLLOW_UP_NOTE_MAX = 2000
MAX_RECORDS = 200

# --- where absences known in advance come from -----------------------------------------------------------------

#: fn(session_ids) -> {(session_id, patient_id): reason code or None}. The patient portal (calendars/) will plug in
#: its "I can't come" notices here; excused records saved in advance are always a source.
KnownAbsences = Callable[[list[int]], Mapping[tuple[int, int], str | None]]
_KNOWN_ABSENCE_SOURCES: list[KnownAbsences] = []


def register_known_absences(source: KnownAbsences) -> None:
    if source not in _KNOWN_ABSENCE_SOURCES:
        _KNOWN_ABSENCE_SOURCES.append(source)


def known_absences(session_ids: list[int]) -> dict[tuple[int, int], str | None]:
    found: dict[tuple[int, int], str | None] = {}
    for source in _KNOWN_ABSENCE_SOURCES:
        for key, reason in source(session_ids).items():
            found.setdefault(key, reason)
    return found


# --- helpers -------------------------------------------------------------------------------------------------


def require(actor: Actor, permission: str) -> None:
    if actor.kind == "system":
        return
    if actor.role not in PERMISSIONS[permission]:
        raise Forbidden(_l("You do not have permission to do this."))


def allowed(actor: Actor, permission: str) -> bool:
    return actor.kind == "system" or actor.role in PERMISSIONS[permission]


def _text(value, max_length: int, field_name: str, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field_name] = str(_l("Enter text."))
        return ""
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        errors[field_name] = str(_l("Remove the control characters from this text."))
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors[field_name] = str(_l("Use at most %(n)d characters.", n=max_length))
    return value


def _valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


# --- roll-call -----------------------------------------------------------------------------------------------


@dataclass
class RollCallRow:
    patient: Patient
    enrolment: Enrolment
    guest: bool
    record: AttendanceRecord | None
    level: int | None
    #: INDIVIDUAL_START (level 4), LOW_HEALTH_LITERACY, SAFETY_FLAG (open clinician review), LEVEL_NOT_SET.
    flags: list[str] = field(default_factory=list)
    #: An absence known in advance (portal notice or an excused record saved before the session): its reason.
    known_absence: bool = False
    known_reason: str | None = None

    @property
    def status(self) -> str | None:
        return self.record.status if self.record else None


@dataclass
class RollCall:
    session: Session
    rows: list[RollCallRow]
    candidates: list[Enrolment]
    future: bool

    @property
    def recorded(self) -> int:
        return sum(1 for row in self.rows if row.record is not None)


def _roster(actor: Actor, session: Session) -> list[groups.RosterEntry]:
    return groups.session_roster(actor, session.id)


def roll_call(actor: Actor, session_id, *, now: datetime | None = None) -> RollCall:
    """The roster of a session with each patient's level, flags, record and known absence, in a fixed number of
    queries whatever the group size."""
    require(actor, "record_attendance")
    session = groups.get_session(actor, session_id)
    entries = _roster(actor, session)
    patient_ids = [e.patient.id for e in entries]
    records = {
        r.patient_id: r
        for r in db.session.execute(
            sa.select(AttendanceRecord)
            .where(AttendanceRecord.session_id == session.id, AttendanceRecord.practice_id == actor.practice_id)
            .options(joinedload(AttendanceRecord.updated_by))
        ).scalars()
    }
    # Walk-in make-ups recorded without a booking are on the roll-call too.
    walk_ins = [r for pid, r in records.items() if pid not in set(patient_ids) and r.enrolment_id]
    if walk_ins:
        extra = db.session.execute(
            sa.select(Enrolment)
            .where(Enrolment.id.in_([r.enrolment_id for r in walk_ins]))
            .options(joinedload(Enrolment.patient), joinedload(Enrolment.group))
        ).scalars()
        entries += [groups.RosterEntry(e.patient, e, True) for e in extra]  # type: ignore[arg-type]
        patient_ids = [e.patient.id for e in entries]
    from supervision.operations import current_levels

    levels = current_levels(actor.practice_id, patient_ids)
    safety = set()
    if patient_ids and allowed(actor, "review_safety"):
        safety = set(
            db.session.execute(
                sa.select(SafetyTask.patient_id).where(
                    SafetyTask.patient_id.in_(patient_ids),
                    SafetyTask.practice_id == actor.practice_id,
                    SafetyTask.status == "open",
                )
            ).scalars()
        )
    known = known_absences([session.id])
    rows = []
    for entry in entries:
        patient = entry.patient
        record = records.get(patient.id)
        level = levels.get(patient.id)
        flags = []
        if level == 4:
            flags.append("INDIVIDUAL_START")
        if level is None:
            flags.append("LEVEL_NOT_SET")
        if patient.plain_language:
            flags.append("LOW_HEALTH_LITERACY")
        if patient.id in safety:
            flags.append("SAFETY_FLAG")
        in_advance = record is not None and record.status == "excused" and record.recorded_at < session.starts_at
        notice = (session.id, patient.id) in known
        rows.append(
            RollCallRow(
                patient=patient,
                enrolment=entry.enrolment,
                guest=entry.guest is not None,
                record=record,
                level=level,
                flags=flags,
                known_absence=in_advance or notice,
                known_reason=(record.reason if in_advance else known.get((session.id, patient.id))),
            )
        )
    now = now or utcnow()
    candidates = groups.makeup_candidates(actor, session.id) if not session.cancelled else []
    on_roll = {row.patient.id for row in rows}
    candidates = [c for c in candidates if c.patient_id not in on_roll]
    return RollCall(session, rows, candidates, future=session.starts_at > now)


def _upsert(values: dict):
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AttendanceRecord).values(**values)
    return statement.on_conflict_do_update(
        index_elements=["session_id", "patient_id"],
        set_={
            "status": statement.excluded.status,
            "reason": statement.excluded.reason,
            "note": statement.excluded.note,
            "guest": statement.excluded.guest,
            "enrolment_id": statement.excluded.enrolment_id,
            "updated_by_id": statement.excluded.updated_by_id,
            "updated_at": statement.excluded.updated_at,
        },
    )


def _clean_records(records, session: Session, now: datetime) -> tuple[list[dict], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: list[dict] = []
    if not isinstance(records, list) or not records:
        return [], {"records": str(_l("Send at least one record."))}
    if len(records) > MAX_RECORDS:
        return [], {"records": str(_l("Send at most %(n)d records.", n=MAX_RECORDS))}
    seen: set[int] = set()
    for n, item in enumerate(records):
        at = f"records.{n}"
        if not isinstance(item, Mapping):
            errors[at] = str(_l("Each record is an object."))
            continue
        unknown = set(item) - {"patient_id", "status", "reason", "note", "guest"}
        if unknown:
            errors[f"{at}.{sorted(unknown)[0]}"] = str(_l("Unknown field."))
        patient_id, status, reason = item.get("patient_id"), item.get("status"), item.get("reason")
        if not _valid_id(patient_id):
            errors[f"{at}.patient_id"] = str(_l("Choose a patient of this session."))
        elif patient_id in seen:
            errors[f"{at}.patient_id"] = str(_l("This patient is listed twice."))
        else:
            seen.add(patient_id)
        if status not in rules.STATUSES:
            errors[f"{at}.status"] = str(_l("Choose present, late, excused or absent."))
        elif session.starts_at > now and status not in rules.FUTURE_STATUSES:
            errors[f"{at}.status"] = str(
                _l("This session has not started yet: only an absence known in advance (excused) can be recorded.")
            )
        if reason is not None and reason not in ABSENCE_REASON_CODES:
            errors[f"{at}.reason"] = str(_l("Choose one of the reasons in the list."))
        elif reason is not None and status in rules.ATTENDED:
            errors[f"{at}.reason"] = str(_l("A reason is only for an excused or absent patient."))
        guest = item.get("guest", False)
        if not isinstance(guest, bool) and guest is not None:
            errors[f"{at}.guest"] = str(_l("Choose yes or no."))
        note = _text(item.get("note"), NOTE_MAX, f"{at}.note", errors)
        clean.append({"patient_id": patient_id, "status": status, "reason": reason, "note": note, "guest": bool(guest)})
    return clean, errors


def record_attendance(
    actor: Actor, session_id, records, *, now: datetime | None = None, follow_up: bool = True
) -> list[AttendanceRecord]:
    """Save the roll-call for the listed patients (others are left as they are). Validated as a whole: one bad
    row refuses everything. Saving the same thing again changes nothing but the last-changed stamp."""
    require(actor, "record_attendance")
    session = groups.get_session(actor, session_id)
    now = now or utcnow()
    if session.cancelled:
        raise Invalid(_l("This session was cancelled: there is no roll-call for it."))
    clean, errors = _clean_records(records, session, now)
    roster = {e.patient.id: e for e in _roster(actor, session)}
    existing = {
        r.patient_id: r
        for r in db.session.execute(
            sa.select(AttendanceRecord).where(AttendanceRecord.session_id == session.id)
        ).scalars()
    }
    candidates = None
    enrolment_for: dict[int, tuple[int, bool]] = {}
    for n, row in enumerate(clean):
        pid = row["patient_id"]
        if not _valid_id(pid):
            continue
        if pid in roster:
            entry = roster[pid]
            enrolment_for[pid] = (entry.enrolment.id, entry.guest is not None)
        elif pid in existing and existing[pid].guest:
            enrolment_for[pid] = (existing[pid].enrolment_id, True)
        elif row["guest"]:
            if candidates is None:
                candidates = {e.patient_id: e for e in groups.makeup_candidates(actor, session.id)}
            if pid in candidates:
                enrolment_for[pid] = (candidates[pid].id, True)
            else:
                errors[f"records.{n}.patient_id"] = str(
                    _l("A make-up guest must be enrolled in another group of the same programme.")
                )
        else:
            errors[f"records.{n}.patient_id"] = str(_l("This patient is not expected at this session."))
    if errors:
        raise Invalid(_l("Nothing was saved: please correct the marked records."), errors)
    saved_ids = []
    for row in clean:
        pid = row["patient_id"]
        enrolment_id, guest = enrolment_for[pid]
        old = existing.get(pid)
        db.session.execute(
            _upsert(
                {
                    "practice_id": actor.practice_id,
                    "session_id": session.id,
                    "patient_id": pid,
                    "enrolment_id": enrolment_id,
                    "status": row["status"],
                    "reason": row["reason"] if row["status"] in ("excused", "absent") else None,
                    "note": row["note"],
                    "guest": guest,
                    "recorded_by_id": actor.user_id,
                    "recorded_at": now,
                    "updated_by_id": actor.user_id,
                    "updated_at": now,
                }
            )
        )
        saved_ids.append(pid)
        if old is None:
            audit(actor, "record", patient_id=pid, object_type="attendance", object_id=session.id, detail=row["status"])
        elif (old.status, old.reason, old.note) != (row["status"], row["reason"], row["note"]):
            audit(
                actor,
                "correct",
                patient_id=pid,
                object_type="attendance",
                object_id=session.id,
                detail=f"{old.status}/{old.reason or '-'} -> {row['status']}/{row['reason'] or '-'}",
            )
    db.session.expire_all()
    saved = list(
        db.session.execute(
            sa.select(AttendanceRecord).where(
                AttendanceRecord.session_id == session.id, AttendanceRecord.patient_id.in_(saved_ids)
            )
        ).scalars()
    )
    if follow_up and session.starts_at <= now:
        check_follow_ups(actor.practice_id, now, patient_ids=saved_ids)
    return saved


def mark_all_present(actor: Actor, session_id, *, now: datetime | None = None) -> list[AttendanceRecord]:
    """Everyone on the roster without a record yet is present (records already made are kept)."""
    call = roll_call(actor, session_id, now=now)
    missing = [{"patient_id": row.patient.id, "status": "present"} for row in call.rows if row.record is None]
    if not missing:
        return []
    return record_attendance(actor, session_id, missing, now=now)


def attendance_sheet(actor: Actor, session_id) -> tuple[Session, list[dict]]:
    """The API's view: every expected patient (and recorded make-up) with a status, null where not recorded."""
    call = roll_call(actor, session_id)
    return call.session, [
        {
            "patient_id": row.patient.id,
            "status": row.status,
            "reason": row.record.reason if row.record else None,
            "note": row.record.note if row.record else "",
            "guest": row.guest,
        }
        for row in call.rows
    ]


# --- adherence -----------------------------------------------------------------------------------------------


def _chunks(values: list[int], size: int = 500):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def adherence_for(
    enrolments: list[Enrolment],
    now: datetime,
    closed_since: Mapping[int, datetime] | None = None,
) -> dict[int, rules.Adherence]:
    """Figures per enrolment (each with its group and programme loaded), in two queries per 500 enrolments."""
    result: dict[int, rules.Adherence] = {}
    closed_since = closed_since or {}
    group_ids = sorted({e.group_id for e in enrolments})
    sessions: dict[int, list[tuple[int, datetime, datetime, bool]]] = defaultdict(list)
    for chunk in _chunks(group_ids):
        for sid, gid, starts, ends, status in db.session.execute(
            sa.select(Session.id, Session.group_id, Session.starts_at, Session.ends_at, Session.status).where(
                Session.group_id.in_(chunk)
            )
        ):
            sessions[gid].append((sid, starts, ends, status == "cancelled"))
    by_enrolment: dict[int, list[tuple]] = defaultdict(list)
    ids = [e.id for e in enrolments]
    for chunk in _chunks(ids):
        for row in db.session.execute(
            sa.select(
                AttendanceRecord.enrolment_id,
                AttendanceRecord.session_id,
                AttendanceRecord.status,
                AttendanceRecord.guest,
                Session.starts_at,
                Session.status,
            )
            .join(Session, Session.id == AttendanceRecord.session_id)
            .where(AttendanceRecord.enrolment_id.in_(chunk))
        ):
            by_enrolment[row[0]].append(row[1:])
    for enrolment in enrolments:
        if enrolment.enrolled_at is None:
            continue
        own_status = {sid: status for sid, status, guest, _s, _c in by_enrolment[enrolment.id] if not guest}
        entries = []
        remaining = 0
        for sid, starts, ends, cancelled in sessions[enrolment.group_id]:
            if cancelled or ends <= enrolment.enrolled_at:
                continue
            if enrolment.withdrawn_at is not None and starts >= enrolment.withdrawn_at:
                continue
            if starts > now:
                remaining += 1
            entries.append(rules.Entry(starts, own_status.get(sid)))
        entries += [
            rules.Entry(starts, status, makeup=True, cancelled=s_status == "cancelled")
            for _sid, status, guest, starts, s_status in by_enrolment[enrolment.id]
            if guest
        ]
        programme = enrolment.group.programme
        result[enrolment.id] = rules.adherence(
            entries,
            now=now,
            threshold=programme.completion_threshold,
            session_count=programme.session_count,
            remaining=remaining,
            closed_since=closed_since.get(enrolment.patient_id),
            enrolled=enrolment.status == "enrolled",
        )
    return result


def _with_programme():
    return joinedload(Enrolment.group).joinedload(Group.programme)


@dataclass
class PatientAdherence:
    enrolment: Enrolment
    figures: rules.Adherence


def patient_adherence(actor: Actor, patient_id, *, now: datetime | None = None) -> list[PatientAdherence]:
    patient = get_scoped(Patient, patient_id, actor.practice_id)
    enrolments = list(
        db.session.execute(
            sa.select(Enrolment)
            .where(
                Enrolment.patient_id == patient.id,
                Enrolment.practice_id == actor.practice_id,
                Enrolment.status != "waitlisted",
            )
            .options(_with_programme())
            .order_by(Enrolment.enrolled_at.desc())
        ).scalars()
    )
    figures = adherence_for(enrolments, now or utcnow())
    return [PatientAdherence(e, figures[e.id]) for e in enrolments if e.id in figures]


def attendance_rate(practice_id: int, patient_id: int, now: datetime | None = None) -> float | None:
    """The patient's attendance rate (0–1) in their current or latest enrolment; None before any recorded
    session. Supervision's reassessment suggestion uses it."""
    enrolment = db.session.execute(
        sa.select(Enrolment)
        .where(
            Enrolment.patient_id == patient_id,
            Enrolment.practice_id == practice_id,
            Enrolment.status != "waitlisted",
            Enrolment.enrolled_at.is_not(None),
        )
        .options(_with_programme())
        .order_by((Enrolment.status == "enrolled").desc(), Enrolment.enrolled_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if enrolment is None:
        return None
    return adherence_for([enrolment], now or utcnow())[enrolment.id].rate


# --- follow-up -----------------------------------------------------------------------------------------------


def settings_for(practice_id: int) -> AttendanceSettings:
    settings = db.session.get(AttendanceSettings, practice_id)
    return settings or AttendanceSettings(practice_id=practice_id, missed_you_email=False)


def update_settings(actor: Actor, *, missed_you_email) -> AttendanceSettings:
    require(actor, "manage_practice")
    if not isinstance(missed_you_email, bool):
        raise Invalid(_l("Choose yes or no."), {"missed_you_email": str(_l("Choose yes or no."))})
    settings = db.session.get(AttendanceSettings, actor.practice_id)
    if settings is None:
        settings = AttendanceSettings(practice_id=actor.practice_id)
        db.session.add(settings)
    settings.missed_you_email = missed_you_email
    db.session.flush()
    return settings


def check_follow_ups(practice_id: int, now: datetime, *, patient_ids: Iterable[int] | None = None) -> int:
    """Open a follow-up for each enrolled patient on whom a trigger fired and who has none open. Returns how many
    were opened. Safe to run twice at once: the partial unique index keeps one open task per patient."""
    query = (
        sa.select(Enrolment)
        .where(Enrolment.practice_id == practice_id, Enrolment.status == "enrolled")
        .options(_with_programme(), selectinload(Enrolment.group, Group.supervisors))
        .order_by(Enrolment.enrolled_at, Enrolment.id)
    )
    if patient_ids is not None:
        ids = sorted(set(patient_ids))
        if not ids:
            return 0
        query = query.where(Enrolment.patient_id.in_(ids))
    enrolments = list(db.session.execute(query).scalars())
    if not enrolments:
        return 0
    wanted = sorted({e.patient_id for e in enrolments})
    open_for, closed_since = set(), {}
    for chunk in _chunks(wanted):
        open_for |= set(
            db.session.execute(
                sa.select(FollowUp.patient_id).where(FollowUp.patient_id.in_(chunk), FollowUp.status == "open")
            ).scalars()
        )
        closed_since.update(
            db.session.execute(
                sa.select(FollowUp.patient_id, sa.func.max(FollowUp.closed_at))
                .where(FollowUp.patient_id.in_(chunk), FollowUp.status == "closed")
                .group_by(FollowUp.patient_id)
            ).all()
        )
    figures = adherence_for(enrolments, now, closed_since)
    opened = 0
    for enrolment in enrolments:
        found = figures.get(enrolment.id)
        if found is None or not found.triggers or enrolment.patient_id in open_for:
            continue
        if _open(practice_id, enrolment, found, now):
            opened += 1
        open_for.add(enrolment.patient_id)
    return opened


def _open(practice_id: int, enrolment: Enrolment, found: rules.Adherence, now: datetime) -> FollowUp | None:
    supervisors = enrolment.group.supervisors
    follow_up = FollowUp(
        practice_id=practice_id,
        patient_id=enrolment.patient_id,
        enrolment_id=enrolment.id,
        trigger=found.triggers[0],
        detail=",".join(found.triggers),
        opened_at=now,
        assigned_to_id=supervisors[0].id if supervisors else None,
        status="open",
    )
    try:
        with db.session.begin_nested():
            db.session.add(follow_up)
    except sa.exc.IntegrityError:
        return None  # another process opened one for this patient meanwhile
    audit(
        Actor.system(practice_id),
        "open",
        patient_id=enrolment.patient_id,
        object_type="follow_up",
        object_id=follow_up.id,
        detail=follow_up.detail,
    )
    if settings_for(practice_id).missed_you_email:
        _queue_missed_you(follow_up, enrolment)
    return follow_up


def _queue_missed_you(follow_up: FollowUp, enrolment: Enrolment) -> None:
    from reminders import operations as outbox

    patient = enrolment.patient
    if not outbox.wants_email(patient):
        return
    practice = db.session.get(Practice, follow_up.practice_id)
    with force_locale(patient.language):
        context = {"practice": practice, "patient": patient, "group": enrolment.group}
        subject = str(_l("We missed you at %(group)s", group=enrolment.group.name))
        text = render_template("attendance/email/missed_you.txt", **context)
        html = render_template("attendance/email/missed_you.html", **context)
    message = outbox.compose(
        practice=practice,
        recipient=patient.email,
        recipient_name=patient.name,
        subject=subject,
        text=text,
        html=html,
        message_id=f"<missed-you-f{follow_up.id}@{outbox.host()}>",
    )
    outbox.queue(
        practice=practice,
        kind="followup",
        dedupe_key=f"missed-you:{follow_up.id}",
        recipient=patient.email,
        message=message,
        patient_id=patient.id,
    )


def scan(now: datetime) -> int:
    """The scheduler job: check every practice's enrolled patients."""
    return sum(check_follow_ups(pid, now) for pid in db.session.execute(sa.select(Practice.id)).scalars())


def list_follow_ups(
    actor: Actor, *, status: str | None = "open", mine: bool = False, page: int = 1, per_page: int = 50
) -> tuple[list[FollowUp], int]:
    require(actor, "manage_follow_ups")
    query = sa.select(FollowUp).where(FollowUp.practice_id == actor.practice_id)
    if status:
        query = query.where(FollowUp.status == status)
    if mine:
        query = query.where(FollowUp.assigned_to_id == actor.user_id)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = list(
        db.session.execute(
            query.options(
                joinedload(FollowUp.patient),
                joinedload(FollowUp.assigned_to),
                joinedload(FollowUp.enrolment).joinedload(Enrolment.group),
            )
            .order_by(FollowUp.opened_at.desc(), FollowUp.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    audit(actor, "list", patient_id=None, object_type="follow_up", detail=f"n={len(rows)}")
    return rows, total


def get_follow_up(actor: Actor, follow_up_id) -> FollowUp:
    require(actor, "manage_follow_ups")
    follow_up = get_scoped(FollowUp, follow_up_id, actor.practice_id)
    audit(actor, "view", patient_id=follow_up.patient_id, object_type="follow_up", object_id=follow_up.id)
    return follow_up


def suggested_actions(patient_id: int) -> list[tuple[str, list[str]]]:
    """The patient's open barriers with the actions the barriers table suggests (codes)."""
    from supervision.operations import patient_barriers

    return [
        (b.code, [a.code for a in BARRIERS[b.code].actions])
        for b in patient_barriers(patient_id)
        if b.resolved_at is None and b.code in BARRIERS
    ]


def close_follow_up(actor: Actor, follow_up_id, *, outcome, note="", reason=None, now: datetime | None = None):
    """Close with a coded outcome. BARRIER_RECORDED records `reason` (a barrier code, or an absence reason that
    maps to one) in supervision; WITHDRAWN withdraws the enrolment with `reason` (a withdrawal reason)."""
    require(actor, "manage_follow_ups")
    follow_up = get_scoped(FollowUp, follow_up_id, actor.practice_id)
    errors: dict[str, str] = {}
    if outcome not in rules.FOLLOW_UP_OUTCOMES:
        errors["outcome"] = str(_l("Choose one of the outcomes in the list."))
    note = _text(note, FOLLOW_UP_NOTE_MAX, "note", errors)
    barrier = None
    if outcome == "BARRIER_RECORDED":
        barrier = reason if reason in BARRIERS else getattr(ABSENCE_REASONS.get(reason), "barrier", None)
        if barrier is None:
            errors["reason"] = str(_l("Choose the barrier to record."))
    elif outcome == "WITHDRAWN":
        if reason not in WITHDRAWAL_REASONS:
            errors["reason"] = str(_l("Choose one of the reasons in the list."))
    elif reason is not None:
        errors["reason"] = str(_l("A reason is only for a recorded barrier or a withdrawal."))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    # Lock the task so two supervisors closing it at once do not both act on it.
    db.session.execute(sa.select(FollowUp.id).where(FollowUp.id == follow_up.id).with_for_update())
    db.session.refresh(follow_up)
    if follow_up.status != "open":
        raise Conflict(_l("This follow-up is already closed."))
    if barrier:
        from supervision.operations import add_barrier

        try:
            with db.session.begin_nested():
                add_barrier(actor, follow_up.patient_id, code=barrier, note=note[:500])
        except Conflict:
            pass  # already open: the follow-up confirms it
    if outcome == "WITHDRAWN" and follow_up.enrolment is not None and follow_up.enrolment.status != "withdrawn":
        groups.withdraw(actor, follow_up.enrolment_id, reason=reason, note=note[:500])
    follow_up.status, follow_up.outcome, follow_up.reason = "closed", outcome, reason
    follow_up.note, follow_up.closed_by_id, follow_up.closed_at = note, actor.user_id, now or utcnow()
    db.session.flush()
    audit(
        actor,
        "close",
        patient_id=follow_up.patient_id,
        object_type="follow_up",
        object_id=follow_up.id,
        detail=f"{outcome} {reason or ''}".strip(),
    )
    return follow_up


# --- dashboard -------------------------------------------------------------------------------------------------


@dataclass
class TodaySession:
    session: Session
    expected: int
    recorded: int
    required: int
    assigned: int

    @property
    def understaffed(self) -> bool:
        return self.assigned < self.required


def sessions_between(actor: Actor, start: datetime, end: datetime) -> list[TodaySession]:
    """Sessions in [start, end) with roll-call progress and staffing, in a fixed number of queries."""
    from supervision.operations import current_levels, supervision_ratios
    from supervision.rules import required_supervisors

    sessions = list(
        db.session.execute(
            sa.select(Session)
            .where(
                Session.practice_id == actor.practice_id,
                Session.starts_at >= start,
                Session.starts_at < end,
                Session.status == "scheduled",
            )
            .options(joinedload(Session.group), selectinload(Session.supervisors))
            .order_by(Session.starts_at)
        ).scalars()
    )
    if not sessions:
        return []
    expected: dict[int, list[int]] = defaultdict(list)
    group_ids = {s.group_id for s in sessions}
    enrolments = db.session.execute(
        sa.select(Enrolment.group_id, Enrolment.patient_id, Enrolment.enrolled_at, Enrolment.withdrawn_at).where(
            Enrolment.group_id.in_(group_ids), Enrolment.enrolled_at.is_not(None)
        )
    ).all()
    for s in sessions:
        for gid, pid, enrolled_at, withdrawn_at in enrolments:
            if gid == s.group_id and enrolled_at < s.ends_at and (withdrawn_at is None or withdrawn_at > s.starts_at):
                expected[s.id].append(pid)
    for sid, pid in db.session.execute(
        sa.select(SessionGuest.session_id, SessionGuest.patient_id).where(
            SessionGuest.session_id.in_([s.id for s in sessions])
        )
    ):
        expected[sid].append(pid)
    recorded = dict(
        db.session.execute(
            sa.select(AttendanceRecord.session_id, sa.func.count(AttendanceRecord.id))
            .where(AttendanceRecord.session_id.in_([s.id for s in sessions]))
            .group_by(AttendanceRecord.session_id)
        ).all()
    )
    levels = current_levels(actor.practice_id, {pid for pids in expected.values() for pid in pids})
    ratios = supervision_ratios(actor.practice_id)
    return [
        TodaySession(
            s,
            len(expected[s.id]),
            recorded.get(s.id, 0),
            required_supervisors([levels.get(pid) for pid in expected[s.id]], ratios).required,
            len(s.supervisors),
        )
        for s in sessions
    ]


def at_risk(actor: Actor, now: datetime, limit: int = 20) -> list[tuple[Enrolment, rules.Adherence]]:
    """Enrolled patients below their programme's threshold or with completion no longer reachable."""
    enrolments = list(
        db.session.execute(
            sa.select(Enrolment)
            .where(Enrolment.practice_id == actor.practice_id, Enrolment.status == "enrolled")
            .options(_with_programme(), joinedload(Enrolment.patient))
        ).scalars()
    )
    figures = adherence_for(enrolments, now)
    risky = [
        (e, figures[e.id])
        for e in enrolments
        if e.id in figures and (figures[e.id].below_threshold or figures[e.id].completion == "unreachable")
    ]
    risky.sort(key=lambda pair: (pair[1].rate if pair[1].rate is not None else 1, pair[0].patient.name))
    return risky[:limit]


# --- patient export ------------------------------------------------------------------------------------------


def _export(patient: Patient) -> dict:
    records = db.session.execute(
        sa.select(AttendanceRecord, Session.starts_at)
        .join(Session, Session.id == AttendanceRecord.session_id)
        .where(AttendanceRecord.patient_id == patient.id)
        .order_by(Session.starts_at)
    ).all()
    follow_ups = db.session.execute(
        sa.select(FollowUp).where(FollowUp.patient_id == patient.id).order_by(FollowUp.opened_at)
    ).scalars()
    return {
        "records": [
            {
                "session_id": r.session_id,
                "session_starts_at": starts,
                "status": r.status,
                "reason": r.reason,
                "note": r.note,
                "make_up": r.guest,
                "recorded_at": r.recorded_at,
                "updated_at": r.updated_at,
            }
            for r, starts in records
        ],
        "follow_ups": [
            {
                "trigger": f.trigger,
                "detail": f.detail,
                "opened_at": f.opened_at,
                "status": f.status,
                "outcome": f.outcome,
                "reason": f.reason,
                "note": f.note,
                "closed_at": f.closed_at,
            }
            for f in follow_ups
        ],
    }


register_section("attendance", _export)

register_scan("followup_scan", 3600, scan)
