"""Supervision pages: the assessment form (with the PHQ-2 → PHQ-9 branch without JavaScript), the result page and
decision form, the patient page section, dashboard panels, barrier forms, settings; bad input is a 4xx that
writes nothing; other practices get 404."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from core.actor import Actor
from core.db import utcnow
from extensions import db
from patients.models import Patient
from supervision import operations as ops
from supervision.education import load_starter_items
from supervision.models import (
    Assessment,
    Barrier,
    BarrierAction,
    SafetyTask,
    SupervisionDecision,
    SupervisionSettings,
)
from tests.conftest import csrf_from, csrf_token
from tests.factories import login, make_patient, make_user
from tests.supervision.samples import INTAKE, ITEM9


@pytest.fixture
def therapist(app, ctx):
    return make_user(role="therapist", name="Eva Jansen")


@pytest.fixture
def patient(therapist):
    return make_patient(therapist.practice, name="Anna de Vries")


@pytest.fixture
def actor(therapist):
    return Actor.for_user(therapist)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def form_data(token: str, **extra) -> dict:
    """The INTAKE answers as the assessment form posts them."""
    data = {"csrf_token": token, "kind": "intake", "NRS": "6", "SILS": "1", "STAGE": "preparation"}
    data.update({f"TSK11-{n}": str(v) for n, v in enumerate(INTAKE["TSK11"], start=1)})
    data.update({"PHQ2-1": "1", "PHQ2-2": "1"})
    data.update({f"SBST-{n}": str(v) for n, v in enumerate(INTAKE["SBST"], start=1)})
    data.update(
        {"PSFS-activity-1": "Walking the dog", "PSFS-score-1": "4", "PSFS-activity-2": "Gardening", "PSFS-score-2": "3"}
    )
    data.update(extra)
    return data


def new_url(patient) -> str:
    return f"/patients/{patient.id}/assessments/new"


def test_form_shows_every_instrument_with_item_wording(client, therapist, patient):
    login(client, therapist)
    page = client.get(new_url(patient))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "I am afraid that I might injure myself if I exercise." in html  # TSK-11 item 1
    assert "How often do you need someone to help you read" in html  # SILS
    assert 'name="SBST-9"' in html and 'name="FABQ_PA-5"' in html and 'name="PSFS-activity-5"' in html
    assert 'value="CAUDA_EQUINA"' in html and 'value="NO_TIME"' in html
    # The PHQ-9 block is hidden until PHQ-2 reaches 3 (a static script shows it; no inline script).
    assert 'data-follow-up-of="PHQ2" data-follow-up-min="3" hidden' in html
    assert "<script>" not in html and "js/assessment.js" in html
    assert re.search(r'<input checked[^>]*name="kind"[^>]*value="intake"', html)  # first assessment: intake


def test_form_in_dutch_uses_the_dutch_wording(client, therapist, patient):
    therapist.practice.locale = "nl"
    db.session.flush()
    login(client, therapist)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl"
    html = client.get(new_url(patient)).get_data(as_text=True)
    assert "Ik ben bang dat ik mezelf blesseer als ik ga trainen." in html


def test_saving_the_form_shows_scores_reasons_and_the_decision_form(client, therapist, patient):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    response = client.post(new_url(patient), data=form_data(token))
    assert response.status_code == 302
    [assessment] = db.session.execute(sa.select(Assessment)).scalars().all()
    assert response.headers["Location"].endswith(f"/assessments/{assessment.id}")
    assert assessment.proposed_level == 2 and assessment.answers["PSFS"][1] == {"activity": "Gardening", "score": 3}
    assert "FABQ_PA" not in assessment.answers  # nothing ticked: not answered, not zeros

    page = client.get(f"/assessments/{assessment.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Level 2 · Standard group" in html
    assert "Moderate pain: NRS = 6." in html and "Moderate fear of movement: TSK-11 = 24." in html
    assert "sum of 11 items = 24 → moderate" in html
    assert re.search(r'<input checked[^>]*name="level"[^>]*value="2"', html)  # the proposal is preselected
    views = (
        db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.object_type == "assessment")
        )
        .scalars()
        .all()
    )
    assert [v.object_id for v in views] == [assessment.id]


def test_positive_phq2_asks_for_phq9_before_saving(client, therapist, patient):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    asked = client.post(new_url(patient), data=form_data(token, **{"PHQ2-1": "2", "PHQ2-2": "2"}))
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "PHQ-2 is 3 or more, so the PHQ-9 is needed" in html
    assert 'data-follow-up-min="3" hidden' not in html
    assert 'value="6" checked' in html  # what was entered is kept
    assert count(Assessment) == 0

    phq9 = {f"PHQ9-{n}": "1" for n in range(3, 10)} | {"PHQ9-9": "0"}
    saved = client.post(new_url(patient), data=form_data(token, **{"PHQ2-1": "2", "PHQ2-2": "2"}, **phq9))
    assert saved.status_code == 302
    [assessment] = db.session.execute(sa.select(Assessment)).scalars().all()
    assert assessment.answers["PHQ9"] == [2, 2, 1, 1, 1, 1, 1, 1, 0]
    assert assessment.scores["PHQ9"]["total"] == 10 and assessment.proposed_level == 3


def test_phq9_can_be_skipped_explicitly_and_then_the_screen_is_incomplete(client, therapist, patient):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    data = form_data(token, **{"PHQ2-1": "2", "PHQ2-2": "2", "phq9_skipped": "y"})
    assert client.post(new_url(patient), data=data).status_code == 302
    [assessment] = db.session.execute(sa.select(Assessment)).scalars().all()
    assert "PHQ9" in assessment.missing and "SCREEN_INCOMPLETE" in [r["code"] for r in assessment.reasons]


def test_phq9_item9_from_the_form_raises_the_safety_review(client, therapist, patient):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    phq9 = {f"PHQ9-{n}": "0" for n in range(3, 9)} | {"PHQ9-9": "2"}
    response = client.post(new_url(patient), data=form_data(token, **{"PHQ2-1": "2", "PHQ2-2": "1"}, **phq9))
    assert response.status_code == 302
    result = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Safety: clinician review today" in result and "No automatic level" in result
    dashboard = client.get("/").get_data(as_text=True)
    assert "Urgent: clinician review today" in dashboard and "Anna de Vries" in dashboard


@pytest.mark.parametrize(
    ("tamper", "instrument"),
    [
        ({"NRS": "99"}, "NRS"),
        ({"NRS": "six"}, "NRS"),
        ({"TSK11-3": "7"}, "TSK11"),
        ({"STAGE": "ready"}, "STAGE"),
        ({"ENV": "NO_BUS"}, "ENV"),
        ({"PSFS-score-3": "5"}, "PSFS"),
        ({"SBST-9": "9"}, "SBST"),
    ],
)
def test_invalid_form_answers_are_422_naming_the_instrument_and_store_nothing(
    client, therapist, patient, tamper, instrument
):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    response = client.post(new_url(patient), data=form_data(token, **tamper))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was saved" in html and f'href="#block-{instrument}"' in html
    assert f'id="error-{instrument}"' in html
    assert count(Assessment) == 0 and count(Barrier) == 0


def test_empty_form_is_refused(client, therapist, patient):
    login(client, therapist)
    token = csrf_token(client, new_url(patient))
    response = client.post(new_url(patient), data={"csrf_token": token, "kind": "intake"})
    assert response.status_code == 422 and "Answer at least one instrument." in response.get_data(as_text=True)
    bad_kind = client.post(new_url(patient), data=form_data(token, kind="later"))
    assert bad_kind.status_code == 422
    assert count(Assessment) == 0


def test_form_without_csrf_token_is_400(client, therapist, patient):
    login(client, therapist)
    response = client.post(new_url(patient), data=form_data(""))
    assert response.status_code == 400 and count(Assessment) == 0


def test_decision_form_confirms_or_overrides_with_a_reason(client, therapist, patient, actor):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    db.session.flush()
    login(client, therapist)
    url = f"/assessments/{assessment.id}"
    token = csrf_token(client, url)
    refused = client.post(f"{url}/decision", data={"csrf_token": token, "level": "3", "reason": ""})
    assert refused.status_code == 422 and "An override needs a reason." in refused.get_data(as_text=True)
    bad = client.post(f"{url}/decision", data={"csrf_token": token, "level": "7"})
    assert bad.status_code == 422
    assert count(SupervisionDecision) == 0
    saved = client.post(f"{url}/decision", data={"csrf_token": token, "level": "3", "reason": "Anxious in groups"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/patients/{patient.id}#supervision")
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Level 3 · Close supervision" in page and "override" in page and "Anxious in groups" in page


def test_patient_page_section_for_a_therapist(client, therapist, patient, actor):
    load_starter_items(actor)
    ops.create_assessment(
        actor,
        patient.id,
        kind="intake",
        answers={**INTAKE, "SILS": 4, "ENV": ["NO_TIME"]},
        taken_at=utcnow() - timedelta(weeks=6),
    )
    ops.decide_level(actor, patient.id, level=2)
    later = {
        **INTAKE,
        "NRS": 8,
        "STAGE": "action",
        "PSFS": [{"activity": "Walking the dog", "score": 7}, {"activity": "Gardening", "score": 6}],
    }
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=later)
    db.session.flush()
    login(client, therapist)
    html = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert 'id="supervision"' in html
    assert "Level not set" in html  # the reassessment ended the previous decision
    assert "Severe pain: NRS = 8." in html
    assert "Consider one level up." in html and "NRS rose from 6 to 8" in html
    assert "No attendance has been recorded yet" in html
    assert "Level history (1 decision)" in html
    assert "Low health literacy" in html and "Plain-language material" in html  # barrier with its action
    assert "No time to train" in html and "Other time slot" in html
    assert "Walking the dog" in html and "+3.0" in html  # PSFS mean 3.5 → 6.5
    assert "Preparation" in html and "Action" in html and "Video of own performance" in html  # stage strategies
    assert "Hurt is not harm" in html or "What to expect in the group" in html  # proposed education
    assert "Plain language" in html


def test_assistants_see_the_level_but_no_clinical_details(client, therapist, patient, actor):
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE)
    ops.decide_level(actor, patient.id, level=2, reason="Feels unsafe after the PHQ talk")
    db.session.flush()
    assistant = make_user(therapist.practice, role="assistant")
    login(client, assistant)
    html = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Level 2 · Standard group" in html and "Feels unsafe" not in html
    assert "Moderate pain" not in html and "Barriers and actions" not in html and "New reassessment" not in html
    assert client.get(new_url(patient)).status_code == 403
    [assessment] = db.session.execute(sa.select(Assessment)).scalars().all()
    assert client.get(f"/assessments/{assessment.id}").status_code == 403


def test_other_practice_gets_404_on_every_page(client, patient, actor, therapist):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    barrier = ops.add_barrier(actor, patient.id, code="NO_TIME")
    action = ops.add_action(actor, barrier.id, code="OTHER_TIME_SLOT")
    [task] = db.session.execute(sa.select(SafetyTask)).scalars().all()
    db.session.flush()
    stranger = make_user(role="admin")
    login(client, stranger)
    token = csrf_token(client, "/")
    assert client.get(new_url(patient)).status_code == 404
    assert client.post(new_url(patient), data=form_data(token)).status_code == 404
    assert client.get(f"/assessments/{assessment.id}").status_code == 404
    assert (
        client.post(
            f"/assessments/{assessment.id}/decision", data={"csrf_token": token, "level": "2", "reason": "x"}
        ).status_code
        == 404
    )
    assert client.post(f"/safety-reviews/{task.id}", data={"csrf_token": token, "note": "x"}).status_code == 404
    assert (
        client.post(f"/patients/{patient.id}/barriers", data={"csrf_token": token, "code": "NO_TIME"}).status_code
        == 404
    )
    assert (
        client.post(
            f"/barriers/{barrier.id}/actions", data={"csrf_token": token, "code": "OTHER_TIME_SLOT"}
        ).status_code
        == 404
    )
    assert client.post(f"/barrier-actions/{action.id}", data={"csrf_token": token, "status": "done"}).status_code == 404
    assert client.post(f"/barriers/{barrier.id}/resolve", data={"csrf_token": token}).status_code == 404
    assert count(Assessment) == 1 and count(SupervisionDecision) == 0 and action.status == "open"
    assert "Urgent" not in client.get("/").get_data(as_text=True)


def test_safety_review_from_the_result_page(client, therapist, patient, actor):
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    db.session.flush()
    [task] = db.session.execute(sa.select(SafetyTask)).scalars().all()
    login(client, therapist)
    token = csrf_token(client, f"/assessments/{assessment.id}")
    empty = client.post(f"/safety-reviews/{task.id}", data={"csrf_token": token, "note": " "})
    assert empty.status_code == 422
    done = client.post(f"/safety-reviews/{task.id}", data={"csrf_token": token, "note": "Called; GP involved."})
    assert done.status_code == 302
    db.session.refresh(task)
    assert task.status == "resolved" and task.note == "Called; GP involved."
    assert "Urgent: clinician review today" not in client.get("/").get_data(as_text=True)


def test_barrier_and_action_forms(client, therapist, patient):
    login(client, therapist)
    page = f"/patients/{patient.id}"
    token = csrf_token(client, page)
    assert (
        client.post(
            f"{page}/barriers", data={"csrf_token": token, "code": "NO_TIME", "note": "Works shifts"}
        ).status_code
        == 302
    )
    assert client.post(f"{page}/barriers", data={"csrf_token": token, "code": "BAD_WEATHER"}).status_code == 422
    assert client.post(f"{page}/barriers", data={"csrf_token": token, "code": "NO_TIME"}).status_code == 409
    [barrier] = db.session.execute(sa.select(Barrier)).scalars().all()
    url = f"/barriers/{barrier.id}/actions"
    assert client.post(url, data={"csrf_token": token, "code": "OTHER", "text": ""}).status_code == 422
    assert client.post(url, data={"csrf_token": token, "code": "CHECK_IN_CALLS"}).status_code == 422
    assert client.post(url, data={"csrf_token": token, "code": "OTHER_TIME_SLOT", "owner_id": "abc"}).status_code == 422
    assert client.post(url, data={"csrf_token": token, "code": "OTHER_TIME_SLOT", "due_on": "soon"}).status_code == 422
    assert count(BarrierAction) == 0
    ok = client.post(
        url,
        data={"csrf_token": token, "code": "OTHER_TIME_SLOT", "owner_id": str(therapist.id), "due_on": "2030-01-15"},
    )
    assert ok.status_code == 302
    [action] = db.session.execute(sa.select(BarrierAction)).scalars().all()
    assert action.owner_id == therapist.id and str(action.due_on) == "2030-01-15"
    dashboard = client.get("/").get_data(as_text=True)
    assert "My open actions" in dashboard and "Other time slot" in dashboard and "Anna de Vries" in dashboard
    done = client.post(
        f"/barrier-actions/{action.id}",
        data={"csrf_token": token, "status": "done", "outcome": "Evening group", "next": "dashboard"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/")
    db.session.refresh(action)
    assert action.status == "done" and action.outcome == "Evening group"
    assert client.post(f"/barriers/{barrier.id}/resolve", data={"csrf_token": token}).status_code == 302


def test_reassessments_due_on_the_dashboard_and_its_page(client, therapist, patient, actor):
    ops.create_assessment(actor, patient.id, kind="intake", answers=INTAKE, taken_at=utcnow() - timedelta(weeks=7))
    db.session.flush()
    login(client, therapist)
    dashboard = client.get("/").get_data(as_text=True)
    assert "Reassessments due" in dashboard and "Anna de Vries" in dashboard
    page = client.get("/reassessments").get_data(as_text=True)
    assert "Anna de Vries" in page and "days late" in page and "Reassess" in page


def test_supervision_settings_for_admins(client, therapist):
    login(client, therapist)
    assert client.get("/settings/supervision").status_code == 403
    admin = make_user(therapist.practice, role="admin")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, admin)
    page = client.get("/settings/supervision")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="12"' in html and 'value="10"' in html and 'value="6"' in html
    token = csrf_from(html)
    bad = client.post(
        "/settings/supervision",
        data={"csrf_token": token, "ratio_1": "12", "ratio_2": "0", "ratio_3": "six", "ratio_4": "1"},
    )
    assert bad.status_code == 422 and count(SupervisionSettings) == 0
    good = client.post(
        "/settings/supervision",
        data={"csrf_token": token, "ratio_1": "12", "ratio_2": "8", "ratio_3": "5", "ratio_4": "1"},
    )
    assert good.status_code == 302
    assert ops.supervision_ratios(admin.practice_id) == {1: 12, 2: 8, 3: 5, 4: 1}


def test_pages_render_in_dutch(client, therapist, patient, actor):
    therapist.practice.locale = "nl"
    assessment = ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9)
    ops.create_assessment(actor, patient.id, kind="reassessment", answers=INTAKE)
    db.session.flush()
    login(client, therapist)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl"
    for url in (f"/patients/{patient.id}", f"/assessments/{assessment.id}", new_url(patient), "/", "/reassessments"):
        assert client.get(url).status_code == 200, url
    assert "Matige pijn: NRS = 6." in client.get(f"/patients/{patient.id}").get_data(as_text=True)


def test_plain_language_is_editable_on_the_patient_form(client, therapist, patient):
    login(client, therapist)
    url = f"/patients/{patient.id}/edit"
    token = csrf_token(client, url)
    data = {
        "csrf_token": token,
        "name": patient.name,
        "email": patient.email,
        "language": "nl",
        "calendar_preference": "feed",
        "plain_language": "y",
    }
    assert client.post(url, data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).plain_language is True
    assert "yes: limited health literacy" in client.get(f"/patients/{patient.id}").get_data(as_text=True)


def test_patient_entered_assessment_is_marked_reviewed(client, therapist, patient):
    portal = Actor(practice_id=patient.practice_id, kind="patient", patient_id=patient.id)
    assessment = ops.create_assessment(portal, patient.id, kind="reassessment", answers=INTAKE)
    db.session.flush()
    login(client, therapist)
    page = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    assert "filled in by the patient" in page and "Mark as reviewed" in page
    done = client.post(f"/assessments/{assessment.id}/review", data={"csrf_token": csrf_from(page)})
    assert done.status_code == 302
    db.session.refresh(assessment)
    assert assessment.reviewed_by_id == therapist.id
    assert "Reviewed by Eva Jansen" in client.get(f"/assessments/{assessment.id}").get_data(as_text=True)


def test_dashboard_and_due_list_audit_what_they_show(client, therapist, patient, actor):
    ops.create_assessment(actor, patient.id, kind="intake", answers=ITEM9, taken_at=utcnow() - timedelta(weeks=6))
    db.session.flush()
    login(client, therapist)
    client.get("/")
    client.get("/reassessments")
    db.session.expire_all()
    rows = {
        (e.action, e.object_type)
        for e in db.session.execute(sa.select(AuditEvent).where(AuditEvent.user_id == therapist.id)).scalars()
    }
    assert {("list", "safety_task"), ("list", "supervision"), ("list", "assessment")} <= rows


def test_item_wording_comes_from_the_configured_file(client, app, therapist, patient, tmp_path, monkeypatch):
    """CLINICAL.md: SBST and TSK-11 wording comes from a replaceable definitions file."""
    import json

    from supervision.definitions import DEFAULT_ITEMS_FILE

    data = json.loads(DEFAULT_ITEMS_FILE.read_text(encoding="utf-8"))
    data["TSK11"]["en"]["items"][0] = "Licensed wording of TSK-11 item 1."
    custom = tmp_path / "items.json"
    custom.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setitem(app.config, "INSTRUMENT_ITEMS_FILE", str(custom))
    login(client, therapist)
    html = client.get(new_url(patient)).get_data(as_text=True)
    assert "Licensed wording of TSK-11 item 1." in html
