"""JSON API of supervision: assessments in, scores/proposal/reasons out; level decisions; errors name the field and
store nothing; roles and practices are kept apart."""

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from extensions import db
from supervision.models import Assessment, Barrier, Goal, SafetyTask, SupervisionDecision
from tests.factories import api_token, make_patient, make_user
from tests.supervision.samples import CALM, DEPRESSED, INTAKE, ITEM9, answers


@pytest.fixture
def therapist(app, ctx):
    return make_user(role="therapist")


@pytest.fixture
def headers(therapist):
    return api_token(therapist)


@pytest.fixture
def patient(therapist):
    return make_patient(therapist.practice)


def post_assessment(client, patient_id, headers, body):
    return client.post(f"/api/v1/patients/{patient_id}/assessments", json=body, headers=headers)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_post_assessment_returns_scores_level_reasons_and_missing(client, headers, patient):
    response = post_assessment(client, patient.id, headers, {"kind": "intake", "answers": INTAKE})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["proposed_level"] == 2
    assert body["safety_flags"] == [] and body["missing"] == []
    assert body["reasons"] == [
        {"code": "SBST_MEDIUM", "level": 2, "text": "Medium risk on STarT Back: total 4, psychosocial subscale 0."},
        {"code": "PAIN_MODERATE", "level": 2, "text": "Moderate pain: NRS = 6."},
        {"code": "FEAR_MODERATE", "level": 2, "text": "Moderate fear of movement: TSK-11 = 24."},
        {"code": "STAGE_PREPARATION", "level": 2, "text": "Preparing to start exercising (stage: Preparation)."},
    ]
    tsk = body["scores"]["TSK11"]
    assert tsk["total"] == 24 and tsk["band"] == "moderate"
    assert tsk["explanation"].startswith("sum of 11 items = 24 → moderate")
    assert body["scores"]["SBST"]["psychosocial"] == 0
    assert body["scores"]["PSFS"]["mean"] == 3.5
    assert body["answers"]["PSFS"] == INTAKE["PSFS"]
    assert body["kind"] == "intake" and body["source"] == "staff" and body["suggestion"] is None

    listed = client.get(f"/api/v1/patients/{patient.id}/assessments", headers=headers)
    assert listed.status_code == 200
    assert listed.json["total"] == 1 and listed.json["items"][0]["id"] == body["id"]
    one = client.get(f"/api/v1/assessments/{body['id']}", headers=headers)
    assert one.status_code == 200 and one.json["scores"] == body["scores"]
    actions = [
        (e.action, e.object_type)
        for e in db.session.execute(sa.select(AuditEvent).where(AuditEvent.patient_id == patient.id)).scalars()
    ]
    assert ("create", "assessment") in actions and ("list", "assessment") in actions
    assert ("view", "assessment") in actions


def test_reasons_and_explanations_follow_the_practice_language(client, patient, therapist):
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")  # a script that does not say which language it wants
    therapist.practice.locale = "nl"
    db.session.flush()
    response = post_assessment(client, patient.id, api_token(therapist), {"kind": "intake", "answers": INTAKE})
    assert response.json["reasons"][1]["text"] == "Matige pijn: NRS = 6."
    assert response.json["scores"]["NRS"]["explanation"].startswith("antwoord 6 → matig")


