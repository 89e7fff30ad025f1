"""Who is acting: passed explicitly to every operation so use cases never read `flask.request`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class Actor:
    practice_id: int
    user: User | None = None
    #: "staff", "patient" (through their personal link) or "system" (CLI, scheduler).
    kind: str = "staff"
    ip: str = ""
    #: Set when a patient acts through their own link.
    patient_id: int | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def role(self) -> str | None:
        return self.user.role if self.user is not None else None

    @classmethod
    def for_user(cls, user: User, ip: str = "") -> Actor:
        return cls(practice_id=user.practice_id, user=user, kind="staff", ip=ip)

    @classmethod
    def system(cls, practice_id: int) -> Actor:
        return cls(practice_id=practice_id, kind="system")
