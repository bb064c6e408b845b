"""caseflow's own console commands, registered on ``app.cli`` (so ``caseflow`` and tests both see them)."""
from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone

import click
import sqlalchemy as sa
from flask import Flask

from caseflow.extensions import db, transactional
from caseflow.services.errors import ServiceError


def _fail(error: ServiceError) -> None:
    details = "; ".join(f"{name}: {msg.en}" for name, msg in error.fields.items())
    raise click.ClickException(f"{error.message.en} {details}".strip())


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds users.")
def seed_demo_command(if_empty: bool) -> None:
    """Load the demo township, users (password demo-password) and a few dozen cases."""
    from caseflow.models import User
    from caseflow.services.demo import seed_demo

    if if_empty and db.session.scalar(sa.select(sa.func.count(User.id))):
        click.echo("Database already has users; demo data not loaded.")
        return
    with transactional():
        summary = seed_demo()
    click.echo(f"Demo data loaded: {summary}.")


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--name", "display_name", help="Display name (defaults to the username).")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["village_officer", "clerk", "supervisor", "admin", "auditor"]))
@click.option("--jurisdiction", "codes", multiple=True, help="Code of a township or village; repeatable.")
@click.option("--email")
@click.option("--locale", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username: str, display_name: str | None, roles: tuple[str, ...],
                        codes: tuple[str, ...], email: str | None, locale: str, password_stdin: bool) -> None:
    """Create a user; the password is prompted for (or read from stdin) and stored hashed."""
    from caseflow.models import Jurisdiction
    from caseflow.services.users import save_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    jurisdictions = {j.code: j.id for j in db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.code.in_(codes)))}
    missing = set(codes) - set(jurisdictions)
    if missing:
        raise click.ClickException(f"Unknown jurisdiction code(s): {', '.join(sorted(missing))}")
    try:
        with transactional():
            user = save_user(username=username, display_name=display_name or username, roles=list(roles),
                             jurisdiction_ids=list(jurisdictions.values()), email=email, locale=locale,
                             password=password)
    except ServiceError as error:
        _fail(error)
    click.echo(f"Created user {user.username} ({', '.join(sorted(user.roles))}).")


@click.group("jobs")
def jobs_group() -> None:
    """List and run scheduler jobs by hand."""


@jobs_group.command("list")
def jobs_list_command() -> None:
    """Each job: schedule, description, and its last recorded run."""
    from caseflow.jobs import JOBS
    from caseflow.models import JobRun

    for job in JOBS.values():
        last = db.session.scalar(sa.select(JobRun).where(JobRun.job == job.name)
                                 .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
        last_text = (f"last: {last.started_at:%Y-%m-%d %H:%M}Z {last.trigger} {last.outcome}" if last
                     else "last: never")
        click.echo(f"{job.name:32} {job.schedule_text:28} {job.description} ({last_text})")


@jobs_group.command("run")
@click.argument("name")
@click.option("--now", "now_text", help="Run as if the clock said this ISO time (default: now, UTC).")
def jobs_run_command(name: str, now_text: str | None) -> None:
    """Run one job now, optionally with a given clock (for recovery and tests). It runs even when the
    scheduler already ran the current slot, and is recorded as a manual JobRun (no slot)."""
    from caseflow.jobs import JOBS, run_recorded

    if name not in JOBS:
        raise click.ClickException(f"No job named {name!r}; see `caseflow jobs list`.")
    now = datetime.fromisoformat(now_text) if now_text else datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise click.ClickException("--now needs a time zone, e.g. 2026-11-23T08:30:00+08:00")
    click.echo(run_recorded(JOBS[name], now, trigger="manual"))


def register(app: Flask) -> None:
    for command in (seed_demo_command, users_group, jobs_group):
        app.cli.add_command(command)
