"""Readable names of outbox statuses (the codes stay stable for filters and the API)."""

from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "pending": _l("waiting"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "expired": _l("too late"),
    "cancelled": _l("not needed"),
}
