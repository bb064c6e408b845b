"""Scheduler jobs: thin wrappers over services, each one unit of work, safe to run twice."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from caseflow.extensions import transactional
from caseflow.services.deadlines import recompute_open_deadlines
from caseflow.calendar import local_date
from caseflow.services.fees import accrue_late_charges
from caseflow.services.retention import purge_expired_procedure_details
from caseflow.services.subsidies import advance_ended_notices, end_scheduled_exits, open_annual_reconfirmations


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    cron: dict[str, str]
    func: Callable[[datetime], str]

    @property
    def schedule_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.cron.items())

    def run(self, now: datetime) -> str:
        """Run in the current app context, in its own transaction; returns a one-line summary."""
        with transactional():
            return self.func(now)


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


JOBS = {
    job.name: job
    for job in (
        Job("refresh_provisional_deadlines", "Recompute provisional deadlines from current calendar data",
            {"hour": "6", "minute": "0"}, refresh_provisional_deadlines),
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
    )
}
