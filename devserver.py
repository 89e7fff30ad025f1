"""Local development: run every Motio process in one terminal and stop them together (Ctrl+C).

Production runs these as separate services (see README): gunicorn for the web, one scheduler process.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

DEV_MAIL_PORT = 8025


def commands(host: str, port: int, with_mail_sink: bool) -> list[tuple[str, list[str]]]:
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    procs = []
    if with_mail_sink:
        procs.append(("mail", [sys.executable, "-m", "reminders.devmail", "--port", str(DEV_MAIL_PORT)]))
    procs.append(("web", [*flask, "run", "--host", host, "--port", str(port), "--no-reload"]))
    procs.append(("scheduler", [*flask, "scheduler", "run"]))
    return procs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()

    env = dict(os.environ)
    with_mail_sink = not env.get("MAIL_SERVER")
    if with_mail_sink:
        # No SMTP relay configured: deliver to a local sink so the demo works end to end.
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(DEV_MAIL_PORT), MAIL_USE_TLS="false")
    env.setdefault("PUBLIC_BASE_URL", f"http://{args.host}:{args.port}")
    procs = []
    for name, cmd in commands(args.host, args.port, with_mail_sink):
        print(f"[devserver] starting {name}: {' '.join(cmd[1:])}", flush=True)
        procs.append((name, subprocess.Popen(cmd, env=env)))
    print(f"[devserver] Motio runs on http://{args.host}:{args.port} — press Ctrl+C to stop.", flush=True)
    if with_mail_sink:
        print("[devserver] emails go to a local sink; read them under Messages in Motio.", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                print(f"[devserver] {name} stopped with code {proc.returncode}; stopping the others.", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.3)
    for _, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for _, proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
