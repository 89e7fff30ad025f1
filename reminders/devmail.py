"""A local SMTP sink for development: accepts every message and keeps it as a .eml file in instance/mail/.

`make run` starts it when no MAIL_SERVER is configured, so reminders and invitations really travel over SMTP
on a laptop; staff read them on the outbox page, or open the files in a mail program.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from config import INSTANCE


class SaveToFolder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns()}.eml"
            (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        print(f"[devmail] {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)} saved as {name}", flush=True)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, default=INSTANCE / "mail")
    args = parser.parse_args()
    controller = Controller(SaveToFolder(args.folder), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"[devmail] SMTP sink on 127.0.0.1:{args.port}, saving to {args.folder}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
