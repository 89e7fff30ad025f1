"""The portal's "I can't come" reaches the roll-call as an excused absence known in advance (issue 8 item 1)."""

from attendance import operations as attendance
from core.actor import Actor
from tests.calendars.helpers import setup_group


def test_a_portal_notice_shows_on_the_roll_call_with_its_reason(app, ctx):
    from calendars import operations as calendars

    practice, supervisor, group, sessions, (anna, bob) = setup_group(patients=[{}, {}])
    as_anna = Actor(practice_id=practice.id, kind="patient", patient_id=anna.id)
    calendars.report_absence(as_anna, sessions[0].id, "NO_TIME", "werk")
    rows = {row.patient.id: row for row in attendance.roll_call(Actor.for_user(supervisor), sessions[0].id).rows}
    assert rows[anna.id].known_absence and rows[anna.id].known_reason == "NO_TIME"
    assert not rows[bob.id].known_absence
