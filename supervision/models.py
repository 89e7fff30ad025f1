"""Assessments, supervision decisions, safety tasks, barriers and actions, goals, education and ratio settings.

Scores, reasons and proposals are stored as snapshots (JSON) next to the answers: the record shows what the
therapist saw when deciding, even after a later version changes a cut-off or a reason text.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, practice_fk, utcnow
from extensions import db
from supervision.definitions import DEFAULT_RATIOS, LEVELS

ASSESSMENT_KINDS = ("intake", "reassessment")
#: Who filled in the questionnaire: the therapist, or the patient through their portal link (then reviewed).
ASSESSMENT_SOURCES = ("staff", "patient")
BARRIER_SOURCES = ("assessment", "manual")
ACTION_STATUSES = ("open", "done", "cancelled")
SAFETY_STATUSES = ("open", "resolved")
#: Code of an action the therapist wrote themselves instead of picking one from the barrier's table.
CUSTOM_ACTION = "OTHER"

_LEVEL_RANGE = f"BETWEEN {min(LEVELS)} AND {max(LEVELS)}"


def _user_fk() -> sa.ForeignKey:
    # Staff rows are deactivated, never deleted; SET NULL only guards the clinical record if one ever is.
    return sa.ForeignKey("users.id", ondelete="SET NULL")


def _patient_fk() -> sa.ForeignKey:
    # Erasing a patient (GDPR) erases their clinical data with them; the audit trail keeps the plain id.
    return sa.ForeignKey("patients.id", ondelete="CASCADE")


class Assessment(db.Model):
    """One filled-in set of instruments (intake or reassessment) with its scores and proposed level."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    #: Indexed together with taken_at (ix_assessments_patient_taken), which also serves lookups by patient.
    patient_id: Mapped[int] = mapped_column(_patient_fk())
    kind: Mapped[str] = mapped_column(sa.String(20))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(10), default="staff")
    #: The staff member who entered it; None when the patient filled it in through their link.
    entered_by_id: Mapped[int | None] = mapped_column(_user_fk())
    #: A therapist who entered or checked the answers; a patient's own answers wait for review.
    reviewed_by_id: Mapped[int | None] = mapped_column(_user_fk())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Answers as given, per instrument code (PSFS as [{"activity", "score"}]); null items were not answered.
    answers: Mapped[dict] = mapped_column(sa.JSON)
    #: Per instrument: total, band, explanation (en/nl), items and extras, as computed at the time.
    scores: Mapped[dict] = mapped_column(sa.JSON)
    #: None when a safety gate fired: no automatic level, a clinician reviews.
    proposed_level: Mapped[int | None]
    safety_flags: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: Every rule that fired: [{"code", "level", "text_en", "text_nl"}].
    reasons: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: Instruments a complete screen still needs, and answered instruments with unanswered items.
    missing: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: Reassessments only: step up/down suggestion against the previous assessment {"direction", "reasons"}.
    suggestion: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entered_by: Mapped[User | None] = relationship(foreign_keys=[entered_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    decisions: Mapped[list[SupervisionDecision]] = relationship(
        back_populates="assessment", order_by="SupervisionDecision.decided_at, SupervisionDecision.id"
    )

    __table_args__ = (
        sa.CheckConstraint(f"kind IN {ASSESSMENT_KINDS!r}", name="kind"),
        sa.CheckConstraint(f"source IN {ASSESSMENT_SOURCES!r}", name="source"),
        sa.CheckConstraint(f"proposed_level IS NULL OR proposed_level {_LEVEL_RANGE}", name="proposed_level"),
        sa.Index("ix_assessments_patient_taken", "patient_id", "taken_at"),
    )

    @property
    def stage(self) -> str | None:
        score = (self.scores or {}).get("STAGE")
        return score["band"] if score else None


class SupervisionDecision(db.Model):
    """The therapist's confirmation or override of a proposed level. Valid until the next assessment."""

    __tablename__ = "supervision_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(_patient_fk(), index=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    #: Copied from the assessment so the history reads on its own.
    proposed_level: Mapped[int | None]
    final_level: Mapped[int]
    is_override: Mapped[bool] = mapped_column(default=False)
    #: Required for an override, optional for a confirmation.
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(_user_fk())
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="decisions")
    decided_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(f"final_level {_LEVEL_RANGE}", name="final_level"),
        sa.CheckConstraint(f"proposed_level IS NULL OR proposed_level {_LEVEL_RANGE}", name="proposed_level"),
    )


