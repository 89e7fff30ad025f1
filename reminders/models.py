from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db

#: pending → sending (leased) → sent | failed | expired; "cancelled" when the reason to send disappeared
#: before it went out (a moved or cancelled session, a patient who opted out).
STATUSES = ("pending", "sending", "sent", "failed", "expired", "cancelled")
KINDS = ("reminder", "invitation", "cancellation", "welcome", "followup", "test")


class OutboxMessage(db.Model):
    """One email to one recipient. Written in the same transaction as the change that causes it, so a
    rollback sends nothing; sent by the dispatcher of the scheduler process."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    #: Staff recipient (invitations for supervisors).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("group_sessions.id", ondelete="CASCADE"), index=True)
    #: The session's sequence this message was made for; a newer sequence makes a new message.
    sequence: Mapped[int] = mapped_column(default=0)
    #: Unique per (kind, session, recipient, sequence, variant): the same cause never queues two messages.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: Envelope sender (MAIL FROM): the relay's sender address if configured, else the practice mailbox.
    sender: Mapped[str] = mapped_column(sa.String(254))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    #: The complete RFC 5322 message, rendered when queued, so what is sent is what staff can open.
    mime: Mapped[bytes] = mapped_column(sa.LargeBinary)
    message_id: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not sent before this moment (reminder time, or the next retry after a temporary failure).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Never sent after this moment (a reminder for a session that has started): it expires instead.
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: While "sending": the claim ends here; a crashed dispatcher's rows are taken up again after it.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(sa.String(64), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    )


class ReminderSettings(db.Model):
    """A practice's reminder settings; practices without a row use the defaults."""

    __tablename__ = "reminder_settings"

    practice_id: Mapped[int] = mapped_column(practice_fk(), primary_key=True)
    #: Reminder 24 hours before each session.
    remind_24h: Mapped[bool] = mapped_column(default=True)
    #: Extra reminder 2 hours before each session.
    remind_2h: Mapped[bool] = mapped_column(default=False)
    #: No reminders at night: one due then goes before the quiet hours start, the evening before.
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[time] = mapped_column(sa.Time, default=time(22, 0))
    quiet_end: Mapped[time] = mapped_column(sa.Time, default=time(7, 0))
