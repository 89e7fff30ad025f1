"""The CLI other tools rely on: `flask users create`, `flask users token`, `flask demo load`."""

import sqlalchemy as sa

from accounts import operations
from accounts.models import Practice, User
from extensions import db
from patients.models import Patient


def test_users_create_makes_practice_and_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--practice",
            "Fysio Oost",
            "--email",
            "Kim@Example.com",
            "--password",
            "a-good-password",
            "--role",
            "therapist",
        ]
    )
    assert result.exit_code == 0, result.output
    user = operations.find_user_by_email("kim@example.com")
    assert user.role == "therapist" and user.practice.name == "Fysio Oost"
    again = runner.invoke(
        args=[
            "users",
            "create",
            "--practice",
            "Fysio Oost",
            "--email",
            "ander@example.com",
            "--password",
            "a-good-password",
            "--role",
            "admin",
        ]
    )
    assert again.exit_code == 0
    assert (
        db.session.execute(sa.select(sa.func.count(Practice.id)).where(Practice.name == "Fysio Oost")).scalar_one() == 1
    )


def test_users_create_refuses_bad_input_without_writing(app):
    runner = app.test_cli_runner()
    short = runner.invoke(
        args=[
            "users",
            "create",
            "--practice",
            "Nieuw",
            "--email",
            "a@example.com",
            "--password",
            "short",
            "--role",
            "admin",
        ]
    )
    assert short.exit_code != 0 and "12 characters" in short.output
    role = runner.invoke(
        args=[
            "users",
            "create",
            "--practice",
            "Nieuw",
            "--email",
            "a@example.com",
            "--password",
            "a-good-password",
            "--role",
            "boss",
        ]
    )
    assert role.exit_code != 0
    assert db.session.execute(sa.select(Practice).where(Practice.name == "Nieuw")).first() is None


def test_users_token_prints_only_a_working_token(app):
    runner = app.test_cli_runner()
    runner.invoke(
        args=[
            "users",
            "create",
            "--practice",
            "Tokens",
            "--email",
            "api@example.com",
            "--password",
            "a-good-password",
            "--role",
            "admin",
        ]
    )
    result = runner.invoke(args=["users", "token", "api@example.com"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert result.output == token + "\n" and token.startswith("motio_") and len(token) > 40
    response = app.test_client().get("/api/v1/staff", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert runner.invoke(args=["users", "token", "nobody@example.com"]).exit_code != 0


def test_demo_load_twice_duplicates_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "admin@example.com" in first.output

    def counts():
        return (
            db.session.execute(sa.select(sa.func.count(Practice.id))).scalar_one(),
            db.session.execute(sa.select(sa.func.count(User.id))).scalar_one(),
            db.session.execute(sa.select(sa.func.count(Patient.id))).scalar_one(),
        )

    before = counts()
    assert before[1] >= 4 and before[2] >= 40
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    assert counts() == before
    admin = operations.authenticate("admin@example.com", "motio-demo-2026")
    assert admin is not None and admin.role == "admin"
