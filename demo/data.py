"""Demo data, built through the same operations the app uses, so the demo is always valid data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from accounts import operations as accounts
from accounts.models import Practice, User
from calendars.demo import load_calendars_demo
from core.actor import Actor
from demo.attendance import load_attendance_demo
from demo.supervision import load_supervision_demo
from extensions import db
from groups.demo import load_groups_demo
from patients import operations as patients
from patients.models import Patient
from reminders.demo import load_reminders_demo

PRACTICE = "Fysiotherapie Demo Utrecht"
PASSWORD = "motio-demo-2026"

#: (email, name, role) — listed in the README; keep them in step.
STAFF = [
    ("admin@example.com", "Annelies Bakker", "admin"),
    ("therapeut@example.com", "Eva Jansen", "therapist"),
    ("therapeut2@example.com", "Daan Visser", "therapist"),
    ("assistent@example.com", "Sanne Smit", "assistant"),
]

FIRST = [
    "Anna",
    "Bram",
    "Chantal",
    "Dirk",
    "Eline",
    "Fatima",
    "Gerrit",
    "Hanneke",
    "Ingrid",
    "Jeroen",
    "Karin",
    "Lars",
    "Marloes",
    "Niels",
    "Olga",
    "Pieter",
    "Renée",
    "Sven",
    "Tineke",
    "Youssef",
    "Wouter",
    "Zoë",
    "Mehmet",
    "Joke",
    "Henk",
    "Ilse",
    "Kees",
    "Loes",
    "Mustafa",
    "Noor",
    "Ruud",
    "Sophie",
    "Thijs",
    "Ursula",
    "Vincent",
    "Willemijn",
    "Ayşe",
    "Bas",
    "Corrie",
    "Daphne",
]
LAST = [
    "de Vries",
    "van den Berg",
    "Bakker",
    "Mulder",
    "de Boer",
    "Dijkstra",
    "Smits",
    "van Dijk",
    "Meijer",
    "de Jong",
    "Peters",
    "Hendriks",
    "Koster",
    "Brouwer",
    "van Leeuwen",
    "Vermeulen",
    "Bos",
    "de Groot",
    "Kuipers",
    "Yilmaz",
    "Verhoeven",
    "El Amrani",
    "Jacobs",
    "van der Linden",
    "Postma",
    "Willems",
    "Maas",
    "Scholten",
    "Hoekstra",
    "Dekker",
    "Prins",
    "Sedney",
    "Kok",
    "Timmermans",
    "van Wijk",
    "Groen",
    "Aydın",
    "Schouten",
    "Huisman",
    "Faber",
]


@dataclass
class DemoResult:
    practice: Practice
    staff: list[User]
    patients: list[Patient]
    #: Patients who got assessments (levels, barriers, goals) on this run.
    assessed: int = 0


def _ascii(text: str) -> str:
    table = str.maketrans("éëïöüçşıİ", "eeioucsiI")
    return "".join(ch for ch in text.lower().translate(table).replace(" ", ".") if ch.isalnum() or ch == ".")


def load_demo() -> DemoResult:
    practice = accounts.get_or_create_practice(
        PRACTICE,
        address="Oudegracht 100, 3511 AX Utrecht",
        timezone="Europe/Amsterdam",
        locale="nl",
        sender_email="praktijk@example.com",
        phone="030 123 4567",
    )
    staff = []
    for email, name, role in STAFF:
        user = accounts.find_user_by_email(email)
        if user is None:
            user = accounts.create_user(practice, email=email, name=name, role=role, password=PASSWORD)
        staff.append(user)

    actor = Actor.system(practice.id)
    rng = random.Random(42)  # the same demo every time
    existing = {
        p.email: p for p in db.session.execute(sa.select(Patient).where(Patient.practice_id == practice.id)).scalars()
    }
    demo_patients = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        email = f"{_ascii(first)}.{_ascii(last)}@example.com"
        patient = existing.get(email)
        if patient is None:
            english = i % 9 == 4  # a few English-speaking patients
            patient = patients.create_patient(
                actor,
                {
                    "name": f"{first} {last}",
                    "email": email,
                    "phone": f"06 {rng.randint(10000000, 99999999)}",
                    "date_of_birth": date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)),
                    "language": "en" if english else "nl",
                    "calendar_preference": ("feed", "invitations", "none")[i % 3],
                    "reminders_enabled": i % 7 != 3,
                    "email_consent": i % 11 != 5,
                },
            )
        demo_patients.append(patient)
    db.session.flush()
    load_groups_demo(practice, staff, demo_patients)
    assessed = load_supervision_demo(practice, staff, demo_patients)
    load_reminders_demo(practice)
    load_calendars_demo(practice, demo_patients)
    load_attendance_demo(practice, staff)
    return DemoResult(practice, staff, demo_patients, assessed)