@pytest.mark.parametrize(
    ("body", "expected", "codes"),
    [
        # One row of the rule table each (CLINICAL.md "Rules").
        ({"kind": "intake", "answers": CALM}, 1, ["SELF_DIRECTED_OK"]),
        ({"kind": "intake", "answers": answers(CALM, SBST=[0, 0, 0, 0, 1, 1, 1, 1, 0])}, 3, ["SBST_HIGH"]),
        ({"kind": "intake", "answers": DEPRESSED}, 4, ["DEPRESSION_SEVERE"]),
        (
            {"kind": "intake", "answers": answers(CALM, NRS=8, SBST=[0, 0, 0, 0, 1, 1, 1, 1, 0])},
            4,
            ["PAIN_AND_RISK", "SBST_HIGH", "PAIN_SEVERE"],
        ),
        ({"kind": "intake", "answers": answers(CALM, STAGE="contemplation")}, 3, ["STAGE_EARLY"]),
        ({"kind": "intake", "answers": answers(CALM, STAGE=None)}, 2, ["SCREEN_INCOMPLETE"]),
        ({"kind": "intake", "answers": answers(CALM, PHQ2=[2, 1])}, 2, ["SCREEN_INCOMPLETE"]),
    ],
)
def test_rule_rows_through_the_api(client, headers, patient, body, expected, codes):
    response = post_assessment(client, patient.id, headers, body)
    assert response.status_code == 201, response.json
    assert response.json["proposed_level"] == expected
    assert [r["code"] for r in response.json["reasons"]] == codes


def test_level_1_needs_complete_data(client, headers, patient):
    """CLINICAL.md SCREEN_INCOMPLETE: a positive PHQ-2 without PHQ-9 keeps the level at 2 at least."""
    response = post_assessment(client, patient.id, headers, {"kind": "intake", "answers": answers(CALM, PHQ2=[2, 1])})
    assert response.json["missing"] == ["PHQ9"]
    assert "missing: PHQ9" in response.json["reasons"][0]["text"]


def test_safety_gate_gives_no_level_and_an_urgent_task(client, headers, patient):
    response = post_assessment(client, patient.id, headers, {"kind": "intake", "answers": ITEM9})
    assert response.status_code == 201
    assert response.json["proposed_level"] is None
    assert response.json["safety_flags"] == ["SAFETY_PHQ9_ITEM9"]
    assert response.json["reasons"][0] == {
        "code": "SAFETY_PHQ9_ITEM9",
        "level": None,
        "text": "Safety: PHQ-9 item 9 (thoughts of death or self-harm) is 1. Clinician review today.",
    }
    assert response.json["scores"]["PHQ9"]["item9"] == 1
    assert count(SafetyTask) == 1