class SafetyTask(db.Model):
    """Urgent clinician review raised by a safety gate (PHQ-9 item 9 > 0, a red flag), on the dashboard until done."""

    __tablename__ = "safety_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(_patient_fk(), index=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    #: The safety rule codes that fired, e.g. ["SAFETY_PHQ9_ITEM9"].
    reason_codes: Mapped[list] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(_user_fk())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the clinician did (required to resolve).
    note: Mapped[str] = mapped_column(sa.Text, default="")

    assessment: Mapped[Assessment] = relationship()
    resolved_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.CheckConstraint(f"status IN {SAFETY_STATUSES!r}", name="status"),)


class Barrier(db.Model):
    """An obstacle to training (CLINICAL.md barriers table), from an assessment or added by hand."""

    __tablename__ = "barriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(_patient_fk(), index=True)
    #: A code of definitions.BARRIERS (checked by the operations, so the table stays data).
    code: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(20))
    #: The assessment it was derived from (source "assessment").
    assessment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessments.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(_user_fk())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(_user_fk())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    actions: Mapped[list[BarrierAction]] = relationship(
        back_populates="barrier", order_by="BarrierAction.created_at, BarrierAction.id"
    )
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])

    __table_args__ = (sa.CheckConstraint(f"source IN {BARRIER_SOURCES!r}", name="source"),)

    @property
    def open(self) -> bool:
        return self.resolved_at is None


class BarrierAction(db.Model):
    """A task that addresses a barrier: owner, due date, status and outcome."""

    __tablename__ = "barrier_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    barrier_id: Mapped[int] = mapped_column(sa.ForeignKey("barriers.id", ondelete="CASCADE"), index=True)
    #: An action code of the barrier's table row, or "OTHER" with the therapist's own text.
    code: Mapped[str] = mapped_column(sa.String(40))
    text: Mapped[str] = mapped_column(sa.String(300), default="")
    owner_id: Mapped[int | None] = mapped_column(_user_fk(), index=True)
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    outcome: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(_user_fk())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(_user_fk())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    barrier: Mapped[Barrier] = relationship(back_populates="actions")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    __table_args__ = (sa.CheckConstraint(f"status IN {ACTION_STATUSES!r}", name="status"),)


