"""Domain errors raised by operations, and the one place that turns any error into a response.

Under /api every error is JSON `{"error": {"code", "message", "fields"?}}`; elsewhere a generic HTML page.
Nothing here ever shows a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A use case refused the request. Plain Python so operations stay free of Flask."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class Invalid(DomainError):
    pass


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "server_error",
}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def flatten_fields(messages) -> dict[str, str]:
    """webargs reports {"json": {"name": ["msg"]}}; clients want {"name": "msg"}."""
    fields: dict[str, str] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list | tuple):
            if all(isinstance(v, str) for v in value):
                fields[prefix or "_"] = " ".join(value)
            else:
                for sub in value:
                    walk(prefix, sub)
        else:
            fields[prefix or "_"] = str(value)

    if isinstance(messages, dict):
        for location, errors in messages.items():
            # Drop the webargs location ("json", "query") unless it is all there is.
            walk("" if location in ("json", "query", "form", "path", "headers") else location, errors)
    else:
        walk("", messages)
    return fields


def error_response(status: int, message: str, fields: dict[str, str] | None = None, code: str | None = None):
    if is_api_request():
        body = {"code": code or CODES.get(status, "error"), "message": message}
        if fields:
            body["fields"] = fields
        return jsonify(error=body), status
    return render_template("error.html", status=status, message=message, fields=fields or {}), status


def _default_message(status: int) -> str:
    messages = {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You do not have permission to do this."),
        404: _("This page or item does not exist, or you do not have access to it."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        415: _("Unsupported content type: send JSON."),
        422: _("Some fields are not valid."),
        429: _("Too many attempts. Please wait a minute and try again."),
    }
    return messages.get(status, _("Something went wrong on our side. The team has been told."))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return error_response(exc.status, exc.message, exc.fields, exc.code)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, _("The form expired or was sent from elsewhere. Please try again."), code="csrf")

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded):
        response, status = error_response(429, _default_message(429))
        response = app.make_response((response, status))
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            return server_error(exc)
        data = getattr(exc, "data", None) or {}
        fields = flatten_fields(data["messages"]) if "messages" in data else None
        message = data.get("message") or _default_message(status)
        if status == 422 and fields is None:
            fields = {}
        response = error_response(status, message, fields)
        headers = data.get("headers") or getattr(exc, "get_headers", lambda: [])()
        resp = app.make_response(response)
        for key, value in dict(headers).items():
            if key.lower() != "content-type":
                resp.headers[key] = value
        return resp

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        if isinstance(exc, HTTPException) and not isinstance(exc, InternalServerError):
            return http_error(exc)
        original = getattr(exc, "original_exception", None) or exc
        log.exception("Unhandled error on %s %s", request.method, request.path, exc_info=original)
        return error_response(500, _default_message(500))
