"""Education library (seed point 4): starter set, proposals from barriers and stage, assignments with teach-back,
item validation, video upload limits and staff-only serving."""

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.actor import Actor
from core.errors import Conflict, Forbidden, Invalid, NotFound
from extensions import db
from supervision import education
from supervision import operations as ops
from supervision.definitions import EDUCATION_TAG_KINDS
from supervision.models import EducationAssignment, EducationItem, EducationTag
from tests.conftest import csrf_from, csrf_token
from tests.factories import login, make_patient, make_practice, make_user
from tests.supervision.samples import CALM, INTAKE, answers

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 200

ITEM = {
    "title_en": "Pacing",
    "text_en": "Spread your activities over the day.",
    "plain_en": "Do a bit, rest a bit.",
    "title_nl": "Doseren",
    "text_nl": "Verdeel uw activiteiten over de dag.",
    "plain_nl": "Doe wat, rust wat.",
    "video_url": "https://video.example.com/pacing",
    "tags": {"barrier": ["PAIN_INTENSITY"], "stage": ["action"], "misconception": []},
}


@pytest.fixture
def therapist(app, ctx):
    return make_user(role="therapist")


@pytest.fixture
def actor(therapist):
    return Actor.for_user(therapist)


@pytest.fixture
def uploads(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    return tmp_path


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


# ---------------------------------------------------------------------------------------------------------
# Starter set


def test_starter_set_is_complete_bilingual_plain_and_validly_tagged():
    items = education.starter_items()
    slugs = {item["slug"] for item in items}
    assert {"hurt-is-not-harm", "rest-is-not-best", "benefits-of-training", "what-to-expect-in-the-group"} <= slugs
    for item in items:
        for part in ("title", "text", "plain"):
            assert item[part]["en"].strip() and item[part]["nl"].strip(), (item["slug"], part)
        assert len(item["plain"]["en"]) < len(item["text"]["en"])
        for kind, codes in item["tags"].items():
            assert set(codes) <= set(EDUCATION_TAG_KINDS[kind]), item["slug"]


def test_loading_the_starter_set_twice_adds_nothing_and_keeps_edits(actor):
    added = education.load_starter_items(actor)
    assert added == len(education.starter_items()) == count(EducationItem)
    hurt = db.session.execute(sa.select(EducationItem).where(EducationItem.slug == "hurt-is-not-harm")).scalar_one()
    education.update_item(actor, hurt.id, {**ITEM, "title_en": "Hurt ≠ harm"})
    assert education.load_starter_items(actor) == 0
    assert hurt.title_en == "Hurt ≠ harm" and count(EducationItem) == added
    other = Actor.system(make_practice().id)
    assert education.load_starter_items(other) == added  # per practice


def test_cli_load_starter(app, therapist):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["education", "load-starter", "--practice", therapist.practice.name])
    assert result.exit_code == 0, result.output
    assert "6 starter item(s) added" in result.output
    again = runner.invoke(args=["education", "load-starter"])
    assert again.exit_code == 0 and f"{therapist.practice.name}: 0 starter item(s) added" in again.output
    missing = runner.invoke(args=["education", "load-starter", "--practice", "Nowhere"])
    assert missing.exit_code != 0 and "No practice named" in missing.output


# ---------------------------------------------------------------------------------------------------------
# Items


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"video_url": "http://video.example.com/x"}, "video_url"),
        ({"video_url": "javascript:alert(1)"}, "video_url"),
        ({"video_url": "https://"}, "video_url"),
        ({"title_en": "", "title_nl": ""}, "title_nl"),
        ({"text_en": ""}, "text_en"),
        ({"title_en": "x" * 201}, "title_en"),
        ({"tags": {"barrier": ["BAD_WEATHER"]}}, "tags.barrier"),
        ({"tags": {"colour": ["red"]}}, "tags.colour"),
    ],
)
def test_invalid_items_are_refused(actor, change, field):
    with pytest.raises(Invalid) as raised:
        education.create_item(actor, {**ITEM, **change})
    assert field in raised.value.fields
    assert count(EducationItem) == 0


def test_item_in_one_language_falls_back_for_the_other(actor):
    item = education.create_item(actor, {"title_nl": "Alleen Nederlands", "text_nl": "Tekst."})
    assert item.title("en") == "Alleen Nederlands" and item.text("en", plain=True) == "Tekst."


def test_assistants_cannot_manage_the_library(therapist):
    assistant = Actor.for_user(make_user(therapist.practice, role="assistant"))
    with pytest.raises(Forbidden):
        education.create_item(assistant, ITEM)


# ---------------------------------------------------------------------------------------------------------
# Proposals, assignments, teach-back


