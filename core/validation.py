"""Small validators shared by forms, API schemas and operations. Messages are lazy translations, so they
are rendered in the language of whoever reads them."""

from __future__ import annotations

import re
import unicodedata
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
    """Collapse white space and drop invisible control and format characters (zero-width spaces, right-to-left
    overrides) that would make a name look empty or turn the text around it backwards."""
    if not isinstance(value, str):
        raise ValueError(_l("Enter a name."))
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\t\n")
    value = " ".join(value.split())
    if not any(ch.isalnum() for ch in value):
        raise ValueError(_l("Enter a name."))
    if len(value) > max_length:
        raise ValueError(_l("Use at most %(n)d characters.", n=max_length))
    return value


PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]{6,40}$")


def canonical_timezone(value: str) -> str | None:
    """The IANA name for what the user typed ("europe/amsterdam" → "Europe/Amsterdam"), or None."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().casefold()
    return next((zone for zone in sorted(_zones()) if zone.casefold() == wanted), None)


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def positive_int(raw, *, default: int | None = None, maximum: int = 2**63 - 1) -> int | None:
    """A query-string number: ASCII digits only (str.isdigit() also accepts "²"), within 1..maximum."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and 0 < int(raw) <= maximum:
        return int(raw)
    return default
