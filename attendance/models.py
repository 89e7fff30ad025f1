"""Roll-call records, follow-up tasks for patients slipping away, and the practice's attendance settings."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from attendance.rules import FOLLOW_UP_OUTCOMES, STATUSES, TRIGGERS
from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db
from groups.models import Enrolment, Session
from patients.models import Patient

FOLLOW_UP_STATUSES = ("open", "closed")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="SET NULL")


class AttendanceRecord(db.Model):
    """One patient's status at one session. Saving again updates the row: the last change wins, and who first
    recorded it and who last changed it are kept (every change is also in the audit log)."""

    __tablename__ = "attendance_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("group_sessions.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    #: The enrolment this session counts for: in the session's group, or for a make-up the patient's own
    #: enrolment in another group of the same programme.
    enrolment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    #: One of rules.STATUSES: present, late (counts as attended), excused, absent.
    status: Mapped[str] = mapped_column(sa.String(20))
    #: Reason code for excused/absent (supervision.definitions.ABSENCE_REASONS, each mapped to a barrier).
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    #: A make-up: the patient belongs to another group of the same programme.
    guest: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(_user_fk())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(_user_fk())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    session: Mapped[Session] = relationship()
    patient: Mapped[Patient] = relationship()
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])

    __table_args__ = (
        sa.UniqueConstraint("session_id", "patient_id", name="uq_attendance_records_session_patient"),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
    )


class FollowUp(db.Model):
    """A task for the group's supervisor: contact a patient who is slipping away (CLINICAL.md triggers)."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    #: The first trigger that fired (rules.TRIGGERS); `detail` lists all that fired when it opened.
    trigger: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_to_id: Mapped[int | None] = mapped_column(_user_fk(), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    #: One of rules.FOLLOW_UP_OUTCOMES once closed.
    outcome: Mapped[str | None] = mapped_column(sa.String(40))
    #: Barrier code (outcome "barrier_recorded") or withdrawal reason (outcome "withdrawn").
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    note: Mapped[str] = mapped_column(sa.String(2000), default="")
    closed_by_id: Mapped[int | None] = mapped_column(_user_fk())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient: Mapped[Patient] = relationship()
    enrolment: Mapped[Enrolment | None] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])

    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(FOLLOW_UP_STATUSES)}", name="status"),
        sa.CheckConstraint(f"trigger IN {_in(TRIGGERS)}", name="trigger"),
        sa.CheckConstraint(f"outcome IS NULL OR outcome IN {_in(FOLLOW_UP_OUTCOMES)}", name="outcome"),
        sa.CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="outcome_iff_closed"),
        # At most one open follow-up per patient, whatever process opens it.
        sa.Index(
            "uq_follow_ups_patient_open",
            "patient_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
    )


class AttendanceSettings(db.Model):
    __tablename__ = "attendance_settings"

    practice_id: Mapped[int] = mapped_column(practice_fk(), primary_key=True)
    #: Send a friendly "we missed you" email (through the outbox) when a follow-up opens.
    missed_you_email: Mapped[bool] = mapped_column(default=False)
