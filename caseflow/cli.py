"""The ``caseflow`` console command: Flask's CLI bound to ``create_app``, with a ``run`` that also starts
the scheduler and ``scheduler``, the scheduler as its own process. The other commands live in
``caseflow.commands``."""
from __future__ import annotations

import logging
import signal
from datetime import datetime

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command
from werkzeug.serving import run_simple

from caseflow import create_app
from caseflow.calendar import utcnow

cli = FlaskGroup(create_app=create_app, add_default_commands=False,
                 help="caseflow — case management for a township office.")
cli.add_command(shell_command)
cli.add_command(routes_command)


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Run the scheduler inside the web process, as the quick start does.")
def run_command(host: str, port: int, scheduler: bool) -> None:
    """Serve the web UI (development server) with the scheduler in-process."""
    _log_to_stderr()
    app = current_app._get_current_object()
    if scheduler:
        from caseflow.scheduler import start_background_scheduler

        start_background_scheduler(app)
    # Flask ignores app.run() under its own CLI; serve the way its `run` command does.
    run_simple(host, port, app, threaded=True, use_reloader=False)


@cli.command("scheduler")
@click.option("--once", is_flag=True,
              help="Wait for the lead, run each job's latest slot that has not run yet, and exit.")
@click.option("--now", "now_text", help="With --once: the clock, an ISO time with time zone (default: now).")
@click.option("--job", "names", multiple=True, help="Only this job (repeatable); default: all jobs.")
@click.option("--retry-seconds", default=5.0, show_default=True, type=float,
              help="How often a follower tries to take the lead, and the leader checks it still has it.")
def scheduler_command(once: bool, now_text: str | None, names: tuple[str, ...], retry_seconds: float) -> None:
    """Run the scheduler as its own process (production). Several may run against one database for
    failover: one leads and runs the jobs, the others wait and take over if it dies."""
    from caseflow.jobs import JOBS
    from caseflow.scheduler import JobScheduler

    _log_to_stderr()
    unknown = set(names) - set(JOBS)
    if unknown:
        raise click.ClickException(f"No job named {', '.join(sorted(unknown))}; see `caseflow jobs list`.")
    if now_text and not once:
        raise click.ClickException("--now only goes with --once.")
    now = datetime.fromisoformat(now_text) if now_text else utcnow()
    if now.tzinfo is None:
        raise click.ClickException("--now needs a time zone, e.g. 2026-11-23T08:30:00+08:00")
    app = current_app._get_current_object()
    scheduler = JobScheduler(app, {name: JOBS[name] for name in names} if names else JOBS,
                             retry_seconds=retry_seconds)
    # SIGTERM (service manager) and SIGINT (Ctrl-C) stop cleanly: the running job finishes, the lead goes.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    if once:
        ran = scheduler.run_once(now)
        click.echo(f"{len(ran)} job(s) run: {', '.join(ran) or '-'}")
    else:
        scheduler.run_forever()


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="caseflow")
