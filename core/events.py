"""Domain events, so that packages react to each other's changes without importing each other.

Receivers run synchronously inside the operation that sends, in its transaction: messages they queue are
rolled back with it. Senders pass the acting `Actor` as `actor` and a `kind`.
"""

from blinker import Namespace

_events = Namespace()

#: sender: the Session; kind: "moved" | "room" | "cancelled" | "restored" | "supervisors"
#: ("supervisors" also passes `previous_supervisor_ids`).
session_changed = _events.signal("session-changed")
#: sender: the Enrolment; kind: "enrolled" | "withdrawn" | "promoted".
enrolment_changed = _events.signal("enrolment-changed")
