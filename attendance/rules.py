"""Adherence figures and follow-up triggers (CLINICAL.md "Attendance and adherence"), as pure functions.

Input is what happened at the sessions that count for one enrolment (its own group's sessions from enrolment to
withdrawal, plus make-up sessions in other groups of the same programme); output is the figures a report shows and
the triggers that open a follow-up. Nothing here touches the database or Flask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Roll-call statuses. Late counts as attended; excused leaves the denominator; absent is an unexcused miss.
STATUSES = ("present", "late", "excused", "absent")
ATTENDED = ("present", "late")
#: Statuses allowed for a session that has not started yet: only an absence known in advance.
FUTURE_STATUSES = ("excused",)

#: Follow-up triggers, in the order they are listed to the supervisor.
TRIGGERS = (
    "CONSECUTIVE_ABSENCES",
    "EARLY_ABSENCE",
    "LOW_RATE",
    "COMPLETION_UNREACHABLE",
    "NO_ATTENDANCE",
)
#: Coded outcomes of a follow-up (CLINICAL.md): reached – barrier recorded, make-up planned, rescheduled,
#: withdrawn with reason, unreachable.
FOLLOW_UP_OUTCOMES = ("BARRIER_RECORDED", "MAKEUP_PLANNED", "RESCHEDULED", "WITHDRAWN", "UNREACHABLE")

COMPLETION_STATES = ("reached", "reachable", "unreachable")


@dataclass(frozen=True)
class TriggerRules:
    """The numbers of the triggers, as data (a practice or a later version may change them)."""

    consecutive_absences: int = 2
    early_period: timedelta = timedelta(weeks=2)
    low_rate_after_sessions: int = 4
    days_without_attendance: int = 14


DEFAULT_TRIGGERS = TriggerRules()


@dataclass(frozen=True)
class Entry:
    """One session for the enrolment: its start, its roll-call status (None: not recorded yet)."""

    starts_at: datetime
    status: str | None
    #: Attended in another group of the same programme.
    makeup: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class Adherence:
    #: Held sessions of the patient's own group with a roll-call (cancelled and future ones never count).
    scheduled: int
    #: Present or late, make-ups included.
    attended: int
    makeups: int
    excused: int
    absent: int
    #: Held sessions without a roll-call yet: they count nowhere until recorded.
    unrecorded: int
    #: attended / (scheduled - excused), at most 1 (a make-up can make up for an absence); None with no denominator.
    rate: float | None
    threshold: int
    consecutive_absences: int
    last_attended_at: datetime | None
    days_since_last: int | None
    early_miss: bool
    #: Sessions needed for completion (threshold % of the programme's sessions, rounded up).
    needed: int
    remaining: int
    completion: str
    triggers: tuple[str, ...] = field(default=())

    @property
    def below_threshold(self) -> bool:
        return self.rate is not None and self.rate * 100 < self.threshold


def sessions_needed(session_count: int, threshold_percent: int) -> int:
    return math.ceil(session_count * threshold_percent / 100)


def completion_state(attended: int, remaining: int, needed: int) -> str:
    """reached: attended enough; reachable: the sessions still to come could get there; else unreachable."""
    if attended >= needed:
        return "reached"
    return "reachable" if attended + remaining >= needed else "unreachable"


def adherence(
    entries: Iterable[Entry],
    *,
    now: datetime,
    threshold: int,
    session_count: int,
    remaining: int,
    closed_since: datetime | None = None,
    enrolled: bool = True,
    rules: TriggerRules = DEFAULT_TRIGGERS,
) -> Adherence:
    """Figures and triggers for one enrolment.

    `entries` are the enrolment's sessions (any order); those starting after `now` and cancelled ones are left
    out. `remaining` is how many of the group's sessions are still to come for this enrolment (0 once withdrawn).
    `closed_since` is when the patient's last follow-up was closed: a trigger fires again only on evidence (a
    missed session, or a new 14-day stretch) after it, so closing a follow-up does not reopen it at once.
    `enrolled` is False for a withdrawn enrolment: its figures still count, "14 days without attendance" does not.
    """
    held = sorted((e for e in entries if not e.cancelled and e.starts_at <= now), key=lambda e: e.starts_at)
    own = [e for e in held if not e.makeup]
    recorded = [e for e in own if e.status is not None]
    makeups = sum(1 for e in held if e.makeup and e.status in ATTENDED)
    attended = sum(1 for e in own if e.status in ATTENDED) + makeups
    excused = sum(1 for e in own if e.status == "excused")
    absences = [e for e in own if e.status == "absent"]
    denominator = len(recorded) - excused
    rate = min(1.0, attended / denominator) if denominator > 0 else None

    # A run of unexcused absences: an excused session neither breaks nor extends it; attending breaks it.
    run: list[Entry] = []
    for e in held:
        if e.status in ATTENDED:
            run = []
        elif e.status == "absent" and not e.makeup:
            run.append(e)

    last_attended = max((e.starts_at for e in held if e.status in ATTENDED), default=None)
    days_since = (now - last_attended).days if last_attended else None
    first = own[0].starts_at if own else None
    early = [e for e in absences if first is not None and e.starts_at < first + rules.early_period]

    needed = sessions_needed(session_count, threshold)
    completion = completion_state(attended, remaining + sum(1 for e in own if e.status is None), needed)

    def new(evidence: datetime | None) -> bool:
        return evidence is not None and (closed_since is None or evidence > closed_since)

    last_absence = absences[-1].starts_at if absences else None
    fired = []
    if len(run) >= rules.consecutive_absences and new(run[-1].starts_at):
        fired.append("CONSECUTIVE_ABSENCES")
    if early and new(early[-1].starts_at):
        fired.append("EARLY_ABSENCE")
    low = len(recorded) >= rules.low_rate_after_sessions and rate is not None and rate * 100 < threshold
    if low and new(last_absence):
        fired.append("LOW_RATE")
    if completion == "unreachable" and new(last_absence):
        fired.append("COMPLETION_UNREACHABLE")
    if enrolled and first is not None:
        quiet_from = max(last_attended or first, closed_since or first)
        # Only recorded misses count: a session without a roll-call is not evidence that the patient stayed away.
        missed_since = any(e.starts_at >= quiet_from and e.status in ("absent", "excused") for e in own)
        if missed_since and now - quiet_from >= timedelta(days=rules.days_without_attendance):
            fired.append("NO_ATTENDANCE")

    # A programme that ended a while ago opens no follow-ups any more: the report shows how it went.
    if remaining == 0 and own and now - own[-1].starts_at > timedelta(days=rules.days_without_attendance):
        fired = []

    return Adherence(
        scheduled=len(recorded),
        attended=attended,
        makeups=makeups,
        excused=excused,
        absent=len(absences),
        unrecorded=len(own) - len(recorded),
        rate=rate,
        threshold=threshold,
        consecutive_absences=len(run),
        last_attended_at=last_attended,
        days_since_last=days_since,
        early_miss=bool(early),
        needed=needed,
        remaining=remaining,
        completion=completion,
        triggers=tuple(fired),
    )
