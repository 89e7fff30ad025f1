"""Use cases of the education library (seed point 4): items with tags, proposals for a patient from their
barriers and stage, assignments with teach-back, uploaded videos, and the starter set.

Operations flush but never commit. Video files are written here but removed by the caller after its commit,
so a rolled-back request never deletes a file that the database still points to.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from accounts.operations import audit
from core.access import get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Conflict, Invalid
from extensions import db
from supervision.definitions import EDUCATION_TAG_KINDS
from supervision.models import Assessment, Barrier, EducationAssignment, EducationItem, EducationTag
from supervision.operations import NOTE_MAX, clean_text, require, scoped_patient

STARTER_FILE = Path(__file__).with_name("education_starter.json")
LANGS = ("en", "nl")
TEXT_FIELDS = ("title", "text", "plain")
TITLE_MAX = 200
TEXT_MAX = 20_000
URL_MAX = 500
#: Allowed video uploads: extension → (content type, check of the first bytes).
VIDEO_TYPES: dict[str, tuple[str, Any]] = {
    "mp4": ("video/mp4", lambda head: head[4:8] == b"ftyp"),
    "webm": ("video/webm", lambda head: head[:4] == b"\x1a\x45\xdf\xa3"),
}
VIDEO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(mp4|webm)$")
CHUNK = 1024 * 1024


# ---------------------------------------------------------------------------------------------------------
# Items


def _clean_item(values: Mapping[str, Any]) -> tuple[dict, dict[str, list[str]]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        for lang in LANGS:
            key = f"{name}_{lang}"
            clean[key] = clean_text(values.get(key), TITLE_MAX if name == "title" else TEXT_MAX, key, errors)
    for lang in LANGS:
        if clean[f"title_{lang}"] and not clean[f"text_{lang}"]:
            errors.setdefault(f"text_{lang}", str(_l("Write the text for this title.")))
        if (clean[f"text_{lang}"] or clean[f"plain_{lang}"]) and not clean[f"title_{lang}"]:
            errors.setdefault(f"title_{lang}", str(_l("Give the text a title.")))
    if not any(clean[f"title_{lang}"] for lang in LANGS) and "title_en" not in errors:
        errors["title_nl"] = str(_l("Give a title and a text in at least one language."))
    clean["video_url"] = _clean_url(values.get("video_url"), errors)
    tags = _clean_tags(values.get("tags") or {}, errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    return clean, tags


def _clean_url(value: Any, errors: dict[str, str]) -> str:
    url = clean_text(value, URL_MAX, "video_url", errors)
    if not url or "video_url" in errors:
        return url
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in url):
        errors["video_url"] = str(_l("Enter a web address that starts with https://."))
    return url


def _clean_tags(tags: Any, errors: dict[str, str]) -> dict[str, list[str]]:
    if not isinstance(tags, Mapping):
        errors["tags"] = str(_l("Choose tags from the lists."))
        return {}
    clean: dict[str, list[str]] = {}
    for kind, codes in tags.items():
        allowed = EDUCATION_TAG_KINDS.get(kind)
        if allowed is None or not isinstance(codes, list | tuple) or any(code not in allowed for code in codes):
            errors[f"tags.{kind}"] = str(_l("Choose tags from the lists."))
            continue
        clean[kind] = [code for code in allowed if code in codes]
    return clean


def _apply(actor: Actor, item: EducationItem, clean: dict, tags: dict[str, list[str]]) -> None:
    for key, value in clean.items():
        setattr(item, key, value)
    wanted = {(kind, code) for kind, codes in tags.items() for code in codes}
    for tag in list(item.tags):
        if (tag.kind, tag.code) not in wanted:
            item.tags.remove(tag)
    present = {(tag.kind, tag.code) for tag in item.tags}
    for kind, code in sorted(wanted - present):
        item.tags.append(EducationTag(practice_id=actor.practice_id, kind=kind, code=code))


def create_item(actor: Actor, values: Mapping[str, Any], slug: str | None = None) -> EducationItem:
    require(actor, "manage_education")
    clean, tags = _clean_item(values)
    item = EducationItem(practice_id=actor.practice_id, slug=slug, created_by_id=actor.user_id)
    _apply(actor, item, clean, tags)
    db.session.add(item)
    db.session.flush()
    return item


def update_item(actor: Actor, item_id, values: Mapping[str, Any]) -> EducationItem:
    require(actor, "manage_education")
    item = get_scoped(EducationItem, item_id, actor.practice_id)
    clean, tags = _clean_item(values)
    _apply(actor, item, clean, tags)
    db.session.flush()
    return item


def get_item(actor: Actor, item_id) -> EducationItem:
    return get_scoped(EducationItem, item_id, actor.practice_id)


def list_items(actor: Actor) -> list[EducationItem]:
    return list(
        db.session.execute(
            sa.select(EducationItem).where(EducationItem.practice_id == actor.practice_id).order_by(EducationItem.id)
        ).scalars()
    )


# ---------------------------------------------------------------------------------------------------------
# Video files


def video_path(folder: str | Path, name: str) -> Path | None:
    """Where an uploaded video lives; None for a name we did not make (so no path tricks)."""
    if not name or not VIDEO_NAME_RE.match(name):
        return None
    return Path(folder) / "education" / name


def save_video(
    actor: Actor, item_id, *, filename: str, stream: BinaryIO, folder: str | Path, max_bytes: int
) -> tuple[EducationItem, str]:
    """Store an uploaded mp4/webm for the item; returns (item, the replaced file's name or "").

    The type is taken from the file's first bytes as well as its name; the size is counted while writing.
    """
    require(actor, "manage_education")
    item = get_scoped(EducationItem, item_id, actor.practice_id)
    extension = Path(filename or "").suffix.lower().lstrip(".")
    head = stream.read(16)
    if extension not in VIDEO_TYPES or not VIDEO_TYPES[extension][1](head):
        raise Invalid(_l("Upload an mp4 or webm video."), {"video": str(_l("Upload an mp4 or webm video."))})
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    target = video_path(folder, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    too_big = str(_l("The video is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    try:
        with open(target, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise Invalid(too_big, {"video": too_big})
                out.write(chunk)
                chunk = stream.read(CHUNK)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    replaced = item.video_file
    item.video_file, item.video_type, item.video_size = name, VIDEO_TYPES[extension][0], size
    db.session.flush()
    return item, replaced


def remove_video(actor: Actor, item_id) -> tuple[EducationItem, str]:
    require(actor, "manage_education")
    item = get_scoped(EducationItem, item_id, actor.practice_id)
    replaced = item.video_file
    item.video_file, item.video_type, item.video_size = "", "", None
    db.session.flush()
    return item, replaced


def delete_video_file(folder: str | Path, name: str) -> None:
    """Remove a file no row points to any more (call after the commit)."""
    path = video_path(folder, name)
    if path is not None:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------
# Patients: proposals, assignments, teach-back


@dataclass
class Proposal:
    item: EducationItem
    #: The patient's barrier codes and stage the item is tagged with.
    matches: list[tuple[str, str]]


def propose_items(actor: Actor, patient_id) -> list[Proposal]:
    """Items tagged with the patient's open barriers or current stage, best match first; assigned ones left out."""
    require(actor, "manage_education")
    patient = scoped_patient(actor, patient_id)
    barriers = set(
        db.session.execute(
            sa.select(Barrier.code).where(Barrier.patient_id == patient.id, Barrier.resolved_at.is_(None))
        ).scalars()
    )
    latest = db.session.execute(
        sa.select(Assessment)
        .where(Assessment.patient_id == patient.id)
        .order_by(Assessment.taken_at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    wanted = {("barrier", code) for code in barriers}
    if latest is not None and latest.stage:
        wanted.add(("stage", latest.stage))
    assigned = set(
        db.session.execute(
            sa.select(EducationAssignment.item_id).where(EducationAssignment.patient_id == patient.id)
        ).scalars()
    )
    proposals = []
    for item in db.session.execute(
        sa.select(EducationItem).where(EducationItem.practice_id == actor.practice_id).order_by(EducationItem.id)
    ).scalars():
        if item.id in assigned:
            continue
        matches = [(tag.kind, tag.code) for tag in item.tags if (tag.kind, tag.code) in wanted]
        if matches:
            proposals.append(Proposal(item, matches))
    return sorted(proposals, key=lambda p: -len(p.matches))


def patient_assignments(patient_id: int) -> list[EducationAssignment]:
    return list(
        db.session.execute(
            sa.select(EducationAssignment)
            .where(EducationAssignment.patient_id == patient_id)
            .order_by(EducationAssignment.assigned_at, EducationAssignment.id)
        ).scalars()
    )


def assign_item(actor: Actor, patient_id, item_id) -> EducationAssignment:
    require(actor, "manage_education")
    patient = scoped_patient(actor, patient_id)
    item = get_scoped(EducationItem, item_id, actor.practice_id)
    exists = db.session.execute(
        sa.select(EducationAssignment.id).where(
            EducationAssignment.patient_id == patient.id, EducationAssignment.item_id == item.id
        )
    ).first()
    if exists:
        raise Conflict(_l("This item is already assigned to the patient."))
    assignment = EducationAssignment(
        practice_id=actor.practice_id,
        patient_id=patient.id,
        item_id=item.id,
        assigned_by_id=actor.user_id,
        assigned_at=utcnow(),
    )
    db.session.add(assignment)
    db.session.flush()
    audit(actor, "create", patient_id=patient.id, object_type="education_assignment", object_id=assignment.id)
    return assignment


def confirm_teach_back(actor: Actor, assignment_id, note: Any = "") -> EducationAssignment:
    """The patient explained the item back in their own words."""
    require(actor, "manage_education")
    assignment = get_scoped(EducationAssignment, assignment_id, actor.practice_id)
    errors: dict[str, str] = {}
    note = clean_text(note, NOTE_MAX, "note", errors)
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    assignment.teach_back_at, assignment.teach_back_by_id = utcnow(), actor.user_id
    assignment.teach_back_note = note
    db.session.flush()
    audit(
        actor,
        "update",
        patient_id=assignment.patient_id,
        object_type="education_assignment",
        object_id=assignment.id,
        detail="teach_back",
    )
    return assignment


# ---------------------------------------------------------------------------------------------------------
# Starter set


def starter_items(path: str | Path | None = None) -> list[dict]:
    with open(path or STARTER_FILE, encoding="utf-8") as handle:
        return json.load(handle)["items"]


def load_starter_items(actor: Actor, path: str | Path | None = None) -> int:
    """Add the starter items the practice does not have yet (matched by slug); returns how many were added.

    Items already there are left as they are, so a practice's own edits survive a second load.
    """
    require(actor, "manage_education")
    have = set(
        db.session.execute(
            sa.select(EducationItem.slug).where(
                EducationItem.practice_id == actor.practice_id, EducationItem.slug.is_not(None)
            )
        ).scalars()
    )
    added = 0
    for entry in starter_items(path):
        if entry["slug"] in have:
            continue
        values = {f"{name}_{lang}": entry[name][lang] for name in TEXT_FIELDS for lang in LANGS}
        values["tags"] = entry.get("tags", {})
        create_item(actor, values, slug=entry["slug"])
        added += 1
    return added