def test_proposals_follow_open_barriers_and_stage_and_skip_assigned_items(actor, therapist):
    education.load_starter_items(actor)
    patient = make_patient(therapist.practice)
    assert education.propose_items(actor, patient.id) == []
    # Fear of movement (TSK-11 ≥ 29) and an early stage.
    ops.create_assessment(
        actor, patient.id, kind="intake", answers=answers(CALM, TSK11=[3] * 11, STAGE="contemplation")
    )
    proposals = education.propose_items(actor, patient.id)
    slugs = [p.item.slug for p in proposals]
    assert slugs[0] in {"hurt-is-not-harm", "rest-is-not-best", "a-scan-does-not-tell-the-whole-story"}
    assert "keep-moving-after-the-programme" not in slugs  # tagged for action/maintenance and other barriers
    hurt = next(p for p in proposals if p.item.slug == "hurt-is-not-harm")
    assert set(hurt.matches) == {("barrier", "FEAR_OF_MOVEMENT"), ("stage", "contemplation")}

    assignment = education.assign_item(actor, patient.id, hurt.item.id)
    assert "hurt-is-not-harm" not in [p.item.slug for p in education.propose_items(actor, patient.id)]
    with pytest.raises(Conflict):
        education.assign_item(actor, patient.id, hurt.item.id)
    education.confirm_teach_back(actor, assignment.id, "Explained it in her own words.")
    assert assignment.teach_back_at is not None and assignment.teach_back_by_id == actor.user_id
    assert [a.id for a in education.patient_assignments(patient.id)] == [assignment.id]


def test_assignments_are_scoped_to_the_practice(actor, therapist):
    patient = make_patient(therapist.practice)
    foreign_item = education.create_item(Actor.system(make_practice().id), ITEM)
    with pytest.raises(NotFound):
        education.assign_item(actor, patient.id, foreign_item.id)
    mine = education.create_item(actor, ITEM)
    stranger = Actor.for_user(make_user(role="therapist"))
    with pytest.raises(NotFound):
        education.assign_item(stranger, patient.id, mine.id)
    assert count(EducationAssignment) == 0


def test_assign_and_teach_back_on_the_patient_page(client, therapist, actor):
    education.load_starter_items(actor)
    patient = make_patient(therapist.practice, name="Bram Mulder")
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    db.session.flush()
    login(client, therapist)
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Proposed for this patient" in page and "Assign" in page
    token = csrf_from(page)
    item = db.session.execute(
        sa.select(EducationItem).where(EducationItem.slug == "what-to-expect-in-the-group")
    ).scalar_one()
    assert (
        client.post(f"/patients/{patient.id}/education", data={"csrf_token": token, "item_id": "x"}).status_code == 422
    )
    assigned = client.post(f"/patients/{patient.id}/education", data={"csrf_token": token, "item_id": str(item.id)})
    assert assigned.status_code == 302
    [assignment] = db.session.execute(sa.select(EducationAssignment)).scalars().all()
    assert (
        client.post(
            f"/patients/{patient.id}/education", data={"csrf_token": token, "item_id": str(item.id)}
        ).status_code
        == 409
    )
    done = client.post(
        f"/education-assignments/{assignment.id}/teach-back", data={"csrf_token": token, "note": "Knows what to bring."}
    )
    assert done.status_code == 302
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "teach-back done" in page and "Knows what to bring." in page


# ---------------------------------------------------------------------------------------------------------
# Library pages and videos


def test_library_pages_create_and_edit(client, therapist):
    login(client, therapist)
    assert client.get("/education/").status_code == 200
    token = csrf_token(client, "/education/new")
    data = {
        "csrf_token": token,
        "title_en": "Pacing",
        "text_en": "Spread it out.",
        "video_url": "http://x.example",
        "barriers": ["PAIN_INTENSITY"],
        "stages": ["action"],
    }
    bad = client.post("/education/new", data=data)
    assert bad.status_code == 422 and "https://" in bad.get_data(as_text=True)
    assert count(EducationItem) == 0
    good = client.post("/education/new", data={**data, "video_url": "https://video.example.com/pacing"})
    assert good.status_code == 302
    [item] = db.session.execute(sa.select(EducationItem)).scalars().all()
    assert {(t.kind, t.code) for t in item.tags} == {("barrier", "PAIN_INTENSITY"), ("stage", "action")}
    page = client.get(f"/education/{item.id}").get_data(as_text=True)
    assert "Pacing" in page and "https://video.example.com/pacing" in page and "Not written in this language" in page
    edit = client.get(f"/education/{item.id}/edit").get_data(as_text=True)
    assert re.findall(r'<input checked[^>]*value="([A-Za-z_]+)"', edit) == ["PAIN_INTENSITY", "action"]
    changed = client.post(
        f"/education/{item.id}/edit",
        data={
            "csrf_token": token,
            "title_en": "Pacing",
            "text_en": "Spread it out.",
            "title_nl": "Doseren",
            "text_nl": "Verdeel het.",
            "stages": ["maintenance"],
        },
    )
    assert changed.status_code == 302
    db.session.expire_all()
    assert {(t.kind, t.code) for t in db.session.get(EducationItem, item.id).tags} == {("stage", "maintenance")}
    assert count(EducationTag) == 1


