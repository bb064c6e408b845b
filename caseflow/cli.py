"""The ``caseflow`` console command: Flask's CLI bound to ``create_app``, with a ``run`` that also starts
the scheduler. The other commands live in ``caseflow.commands``."""
from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command
from werkzeug.serving import run_simple

from caseflow import create_app

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    if scheduler:
        from caseflow.scheduler import start_background_scheduler

        start_background_scheduler(app)
    # Flask ignores app.run() under its own CLI; serve the way its `run` command does.
    run_simple(host, port, app, threaded=True, use_reloader=False)


def main() -> None:
    cli(prog_name="caseflow")
