"""Factories: rows built through the real operations, with sensible unique defaults."""

from __future__ import annotations

import itertools

from accounts import operations as accounts
from accounts.models import Practice, User
from core.actor import Actor
from extensions import db
from patients import operations as patients
from patients.models import Patient

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def make_practice(name: str | None = None, **fields) -> Practice:
    fields.setdefault("locale", "en")  # tests read English; tests/test_i18n.py covers the Dutch default
    practice = accounts.get_or_create_practice(name or f"Praktijk {next(_seq)}", **fields)
    db.session.flush()
    return practice


def make_user(
    practice: Practice | None = None,
    role: str = "therapist",
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
) -> User:
    practice = practice or make_practice()
    n = next(_seq)
    return accounts.create_user(
        practice, email=email or f"staff{n}@example.com", name=name or f"Staff {n}", role=role, password=password
    )


def make_patient(practice: Practice | None = None, **values) -> Patient:
    practice = practice or make_practice()
    n = next(_seq)
    data = {"name": f"Patiënt {n}", "email": f"patient{n}@example.com"}
    data.update(values)
    return patients.create_patient(Actor.system(practice.id), data)


def login(client, user: User, password: str = PASSWORD):
    from tests.conftest import csrf_token

    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def api_token(user: User) -> dict:
    token = accounts.issue_api_token(user, "test")
    db.session.flush()
    return {"Authorization": f"Bearer {token}"}
