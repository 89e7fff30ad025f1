"""Motio: create_app() builds the Flask application (web, API and CLI)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import sqlalchemy as sa
from flask import Flask, has_request_context, request, session
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

import config
from core.db import render_migration_item
from extensions import babel, csrf, db, limiter, migrate, talisman

CSP = {
    "default-src": "'self'",
    "img-src": ["'self'", "data:"],
    "style-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def create_app(config_overrides: Mapping | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config.INSTANCE))
    app.config.update(config.load_config())
    app.config.update(
        API_TITLE="Motio API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
            "info": {
                "description": "Motio JSON API. Authenticate with `Authorization: Bearer <token>` "
                "(create one with `flask users token EMAIL`)."
            },
        },
    )
    if config_overrides:
        app.config.update(config_overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    _init_database(app)
    _init_security(app)
    _init_i18n(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _init_database(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(config.ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_item,
    )
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)


def _configure_sqlite(engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (needed for SAVEPOINTs), then WAL so
        # readers never block, enforced foreign keys, and a busy timeout instead of an immediate "database is
        # locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is safe against application crashes and skips an fsync per commit; the outbox
        # commits once per sent message.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn):
        # IMMEDIATE takes the write lock at the start. A deferred transaction that reads and then writes fails
        # at once with SQLITE_BUSY when another writer committed in between (the busy timeout cannot help);
        # taking the lock up front makes concurrent writers wait their turn instead, so a check-then-insert
        # (the last place in a group) is safe. Transactions are short: one per request, job run or command.
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction (the dispatcher's outcome writer)
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _init_security(app: Flask) -> None:
    from accounts.auth import init_auth
    from core.access import init_access
    from core.converters import IdConverter
    from core.errors import register_error_handlers

    app.url_map.converters["id"] = IdConverter
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    production = app.config["MOTIO_ENV"] == "production"
    talisman.init_app(
        app,
        force_https=production,
        strict_transport_security=production,
        session_cookie_secure=production,
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )
    csrf.init_app(app)
    # Flask-Limiter sets up its storage only when enabled at start; we start it enabled and then apply the
    # setting, so tests (limits off) can switch limits on for the tests that are about them.
    limits_on = app.config["RATELIMIT_ENABLED"]
    app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(app)
    limiter.enabled = app.config["RATELIMIT_ENABLED"] = limits_on
    init_access(app)  # first: unauthenticated requests get 401/redirect before anything else looks at them
    init_auth(app)
    register_error_handlers(app)

    @app.after_request
    def no_store_for_private_pages(response):
        # Patient data must not linger in shared browser or proxy caches.
        if current_user.is_authenticated and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response


def select_locale() -> str:
    if not has_request_context():
        # CLI output is for operators: English. Anything a patient receives is rendered with force_locale.
        return "en"
    if request.path.startswith("/api/"):
        # API clients: the language they ask for, else their practice's, else English (field messages from
        # marshmallow are English either way).
        asked = request.accept_languages.best_match(["en", "nl"])
        if asked:
            return asked
        return current_user.practice.locale if current_user and current_user.is_authenticated else "en"
    chosen = session.get("lang")
    if chosen in ("nl", "en"):
        return chosen
    if current_user and current_user.is_authenticated:
        return current_user.practice.locale
    return request.accept_languages.best_match(["nl", "en"]) or "nl"


def select_timezone() -> str:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.practice.timezone
    return "Europe/Amsterdam"


def _init_i18n(app: Flask) -> None:
    from core import formatting

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    formatting.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from accounts.api import blp as accounts_api
    from accounts.views import bp as accounts_bp
    from attendance import views as attendance_views
    from attendance.api import blp as attendance_api
    from calendars import views as calendars_views
    from calendars.api import blp as calendars_api
    from core.api import init_api
    from core.views import bp as core_bp
    from groups.api import blueprints as groups_api
    from groups.views import bp as groups_bp
    from patients.api import blp as patients_api
    from patients.views import bp as patients_bp
    from reminders.views import bp as reminders_bp
    from reminders.views import init_app as reminders_init
    from supervision import staffing
    from supervision import views as supervision_views
    from supervision.api import blp as supervision_api
    from supervision.education_views import bp as education_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(patients_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(supervision_views.bp)
    app.register_blueprint(education_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(calendars_views.bp)
    app.register_blueprint(attendance_views.bp)
    supervision_views.init_app(app)
    staffing.init_app(app)
    reminders_init(app)
    calendars_views.init_app(app)
    attendance_views.init_app(app)
    init_api(app, [accounts_api, patients_api, *groups_api, supervision_api, calendars_api, attendance_api])


def _register_cli(app: Flask) -> None:
    from accounts.cli import users_cli
    from demo.cli import demo_cli
    from reminders.cli import reminders_cli, scheduler_cli
    from supervision.cli import education_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(education_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(scheduler_cli)
