"""Template helpers: show UTC datetimes in the practice's zone and language."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import format_date, format_datetime, get_locale

#: The admin pages grouped under "Practice" in the navigation (tabs in templates/_subnav.html).
PRACTICE_PAGES = frozenset(
    {"accounts.practice_settings", "accounts.staff", "supervision.settings", "reminders.settings", "accounts.audit_log"}
)


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    return "" if value is None else format_datetime(value, fmt)


def local_date(value, fmt: str = "medium") -> str:
    return "" if value is None else format_date(value, fmt)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = local_datetime
    app.jinja_env.filters["date"] = local_date

    @app.context_processor
    def inject_locale():
        return {"current_locale": str(get_locale() or "nl"), "practice_pages": PRACTICE_PAGES}
