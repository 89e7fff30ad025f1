from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db

ROLES = ("admin", "therapist", "assistant")
LOCALES = ("nl", "en")


class Practice(db.Model):
    __tablename__ = "practices"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Shown in the header, in emails and as calendar organiser name.
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: Street address; the default calendar LOCATION when a room has none.
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    #: IANA zone used to show times and to expand weekly patterns (18:00 stays 18:00 across DST).
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Amsterdam")
    #: Default language of the staff UI and of patients without a preference.
    locale: Mapped[str] = mapped_column(sa.String(5), default="nl")
    #: The practice's real mailbox: From of emails and ORGANIZER of invitations.
    sender_email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="practice")


class User(UserMixin, db.Model):
    """A staff member. Patients have no password account (they use a personal link)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    #: Login name; unique across practices so a login never has to ask "which practice?".
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    #: argon2id hash; empty until an invited user sets a password.
    password_hash: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Deactivated staff cannot log in and their sessions and tokens stop working; rows stay for the audit trail.
    active: Mapped[bool] = mapped_column(default=True)
    #: sha256 of a one-time invitation token; cleared when the password is set.
    invite_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practice: Mapped[Practice] = relationship(back_populates="users")

    __table_args__ = (sa.CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class LoginSession(db.Model):
    """A server-side record of one login: logout or idle timeout deletes it, so a replayed cookie is refused."""

    __tablename__ = "login_sessions"

    #: Random id kept in the signed session cookie; new at every login.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


class ApiToken(db.Model):
    """A Bearer token for the JSON API; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class AuditEvent(db.Model):
    """Append-only access log of patient data (NEN 7513): who, when, which patient, what, from where."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The staff member who acted; None when the patient acted through their personal link or the system did.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: "staff", "patient" (personal link), "system" (scheduler, CLI).
    actor_type: Mapped[str] = mapped_column(sa.String(20), default="staff")
    #: Kept as a plain id (no foreign key) so the trail survives the erasure of a patient.
    patient_id: Mapped[int | None] = mapped_column(index=True)
    #: view, create, update, archive, restore, export, erase, ...
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None]
    #: For actions done on someone else's behalf (e.g. an assistant entering data for a therapist).
    on_behalf_of: Mapped[str] = mapped_column(sa.String(200), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    #: Which fields changed (names only, never the values: the log must not become a copy of the record).
    detail: Mapped[str] = mapped_column(sa.Text, default="")

    user: Mapped[User | None] = relationship()


@sa.event.listens_for(AuditEvent, "before_update")
@sa.event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(mapper, connection, target):
    raise RuntimeError("audit events are append-only")
