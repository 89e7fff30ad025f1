"""`flask scheduler run`: the one process that runs Motio's periodic jobs (APScheduler 3, BlockingScheduler).

Never started inside web workers (each worker would run every job). Jobs live in the memory job store with
fixed ids: durable work is in outbox rows, so a restart loses nothing and duplicates nothing.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from core.db import utcnow
from extensions import db
from reminders import jobs
from reminders.dispatch import use_async_commits

log = logging.getLogger("motio.scheduler")

JOB_DEFAULTS = {
    "coalesce": True,  # after a pause, run a missed job once, not once per missed interval
    "max_instances": 1,
    "misfire_grace_time": 300,  # APScheduler's default of 1 s silently drops jobs after a short stall
}


def _in_app(app: Flask, func, *args):
    def run():
        with app.app_context():
            func(*args)

    return run


def build_scheduler(app: Flask) -> BlockingScheduler:
    scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS, timezone=UTC)
    now = utcnow()
    scheduler.add_job(
        _in_app(app, jobs.run_dispatch, app),
        "interval",
        seconds=app.config["DISPATCH_SECONDS"],
        id="dispatch",
        name="send due messages",
        replace_existing=True,
        next_run_time=now,
    )
    for scan in jobs.SCANS.values():
        scheduler.add_job(
            _in_app(app, jobs.run_scan, scan),
            "interval",
            seconds=scan.seconds,
            id=scan.id,
            name=scan.id,
            replace_existing=True,
            next_run_time=now,
        )

    def on_problem(event):
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
        else:
            log.error("job %s raised %r", event.job_id, event.exception)

    scheduler.add_listener(on_problem, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def run(app: Flask) -> None:
    # One INFO line per job run every few seconds buries what matters; our jobs log what they did.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    with app.app_context():
        use_async_commits(db.engine)
    scheduler = build_scheduler(app)

    def stop(signum, _frame):
        log.info("received signal %s: finishing running jobs and stopping", signum)
        jobs.STOPPING.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started with jobs: %s", ", ".join(sorted(job.id for job in scheduler.get_jobs())))
    scheduler.start()
    log.info("scheduler stopped")
