"""Readable names for audit log codes (the codes themselves stay stable for exports and filters)."""

from flask_babel import lazy_gettext as _l

AUDIT_LABELS = {
    "view": _l("viewed"),
    "list": _l("listed"),
    "create": _l("created"),
    "update": _l("changed"),
    "archive": _l("archived"),
    "restore": _l("made active again"),
    "export": _l("exported"),
    "erase": _l("erased"),
    "invite": _l("invited"),
    "set_password": _l("set password"),
    "activate": _l("activated"),
    "deactivate": _l("deactivated"),
    "staff": _l("staff"),
    "patient": _l("patient (personal link)"),
    "system": _l("system"),
    "user": _l("staff member"),
    "practice": _l("practice"),
}
