from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db
from groups.rules import DEFAULT_COMPLETION_THRESHOLD, WITHDRAWAL_REASONS
from patients.models import LANGUAGES, Patient

SESSION_STATUSES = ("scheduled", "cancelled")
SESSION_KINDS = ("training", "education")
ENROLMENT_STATUSES = ("enrolled", "waitlisted", "withdrawn")
#: What a SessionChange row records.
CHANGE_ACTIONS = ("move", "room", "supervisors", "cancel", "restore", "notes")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Room(db.Model):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: The calendar LOCATION of its sessions; empty means the practice address.
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    #: How many patients fit; a group in this room cannot be larger.
    capacity: Mapped[int]
    #: Inactive rooms keep their history but cannot get new groups or sessions.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("practice_id", "name", name="uq_rooms_practice_name"),
        sa.CheckConstraint("capacity > 0", name="capacity"),
    )


class Programme(db.Model):
    """What a group delivers: how many sessions, how often, how long, and when a patient has completed it."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Shown to patients (portal, invitations): plain language.
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: All sessions of the programme, education sessions included.
    session_count: Mapped[int]
    sessions_per_week: Mapped[int]
    session_minutes: Mapped[int]
    #: The first this-many sessions are education (e.g. "hurt is not harm"), the rest exercise training.
    education_sessions: Mapped[int] = mapped_column(default=0)
    #: Proposed capacity of new groups.
    default_group_size: Mapped[int]
    #: Percentage of the sessions a patient attends to complete the programme.
    completion_threshold: Mapped[int] = mapped_column(default=DEFAULT_COMPLETION_THRESHOLD)
    #: Language the sessions are given in.
    language: Mapped[str] = mapped_column(sa.String(5), default="nl")
    #: Inactive programmes get no new groups; existing groups run on.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("practice_id", "name", name="uq_programmes_practice_name"),
        sa.CheckConstraint("session_count > 0", name="session_count"),
        sa.CheckConstraint("sessions_per_week BETWEEN 1 AND 7", name="sessions_per_week"),
        sa.CheckConstraint("session_minutes > 0", name="session_minutes"),
        sa.CheckConstraint("education_sessions BETWEEN 0 AND session_count", name="education_sessions"),
        sa.CheckConstraint("default_group_size > 0", name="default_group_size"),
        sa.CheckConstraint("completion_threshold BETWEEN 1 AND 100", name="completion_threshold"),
        sa.CheckConstraint(f"language IN {_in(LANGUAGES)}", name="language"),
    )


group_supervisors = sa.Table(
    "group_supervisors",
    db.metadata,
    sa.Column("group_id", sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

session_supervisors = sa.Table(
    "session_supervisors",
    db.metadata,
    sa.Column("session_id", sa.ForeignKey("group_sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Group(db.Model):
    """A cohort that follows a programme together, on a weekly pattern in the practice's local time."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id", ondelete="RESTRICT"), index=True)
    #: The usual room; a single session may be elsewhere (Session.room_id).
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    start_date: Mapped[date] = mapped_column(sa.Date)
    #: Comma-separated iCalendar weekday codes, e.g. "MO,TH".
    weekdays: Mapped[str] = mapped_column(sa.String(20))
    #: Local wall-clock start time in `timezone`.
    start_time: Mapped[time] = mapped_column(sa.Time)
    session_minutes: Mapped[int]
    #: The practice's zone when the group was planned; its sessions were expanded in this zone.
    timezone: Mapped[str] = mapped_column(sa.String(64))
    #: Enrolled patients at most; more join the waitlist.
    capacity: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    programme: Mapped[Programme] = relationship()
    room: Mapped[Room] = relationship()
    supervisors: Mapped[list[User]] = relationship(secondary=group_supervisors, order_by=User.name)

    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity"),
        sa.CheckConstraint("session_minutes > 0", name="session_minutes"),
    )

    @property
    def weekday_codes(self) -> tuple[str, ...]:
        return tuple(self.weekdays.split(",")) if self.weekdays else ()


