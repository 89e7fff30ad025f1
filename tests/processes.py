"""Helpers for tests about processes: a fresh committed database (SQLite file, or a new PostgreSQL database when
TEST_DATABASE_URL is set) and `flask` commands run as real child processes against it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from email.message import EmailMessage
from email.policy import SMTP

import sqlalchemy as sa

from config import ROOT, normalise_database_url


def reset_postgres(url: str) -> None:
    """Drop and create the PostgreSQL database named in `url` (benchmarks and race tests start empty)."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_postgres(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def race_database(kind: str, tmp_path, suffix: str):
    """A fresh committed database for a two-connection race test: a SQLite file, or `<test db>_<suffix>` on
    PostgreSQL (skipped without TEST_DATABASE_URL). A generator, to be used as a pytest fixture body."""
    import pytest

    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("set TEST_DATABASE_URL to race on PostgreSQL too")
    url = sa.engine.make_url(normalise_database_url(base))
    url = url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)
    reset_postgres(url)
    try:
        yield url
    finally:
        drop_postgres(url)


class Child:
    """A child process whose output goes to a file, so a test can read it while the process runs."""

    def __init__(self, command: list[str], env: dict):
        self.log_path = f"/tmp/motio-child-{uuid.uuid4().hex}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        with open(self.log_path) as log:
            return log.read()

    def send_signal(self, signum) -> None:
        self.process.send_signal(signum)

    def poll(self):
        return self.process.poll()

    def wait(self, timeout: float = 300) -> str:
        self.process.wait(timeout=timeout)
        self._log.close()
        text = self.output()
        os.unlink(self.log_path)
        return text

    @property
    def returncode(self):
        return self.process.returncode


class LiveDatabase:
    def __init__(self, tmp_path):
        base = os.environ.get("TEST_DATABASE_URL")
        self.admin_url = None
        if base:
            url = sa.engine.make_url(normalise_database_url(base))
            name = f"{url.database}_p{uuid.uuid4().hex[:8]}"
            self.admin_url = url.set(database="postgres")
            self._admin(f'CREATE DATABASE "{name}"')
            self.url = url.set(database=name).render_as_string(hide_password=False)
            self.name = name
        else:
            self.url = f"sqlite:///{tmp_path / 'live.db'}"
        self.engine = sa.create_engine(self.url)
        self.flask("db", "upgrade")

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
        engine.dispose()

    def env(self, **extra) -> dict:
        return {
            **os.environ,
            "MOTIO_ENV": "testing",
            "DATABASE_URL": self.url,
            "SECRET_KEY": "process-tests",
            "PUBLIC_BASE_URL": "http://motio.test",
            **extra,
        }

    def flask(self, *args, timeout: int = 120, **env) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            env=self.env(**env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    def start(self, *args, **env) -> Child:
        return Child([sys.executable, "-m", "flask", "--app", "app", *args], self.env(**env))

    def close(self) -> None:
        self.engine.dispose()
        if self.admin_url is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def insert_due_messages(db: LiveDatabase, count: int) -> list[str]:
    """A practice and `count` due outbox messages; returns their Message-IDs."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    if db.url.startswith("sqlite"):
        now = now.replace(tzinfo=None)  # as the app's UTCDateTime stores it on SQLite
    ids = []
    with db.engine.begin() as conn:
        practice_id = conn.execute(
            sa.text(
                "INSERT INTO practices (name, address, timezone, locale, sender_email, phone, created_at) "
                "VALUES ('Praktijk Proces', '', 'Europe/Amsterdam', 'nl', 'p@example.com', '', :now) RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        rows = []
        for n in range(count):
            message = EmailMessage(policy=SMTP)
            message["From"] = "p@example.com"
            message["To"] = f"patient{n}@example.com"
            message["Subject"] = f"Bericht {n}"
            message["Message-ID"] = f"<test-{n}@motio.test>"
            message.set_content(f"Bericht nummer {n}")
            ids.append(message["Message-ID"])
            rows.append(
                {
                    "practice_id": practice_id,
                    "kind": "test",
                    "sequence": 0,
                    "dedupe_key": f"test:{n}",
                    "sender": "p@example.com",
                    "recipient": f"patient{n}@example.com",
                    "subject": f"Bericht {n}",
                    "mime": message.as_bytes(),
                    "message_id": message["Message-ID"],
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now - timedelta(seconds=1),
                    "claimed_by": "",
                    "last_error": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        conn.execute(
            sa.text(
                "INSERT INTO outbox_messages (practice_id, kind, sequence, dedupe_key, sender, recipient, subject, "
                "mime, message_id, status, attempts, next_attempt_at, claimed_by, last_error, created_at, "
                "updated_at) VALUES (:practice_id, :kind, :sequence, :dedupe_key, :sender, :recipient, :subject, "
                ":mime, :message_id, :status, :attempts, :next_attempt_at, :claimed_by, :last_error, :created_at, "
                ":updated_at)"
            ),
            rows,
        )
    return ids


def statuses(db: LiveDatabase) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM outbox_messages GROUP BY status")).all())
