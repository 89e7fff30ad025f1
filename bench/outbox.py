"""Benchmark: dispatch 10,000 due messages to a local aiosmtpd sink and compare with raw smtplib sending the
same messages over one connection, measured in the same run (target: dispatcher >= 0.5 x raw).

    python bench/outbox.py                      # temporary SQLite database
    python bench/outbox.py postgresql://postgres@127.0.0.1:5432/bench_outbox   # a PostgreSQL database (reset)
    python bench/outbox.py --messages 2000      # a quicker run
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from app import create_app  # noqa: E402
from extensions import db  # noqa: E402
from tests.processes import reset_postgres  # noqa: E402
from tests.smtp import free_port  # noqa: E402


class CountingSink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.count += 1
        return "250 OK"


def messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        message = EmailMessage(policy=SMTP)
        message["From"] = "Praktijk <praktijk@example.com>"
        message["To"] = f"patient{i}@example.com"
        message["Subject"] = f"Herinnering: Rug in beweging op maandag {i}"
        message["Message-ID"] = f"<bench-{i}@motio.test>"
        message.set_content("Beste patiënt,\n\nMorgen heeft u groepstraining.\n" * 5)
        message.add_alternative("<p>Beste patiënt,</p><p>Morgen heeft u groepstraining.</p>" * 5, subtype="html")
        out.append(message.as_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from reminders.dispatch import dispatch, use_async_commits
    from reminders.mail import SmtpSettings
    from reminders.models import OutboxMessage

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    if url.startswith("postgres"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        reset_postgres(url)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "MOTIO_ENV": "testing", "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False}
    )
    bodies = messages(args.messages)
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            upgrade()
            now = datetime.now(UTC) - timedelta(seconds=1)
            practice_id = db.session.execute(
                sa.text(
                    "INSERT INTO practices (name, address, timezone, locale, sender_email, phone, created_at) "
                    "VALUES ('Bench', '', 'Europe/Amsterdam', 'nl', 'p@example.com', '', :now) RETURNING id"
                ),
                {"now": now.replace(tzinfo=None) if url.startswith("sqlite") else now},
            ).scalar_one()
            db.session.execute(
                sa.insert(OutboxMessage),
                [
                    {
                        "practice_id": practice_id,
                        "kind": "test",
                        "sequence": 0,
                        "dedupe_key": f"bench:{i}",
                        "sender": "praktijk@example.com",
                        "recipient": f"patient{i}@example.com",
                        "subject": "Herinnering",
                        "mime": body,
                        "message_id": f"<bench-{i}@motio.test>",
                        "next_attempt_at": now,
                    }
                    for i, body in enumerate(bodies)
                ],
            )
            db.session.commit()

            # Raw baseline: the same messages over one smtplib connection, nothing else.
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                for i, body in enumerate(bodies):
                    smtp.sendmail("praktijk@example.com", [f"patient{i}@example.com"], body)
            raw = time.perf_counter() - started

            statements = 0

            def count(*_args, **_kwargs):
                nonlocal statements
                statements += 1

            use_async_commits(db.engine)  # as the scheduler process runs it
            sa.event.listen(db.engine, "before_cursor_execute", count)
            started = time.perf_counter()
            stats = dispatch(SmtpSettings("127.0.0.1", port), batch_size=500)
            ours = time.perf_counter() - started
            sa.event.remove(db.engine, "before_cursor_execute", count)
    finally:
        controller.stop()

    n = args.messages
    assert stats.sent == n, stats
    assert sink.count == 2 * n, sink.count
    print(f"database:              {url.split('://')[0]}")
    print(f"messages:              {n}")
    print(f"raw smtplib:           {n / raw:8.0f} messages/s ({raw:.2f} s)")
    print(f"outbox dispatcher:     {n / ours:8.0f} messages/s ({ours:.2f} s)")
    print(f"ratio dispatcher/raw:  {raw / ours:8.2f}   (target >= 0.5)")
    print(f"SQL statements/message:{statements / n:8.2f}")


if __name__ == "__main__":
    main()
