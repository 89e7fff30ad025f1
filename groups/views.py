"""Calendar, groups, sessions, programmes, rooms and closure days (HTML)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("groups", __name__)