class Session(db.Model):
    """One occurrence of a group's pattern. Moving or cancelling changes this row; its id gives the stable
    calendar UID `session-<id>@<host>`."""

    __tablename__ = "group_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk())
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"))
    #: Position in the programme, 1-based; stays the same when the session is moved.
    number: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(20), default="training")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="scheduled")
    #: iCalendar SEQUENCE: raised whenever time, place or status changes, never for notes or staff.
    sequence: Mapped[int] = mapped_column(default=0)
    #: Added at the end because a planned session fell on a closure day.
    replacement: Mapped[bool] = mapped_column(default=False)
    cancel_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    #: Staff notes (equipment, theme); not shown to patients.
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group: Mapped[Group] = relationship()
    room: Mapped[Room] = relationship()
    supervisors: Mapped[list[User]] = relationship(secondary=session_supervisors, order_by=User.name)

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(f"status IN {_in(SESSION_STATUSES)}", name="status"),
        sa.CheckConstraint(f"kind IN {_in(SESSION_KINDS)}", name="kind"),
        sa.Index("ix_group_sessions_practice_starts", "practice_id", "starts_at"),
        sa.Index("ix_group_sessions_group_starts", "group_id", "starts_at"),
    )

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


class ClosureDay(db.Model):
    """A day the practice is closed (public holiday, team day): new groups skip it."""

    __tablename__ = "closure_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk())
    day: Mapped[date] = mapped_column(sa.Date)
    #: Shown in the calendar, e.g. "King's Day".
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("practice_id", "day", name="uq_closure_days_practice_day"),)


class Enrolment(db.Model):
    """A patient's place in a group, or on its waitlist. Withdrawal keeps the row with a coded reason."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    #: Place on the waitlist, 1 = next in line; None unless waitlisted.
    position: Mapped[int | None]
    #: When the patient got a place (at once, or when promoted from the waitlist). Sessions count from here.
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the request was made (waitlist order follows it).
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: One of groups.rules.WITHDRAWAL_REASONS (maps to a barrier).
    withdrawal_reason: Mapped[str | None] = mapped_column(sa.String(40))
    withdrawal_note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    group: Mapped[Group] = relationship()
    patient: Mapped[Patient] = relationship()

    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(ENROLMENT_STATUSES)}", name="status"),
        sa.CheckConstraint(
            f"withdrawal_reason IS NULL OR withdrawal_reason IN {_in(WITHDRAWAL_REASONS)}", name="withdrawal_reason"
        ),
        sa.CheckConstraint("(status = 'waitlisted') = (position IS NOT NULL)", name="position_iff_waitlisted"),
        # At most one live (enrolled or waitlisted) enrolment per patient and group; withdrawn ones may repeat.
        sa.Index(
            "uq_enrolments_group_patient_live",
            "group_id",
            "patient_id",
            unique=True,
            sqlite_where=sa.text("status != 'withdrawn'"),
            postgresql_where=sa.text("status != 'withdrawn'"),
        ),
        sa.Index("ix_enrolments_group_status", "group_id", "status"),
    )


class SessionGuest(db.Model):
    """A make-up booking: a patient attends one session of another group of the same programme."""

    __tablename__ = "session_guests"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("group_sessions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    #: The patient's own enrolment the make-up session counts for.
    enrolment_id: Mapped[int] = mapped_column(sa.ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    session: Mapped[Session] = relationship()
    patient: Mapped[Patient] = relationship()
    enrolment: Mapped[Enrolment] = relationship()

    __table_args__ = (sa.UniqueConstraint("session_id", "patient_id", name="uq_session_guests_session_patient"),)


class SessionChange(db.Model):
    """Why and by whom a session changed (append-only history shown on the session page)."""

    __tablename__ = "session_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk())
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("group_sessions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: One of CHANGE_ACTIONS.
    action: Mapped[str] = mapped_column(sa.String(20))
    #: What changed, old → new, in words staff can read (room and staff names).
    detail: Mapped[str] = mapped_column(sa.String(1000), default="")
    #: For a move: the times before and after.
    old_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    old_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    #: The session's sequence after this change.
    sequence: Mapped[int] = mapped_column(default=0)

    user: Mapped[User | None] = relationship()

    __table_args__ = (sa.CheckConstraint(f"action IN {_in(CHANGE_ACTIONS)}", name="action"),)
