"""Test fixtures: one app per session on a real database, each test inside a transaction that is rolled back.

SQLite (a temporary file) by default; PostgreSQL when TEST_DATABASE_URL is set. The schema is built by the
real Alembic migrations, so every test run also proves `flask db upgrade` on an empty database.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id

from app import create_app
from config import normalise_database_url
from extensions import db, limiter

os.environ.setdefault("MOTIO_ENV", "testing")


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = normalise_database_url(url)
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:  # pytest -n: each worker gets its own PostgreSQL database
            parsed = sa.engine.make_url(url)
            url = parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)
        return url
    path = Path(tmp_path_factory.mktemp("db")) / "motio-test.db"
    return f"sqlite:///{path}"


def _reset_postgres(url: str) -> None:
    """Create the test database if needed, then start from an empty schema."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _database_url(tmp_path_factory)
    if url.startswith("postgresql"):
        _reset_postgres(url)
    return url


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (so its own `g`, login cache and database session), as in
    production, even though the test body holds an app context for factories and assertions."""

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(
        {
            "MOTIO_ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": "http://motio.test",
            "SERVER_NAME": None,
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _transaction(request, app):
    """Run each test in an outer transaction; the app's commits become savepoints and everything is undone."""
    if request.node.get_closest_marker("committing"):
        yield
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        # A plain SQLAlchemy session bound to this connection (Flask-SQLAlchemy's own would pick the engine
        # and so a second connection), scoped per app context like Flask-SQLAlchemy's.
        factory = sa.orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        db.session = sa.orm.scoped_session(factory, scopefunc=_app_ctx_id)
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def client(app):
    client = app.test_client()
    # Tests read English; the Dutch default is tested on purpose in tests/test_i18n.py.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def rate_limits(app):
    """Switch the (normally disabled in tests) rate limits on for one test."""
    limiter.enabled = True
    limiter.reset()
    yield
    limiter.reset()
    limiter.enabled = False


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def csrf_token(client, url: str = "/login") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))
