"""Patient pages: create, edit, search, paging, archive; invalid input; audit trail."""

import pytest
import sqlalchemy as sa

from accounts.models import AuditEvent
from extensions import db
from patients.models import Patient
from tests.conftest import csrf_token
from tests.factories import login, make_patient, make_user

VALID = {
    "name": "Fatima El Amrani",
    "email": "fatima@example.com",
    "phone": "06 12345678",
    "date_of_birth": "1975-04-03",
    "language": "nl",
    "calendar_preference": "invitations",
    "reminders_enabled": "y",
    "email_consent": "y",
}


def _count(practice_id):
    return db.session.execute(
        sa.select(sa.func.count(Patient.id)).where(Patient.practice_id == practice_id)
    ).scalar_one()


def test_create_view_and_edit_patient(client):
    user = make_user(role="assistant")
    login(client, user)
    token = csrf_token(client, "/patients/new")
    created = client.post("/patients/new", data={**VALID, "csrf_token": token})
    assert created.status_code == 302
    patient = db.session.execute(sa.select(Patient).where(Patient.email == "fatima@example.com")).scalar_one()
    assert patient.practice_id == user.practice_id
    assert patient.email_consent and patient.email_consent_at is not None

    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Fatima El Amrani" in page and "Invitations by email" in page

    edited = client.post(
        f"/patients/{patient.id}/edit",
        data={**VALID, "name": "Fatima El-Amrani", "email_consent": "", "csrf_token": token},
    )
    assert edited.status_code == 302
    db.session.expire_all()
    assert patient.name == "Fatima El-Amrani"
    assert not patient.email_consent and patient.email_consent_at is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "invalid email address"),
        ("name", "", "This field is required."),
        ("name", "x" * 10_000, "longer than 200"),
        ("language", "de", "Not a valid choice"),
        ("date_of_birth", "1800-01-01", "between 1900 and today"),
        ("phone", "call me maybe", "phone number"),
    ],
)
def test_invalid_patient_input_shows_form_error_and_writes_nothing(client, field, value, message):
    user = make_user()
    login(client, user)
    before = _count(user.practice_id)
    response = client.post(
        "/patients/new", data={**VALID, field: value, "csrf_token": csrf_token(client, "/patients/new")}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message.lower() in html.lower()
    assert 'aria-invalid="true"' in html  # the error is tied to its field for screen readers
    assert _count(user.practice_id) == before


def test_invalid_edit_changes_nothing(client):
    user = make_user()
    patient = make_patient(user.practice, name="Henk de Jong", email="henk@example.com")
    login(client, user)
    response = client.post(
        f"/patients/{patient.id}/edit",
        data={**VALID, "name": "Henk", "email": "broken@", "csrf_token": csrf_token(client, "/")},
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert (patient.name, patient.email) == ("Henk de Jong", "henk@example.com")


def test_search_and_paging(client):
    user = make_user()
    for i in range(30):
        make_patient(user.practice, name=f"Zoek Persoon {i:02d}", email=f"zoek{i}@example.com")
    make_patient(user.practice, name="Ayşe Yılmaz", email="ayse@example.com", phone="06 11122233")
    login(client, user)
    first = client.get("/patients/?q=Zoek").get_data(as_text=True)
    assert "30 patients" in first and "Zoek Persoon 00" in first and "Zoek Persoon 29" not in first
    second = client.get("/patients/?q=Zoek&page=2").get_data(as_text=True)
    assert "Zoek Persoon 29" in second
    assert "Ayşe Yılmaz" in client.get("/patients/?q=11122233").get_data(as_text=True)
    assert "No patients found" in client.get("/patients/?q=%25%25nothing").get_data(as_text=True)
    assert client.get("/patients/?page=-3").status_code == 200


def test_archive_hides_patient_from_list_and_only_therapists_and_admins_may(client, app):
    therapist = make_user(role="therapist")
    assistant = make_user(practice=therapist.practice, role="assistant")
    patient = make_patient(therapist.practice, name="Kees Kok")
    other = app.test_client()
    login(other, assistant)
    refused = other.post(
        f"/patients/{patient.id}/archive", data={"archived": "1", "csrf_token": csrf_token(other, "/")}
    )
    assert refused.status_code == 403

    login(client, therapist)
    client.post(f"/patients/{patient.id}/archive", data={"archived": "1", "csrf_token": csrf_token(client, "/")})
    assert ">Kees Kok</a>" not in client.get("/patients/").get_data(as_text=True)
    assert ">Kees Kok</a>" in client.get("/patients/?archived=1").get_data(as_text=True)
    db.session.expire_all()
    assert patient.archived


def test_viewing_and_editing_a_patient_writes_audit_rows(client):
    user = make_user()
    patient = make_patient(user.practice)
    login(client, user)
    client.get(f"/patients/{patient.id}")
    client.post(f"/patients/{patient.id}/edit", data={**VALID, "csrf_token": csrf_token(client, "/")})
    rows = (
        db.session.execute(sa.select(AuditEvent).where(AuditEvent.patient_id == patient.id).order_by(AuditEvent.id))
        .scalars()
        .all()
    )
    actions = [(r.action, r.user_id, r.object_type) for r in rows]
    assert ("view", user.id, "patient") in actions
    update = next(r for r in rows if r.action == "update")
    assert update.user_id == user.id and update.ip == "127.0.0.1"
    assert "name" in update.detail and VALID["name"] not in update.detail  # field names, never values


def test_audit_log_is_append_only():
    patient = make_patient()
    event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.patient_id == patient.id)).scalars().first()
    event.action = "tampered"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_admin_filters_audit_log_by_patient(client):
    admin = make_user(role="admin")
    a, b = make_patient(admin.practice), make_patient(admin.practice)
    login(client, admin)
    client.get(f"/patients/{a.id}")
    client.get(f"/patients/{b.id}")
    page = client.get(f"/audit?patient_id={a.id}").get_data(as_text=True)
    assert f"#{a.id}" in page and f"#{b.id}" not in page
    assert client.get("/audit?patient_id=abc").status_code == 200


