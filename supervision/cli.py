"""`flask education load-starter`: add the starter education items to one practice or to all of them."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from accounts.models import Practice
from core.actor import Actor
from extensions import db
from supervision.education import load_starter_items

education_cli = AppGroup("education", help="Education library.")


@education_cli.command("load-starter")
@click.option("--practice", "practice_name", default=None, help="Practice name (default: every practice).")
def load_starter(practice_name: str | None):
    """Add the starter items (nl and en, plain language) that a practice does not have yet. Safe to run twice."""
    query = sa.select(Practice).order_by(Practice.name)
    if practice_name is not None:
        query = query.where(Practice.name == practice_name)
    practices = list(db.session.execute(query).scalars())
    if practice_name is not None and not practices:
        raise click.ClickException(f"No practice named {practice_name!r}.")
    for practice in practices:
        added = load_starter_items(Actor.system(practice.id))
        click.echo(f"{practice.name}: {added} starter item(s) added.")
    db.session.commit()
