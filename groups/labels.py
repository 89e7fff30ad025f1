"""Translated labels for the codes groups use (the codes themselves live in rules.py and models.py)."""

from flask_babel import lazy_gettext as _l

from groups.rules import WITHDRAWAL_REASONS

#: Plain language: patients may hear these read back to them.
WITHDRAWAL_LABELS = {
    "ILLNESS": _l("Illness"),
    "PAIN_INTENSITY": _l("Too much pain"),
    "FEAR_OF_MOVEMENT": _l("Afraid to move or to make it worse"),
    "DEPRESSION": _l("Feeling down"),
    "NO_TIME": _l("No time"),
    "NO_FACILITY_NEARBY": _l("Travel (too far, no transport)"),
    "INSUFFICIENT_SUPPORT": _l("Not enough support"),
    "POOR_COMMUNICATION": _l("Forgot or was not informed"),
    "OTHER": _l("Other"),
    "RECOVERED": _l("Recovered"),
    "MOVED_AWAY": _l("Moved away"),
}
assert set(WITHDRAWAL_LABELS) == set(WITHDRAWAL_REASONS)

WEEKDAY_LABELS = {
    "MO": _l("Monday"),
    "TU": _l("Tuesday"),
    "WE": _l("Wednesday"),
    "TH": _l("Thursday"),
    "FR": _l("Friday"),
    "SA": _l("Saturday"),
    "SU": _l("Sunday"),
}

ENROLMENT_LABELS = {"enrolled": _l("enrolled"), "waitlisted": _l("waitlist"), "withdrawn": _l("withdrawn")}
KIND_LABELS = {"training": _l("training"), "education": _l("education")}
CHANGE_LABELS = {
    "move": _l("Moved"),
    "room": _l("Room changed"),
    "supervisors": _l("Staff changed"),
    "cancel": _l("Cancelled"),
    "restore": _l("Restored"),
    "notes": _l("Notes edited"),
}
LANGUAGE_LABELS = {"nl": _l("Dutch"), "en": _l("English")}
