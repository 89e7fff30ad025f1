"""Glue between Flask-Login and accounts.operations: who is the current user of this request."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, request, session
from flask_login import current_user

from accounts import operations
from accounts.models import User
from core.actor import Actor
from extensions import csrf, db, login_manager


def client_ip() -> str:
    return request.remote_addr or ""


def current_actor() -> Actor:
    return Actor.for_user(current_user._get_current_object(), ip=client_ip())


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    # We keep our own server-side login record instead of Flask-Login's "remember me" cookie.
    login_manager.session_protection = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        idle = timedelta(minutes=current_app.config["LOGIN_IDLE_MINUTES"])
        user = operations.user_for_login_session(session.get("sid", ""), user_id, idle)
        db.session.commit()
        if user is None:
            session.clear()
        return user

    @login_manager.request_loader
    def load_api_user(req) -> User | None:
        header = req.headers.get("Authorization", "")
        if not req.path.startswith("/api/") or not header.lower().startswith("bearer "):
            return None
        user = operations.user_for_api_token(header[7:].strip())
        db.session.commit()  # keeps the token's "last used" even when the request itself writes nothing
        if user is not None:
            request.environ["motio.bearer"] = True
        return user

    @app.before_request
    def csrf_for_cookie_api():
        # API calls with a Bearer token cannot be forged by another site; cookie-authenticated ones can.
        if request.path.startswith("/api/") and request.method not in ("GET", "HEAD", "OPTIONS"):
            current_user._get_current_object()  # resolve the user (Bearer or cookie) first
            if not request.environ.get("motio.bearer"):
                csrf.protect()
