"""Practice-wide pages: the dashboard, the language switch and a health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from core.access import public
from extensions import db

bp = Blueprint("core", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths, so a crafted link cannot send users elsewhere after an action."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@bp.route("/")
def dashboard():
    from patients.operations import dashboard_counts

    return render_template("core/dashboard.html", counts=dashboard_counts(current_user.practice_id))


@bp.route("/language", methods=["POST"])
@public
def set_language():
    lang = request.form.get("lang", "")
    if lang in ("nl", "en"):
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("core.dashboard")))


@bp.route("/healthz")
@public
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
