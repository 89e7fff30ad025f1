"""`flask reminders dispatch --once` (cron-style and tests) and `flask scheduler run` (the long-running process)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from extensions import db
from reminders import jobs, scheduler
from reminders.dispatch import use_async_commits

reminders_cli = AppGroup("reminders", help="Queue and send emails.")
scheduler_cli = AppGroup("scheduler", help="The process that runs Motio's periodic jobs.")


@reminders_cli.command("dispatch")
@click.option("--once", is_flag=True, required=True, help="Run the scans and one dispatch pass, then exit.")
def dispatch_once(once: bool):
    """Queue what is due (reminders, invitations, follow-ups) and send all due messages once."""
    use_async_commits(db.engine)
    counts = jobs.run_all_scans()
    stats = jobs.run_dispatch(current_app)
    queued = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no scans"
    click.echo(f"queued: {queued}; dispatch: {stats if stats is not None else 'failed (see log)'}")


@scheduler_cli.command("run")
def run_scheduler():
    """Run the scheduler until stopped (SIGTERM or Ctrl+C). Run exactly one per installation."""
    scheduler.run(current_app._get_current_object())
