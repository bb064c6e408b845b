"""APScheduler wiring. The quick start runs it inside the web process; each job gets its own app context."""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from caseflow.calendar import LOCAL_TZ, utcnow
from caseflow.jobs import JOBS, Job

log = logging.getLogger(__name__)


def _run_in_app(app: Flask, job: Job) -> None:
    with app.app_context():
        try:
            log.info("job %s: %s", job.name, job.run(utcnow()))
        except Exception:
            log.exception("job %s failed", job.name)


def start_background_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=LOCAL_TZ, job_defaults={"coalesce": True, "max_instances": 1})
    for job in JOBS.values():
        scheduler.add_job(_run_in_app, CronTrigger(timezone=LOCAL_TZ, **job.cron), args=(app, job),
                          id=job.name, name=job.name, misfire_grace_time=3600)
    scheduler.start()
    # Catch up at start: provisional deadlines may have become firm with an upgraded calendar package.
    _run_in_app(app, JOBS["refresh_provisional_deadlines"])
    return scheduler