class Goal(db.Model):
    """A PSFS activity: the patient's own goal, scored at each assessment that names it."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(_patient_fk(), index=True)
    activity: Mapped[str] = mapped_column(sa.String(200))
    #: The assessment in which the patient first named it.
    assessment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scores: Mapped[list[GoalScore]] = relationship(back_populates="goal", order_by="GoalScore.id")


class GoalScore(db.Model):
    __tablename__ = "goal_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    goal_id: Mapped[int] = mapped_column(sa.ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    #: 0 cannot do it at all … 10 as well as before the pain; None: named but not scored.
    score: Mapped[int | None]

    goal: Mapped[Goal] = relationship(back_populates="scores")
    assessment: Mapped[Assessment] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("goal_id", "assessment_id"),
        sa.CheckConstraint("score IS NULL OR score BETWEEN 0 AND 10", name="score"),
    )


class EducationItem(db.Model):
    """Education text and/or video in Dutch and English, each with a plain-language variant (B1)."""

    __tablename__ = "education_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    #: Key of a starter item, so loading the starter set twice adds nothing; None for the practice's own items.
    slug: Mapped[str | None] = mapped_column(sa.String(80))
    title_en: Mapped[str] = mapped_column(sa.String(200), default="")
    title_nl: Mapped[str] = mapped_column(sa.String(200), default="")
    text_en: Mapped[str] = mapped_column(sa.Text, default="")
    text_nl: Mapped[str] = mapped_column(sa.Text, default="")
    #: Shorter, simpler wording for patients with limited health literacy.
    plain_en: Mapped[str] = mapped_column(sa.Text, default="")
    plain_nl: Mapped[str] = mapped_column(sa.Text, default="")
    #: An https link to a video elsewhere ...
    video_url: Mapped[str] = mapped_column(sa.String(500), default="")
    #: ... or an uploaded file: its random name under the upload folder, its type and size.
    video_file: Mapped[str] = mapped_column(sa.String(100), default="")
    video_type: Mapped[str] = mapped_column(sa.String(40), default="")
    video_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(_user_fk())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tags: Mapped[list[EducationTag]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="EducationTag.kind, EducationTag.code"
    )

    __table_args__ = (sa.UniqueConstraint("practice_id", "slug"),)

    def title(self, lang: str) -> str:
        return _in(lang, self.title_nl, self.title_en)

    def text(self, lang: str, plain: bool = False) -> str:
        if plain:
            chosen = _in(lang, self.plain_nl, self.plain_en)
            if chosen:
                return chosen
        return _in(lang, self.text_nl, self.text_en)

    def tag_codes(self, kind: str) -> list[str]:
        return [tag.code for tag in self.tags if tag.kind == kind]


def _in(lang: str, nl: str, en: str) -> str:
    """The text in `lang`, or in the other language when that one is empty."""
    return (nl or en) if lang == "nl" else (en or nl)


class EducationTag(db.Model):
    __tablename__ = "education_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("education_items.id", ondelete="CASCADE"), index=True)
    #: "misconception", "barrier" or "stage" (definitions.EDUCATION_TAG_KINDS).
    kind: Mapped[str] = mapped_column(sa.String(20))
    code: Mapped[str] = mapped_column(sa.String(40))

    item: Mapped[EducationItem] = relationship(back_populates="tags")

    __table_args__ = (sa.UniqueConstraint("item_id", "kind", "code"),)


class EducationAssignment(db.Model):
    """An education item assigned to a patient, and whether the patient explained it back (teach-back)."""

    __tablename__ = "education_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(practice_fk(), index=True)
    patient_id: Mapped[int] = mapped_column(_patient_fk(), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("education_items.id", ondelete="CASCADE"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(_user_fk())
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    teach_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    teach_back_by_id: Mapped[int | None] = mapped_column(_user_fk())
    teach_back_note: Mapped[str] = mapped_column(sa.Text, default="")

    item: Mapped[EducationItem] = relationship()
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    teach_back_by: Mapped[User | None] = relationship(foreign_keys=[teach_back_by_id])

    __table_args__ = (sa.UniqueConstraint("patient_id", "item_id"),)


class SupervisionSettings(db.Model):
    """Patients per supervisor for each level; a practice without a row uses definitions.DEFAULT_RATIOS."""

    __tablename__ = "supervision_settings"

    practice_id: Mapped[int] = mapped_column(practice_fk(), primary_key=True)
    ratio_1: Mapped[int] = mapped_column(default=DEFAULT_RATIOS[1])
    ratio_2: Mapped[int] = mapped_column(default=DEFAULT_RATIOS[2])
    ratio_3: Mapped[int] = mapped_column(default=DEFAULT_RATIOS[3])
    ratio_4: Mapped[int] = mapped_column(default=DEFAULT_RATIOS[4])
    updated_by_id: Mapped[int | None] = mapped_column(_user_fk())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = tuple(sa.CheckConstraint(f"ratio_{n} >= 1", name=f"ratio_{n}") for n in sorted(LEVELS))

    def ratios(self) -> dict[int, int]:
        return {level: getattr(self, f"ratio_{level}") for level in sorted(LEVELS)}
