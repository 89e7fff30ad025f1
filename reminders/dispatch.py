"""The dispatcher: claim due outbox rows, send them over one SMTP connection, record each outcome.

Safe with several dispatchers at once (two scheduler processes by mistake, or `dispatch --once` from cron):
a row is claimed by one UPDATE that only matches pending rows (PostgreSQL adds FOR UPDATE SKIP LOCKED so
claimers skip each other's rows instead of waiting; SQLite transactions begin IMMEDIATE, so claims take
turns). Each outcome is committed on its own, so a crash repeats at most the one message in flight, after its
lease has run out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa

from core.db import utcnow
from extensions import db
from reminders.mail import ConnectionLost, MailTransport, SmtpSettings, Verdict
from reminders.models import OutboxMessage
from reminders.rules import backoff

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(minutes=5)

#: kind → function(rows) → {row id: reason}: rows whose cause has gone (a moved or cancelled session, a patient
#: who opted out) are cancelled instead of sent. Packages register their own checks.
STALE_CHECKS: dict[str, Callable[[list[OutboxMessage]], dict[int, str]]] = {}


def register_stale_check(kind: str, check: Callable[[list[OutboxMessage]], dict[int, str]]) -> None:
    STALE_CHECKS[kind] = check


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    released: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


def use_async_commits(engine) -> None:
    """For the scheduler process (and `dispatch --once`): PostgreSQL commits without waiting for the WAL flush.

    Everything this process writes can be made again: scans are idempotent and re-queue what is missing, and a
    lost "sent" mark means a message is sent once more. Commits stay atomic and visible at once, so a crashed
    dispatcher loses nothing; only a crash of the database server could forget the last moments of marks.
    It saves a disk flush per sent message. (SQLite already runs with synchronous=NORMAL in WAL mode.)
    """
    if engine.dialect.name != "postgresql":
        return

    @sa.event.listens_for(engine, "connect")
    def _async_commit(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
        dbapi_connection.commit()

    engine.dispose()  # connections opened before this point would keep synchronous commits


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def expire_overdue(now: datetime) -> int:
    """Messages whose moment has passed (a reminder for a session that started) are never sent late."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.not_after.is_not(None), OutboxMessage.not_after <= now)
        .values(status="expired", last_error="too late to send", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def release_lapsed_leases(now: datetime) -> int:
    """Rows claimed by a dispatcher that died are pending again once their lease is over."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
        .values(status="pending", lease_until=None, claimed_by="", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(now: datetime, limit: int, lease: timedelta, worker: str) -> list[int]:
    """Take up to `limit` due rows for this worker. Two statements on purpose: PostgreSQL may run an
    `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` subquery more than once and so update
    more than n rows; selecting the ids first (locking them) and then updating exactly those cannot."""
    due = (
        db.session.execute(
            sa.select(OutboxMessage.id)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                sa.or_(OutboxMessage.not_after.is_(None), OutboxMessage.not_after > now),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not due:
        return []
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        # status='pending' again: the compare-and-set that keeps a claim exclusive where rows are not locked.
        .where(OutboxMessage.id.in_(due), OutboxMessage.status == "pending")
        .values(
            status="sending",
            lease_until=now + lease,
            claimed_by=worker,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.scalars())


def _outcome(row: OutboxMessage, verdict: Verdict, now: datetime, stats: DispatchStats) -> dict:
    """The column values that record one send attempt."""
    if verdict.outcome == "sent":
        stats.sent += 1
        return {"status": "sent", "sent_at": now, "last_error": ""}
    if verdict.outcome == "retry" and row.attempts < MAX_ATTEMPTS:
        stats.retried += 1
        return {"status": "pending", "next_attempt_at": now + backoff(row.attempts), "last_error": verdict.error[:1000]}
    stats.failed += 1
    reason = verdict.error if verdict.outcome == "failed" else f"gave up after {row.attempts} attempts: {verdict.error}"
    return {"status": "failed", "last_error": reason[:1000]}


#: One prepared UPDATE per set of columns an outcome writes: built once, so each message costs one execute and
#: one commit, not the construction of a new statement.
_SAVE_STATEMENTS: dict[tuple[str, ...], sa.Update] = {}


def _save(writer: sa.Connection | None, row: OutboxMessage, values: dict, now: datetime) -> None:
    """Record one outcome, durably, before the next message is sent (at most one repeat after a crash).

    `writer` is an autocommit connection: the UPDATE is its own transaction, one round trip instead of BEGIN,
    UPDATE and COMMIT. Without one (the caller holds a transaction, as tests do) it goes through the session.
    """
    keys = tuple(sorted(values))
    statement = _SAVE_STATEMENTS.get(keys)
    if statement is None:
        table = OutboxMessage.__table__
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("v_id"))
            .values(lease_until=None, updated_at=sa.bindparam("v_now"), **{k: sa.bindparam(f"v_{k}") for k in keys})
        )
        _SAVE_STATEMENTS[keys] = statement
    parameters = {"v_id": row.id, "v_now": now, **{f"v_{k}": v for k, v in values.items()}}
    if writer is not None:
        writer.execute(statement, parameters)
    else:
        db.session.connection().execute(statement, parameters)
        db.session.commit()


def _outcome_writer():
    """An autocommit connection for the outcomes, unless the session is bound to a caller's connection (a test
    inside a transaction, which a second connection could not see)."""
    if isinstance(db.session.get_bind(), sa.Connection):
        return contextlib.nullcontext(None)
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _send_batch(ids: list[int], settings: SmtpSettings, now_fn: Callable[[], datetime], stats: DispatchStats) -> None:
    rows = (
        db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
        .scalars()
        .all()
    )
    stale: dict[int, str] = {}
    for kind in {row.kind for row in rows}:
        if kind in STALE_CHECKS:
            stale.update(STALE_CHECKS[kind]([row for row in rows if row.kind == kind]))
    # Detach the batch: what we need is read, and commits below must not expire and reload each row. End the
    # reading transaction, so no lock is held while we talk to the SMTP server (SQLite would block the writer).
    for row in rows:
        db.session.expunge(row)
    db.session.commit()
    pending = list(rows)
    with _outcome_writer() as writer:
        try:
            with MailTransport(settings) as transport:
                while pending:
                    row = pending[0]
                    now = now_fn()
                    if row.id in stale:
                        stats.cancelled += 1
                        values = {"status": "cancelled", "last_error": stale[row.id][:1000]}
                    elif row.not_after is not None and row.not_after <= now:
                        stats.expired += 1
                        values = {"status": "expired", "last_error": "too late to send"}
                    else:
                        values = _outcome(row, transport.send(row.sender, row.recipient, row.mime), now, stats)
                    _save(writer, row, values, now)
                    pending.pop(0)
        except ConnectionLost as exc:
            log.warning("SMTP unavailable (%s); %d message(s) will be retried", exc, len(pending))
            now = now_fn()
            for row in pending:
                _save(writer, row, _outcome(row, Verdict("retry", str(exc)), now, stats), now)


def dispatch(
    settings: SmtpSettings,
    *,
    now_fn: Callable[[], datetime] = utcnow,
    batch_size: int = 100,
    lease: timedelta = DEFAULT_LEASE,
    worker: str | None = None,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DispatchStats:
    """Send everything that is due now. Returns what happened, for logs and tests."""
    worker = worker or worker_name()
    stats = DispatchStats()
    now = now_fn()
    stats.expired += expire_overdue(now)
    stats.released += release_lapsed_leases(now)
    db.session.commit()
    batches = 0
    # A stopping scheduler finishes the batch in hand, then leaves the rest for the next run.
    while (max_batches is None or batches < max_batches) and not should_stop():
        ids = claim(now_fn(), batch_size, lease, worker)
        db.session.commit()
        if not ids:
            break
        stats.claimed += len(ids)
        _send_batch(ids, settings, now_fn, stats)
        batches += 1
    if stats.claimed or stats.expired or stats.released:
        log.info("dispatch: %s", stats)
    return stats


def retry_failed(practice_id: int, ids: Iterable[int], now: datetime) -> int:
    """Staff asked to try failed messages again (after fixing an address, say)."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.practice_id == practice_id, OutboxMessage.id.in_(list(ids)), OutboxMessage.status == "failed"
        )
        .values(status="pending", attempts=0, next_attempt_at=now, last_error="", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
