"""The Alembic migrations build exactly the schema the models describe (what `flask db check` verifies)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import render_migration_item
from extensions import db


def test_migrations_match_the_models(app):
    connection = db.session.connection()  # the test's own connection (SQLite allows one writer)
    context = MigrationContext.configure(connection, opts={"compare_type": True, "render_item": render_migration_item})
    diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(tmp_path):
    """Every migration can be undone and redone on an empty database."""
    from flask_migrate import downgrade, upgrade

    from app import create_app

    fresh = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}",
            "MOTIO_ENV": "testing",
            "SECRET_KEY": "x",
            "RATELIMIT_ENABLED": False,
        }
    )
    with fresh.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        tables = set(db.inspect(db.engine).get_table_names())
    assert {"practices", "users", "patients", "audit_events"} <= tables
