"""The fixed set of periodic work: scans that queue messages (reminders, invitations, follow-ups) and the
dispatcher that sends them. Packages register their scans; the scheduler process and
`flask reminders dispatch --once` run the same functions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

from core.db import utcnow
from extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scan:
    id: str
    seconds: int
    run: Callable[[datetime], int]  # queues what is due at `now`, returns how many messages/tasks it made


SCANS: dict[str, Scan] = {}
#: Set when the scheduler process is asked to stop, so long jobs end at a safe point.
STOPPING = threading.Event()


def register_scan(job_id: str, seconds: int, run: Callable[[datetime], int]) -> None:
    SCANS[job_id] = Scan(job_id, seconds, run)


def run_scan(scan: Scan, now: datetime | None = None) -> int:
    """One scan in its own transaction; an error is logged and rolled back, never raised to the scheduler."""
    try:
        count = scan.run(now or utcnow())
        db.session.commit()
        if count:
            log.info("%s: %d queued", scan.id, count)
        return count
    except Exception:
        db.session.rollback()
        log.exception("scan %s failed; it will run again at its next interval", scan.id)
        return 0


def run_all_scans(now: datetime | None = None) -> dict[str, int]:
    return {scan.id: run_scan(scan, now) for scan in SCANS.values()}


def run_dispatch(app: Flask):
    from reminders.dispatch import dispatch
    from reminders.mail import SmtpSettings

    try:
        return dispatch(
            SmtpSettings.from_config(app.config),
            batch_size=app.config["OUTBOX_BATCH_SIZE"],
            lease=timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"]),
            should_stop=STOPPING.is_set,
        )
    except Exception:
        db.session.rollback()
        log.exception("dispatch failed; it will run again at its next interval")
        return None
