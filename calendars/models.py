"""Calendar links (feeds and the patient portal), "I can't come" notices and questionnaire requests."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db
from groups.models import Session

#: patient/staff/room: a subscription feed (/feeds/<token>.ics); portal: the patient's personal page.
TOKEN_KINDS = ("patient", "staff", "room", "portal")
QUESTIONNAIRE_KINDS = ("intake", "reassessment")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class CalendarToken(db.Model):
    """A personal link. The link's token is HMAC(SECRET_KEY, nonce), so a database leak alone reveals no usable
    link, while staff can still copy a link and the portal can show the patient's feed link; requests are looked
    up by the token's sha256. At most one active link per subject and kind; rotating revokes and issues anew."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    #: Random; without SECRET_KEY it gives nothing away.
    nonce: Mapped[str] = mapped_column(sa.String(64))
    #: sha256 of the token in the link.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(f"kind IN {_in(TOKEN_KINDS)}", name="kind"),
        sa.CheckConstraint(
            "(kind IN ('patient', 'portal') AND patient_id IS NOT NULL AND user_id IS NULL AND room_id IS NULL)"
            " OR (kind = 'staff' AND user_id IS NOT NULL AND patient_id IS NULL AND room_id IS NULL)"
            " OR (kind = 'room' AND room_id IS NOT NULL AND patient_id IS NULL AND user_id IS NULL)",
            name="subject",
        ),
        # One active link per subject and kind (a race between two rotations cannot leave two live links).
        *(
            sa.Index(
                f"uq_calendar_tokens_active_{column}",
                "kind",
                column,
                unique=True,
                sqlite_where=sa.text(f"revoked_at IS NULL AND {column} IS NOT NULL"),
                postgresql_where=sa.text(f"revoked_at IS NULL AND {column} IS NOT NULL"),
            )
            for column in ("patient_id", "user_id", "room_id")
        ),
    )


class AbsenceNotice(db.Model):
    """The patient said in advance, through their portal, that they cannot come: an excused absence with a coded
    reason (supervision.definitions.ABSENCE_REASONS). Attendance reads these as "excused, known in advance"."""

    __tablename__ = "absence_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("group_sessions.id", ondelete="CASCADE"), index=True)
    #: One of supervision.definitions.ABSENCE_REASON_CODES.
    reason: Mapped[str] = mapped_column(sa.String(40))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    session: Mapped[Session] = relationship()

    __table_args__ = (sa.UniqueConstraint("patient_id", "session_id", name="uq_absence_notices_patient_session"),)


class QuestionnaireRequest(db.Model):
    """A therapist asks the patient to fill in their questionnaires through the portal; the answers become an
    assessment with source "patient" (supervision), which the therapist then reviews."""

    __tablename__ = "questionnaire_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assessment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessments.id", ondelete="SET NULL"))

    __table_args__ = (sa.CheckConstraint(f"kind IN {_in(QUESTIONNAIRE_KINDS)}", name="kind"),)
