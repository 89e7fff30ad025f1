"""Access control, deny-by-default, in one place.

Every endpoint needs a logged-in, active staff user unless it is marked `@public` (login page, static files,
API docs, patient links that carry their own token). Role checks use `require_role`. Objects are always
looked up through `get_scoped`, which answers "not found" for another practice's rows, so ids never leak.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import Flask, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.db import MAX_ID
from core.errors import Forbidden, NotFound, error_response
from extensions import db

F = TypeVar("F", bound=Callable)

#: Endpoints of extensions we do not decorate ourselves.
PUBLIC_ENDPOINTS = {"static", "api-docs.openapi_json"}

#: What each role may do beyond reading and editing patients' administrative data.
PERMISSIONS: dict[str, set[str]] = {
    "manage_staff": {"admin"},
    "manage_practice": {"admin"},
    "view_audit": {"admin"},
    "archive_patients": {"admin", "therapist"},
    "export_patients": {"admin", "therapist"},
    "manage_groups": {"admin", "therapist"},
    "enrol_patients": {"admin", "therapist", "assistant"},
    "manage_closures": {"admin"},
    # supervision: assistants plan groups, so they see confirmed levels, but not assessment contents.
    "assess_patients": {"admin", "therapist"},
    "view_assessments": {"admin", "therapist"},
    "decide_levels": {"admin", "therapist"},
    "view_levels": {"admin", "therapist", "assistant"},
    "review_safety": {"admin", "therapist"},
    "manage_barriers": {"admin", "therapist"},
    "manage_education": {"admin", "therapist"},
    "manage_supervision_settings": {"admin"},
    # attendance: assistants may take the roll-call; following patients up and reports are clinical work.
    "record_attendance": {"admin", "therapist", "assistant"},
    "manage_follow_ups": {"admin", "therapist"},
    "view_reports": {"admin", "therapist"},
}


def public(view: F) -> F:
    view._motio_public = True  # type: ignore[attr-defined]
    return view


def can(user, permission: str) -> bool:
    return bool(user and user.is_authenticated and user.role in PERMISSIONS[permission])


def require_permission(permission: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(current_user, permission):
                raise Forbidden(_("You do not have permission to do this."))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def get_scoped(model, object_id, practice_id: int):
    """The row of `model` with this id in this practice, or NotFound (also for impossible ids)."""
    if not isinstance(object_id, int) or isinstance(object_id, bool) or not 0 < object_id <= MAX_ID:
        raise NotFound(_("Not found."))
    row = db.session.execute(
        db.select(model).where(model.id == object_id, model.practice_id == practice_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(_("Not found."))
    return row


def _is_public_endpoint() -> bool:
    if request.endpoint is None:  # no route matched: let the 404 handler answer
        return True
    if request.endpoint in PUBLIC_ENDPOINTS:
        return True
    view = current_app.view_functions.get(request.endpoint)
    return bool(
        getattr(view, "_motio_public", False) or getattr(getattr(view, "view_class", None), "_motio_public", False)
    )


def init_access(app: Flask) -> None:
    @app.before_request
    def deny_by_default():
        if _is_public_endpoint():
            return None
        if current_user.is_authenticated:
            return None
        if request.path.startswith("/api/"):
            response = current_app.make_response(error_response(401, _("Log in or send a valid Bearer token.")))
            response.headers["WWW-Authenticate"] = 'Bearer realm="motio"'
            return response
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
