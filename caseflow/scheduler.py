"""The scheduler: APScheduler 3 runs the jobs on their cron, in whichever process leads.

Production runs ``caseflow scheduler`` (one or more processes, for failover); the quick start runs the
same scheduler inside the web process (``caseflow run``). Every candidate takes part in the leader
election of ``caseflow.leader``: only the leader has cron jobs in its APScheduler, a follower retries every
few seconds and takes over when the leader dies. On becoming leader a scheduler makes up each job's latest
slot that has no JobRun (coalesced: one run, not one per missed slot) or whose run the leader before it
left unfinished, then runs ``at_start`` jobs.
Before each run the leader checks that it still leads, and each slot is claimed in the database
(``jobs.run_slot``), so even a leader that lost the lead unnoticed cannot run a slot a second time.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Mapping

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from caseflow.calendar import LOCAL_TZ, utcnow
from caseflow.extensions import db
from caseflow.jobs import (
    JOBS, Job, abandoned_run, missed_slot, rerun_abandoned, run_recorded, run_slot, slot_at_or_before,
)
from caseflow.leader import Leadership, leadership_for

log = logging.getLogger(__name__)


class JobScheduler:
    """One scheduler candidate for ``app``'s database. ``start()`` runs it in the background (the web
    process), ``run_forever()`` until ``stop()`` (the ``caseflow scheduler`` process), ``run_once(now)``
    runs the slots due at ``now`` once it leads, then gives the lead up."""

    def __init__(self, app: Flask, jobs: Mapping[str, Job] | None = None, retry_seconds: float = 5.0,
                 leadership: Leadership | None = None):
        self.app = app
        self.jobs = dict(JOBS if jobs is None else jobs)
        self.retry_seconds = retry_seconds
        if leadership is None:
            with app.app_context():
                leadership = leadership_for(db.engine.url)
        self.leadership = leadership
        self.leading = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiting_logged = False
        # Jobs this process is running now: a run of its own is never taken for one left by a stopped leader
        # (after losing the lead and winning it back, say).
        self._running: set[str] = set()
        self._aps = BackgroundScheduler(timezone=LOCAL_TZ, job_defaults={"coalesce": True, "max_instances": 1})

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start in the background. The first election happens before this returns, so a process that
        can lead has made up its missed runs when it goes on (the web process then starts serving)."""
        self._aps.start()
        self._elect()
        self._thread = threading.Thread(target=self._election_loop, name="caseflow-leader-election", daemon=True)
        self._thread.start()

    def run_forever(self) -> None:
        """Start, and block until ``stop()`` is called (from a signal handler, say); then shut down."""
        self.start()
        while not self._stopping.wait(1.0):
            pass
        self.shutdown()

    def stop(self) -> None:
        """Ask a running scheduler to stop; safe from a signal handler."""
        self._stopping.set()

    def shutdown(self) -> None:
        """Stop electing, let a running job finish, give the lead up."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._aps.running:
            self._aps.shutdown(wait=True)
        self.leading = False
        self.leadership.release()
        log.info("scheduler stopped")

    def run_once(self, now: datetime) -> list[str]:
        """Wait for the lead, run every job's latest slot at or before ``now`` that has not run, give the
        lead up. Returns the names of the jobs run."""
        while not self.leadership.try_acquire():
            self._log_waiting()
            if self._stopping.wait(self.retry_seconds):
                return []
        log.info("leader: running jobs")
        try:
            return self.make_up(now)
        finally:
            self.leadership.release()

    # -- election --------------------------------------------------------------------------------

    def _election_loop(self) -> None:
        while not self._stopping.wait(self.retry_seconds):
            self._elect()

    def _elect(self) -> None:
        try:
            self._elect_once()
        except Exception:  # the database may be down for a while: keep electing, never die silently
            log.exception("leader election failed; retrying")

    def _elect_once(self) -> None:
        if self._stopping.is_set():
            return
        if not self.leading:
            if self.leadership.try_acquire():
                self._lead()
            else:
                self._log_waiting()
        elif not self.leadership.still_held():
            log.warning("lost leadership: jobs stopped")
            self._follow()

    def _log_waiting(self) -> None:
        if not self._waiting_logged:
            log.info("waiting for leadership")
            self._waiting_logged = True

    def _lead(self) -> None:
        self.leading = True
        self._waiting_logged = False
        log.info("leader: running jobs")
        # Cron first, then the make-up: a slot coming due meanwhile is not lost, and a slot both reach is
        # claimed once (run_slot).
        for job in self.jobs.values():
            self._aps.add_job(self._fire, job.trigger(), args=(job,), id=job.name, name=job.name,
                              misfire_grace_time=3600, replace_existing=True)
        ran = self.make_up(utcnow())
        for job in self.jobs.values():
            if job.at_start and job.name not in ran:
                self._run(job, None, "start")

    def _follow(self) -> None:
        self.leading = False
        self._aps.remove_all_jobs()

    # -- runs ------------------------------------------------------------------------------------

    def make_up(self, now: datetime) -> list[str]:
        """Run, once, each job's latest slot at or before ``now`` that has no JobRun, or whose run the
        leader before this one left unfinished (``jobs.abandoned_run``)."""
        ran = []
        for job in self.jobs.values():
            with self.app.app_context():
                slot = missed_slot(job, now)
                abandoned = abandoned_run(job, now) if slot is None and job.name not in self._running else None
            if slot is not None:
                log.info("job %s: running the slot due %s", job.name, slot.isoformat())
                if self._run(job, slot, "makeup"):
                    ran.append(job.name)
            elif abandoned is not None:
                log.warning("job %s: its latest slot was left unfinished by a scheduler that stopped; running it "
                            "again", job.name)
                if self._run(job, None, "makeup", abandoned=abandoned):
                    ran.append(job.name)
        return ran

    def _fire(self, job: Job) -> None:
        """APScheduler calls this at a slot (or late, within the grace time): run the latest slot."""
        slot = slot_at_or_before(job, utcnow())
        if slot is not None:
            self._run(job, slot, "scheduled")

    def _run(self, job: Job, slot: datetime | None, trigger: str,
             abandoned: tuple[int, datetime] | None = None) -> bool:
        """Run one job in its own app context if we still lead; True when it ran."""
        if not self.leadership.still_held():
            log.warning("job %s: not the leader any more, not run", job.name)
            return False
        self._running.add(job.name)
        with self.app.app_context():
            try:
                if abandoned is not None:
                    summary = rerun_abandoned(job, *abandoned)
                elif slot is None:
                    summary = run_recorded(job, utcnow(), trigger=trigger)
                else:
                    summary = run_slot(job, slot, trigger=trigger)
            except Exception:
                log.exception("job %s failed", job.name)
                return False
            finally:
                self._running.discard(job.name)
            if summary is None:
                log.info("job %s: its latest slot has run already", job.name)
                return False
            log.info("job %s: %s", job.name, summary)
            return True


def start_background_scheduler(app: Flask) -> JobScheduler:
    """The quick start's scheduler, inside the web process; it leads unless another process does."""
    scheduler = JobScheduler(app)
    scheduler.start()
    return scheduler
