"""RELIABILITY.md acceptance tests 1, 2 and 9 with real processes: dispatchers and schedulers are `flask`
child processes on a committed database, sending to a real aiosmtpd server."""

import signal
import time
from collections import Counter

import pytest

from tests.processes import LiveDatabase, insert_due_messages, statuses
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.committing, pytest.mark.slow]


@pytest.fixture
def live(tmp_path):
    database = LiveDatabase(tmp_path)
    yield database
    database.close()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_dispatchers_in_parallel_deliver_each_of_1000_messages_once(live, smtp):
    expected = insert_due_messages(live, 1000)
    smtp.behaviour.delay = 0.003  # both processes are surely running before either could finish alone
    dispatchers = [
        live.start("reminders", "dispatch", "--once", OUTBOX_BATCH_SIZE="50", **smtp.env()) for _ in range(2)
    ]
    outputs = [p.wait(timeout=300) for p in dispatchers]
    assert all(p.returncode == 0 for p in dispatchers), outputs
    counts = Counter(r.message_id for r in smtp.received)
    assert set(counts) == set(expected)
    assert max(counts.values()) == 1
    assert statuses(live) == {"sent": 1000}
    # Both really worked: each claimed a share.
    assert all("claimed 0," not in out for out in outputs), outputs


def test_dispatcher_killed_mid_batch_loses_nothing_and_repeats_at_most_one(live, smtp):
    expected = insert_due_messages(live, 200)
    smtp.behaviour.delay = 0.02
    env = {"OUTBOX_BATCH_SIZE": "100", "OUTBOX_LEASE_SECONDS": "2", **smtp.env()}
    victim = live.start("reminders", "dispatch", "--once", **env)
    wait_for(lambda: len(smtp.received) >= 40, 60, "the first messages")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    delivered_before = len(smtp.received)
    assert delivered_before < 200
    smtp.behaviour.delay = 0
    time.sleep(2.5)  # the dead dispatcher's lease runs out
    live.flask("reminders", "dispatch", "--once", **env)
    counts = Counter(r.message_id for r in smtp.received)
    assert set(counts) == set(expected)
    assert sum(counts.values()) - len(expected) <= 1, "more than one duplicate for one crash"
    assert statuses(live) == {"sent": 200}


def _started(process) -> None:
    wait_for(lambda: "scheduler started with jobs" in process.output(), 60, "the scheduler to start")


def _scheduler_output(process) -> str:
    process.send_signal(signal.SIGTERM)
    output = process.wait(timeout=30)
    assert process.returncode == 0, output[-3000:]
    return output


def test_restarted_scheduler_runs_each_job_once_and_sends_each_message_once(live, smtp):
    expected = insert_due_messages(live, 150)
    env = {"DISPATCH_SECONDS": "1", "OUTBOX_BATCH_SIZE": "20", **smtp.env()}
    smtp.behaviour.delay = 0.05  # slow enough that a stop request arrives mid-run
    first = live.start("scheduler", "run", **env)
    wait_for(lambda: len(smtp.received) >= 20, 60, "the first run")
    first_log = _scheduler_output(first)
    assert statuses(live).get("pending"), f"the first scheduler should stop between batches:\n{first_log[-2000:]}"
    smtp.behaviour.delay = 0
    second = live.start("scheduler", "run", **env)
    _started(second)
    wait_for(lambda: statuses(live).get("sent") == 150, 90, "everything sent")
    second_log = _scheduler_output(second)
    for log in (first_log, second_log):
        assert "scheduler started with jobs: dispatch, followup_scan, invitation_scan, reminder_scan" in log
        assert "scheduler stopped" in log
    counts = Counter(r.message_id for r in smtp.received)
    assert set(counts) == set(expected) and max(counts.values()) == 1


def test_two_schedulers_by_mistake_still_send_each_message_once(live, smtp):
    expected = insert_due_messages(live, 300)
    env = {"DISPATCH_SECONDS": "1", "OUTBOX_BATCH_SIZE": "25", **smtp.env()}
    schedulers = [live.start("scheduler", "run", **env) for _ in range(2)]
    for process in schedulers:
        _started(process)
    wait_for(lambda: statuses(live).get("sent") == 300, 120, "everything sent")
    for process in schedulers:
        _scheduler_output(process)
    counts = Counter(r.message_id for r in smtp.received)
    assert set(counts) == set(expected) and max(counts.values()) == 1


def test_scheduler_keeps_running_when_smtp_is_down(live):
    insert_due_messages(live, 5)
    server = SmtpServer()  # nothing listens on its port
    env = {"DISPATCH_SECONDS": "1", **server.env()}
    scheduler = live.start("scheduler", "run", **env)
    _started(scheduler)
    wait_for(lambda: statuses(live).get("pending") == 5 and _attempted(live), 30, "a failed attempt")
    assert scheduler.poll() is None, "the scheduler crashed"
    log = _scheduler_output(scheduler)
    assert "SMTP unavailable" in log and "Cannot reach SMTP server" in log


def _attempted(live) -> bool:
    import sqlalchemy as sa

    with live.engine.connect() as conn:
        return conn.execute(sa.text("SELECT min(attempts) FROM outbox_messages")).scalar_one() >= 1
