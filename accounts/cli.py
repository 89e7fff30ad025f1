"""`flask users create` and `flask users token` (other tools rely on these exact commands)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from accounts import operations
from accounts.models import ROLES
from core.errors import DomainError
from extensions import db

users_cli = AppGroup("users", help="Manage staff users.")


@users_cli.command("create")
@click.option("--practice", "practice_name", required=True, help="Practice name; created if new.")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 12 characters.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default=None, help="Display name (default: the part of the email before @).")
def create_user(practice_name: str, email: str, password: str, role: str, name: str | None):
    """Create a staff user (and the practice if it does not exist yet)."""
    try:
        practice = operations.get_or_create_practice(practice_name)
        user = operations.create_user(
            practice, email=email, name=name or email.split("@")[0], role=role, password=password
        )
    except (DomainError, ValueError) as exc:
        db.session.rollback()
        fields = getattr(exc, "fields", {})
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in fields.items()) or str(exc)) from exc
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} in practice {practice.name!r} (id {user.id}).")


@users_cli.command("token")
@click.argument("email")
@click.option("--label", default="cli", help="What the token is for.")
def create_token(email: str, label: str):
    """Print a new API Bearer token for EMAIL on stdout (nothing else)."""
    user = operations.find_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"No active staff user with email {email!r}.")
    token = operations.issue_api_token(user, label)
    db.session.commit()
    click.echo(token)
