"""Practice-wide pages: the dashboard, the language switch and a health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
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


def add_dashboard_panel(app: Flask, provider) -> None:
    """Let a domain add a panel to the dashboard. `provider(actor)` returns None or a dict with the panel's
    "template", its variables, and "urgent": True to show it above everything else."""
    app.extensions.setdefault("motio.dashboard_panels", []).append(provider)


@bp.route("/")
def dashboard():
    from accounts.auth import current_actor
    from patients.operations import dashboard_counts

    actor = current_actor()
    panels = [
        panel for provider in current_app.extensions.get("motio.dashboard_panels", []) if (panel := provider(actor))
    ]
    db.session.commit()  # panels audit the patient data they list
    return render_template("core/dashboard.html", counts=dashboard_counts(current_user.practice_id), panels=panels)


@bp.route("/language", methods=["POST"])
@public
def set_language():
    lang = request.form.get("lang", "")
    if lang in ("nl", "en"):
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("core.dashboard")))


@bp.route("/favicon.ico")
@public
def favicon():
    # Browsers ask for /favicon.ico on pages without an icon link (the portal, error pages).
    return redirect(url_for("static", filename="img/motio.svg"), code=301)


@bp.route("/healthz")
@public
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