def test_admin_exports_audit_log_as_csv(client):
    admin = make_user(role="admin")
    patient = make_patient(admin.practice, name="Zoë Brouwer")
    login(client, admin)
    client.get(f"/patients/{patient.id}")
    response = client.get(f"/audit/export.csv?patient_id={patient.id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufefftime_utc,user,")
    lines = text.strip().splitlines()
    assert any(f",{patient.id},view,patient," in line and admin.email in line for line in lines)
    assert "Zoë Brouwer" not in text  # the log names patients by number only


@pytest.mark.parametrize("name", ["\u200b\u200b", " \u202e ", "\t", "!!!"])
def test_names_that_would_look_empty_are_refused(client, name):
    user = make_user()
    login(client, user)
    response = client.post("/patients/new", data={**VALID, "name": name, "csrf_token": csrf_token(client, "/")})
    assert response.status_code == 422


def test_invisible_direction_marks_are_removed_from_names(client):
    user = make_user()
    login(client, user)
    client.post("/patients/new", data={**VALID, "name": "Eva\u202e Jansen", "csrf_token": csrf_token(client, "/")})
    assert (
        db.session.execute(sa.select(Patient.name).where(Patient.email == VALID["email"])).scalar_one() == "Eva Jansen"
    )


@pytest.mark.parametrize("query", ["page=%C2%B2", "page=99999999999999999999", "q=" + "a" * 300])
def test_odd_query_strings_never_500(client, query):
    admin = make_user(role="admin")
    login(client, admin)
    assert client.get(f"/patients/?{query}").status_code == 200
    assert client.get(f"/audit?{query}").status_code == 200
    assert client.get("/audit?patient_id=%C2%B2").status_code == 200
    assert client.get("/audit?patient_id=9999999999999999999").status_code == 200


def test_form_fields_without_errors_are_not_marked_invalid(client):
    html = client.get("/login").get_data(as_text=True)
    assert "aria-invalid" not in html and '"None"' not in html