def test_red_flags_through_the_api(client, headers, patient):
    body = {"kind": "intake", "answers": answers(CALM, RED_FLAGS=["HISTORY_OF_CANCER", "FEVER_OR_INFECTION"])}
    response = post_assessment(client, patient.id, headers, body)
    assert response.json["proposed_level"] is None and response.json["safety_flags"] == ["SAFETY_RED_FLAG"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "intake", "answers": {"NRS": 11}}, "answers.NRS"),
        ({"kind": "intake", "answers": {"NRS": -1}}, "answers.NRS"),
        ({"kind": "intake", "answers": {"NRS": "6"}}, "answers.NRS"),
        ({"kind": "intake", "answers": {"NRS": 6.5}}, "answers.NRS"),
        ({"kind": "intake", "answers": {"NRS": True}}, "answers.NRS"),
        ({"kind": "intake", "answers": {"TSK11": [1] * 10}}, "answers.TSK11"),
        ({"kind": "intake", "answers": {"TSK11": [1] * 10 + [5]}}, "answers.TSK11"),
        ({"kind": "intake", "answers": {"TSK11": ["one"] + [1] * 10}}, "answers.TSK11"),
        ({"kind": "intake", "answers": {"SBST": [0] * 8 + [5]}}, "answers.SBST"),
        ({"kind": "intake", "answers": {"SBST": [2] + [0] * 8}}, "answers.SBST"),
        ({"kind": "intake", "answers": {"PHQ9": [0] * 9 + [0]}}, "answers.PHQ9"),
        ({"kind": "intake", "answers": {"FABQ_PA": [7, 0, 0, 0]}}, "answers.FABQ_PA"),
        ({"kind": "intake", "answers": {"SILS": 0}}, "answers.SILS"),
        ({"kind": "intake", "answers": {"STAGE": "ready"}}, "answers.STAGE"),
        ({"kind": "intake", "answers": {"ENV": ["NO_BUS"]}}, "answers.ENV"),
        ({"kind": "intake", "answers": {"RED_FLAGS": ["HEADACHE"]}}, "answers.RED_FLAGS"),
        ({"kind": "intake", "answers": {"PSFS": []}}, "answers.PSFS"),
        ({"kind": "intake", "answers": {"PSFS": [{"activity": "Walk", "score": 12}]}}, "answers.PSFS"),
        ({"kind": "intake", "answers": {"PSFS": [{"activity": "Walk", "score": 2, "x": 1}]}}, "answers.PSFS"),
        (
            {
                "kind": "intake",
                "answers": {"PSFS": [{"activity": "Walk", "score": 2}, {"activity": "walk", "score": 3}]},
            },
            "answers.PSFS",
        ),
        ({"kind": "intake", "answers": {"FOO": 1}}, "answers.FOO"),
        ({"kind": "intake", "answers": {}}, "answers"),
        ({"kind": "intake", "answers": []}, "answers"),
        ({"kind": "later", "answers": CALM}, "kind"),
        ({"answers": CALM}, "kind"),
        ({"kind": "intake"}, "answers"),
        ({"kind": "intake", "answers": CALM, "taken_by": 3}, "taken_by"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_stores_nothing(client, headers, patient, body, field):
    response = post_assessment(client, patient.id, headers, body)
    assert response.status_code == 422, response.json
    fields = response.json["error"]["fields"]
    assert any(name == field or name.startswith(field + ".") for name in fields), fields
    assert count(Assessment) == 0 and count(Barrier) == 0 and count(Goal) == 0


def test_non_json_body_is_refused(client, headers, patient):
    response = client.post(
        f"/api/v1/patients/{patient.id}/assessments", data="NRS=3", headers=headers, content_type="text/plain"
    )
    assert 400 <= response.status_code < 500
    assert count(Assessment) == 0


def test_confirm_override_and_history(client, headers, patient):
    assert (
        client.post(f"/api/v1/patients/{patient.id}/supervision", json={"level": 2}, headers=headers).status_code == 409
    )
    post_assessment(client, patient.id, headers, {"kind": "intake", "answers": INTAKE})

    confirm = client.post(f"/api/v1/patients/{patient.id}/supervision", json={"level": 2}, headers=headers)
    assert confirm.status_code == 201
    assert confirm.json["is_override"] is False and confirm.json["final_level"] == 2 and confirm.json["reason"] == ""

    without = client.post(f"/api/v1/patients/{patient.id}/supervision", json={"level": 3}, headers=headers)
    assert without.status_code == 422 and "reason" in without.json["error"]["fields"]

    override = client.post(
        f"/api/v1/patients/{patient.id}/supervision",
        json={"level": 3, "reason": "Very anxious in groups."},
        headers=headers,
    )
    assert override.status_code == 201
    assert override.json["is_override"] is True and override.json["proposed_level"] == 2

    current = client.get(f"/api/v1/patients/{patient.id}/supervision", headers=headers)
    assert current.status_code == 200
    assert current.json["level"] == 3 and current.json["proposed_level"] == 2
    assert [d["final_level"] for d in current.json["decisions"]] == [3, 2]


@pytest.mark.parametrize(
    "body",
    [
        {"level": 5},
        {"level": 0},
        {"level": "2"},
        {"level": 2.5},
        {},
        {"level": 2, "x": 1},
        {"level": 3, "reason": "x" * 2001},
    ],
)
def test_invalid_decisions_are_422_and_store_nothing(client, headers, patient, body):
    post_assessment(client, patient.id, headers, {"kind": "intake", "answers": INTAKE})
    response = client.post(f"/api/v1/patients/{patient.id}/supervision", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json["error"]["fields"]
    assert count(SupervisionDecision) == 0


def test_assistants_read_levels_but_cannot_assess_or_decide(client, patient, therapist, headers):
    post_assessment(client, patient.id, headers, {"kind": "intake", "answers": INTAKE})
    assistant = api_token(make_user(therapist.practice, role="assistant"))
    assert post_assessment(client, patient.id, assistant, {"kind": "intake", "answers": CALM}).status_code == 403
    assert client.get(f"/api/v1/patients/{patient.id}/assessments", headers=assistant).status_code == 403
    decide = client.post(f"/api/v1/patients/{patient.id}/supervision", json={"level": 2}, headers=assistant)
    assert decide.status_code == 403
    assert client.get(f"/api/v1/patients/{patient.id}/supervision", headers=assistant).status_code == 200
    assert count(Assessment) == 1 and count(SupervisionDecision) == 0
    client.post(
        f"/api/v1/patients/{patient.id}/supervision",
        json={"level": 3, "reason": "PHQ item 9 discussed"},
        headers=headers,
    )
    seen = client.get(f"/api/v1/patients/{patient.id}/supervision", headers=assistant).json
    assert seen["level"] == 3 and seen["decisions"][0]["is_override"] and seen["decisions"][0]["reason"] == ""


def test_other_practice_gets_404_everywhere(client, headers, patient):
    created = post_assessment(client, patient.id, headers, {"kind": "intake", "answers": INTAKE}).json
    stranger = api_token(make_user(role="admin"))
    assert post_assessment(client, patient.id, stranger, {"kind": "intake", "answers": CALM}).status_code == 404
    assert client.get(f"/api/v1/patients/{patient.id}/assessments", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/assessments/{created['id']}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/patients/{patient.id}/supervision", headers=stranger).status_code == 404
    decide = client.post(f"/api/v1/patients/{patient.id}/supervision", json={"level": 2}, headers=stranger)
    assert decide.status_code == 404
    assert client.get("/api/v1/assessments/0", headers=stranger).status_code == 404
    assert count(Assessment) == 1 and count(SupervisionDecision) == 0


def test_without_login_it_is_401(client, patient):
    assert post_assessment(client, patient.id, {}, {"kind": "intake", "answers": CALM}).status_code == 401
    assert client.get(f"/api/v1/patients/{patient.id}/supervision").status_code == 401


def test_patient_plain_language_flag_in_the_patient_api(client, headers, patient):
    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).json["plain_language"] is False
    post_assessment(client, patient.id, headers, {"kind": "intake", "answers": answers(CALM, SILS=4)})
    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).json["plain_language"] is True
    changed = client.patch(f"/api/v1/patients/{patient.id}", json={"plain_language": False}, headers=headers)
    assert changed.status_code == 200 and changed.json["plain_language"] is False


def test_the_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    assessments = spec["paths"]["/api/v1/patients/{patient_id}/assessments"]
    assert {"get", "post"} <= set(assessments)
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/patients/{patient_id}/supervision"])
    assert "/api/v1/assessments/{assessment_id}" in spec["paths"]
    answers_schema = spec["components"]["schemas"]["Answers"]
    assert set(answers_schema["properties"]) == {
        "NRS",
        "TSK11",
        "FABQ_PA",
        "PHQ2",
        "PHQ9",
        "SILS",
        "STAGE",
        "SBST",
        "PSFS",
        "ENV",
        "RED_FLAGS",
    }
    assert answers_schema["properties"]["NRS"]["maximum"] == 10


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients/2147483648",
        "/api/v1/patients/2147483648/assessments",
        "/api/v1/patients/2147483648/supervision",
        "/api/v1/assessments/2147483648",
        "/api/v1/assessments/9223372036854775807",
    ],
)
def test_ids_beyond_the_integer_range_are_404_not_500(client, headers, url):
    """PostgreSQL keys are 4-byte integers: a larger id must be "not found", never a database error."""
    assert client.get(url, headers=headers).status_code == 404


def test_current_levels_ignores_impossible_ids(therapist):
    from supervision.operations import current_levels

    assert current_levels(therapist.practice_id, [2**31, 2**40, -1, 0]) == {2**31: None, 2**40: None, -1: None, 0: None}
