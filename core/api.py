"""Shared pieces of the JSON API: schemas for errors and paging, token rate limits, the docs page."""

from __future__ import annotations

import hashlib

import marshmallow as ma
from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_smorest import Blueprint

from core.access import public
from core.errors import error_response
from extensions import api, csrf, limiter, talisman

MAX_PER_PAGE = 200


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"example": "validation_error"})
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBody, required=True)


class StrictSchema(ma.Schema):
    """Unknown fields are an error, not silently ignored: a typo must not look like success."""

    class Meta:
        unknown = ma.RAISE


class PageArgs(StrictSchema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class PageSchema(ma.Schema):
    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)


def page_of(items, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def api_blueprint(name: str, import_name: str, description: str) -> Blueprint:
    return Blueprint(name, import_name, url_prefix="/api/v1", description=description)


def _token_key() -> str:
    """Rate-limit key: the Bearer token (hashed, so it never sits in limiter storage) or else the client IP."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()
    return "ip:" + (request.remote_addr or "")


docs_bp = Blueprint("api_docs_page", __name__, url_prefix="/api/v1")


@docs_bp.route("/docs")
@public
@talisman(
    content_security_policy={
        "default-src": "'self'",
        "img-src": ["'self'", "data:"],
        # Swagger UI sets style attributes from JavaScript; scripts stay 'self' only.
        "style-src": ["'self'", "'unsafe-inline'"],
        "script-src": "'self'",
        "frame-ancestors": "'none'",
    }
)
def docs():
    return render_template("core/api_docs.html")


def require_json_body():
    """Writes to the API take JSON: another content type is a clear 415, not a confusing 422."""
    if (
        request.path.startswith("/api/")
        and request.method in ("POST", "PUT", "PATCH")
        and request.content_length
        and not request.is_json
    ):
        return error_response(415, _("Send the request body as JSON (Content-Type: application/json)."))
    return None


def init_api(app: Flask, blueprints: list[Blueprint]) -> None:
    api.ERROR_SCHEMA = ErrorSchema
    api.init_app(app)
    api_limit = limiter.shared_limit(lambda: app.config["RATELIMIT_API"], scope="api", key_func=_token_key)
    for blueprint in blueprints:
        csrf.exempt(blueprint)  # cookie-authenticated calls are checked in accounts.auth instead
        api_limit(blueprint)
        api.register_blueprint(blueprint)
    app.before_request(require_json_body)
    app.register_blueprint(docs_bp)
    csrf.exempt(docs_bp)
