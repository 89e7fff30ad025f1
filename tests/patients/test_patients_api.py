"""JSON API for patients: shapes, paging, validation (422 naming the field), scoping (404)."""

import pytest
import sqlalchemy as sa

from extensions import db
from patients.models import Patient
from tests.factories import api_token, make_patient, make_practice, make_user


@pytest.fixture
def therapist():
    return make_user(role="therapist")


@pytest.fixture
def auth(therapist):
    return api_token(therapist)


def _count():
    return db.session.execute(sa.select(sa.func.count(Patient.id))).scalar_one()


def test_create_with_name_and_email_then_read_and_patch(client, therapist, auth):
    created = client.post("/api/v1/patients", json={"name": "Noor Prins", "email": "noor@example.com"}, headers=auth)
    assert created.status_code == 201
    body = created.json
    assert body["name"] == "Noor Prins" and body["language"] == "nl" and body["calendar_preference"] == "feed"
    assert body["reminders_enabled"] is True and body["email_consent"] is False
    assert body["created_at"].endswith("+00:00")

    got = client.get(f"/api/v1/patients/{body['id']}", headers=auth)
    assert got.status_code == 200 and got.json == body

    patched = client.patch(
        f"/api/v1/patients/{body['id']}", json={"language": "en", "email_consent": True}, headers=auth
    )
    assert patched.status_code == 200
    assert patched.json["language"] == "en" and patched.json["email_consent_at"] is not None
    assert patched.json["name"] == "Noor Prins"


def test_list_is_paged_with_total(client, therapist, auth):
    for i in range(5):
        make_patient(therapist.practice, name=f"Lijst {i}")
    make_patient(make_practice(), name="Lijst Vreemd")
    page = client.get("/api/v1/patients?q=Lijst&per_page=2&page=2", headers=auth)
    assert page.status_code == 200
    assert page.json["total"] == 5 and page.json["page"] == 2 and page.json["per_page"] == 2
    assert [p["name"] for p in page.json["items"]] == ["Lijst 2", "Lijst 3"]
    assert client.get("/api/v1/patients?per_page=201", headers=auth).status_code == 422
    assert client.get("/api/v1/patients?per_page=200", headers=auth).status_code == 200
    assert client.get("/api/v1/patients?page=0", headers=auth).status_code == 422


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Bad Mail", "email": "no-at-sign"}, "email"),
        ({"name": "", "email": "e@example.com"}, "name"),
        ({"name": "   ", "email": "e@example.com"}, "name"),
        ({"name": "x" * 10_000, "email": "e@example.com"}, "name"),
        ({"name": "Taal", "language": "fr"}, "language"),
        ({"name": "Kalender", "calendar_preference": "fax"}, "calendar_preference"),
        ({"name": "Getal", "reminders_enabled": "sometimes"}, "reminders_enabled"),
        ({"name": 12345}, "name"),
        ({"email": "no-name@example.com"}, "name"),
        ({"name": "Extra", "diagnosis": "secret"}, "diagnosis"),
        ({"name": "Geboren", "date_of_birth": "03-04-1975"}, "date_of_birth"),
        ({"name": "Toekomst", "date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"name": "Consent", "email_consent": True}, "email_consent"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_writes_nothing(client, auth, payload, field):
    before = _count()
    response = client.post("/api/v1/patients", json=payload, headers=auth)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error" and error["message"]
    assert field in error["fields"], error
    assert _count() == before


def test_invalid_patch_changes_nothing(client, therapist, auth):
    patient = make_patient(therapist.practice, name="Blijft Gelijk")
    response = client.patch(f"/api/v1/patients/{patient.id}", json={"name": "Nieuw", "email": "kapot"}, headers=auth)
    assert response.status_code == 422 and "email" in response.json["error"]["fields"]
    db.session.expire_all()
    assert patient.name == "Blijft Gelijk"


def test_malformed_json_is_a_clear_4xx(client, auth):
    response = client.post("/api/v1/patients", data="{not json", headers={**auth, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json["error"]["message"]
    assert client.post("/api/v1/patients", json=["a", "list"], headers=auth).status_code == 422


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**63), str(2**64), "abc", "1.5"])
def test_ids_that_cannot_exist_are_404(client, auth, bad_id):
    assert client.get(f"/api/v1/patients/{bad_id}", headers=auth).status_code == 404
    assert client.patch(f"/api/v1/patients/{bad_id}", json={"name": "x"}, headers=auth).status_code == 404


def test_missing_or_wrong_token_is_401(client):
    assert client.get("/api/v1/patients").status_code == 401
    wrong = client.get("/api/v1/patients", headers={"Authorization": "Bearer motio_not-a-real-token"})
    assert wrong.status_code == 401
    assert wrong.json["error"]["code"] == "unauthorized"


def test_openapi_document_describes_the_endpoints(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/patients", "/api/v1/patients/{patient_id}", "/api/v1/staff"):
        assert path in spec["paths"], path
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui-bundle.js" in docs.data


def test_non_json_body_is_415_and_401_names_the_scheme(client, auth):
    response = client.post("/api/v1/patients", data="name=Form", headers={**auth, "Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json["error"]["code"] == "unsupported_media_type"
    assert client.get("/api/v1/patients").headers["WWW-Authenticate"].startswith("Bearer")


def test_api_speaks_english_unless_asked_for_dutch(client, auth):
    english = client.post("/api/v1/patients", json={"name": "x", "email": "kapot"}, headers=auth)
    dutch = client.post(
        "/api/v1/patients", json={"name": "x", "email": "kapot"}, headers={**auth, "Accept-Language": "nl"}
    )
    assert english.json["error"]["message"] == "Please correct the marked fields."
    assert dutch.json["error"]["message"] != english.json["error"]["message"]


def test_a_token_may_make_600_requests_a_minute_with_limits_on(client, auth, rate_limits):
    statuses = {client.get("/api/v1/patients?per_page=1", headers=auth).status_code for _ in range(600)}
    assert statuses == {200}


def test_api_limit_is_per_token_and_a_setting(app, client, therapist, auth, rate_limits, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_API", "5 per minute")
    statuses = [client.get("/api/v1/staff", headers=auth).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert client.get("/api/v1/staff", headers=auth).json["error"]["code"] == "too_many_requests"
    assert client.get("/api/v1/staff", headers=api_token(therapist)).status_code == 200  # another token
