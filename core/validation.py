"""Small validators shared by forms, API schemas and operations. Messages are lazy translations, so they
are rendered in the language of whoever reads them."""

from __future__ import annotations

from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

NAME_MAX = 200
EMAIL_MAX = 254


def normalise_email(value: str) -> str:
    """A syntactically valid address, lower-cased domain; raises ValueError with a readable message."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_l("Enter an email address."))
    if len(value) > EMAIL_MAX:
        raise ValueError(_l("The email address is too long."))
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(_l("This is not a valid email address.")) from exc


def clean_name(value: str, max_length: int = NAME_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_l("Enter a name."))
    value = " ".join(value.split())
    if len(value) > max_length:
        raise ValueError(_l("Use at most %(n)d characters.", n=max_length))
    return value


def is_timezone(value: str) -> bool:
    return isinstance(value, str) and value in _zones()


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES
