"""Compliance reports: per-patient adherence figures for a group, programme or the practice over a date range,
computed by one SQL aggregation (no query per patient), plus group figures: completion rate, when drop-outs happen,
planned vs assigned staffing, outcomes (NRS, PSFS) by level and coded drop-out reasons.

The per-patient figures follow the same definitions as `attendance.rules.adherence` (a test checks both agree):
counts and rate are for held sessions in the range; consecutive absences, days since the last attendance and
completion are as of now over the whole enrolment.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from accounts.models import Practice
from attendance import rules
from attendance.models import AttendanceRecord
from extensions import db
from groups.models import Enrolment, Group, Programme, Session, session_supervisors
from groups.rules import WITHDRAWAL_REASONS
from patients.models import Patient
from supervision.definitions import LEVELS

ATTENDED = sa.literal_column("'present'"), sa.literal_column("'late'")


@dataclass
class PatientRow:
    enrolment_id: int
    patient_id: int
    name: str
    group_id: int
    group_name: str
    status: str
    scheduled: int
    attended: int
    makeups: int
    excused: int
    absent: int
    unrecorded: int
    rate: float | None
    threshold: int
    consecutive_absences: int
    last_attended_at: datetime | None
    days_since_last: int | None
    early_miss: bool
    attended_total: int
    held_total: int
    needed: int
    remaining: int
    completion: str
    withdrawn_at: datetime | None
    withdrawal_reason: str | None

    @property
    def below_threshold(self) -> bool:
        return self.rate is not None and self.rate * 100 < self.threshold


@dataclass
class Report:
    practice_id: int
    start: date
    end: date
    group: Group | None
    programme: Programme | None
    threshold: int | None
    patients: list[PatientRow]
    summary: dict = field(default_factory=dict)


def _bounds(practice_id: int, start: date, end: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(db.session.get(Practice, practice_id).timezone)
    return (
        datetime.combine(start, time.min, zone),
        datetime.combine(end + timedelta(days=1), time.min, zone),
    )


def patient_query(
    practice_id: int,
    now: datetime,
    start_at: datetime,
    end_at: datetime,
    *,
    group_id: int | None = None,
    programme_id: int | None = None,
):
    """One SELECT: a row of figures per (non-waitlisted) enrolment."""
    e = sa.select(
        Enrolment.id,
        Enrolment.patient_id,
        Enrolment.group_id,
        Enrolment.enrolled_at,
        Enrolment.withdrawn_at,
    ).where(
        Enrolment.practice_id == practice_id,
        Enrolment.status != "waitlisted",
        Enrolment.enrolled_at.is_not(None),
    )
    if group_id is not None:
        e = e.where(Enrolment.group_id == group_id)
    if programme_id is not None:
        e = e.join(Group, Group.id == Enrolment.group_id).where(Group.programme_id == programme_id)
    e = e.cte("e")
    s, r = Session.__table__, AttendanceRecord.__table__
    own = (
        sa.select(
            e.c.id.label("eid"),
            s.c.starts_at,
            r.c.status,
            sa.literal(False).label("makeup"),
        )
        .select_from(e)
        .join(
            s,
            sa.and_(
                s.c.group_id == e.c.group_id,
                s.c.status == "scheduled",
                s.c.ends_at > e.c.enrolled_at,
                sa.or_(e.c.withdrawn_at.is_(None), s.c.starts_at < e.c.withdrawn_at),
            ),
        )
        .outerjoin(r, sa.and_(r.c.session_id == s.c.id, r.c.patient_id == e.c.patient_id, r.c.guest.is_(False)))
    )
    makeup = (
        sa.select(r.c.enrolment_id.label("eid"), s.c.starts_at, r.c.status, sa.literal(True).label("makeup"))
        .select_from(r)
        .join(s, s.c.id == r.c.session_id)
        .where(r.c.guest.is_(True), s.c.status == "scheduled", r.c.enrolment_id.in_(sa.select(e.c.id)))
    )
    u = sa.union_all(own, makeup).subquery("u")
    held = u.c.starts_at <= now
    attended = u.c.status.in_(rules.ATTENDED)
    w = sa.select(
        u.c.eid,
        u.c.starts_at,
        u.c.status,
        u.c.makeup,
        sa.func.max(sa.case((sa.and_(held, attended), u.c.starts_at))).over(partition_by=u.c.eid).label("la"),
    ).subquery("w")
    held = w.c.starts_at <= now
    in_range = sa.and_(held, w.c.starts_at >= start_at, w.c.starts_at < end_at)
    own_row = w.c.makeup.is_(False)
    attended = w.c.status.in_(rules.ATTENDED)

    def count(*conditions):
        return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

    agg = (
        sa.select(
            w.c.eid,
            count(in_range, own_row, w.c.status.is_not(None)).label("scheduled"),
            count(in_range, attended).label("attended"),
            count(in_range, attended, w.c.makeup.is_(True)).label("makeups"),
            count(in_range, own_row, w.c.status == "excused").label("excused"),
            count(in_range, own_row, w.c.status == "absent").label("absent"),
            count(in_range, own_row, w.c.status.is_(None)).label("unrecorded"),
            count(held, attended).label("attended_total"),
            count(held, own_row).label("held_total"),
            count(held, own_row, w.c.status.is_(None)).label("unrecorded_total"),
            count(w.c.starts_at > now, own_row).label("remaining"),
            count(held, own_row, w.c.status == "absent", sa.or_(w.c.la.is_(None), w.c.starts_at > w.c.la)).label(
                "consecutive"
            ),
            sa.func.max(w.c.la).label("last_attended"),
            sa.func.min(sa.case((sa.and_(held, own_row), w.c.starts_at))).label("first_held"),
            sa.func.min(sa.case((sa.and_(held, own_row, w.c.status == "absent"), w.c.starts_at))).label(
                "first_absence"
            ),
        )
        .group_by(w.c.eid)
        .subquery("agg")
    )
    return (
        sa.select(
            Enrolment.id,
            Enrolment.patient_id,
            Patient.name,
            Group.id.label("group_id"),
            Group.name.label("group_name"),
            Enrolment.status,
            Enrolment.withdrawn_at,
            Enrolment.withdrawal_reason,
            Programme.completion_threshold,
            Programme.session_count,
            agg,
        )
        .select_from(Enrolment)
        .join(e, e.c.id == Enrolment.id)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .join(Group, Group.id == Enrolment.group_id)
        .join(Programme, Programme.id == Group.programme_id)
        .outerjoin(agg, agg.c.eid == Enrolment.id)
        .order_by(Group.name, Patient.name, Enrolment.id)
    )


def _row(values, now: datetime) -> PatientRow:
    m = values._mapping
    n = lambda key: int(m[key] or 0)  # noqa: E731 - no sessions at all gives NULLs from the outer join
    scheduled, excused, attended = n("scheduled"), n("excused"), n("attended")
    denominator = scheduled - excused
    rate = min(1.0, attended / denominator) if denominator > 0 else None
    needed = rules.sessions_needed(m["session_count"], m["completion_threshold"])
    last = m["last_attended"]
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC from a subquery
        last = last.replace(tzinfo=now.tzinfo)
    first_held, first_absence = m["first_held"], m["first_absence"]
    early = False
    if first_held is not None and first_absence is not None:
        if isinstance(first_held, str):  # SQLite: an aggregate over a CASE loses the column type
            first_held, first_absence = datetime.fromisoformat(first_held), datetime.fromisoformat(first_absence)
        early = first_absence < first_held + rules.DEFAULT_TRIGGERS.early_period
    if isinstance(last, str):
        last = datetime.fromisoformat(last).replace(tzinfo=now.tzinfo)
    return PatientRow(
        enrolment_id=m["id"],
        patient_id=m["patient_id"],
        name=m["name"],
        group_id=m["group_id"],
        group_name=m["group_name"],
        status=m["status"],
        scheduled=scheduled,
        attended=attended,
        makeups=n("makeups"),
        excused=excused,
        absent=n("absent"),
        unrecorded=n("unrecorded"),
        rate=rate,
        threshold=m["completion_threshold"],
        consecutive_absences=n("consecutive"),
        last_attended_at=last,
        days_since_last=(now - last).days if last else None,
        early_miss=early,
        attended_total=n("attended_total"),
        held_total=n("held_total"),
        needed=needed,
        remaining=n("remaining"),
        completion=rules.completion_state(n("attended_total"), n("remaining") + n("unrecorded_total"), needed),
        withdrawn_at=m["withdrawn_at"],
        withdrawal_reason=m["withdrawal_reason"],
    )


def compliance(
    practice_id: int,
    start: date,
    end: date,
    *,
    now: datetime,
    group: Group | None = None,
    programme: Programme | None = None,
    details: bool = True,
) -> Report:
    start_at, end_at = _bounds(practice_id, start, end)
    query = patient_query(
        practice_id,
        now,
        start_at,
        end_at,
        group_id=group.id if group else None,
        programme_id=programme.id if programme else None,
    )
    patients = [_row(values, now) for values in db.session.execute(query)]
    programme = programme or (group.programme if group else None)
    report = Report(
        practice_id,
        start,
        end,
        group,
        programme,
        programme.completion_threshold if programme else None,
        patients,
    )
    report.summary = summary(patients, programme.session_count if programme else None)
    if details:
        group_ids = [group.id] if group else None
        report.summary["staffing"] = staffing(practice_id, start_at, min(end_at, now), group_ids, programme)
        report.summary["outcomes"] = outcomes_by_level(practice_id, [p.patient_id for p in patients])
    return report


def summary(patients: list[PatientRow], session_count: int | None) -> dict:
    total = len(patients)
    reached = sum(1 for p in patients if p.completion == "reached")
    withdrawn = [p for p in patients if p.status == "withdrawn"]
    after = Counter(p.held_total for p in withdrawn)
    longest = max([session_count or 0, *after.keys()]) if patients else 0
    # Drop-out curve: how many of the enrolled patients were still enrolled after each session.
    curve, still = [], total
    for k in range(0, longest + 1):
        still -= after.get(k, 0)
        curve.append((k, still))
    reasons = Counter(p.withdrawal_reason or "OTHER" for p in withdrawn)
    rates = [p.rate for p in patients if p.rate is not None]
    return {
        "patients": total,
        "completion_reached": reached,
        "completion_rate": reached / total if total else None,
        "unreachable": sum(1 for p in patients if p.completion == "unreachable"),
        "mean_rate": sum(rates) / len(rates) if rates else None,
        "below_threshold": sum(1 for p in patients if p.below_threshold),
        "dropouts": len(withdrawn),
        "dropouts_after_session": sorted(after.items()),
        "dropout_curve": curve,
        "dropout_reasons": [
            {"reason": reason, "barrier": WITHDRAWAL_REASONS.get(reason), "count": count}
            for reason, count in reasons.most_common()
        ],
    }


def staffing(practice_id: int, start_at: datetime, end_at: datetime, group_ids, programme) -> list[dict]:
    """Planned (required by the patients' current levels) vs assigned supervisors per held session."""
    from supervision.operations import current_levels, supervision_ratios
    from supervision.rules import required_supervisors

    query = (
        sa.select(
            Session.id,
            Session.group_id,
            Session.starts_at,
            Session.ends_at,
            sa.func.count(session_supervisors.c.user_id),
        )
        .outerjoin(session_supervisors, session_supervisors.c.session_id == Session.id)
        .where(
            Session.practice_id == practice_id,
            Session.status == "scheduled",
            Session.starts_at >= start_at,
            Session.starts_at < end_at,
        )
        .group_by(Session.id, Session.group_id, Session.starts_at, Session.ends_at)
        .order_by(Session.starts_at)
    )
    if group_ids is not None:
        query = query.where(Session.group_id.in_(group_ids))
    elif programme is not None:
        query = query.join(Group, Group.id == Session.group_id).where(Group.programme_id == programme.id)
    sessions = db.session.execute(query.limit(500)).all()
    if not sessions:
        return []
    present = defaultdict(list)
    for sid, pid in db.session.execute(
        sa.select(AttendanceRecord.session_id, AttendanceRecord.patient_id).where(
            AttendanceRecord.session_id.in_([s[0] for s in sessions]), AttendanceRecord.status.in_(rules.ATTENDED)
        )
    ):
        present[sid].append(pid)
    levels = current_levels(practice_id, {pid for pids in present.values() for pid in pids})
    ratios = supervision_ratios(practice_id)
    return [
        {
            "session_id": sid,
            "group_id": gid,
            "starts_at": starts,
            "attended": len(present[sid]),
            "required": required_supervisors([levels.get(p) for p in present[sid]], ratios).required,
            "assigned": assigned,
        }
        for sid, gid, starts, _ends, assigned in sessions
    ]


def outcomes_by_level(practice_id: int, patient_ids: list[int]) -> list[dict]:
    """Mean NRS and PSFS at intake and at the latest reassessment, per current supervision level."""
    from supervision.models import Assessment
    from supervision.operations import current_levels

    ids = sorted(set(patient_ids))
    if not ids:
        return []
    first, last = {}, {}
    for start in range(0, len(ids), 500):
        for assessment in db.session.execute(
            sa.select(Assessment)
            .where(Assessment.practice_id == practice_id, Assessment.patient_id.in_(ids[start : start + 500]))
            .order_by(Assessment.taken_at, Assessment.id)
        ).scalars():
            first.setdefault(assessment.patient_id, assessment)
            if assessment.kind == "reassessment":
                last[assessment.patient_id] = assessment
    levels = current_levels(practice_id, ids)
    by_level: dict = defaultdict(lambda: defaultdict(list))
    for pid in ids:
        if pid not in first:
            continue
        bucket = by_level[levels.get(pid)]
        for code, key in (("NRS", "total"), ("PSFS", "mean")):
            before = ((first[pid].scores or {}).get(code) or {}).get(key)
            after = ((last[pid].scores or {}).get(code) or {}).get(key) if pid in last else None
            if before is not None:
                bucket[f"{code}_before"].append(before)
            if after is not None:
                bucket[f"{code}_after"].append(after)
    rows = []
    for level in [*sorted(LEVELS), None]:
        if level not in by_level:
            continue
        values = by_level[level]
        rows.append(
            {
                "level": level,
                "patients": max((len(v) for v in values.values()), default=0),
                **{key: round(sum(v) / len(v), 1) if v else None for key, v in values.items()},
            }
        )
    for row in rows:
        for key in ("NRS_before", "NRS_after", "PSFS_before", "PSFS_after"):
            row.setdefault(key, None)
    return rows


# --- CSV ------------------------------------------------------------------------------------------------------

PATIENT_COLUMNS = (
    "patient_id",
    "name",
    "group",
    "status",
    "scheduled",
    "attended",
    "makeups",
    "excused",
    "absent",
    "rate",
    "threshold",
    "consecutive_absences",
    "days_since_last",
    "early_miss",
    "completion",
)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def to_csv(header: list[str] | tuple[str, ...], rows) -> str:
    """UTF-8 with a byte-order mark (so spreadsheet programs detect the encoding and keep diacritics), comma
    separated, every field that needs it quoted, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return out.getvalue()


def _safe_cell(value):
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection); a quote makes it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def patients_csv(report: Report) -> str:
    return to_csv(
        PATIENT_COLUMNS,
        (
            (
                p.patient_id,
                p.name,
                p.group_name,
                p.status,
                p.scheduled,
                p.attended,
                p.makeups,
                p.excused,
                p.absent,
                _percent(p.rate),
                p.threshold,
                p.consecutive_absences,
                "" if p.days_since_last is None else p.days_since_last,
                "yes" if p.early_miss else "no",
                p.completion,
            )
            for p in report.patients
        ),
    )


def table_csv(report: Report, table: str) -> str:
    """Every table of the report page as CSV: patients, dropouts, reasons, staffing, outcomes."""
    s = report.summary
    if table == "patients":
        return patients_csv(report)
    if table == "dropouts":
        return to_csv(("after_session", "still_enrolled"), s["dropout_curve"])
    if table == "reasons":
        return to_csv(
            ("reason", "barrier", "count"), ((r["reason"], r["barrier"], r["count"]) for r in s["dropout_reasons"])
        )
    if table == "staffing":
        return to_csv(
            ("session_id", "group_id", "starts_at", "attended", "required", "assigned"),
            (
                (
                    r["session_id"],
                    r["group_id"],
                    r["starts_at"].isoformat(),
                    r["attended"],
                    r["required"],
                    r["assigned"],
                )
                for r in s.get("staffing", [])
            ),
        )
    if table == "outcomes":
        keys = ("level", "patients", "NRS_before", "NRS_after", "PSFS_before", "PSFS_after")
        return to_csv(keys, ([r.get(k) for k in keys] for r in s.get("outcomes", [])))
    raise KeyError(table)


CSV_TABLES = ("patients", "dropouts", "reasons", "staffing", "outcomes")
