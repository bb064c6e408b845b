"""Scheduler jobs: thin wrappers over services, each one unit of work, safe to run twice.

Every run through the scheduler or ``caseflow jobs run`` is recorded as a ``JobRun``. A scheduled run is
keyed by its cron slot (``slot_at_or_before``); ``run_slot`` claims the slot in its own transaction before
the job starts, so a slot runs at most once however many processes reach it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger

from caseflow.calendar import LOCAL_TZ, local_date, utcnow
from caseflow.extensions import db, transactional
from caseflow.services.deadlines import recompute_open_deadlines
from caseflow.services.digests import send_daily_digests
from caseflow.services.fees import accrue_late_charges
from caseflow.services.outbox import deliver_outbox
from caseflow.services.reminders import run_deadline_scan
from caseflow.services.reports import send_monthly_reports
from caseflow.services.retention import purge_expired_procedure_details
from caseflow.services.subsidies import advance_ended_notices, end_scheduled_exits, open_annual_reconfirmations


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A scheduled job: ``cron`` are APScheduler CronTrigger fields in office local time.

    ``func(now)`` does the work and returns a one-line summary. By default it runs inside one transaction
    (``Job.run`` commits or rolls back). A job that commits as it goes — e.g. email delivery, one commit
    per message so a failure later does not unsend what went out — sets ``own_transactions=True`` and
    is called without a surrounding transaction; it must then commit (``transactional()``) each unit itself.
    ``at_start`` jobs also run whenever a scheduler becomes leader, whatever their slot.
    """

    name: str
    description: str
    cron: dict[str, str]
    func: Callable[[datetime], str]
    own_transactions: bool = False
    at_start: bool = False

    @property
    def schedule_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.cron.items())

    def trigger(self) -> CronTrigger:
        return CronTrigger(timezone=LOCAL_TZ, **self.cron)

    def run(self, now: datetime) -> str:
        """Run in the current app context, in its own transaction(s); returns a one-line summary."""
        if self.own_transactions:
            return self.func(now)
        with transactional():
            return self.func(now)


# How far back to look for a job's latest slot, widening until one is found (cron fields go up to a year).
_LOOKBACK = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=8),
             timedelta(days=32), timedelta(days=367), timedelta(days=366 * 8 + 2))


def slot_at_or_before(job: Job, now: datetime) -> datetime | None:
    """The latest cron slot of ``job`` at or before ``now`` (UTC), or None if it never fired in 8 years."""
    trigger = job.trigger()
    now = now.astimezone(LOCAL_TZ)
    for back in _LOOKBACK:
        slot = trigger.get_next_fire_time(None, now - back)
        if slot is not None and slot <= now:
            # Walk forward to the last slot not after now: few steps, the window only just holds a slot.
            while (following := trigger.get_next_fire_time(None, slot + timedelta(seconds=1))) <= now:
                slot = following
            return slot.astimezone(timezone.utc)
    return None


def run_recorded(job: Job, now: datetime, *, trigger: str, slot: datetime | None = None) -> str | None:
    """Run ``job`` with clock ``now`` and record it as a JobRun; returns its summary.

    With a ``slot`` the run first claims (job, slot) in its own transaction and returns None without
    running when the slot is already taken (by another process, or an earlier run). The job's own work
    happens in its own transaction(s) afterwards; its outcome is recorded last. A failure is recorded and
    re-raised; a failed slot is not retried by the scheduler (run it by hand with ``caseflow jobs run``).
    """
    from caseflow.models import JobRun

    try:
        with transactional():
            record = JobRun(job=job.name, scheduled_for=slot, clock=now, trigger=trigger,
                            started_at=utcnow(), outcome="running")
            db.session.add(record)
            db.session.flush()
            run_id = record.id
    except sa.exc.IntegrityError:
        return None
    return _run_claimed(job, now, run_id)


def abandoned_run(job: Job, now: datetime) -> tuple[int, datetime] | None:
    """(run id, started at) of the job's latest slot at or before ``now`` when its run is still marked
    running, else None. Called by a scheduler that has just taken the lead: the run was left by the leader
    before it, which stopped mid-run (killed, or cut off from the database), and its work was rolled back
    with its connection. Left as it is, that slot would never run: a day's emails or late charges lost."""
    from caseflow.models import JobRun

    slot = slot_at_or_before(job, now)
    found = None if slot is None else db.session.execute(
        sa.select(JobRun.id, JobRun.started_at).where(JobRun.job == job.name, JobRun.scheduled_for == slot,
                                                      JobRun.outcome == "running")).first()
    db.session.rollback()  # end the read, as missed_slot does
    return None if found is None else (found.id, found.started_at)


def rerun_abandoned(job: Job, run_id: int, started_at: datetime) -> str | None:
    """Run again the slot of an abandoned run (``abandoned_run``), in the same JobRun; returns its summary,
    or None when another process has taken it over first. Every job is idempotent (emails by key, charges
    per day, reminders by their unique key), so work the stopped run did commit is not done twice."""
    from caseflow.models import JobRun

    with transactional():
        row = db.session.execute(
            sa.update(JobRun).where(JobRun.id == run_id, JobRun.outcome == "running",
                                    JobRun.started_at == started_at)
            .values(started_at=utcnow(), trigger="makeup").returning(JobRun.clock)).first()
    return None if row is None else _run_claimed(job, row.clock, run_id)


