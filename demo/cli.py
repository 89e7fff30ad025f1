from __future__ import annotations

import click
from flask.cli import AppGroup

from demo.data import PASSWORD, STAFF, load_demo
from extensions import db

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("load")
def load():
    """Create (or complete) the demo practice with staff, patients and history."""
    result = load_demo()
    db.session.commit()
    click.echo(
        f"Demo practice {result.practice.name!r}: {len(result.patients)} patients ({result.assessed} newly assessed)."
    )
    click.echo(f"Logins (password for all: {PASSWORD}):")
    for email, name, role in STAFF:
        click.echo(f"  {role:<10} {email:<28} {name}")
