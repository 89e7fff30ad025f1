"""The README's promise: right after `flask demo load`, one dispatch sends real reminders."""

import pytest

from tests.processes import LiveDatabase, statuses

pytestmark = [pytest.mark.committing, pytest.mark.slow]


def test_demo_load_then_dispatch_sends_reminders(tmp_path, smtp):
    live = LiveDatabase(tmp_path)
    try:
        live.flask("demo", "load")
        result = live.flask("reminders", "dispatch", "--once", **smtp.env())
        assert statuses(live).get("sent", 0) >= 1, result.stdout
        subjects = [r.message["Subject"] for r in smtp.received]
        assert any(s.startswith(("Herinnering", "Reminder")) for s in subjects)
        # The demo's calendars send invitations to patients who prefer them (and to supervisors) as well.
        assert all(s.startswith(("Herinnering", "Reminder", "Invitation", "Uitnodiging")) for s in subjects)
        assert all(len(r.recipients) == 1 for r in smtp.received)  # one message per recipient
        live.flask("demo", "load")  # again: nothing is queued twice
        live.flask("reminders", "dispatch", "--once", **smtp.env())
        assert len(smtp.received) == len(subjects)
    finally:
        live.close()
