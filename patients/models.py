from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db

LANGUAGES = ("nl", "en")
#: How a patient wants their sessions in their calendar (ICAL.md): a subscription feed, emailed invitations, neither.
CALENDAR_PREFERENCES = ("feed", "invitations", "none")


class Patient(db.Model):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Optional: a patient without email gets no invitations or reminders by email.
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    date_of_birth: Mapped[date | None] = mapped_column(sa.Date)
    #: Language of everything the patient receives (emails, portal).
    language: Mapped[str] = mapped_column(sa.String(5), default="nl")
    calendar_preference: Mapped[str] = mapped_column(sa.String(20), default="feed")
    reminders_enabled: Mapped[bool] = mapped_column(default=True)
    #: Consent to be contacted by email (GDPR): when it was given is kept with it.
    email_consent: Mapped[bool] = mapped_column(default=False)
    email_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Limited health literacy (SILS ≥ 3, or set by the therapist): emails and the portal use plain-language texts.
    plain_language: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Archived patients are hidden from lists but kept (clinical records are not deleted by "delete").
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint(f"language IN {LANGUAGES!r}", name="language"),
        sa.CheckConstraint(f"calendar_preference IN {CALENDAR_PREFERENCES!r}", name="calendar_preference"),
        sa.Index("ix_patients_practice_name", "practice_id", "name"),
    )

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def __repr__(self) -> str:
        return f"<Patient {self.id}>"