def test_assistants_see_the_library_but_cannot_change_it(client, therapist, actor):
    item = education.create_item(actor, ITEM)
    db.session.flush()
    login(client, make_user(therapist.practice, role="assistant"))
    assert client.get(f"/education/{item.id}").status_code == 200
    assert client.get("/education/new").status_code == 403
    assert client.get(f"/education/{item.id}/edit").status_code == 403


def _upload(client, item_id, token, content: bytes, filename: str):
    return client.post(
        f"/education/{item_id}/video",
        data={"csrf_token": token, "video": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_video_upload_and_staff_only_serving(client, app, therapist, actor, uploads):
    item = education.create_item(actor, ITEM)
    db.session.flush()
    login(client, therapist)
    token = csrf_token(client, f"/education/{item.id}")
    # Larger than the app-wide 2 MB request limit: the upload route raises the limit for itself.
    big = MP4 + b"\x00" * (3 * 1024 * 1024)
    response = _upload(client, item.id, token, big, "Pacing Film.MP4")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    db.session.expire_all()
    item = db.session.get(EducationItem, item.id)
    assert item.video_type == "video/mp4" and item.video_size == len(big)
    stored = Path(uploads) / "education" / item.video_file
    assert stored.read_bytes() == big and "Pacing" not in item.video_file

    served = client.get(f"/education/{item.id}/video")
    assert served.status_code == 200 and served.mimetype == "video/mp4" and served.data == big
    assert served.headers["Cache-Control"] == "private, no-store"
    ranged = client.get(f"/education/{item.id}/video", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.data == big[:10]
    # Not for anyone without a staff login, nor for another practice.
    assert app.test_client().get(f"/education/{item.id}/video").status_code == 302
    other = app.test_client()
    login(other, make_user(role="therapist"))
    assert other.get(f"/education/{item.id}/video").status_code == 404

    old = stored
    replaced = _upload(client, item.id, token, WEBM, "clip.webm")
    assert replaced.status_code == 302 and not old.exists()
    db.session.expire_all()
    assert db.session.get(EducationItem, item.id).video_type == "video/webm"
    removed = client.post(f"/education/{item.id}/video/remove", data={"csrf_token": token})
    assert removed.status_code == 302 and list((Path(uploads) / "education").iterdir()) == []


@pytest.mark.parametrize(
    ("content", "filename"),
    [(MP4, "film.avi"), (b"not a video at all" * 10, "film.mp4"), (WEBM, "film.mp4"), (MP4, "")],
)
def test_only_mp4_and_webm_are_accepted(client, therapist, actor, uploads, content, filename):
    item = education.create_item(actor, ITEM)
    db.session.flush()
    login(client, therapist)
    token = csrf_token(client, f"/education/{item.id}")
    response = _upload(client, item.id, token, content, filename)
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(EducationItem, item.id).video_file == ""
    assert not (Path(uploads) / "education").exists() or list((Path(uploads) / "education").iterdir()) == []


def test_video_size_limit(client, app, therapist, actor, uploads, monkeypatch):
    monkeypatch.setitem(app.config, "EDUCATION_VIDEO_MAX_BYTES", 1024)
    item = education.create_item(actor, ITEM)
    db.session.flush()
    login(client, therapist)
    token = csrf_token(client, f"/education/{item.id}")
    over_limit = _upload(client, item.id, token, MP4 + b"\x00" * 2000, "film.mp4")
    assert over_limit.status_code == 422 and "larger than" in over_limit.get_data(as_text=True)
    far_over = _upload(client, item.id, token, MP4 + b"\x00" * (200 * 1024), "film.mp4")
    assert far_over.status_code == 413
    db.session.expire_all()
    assert db.session.get(EducationItem, item.id).video_file == ""
    assert not (Path(uploads) / "education").exists() or list((Path(uploads) / "education").iterdir()) == []


def test_upload_needs_a_csrf_token(client, therapist, actor, uploads):
    item = education.create_item(actor, ITEM)
    db.session.flush()
    login(client, therapist)
    assert _upload(client, item.id, "", MP4, "film.mp4").status_code == 400
    assert education.video_path(uploads, "../../etc/passwd") is None