def _run_claimed(job: Job, now: datetime, run_id: int) -> str:
    try:
        summary = job.run(now)
    except Exception as error:
        db.session.rollback()
        _finish(run_id, "failed", f"{type(error).__name__}: {error}"[:2000])
        raise
    _finish(run_id, "ok", summary)
    return summary


def _finish(run_id: int, outcome: str, summary: str) -> None:
    from caseflow.models import JobRun

    with transactional():
        db.session.execute(sa.update(JobRun).where(JobRun.id == run_id)
                           .values(outcome=outcome, summary=summary, finished_at=utcnow()))


def run_slot(job: Job, slot: datetime, *, trigger: str = "scheduled") -> str | None:
    """Run ``job`` for cron ``slot`` unless that slot already ran; the job's clock is the slot time."""
    return run_recorded(job, slot, trigger=trigger, slot=slot)


def missed_slot(job: Job, now: datetime) -> datetime | None:
    """The job's latest slot at or before ``now`` when it has no JobRun yet (coalesced: older missed
    slots are not made up one by one), else None."""
    from caseflow.models import JobRun

    slot = slot_at_or_before(job, now)
    if slot is None:
        return None
    taken = db.session.scalar(sa.select(JobRun.id).where(JobRun.job == job.name, JobRun.scheduled_for == slot))
    db.session.rollback()  # end the read: do not hold a snapshot (or an SQLite read lock) while jobs run
    return None if taken else slot


def refresh_provisional_deadlines(now: datetime) -> str:
    """Deadlines computed without official calendar data become firm once the data is installed."""
    changed = recompute_open_deadlines(only_provisional=True)
    return f"{changed} provisional deadline(s) recomputed"


def purge_procedure_details(now: datetime) -> str:
    """Medical details of closed procedure certificate cases go once their retention period ends."""
    purged = purge_expired_procedure_details(now)
    return f"{purged} procedure certificate case(s) purged"


def close_ended_public_notices(now: datetime) -> str:
    """Subsidy cases whose public notice ran its course without objection go on to township review."""
    return f"{advance_ended_notices(now)} subsidy case(s) past their public notice"


def open_reconfirmations(now: datetime) -> str:
    """年审: each active enrolment is reconfirmed once a year. Running daily makes up a missed day."""
    return f"{open_annual_reconfirmations(local_date(now).year, now)} annual reconfirmation(s) opened"


def end_exits(now: datetime) -> str:
    """Enrolments whose scheduled exit date has come end."""
    return f"{end_scheduled_exits(now)} enrolment(s) ended"


def update_late_charges(now: datetime) -> str:
    """Fee cases: payment periods start, missed ones turn overdue, late charges are brought to today."""
    return f"{accrue_late_charges(now)} fee account(s) brought up to date"


def scan_deadlines_job(now: datetime) -> str:
    """Cases turning yellow or red remind their assignee; red ones also count in their supervisors' village
    reminder of the day."""
    scan = run_deadline_scan(now)
    return (f"{scan.cases} case(s) changed light: {scan.reminders} reminder(s) and "
            f"{scan.village_reminders} village reminder(s) raised")


JOBS = {
    job.name: job
    for job in (
        Job("refresh_provisional_deadlines", "Recompute provisional deadlines from current calendar data",
            {"hour": "6", "minute": "0"}, refresh_provisional_deadlines,
            # An upgraded calendar package may have made provisional deadlines firm: check at every start.
            at_start=True),
        Job("purge_procedure_details", "Delete medical details of procedure certificates past retention",
            {"hour": "2", "minute": "30"}, purge_procedure_details),
        Job("close_ended_public_notices", "Move subsidy cases on when their public notice period ended",
            {"minute": "5"}, close_ended_public_notices),
        Job("open_reconfirmations", "Open this year's annual reconfirmation (年审) of active enrolments",
            {"hour": "3", "minute": "0"}, open_reconfirmations),
        Job("end_scheduled_exits", "End subsidy enrolments whose exit date has come",
            {"hour": "3", "minute": "10"}, end_exits),
        Job("update_late_charges", "Start payment periods, mark overdue fee cases, accrue late charges",
            {"hour": "0", "minute": "20"}, update_late_charges),
        # Commits each message's claim and outcome itself: an email the server accepted cannot be unsent.
        Job("deliver_outbox", "Send queued email over SMTP (or write .eml files in development)",
            {"minute": "*/5"}, deliver_outbox, own_transactions=True, at_start=True),
        Job("scan_deadlines", "Remind assignees of cases turning yellow or red; supervisors once a village a day",
            {"minute": "*/10"}, scan_deadlines_job),
        Job("daily_digest", "Queue each user's reminder email at 08:30 on working days",
            {"hour": "8", "minute": "30"}, send_daily_digests),
        Job("monthly_report", "Email last month's meeting report to supervisors from the meeting working day",
            {"hour": "7", "minute": "0"}, send_monthly_reports),
    )
}
