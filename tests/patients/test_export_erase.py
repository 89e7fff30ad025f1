"""Patient rights: export everything (readable and JSON) and erase on request, with the audit trail kept."""

import sqlalchemy as sa

from accounts.models import AuditEvent
from extensions import db
from patients.models import Patient
from tests.conftest import csrf_token
from tests.factories import login, make_patient, make_practice, make_user


def test_therapist_exports_all_data_as_json_and_readable_page(client):
    therapist = make_user(role="therapist")
    patient = make_patient(therapist.practice, name="Renée Bos", email="renee@example.com", phone="06 12341234")
    login(client, therapist)
    response = client.get(f"/patients/{patient.id}/export?format=json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.json
    assert data["format"] == "motio-patient-export/1"
    assert data["patient"]["name"] == "Renée Bos" and data["patient"]["phone"] == "06 12341234"
    page = client.get(f"/patients/{patient.id}/export").get_data(as_text=True)
    assert "Renée Bos" in page and "06 12341234" in page
    actions = (
        db.session.execute(sa.select(AuditEvent.action).where(AuditEvent.patient_id == patient.id)).scalars().all()
    )
    assert actions.count("export") == 2


def test_assistant_cannot_export_and_nobody_exports_another_practice(client, app):
    assistant = make_user(role="assistant")
    patient = make_patient(assistant.practice)
    login(client, assistant)
    assert client.get(f"/patients/{patient.id}/export").status_code == 403
    therapist = make_user(role="therapist")
    other = app.test_client()
    login(other, therapist)
    assert other.get(f"/patients/{patient.id}/export?format=json").status_code == 404


def test_erasure_needs_admin_exact_name_and_reason_and_keeps_the_audit_trail(client, app):
    admin = make_user(role="admin")
    patient = make_patient(admin.practice, name="Olga Kuipers")
    patient_id = patient.id
    therapist = make_user(practice=admin.practice, role="therapist")
    t_client = app.test_client()
    login(t_client, therapist)
    assert (
        t_client.post(
            f"/patients/{patient_id}/erase",
            data={"confirm_name": "Olga Kuipers", "reason": "verzoek", "csrf_token": csrf_token(t_client, "/")},
        ).status_code
        == 403
    )

    login(client, admin)
    token = csrf_token(client, f"/patients/{patient_id}/erase")
    wrong = client.post(
        f"/patients/{patient_id}/erase", data={"confirm_name": "Olga", "reason": "verzoek", "csrf_token": token}
    )
    assert wrong.status_code == 422 and "exactly" in wrong.get_data(as_text=True)
    no_reason = client.post(
        f"/patients/{patient_id}/erase", data={"confirm_name": "olga kuipers", "reason": "", "csrf_token": token}
    )
    assert no_reason.status_code == 422
    assert db.session.get(Patient, patient_id) is not None

    done = client.post(
        f"/patients/{patient_id}/erase",
        data={"confirm_name": "olga  kuipers", "reason": "Schriftelijk verzoek 12-03", "csrf_token": token},
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Patient, patient_id) is None
    trail = db.session.execute(sa.select(AuditEvent).where(AuditEvent.patient_id == patient_id)).scalars().all()
    erase = [e for e in trail if e.action == "erase"]
    assert len(erase) == 1 and erase[0].user_id == admin.id and "Schriftelijk verzoek" in erase[0].detail
    assert any(e.action == "create" for e in trail)  # history before the erasure is kept too
    assert client.get(f"/patients/{patient_id}").status_code == 404


def test_admin_cannot_erase_another_practices_patient(client):
    admin = make_user(role="admin")
    stranger = make_patient(make_practice(), name="Niet Van Ons")
    login(client, admin)
    response = client.post(
        f"/patients/{stranger.id}/erase",
        data={"confirm_name": "Niet Van Ons", "reason": "x", "csrf_token": csrf_token(client, "/")},
    )
    assert response.status_code == 404
    assert db.session.get(Patient, stranger.id) is not None


def test_every_table_that_references_patients_is_erased_with_them():
    """Erasure relies on ON DELETE CASCADE: a new table pointing at patients must cascade too."""
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "patients":
                assert fk.ondelete in ("CASCADE", "SET NULL"), f"{table.name}.{fk.parent.name} does not cascade"
