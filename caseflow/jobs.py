"""Scheduler jobs: thin wrappers over services, each one unit of work, safe to run twice."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from caseflow.extensions import transactional
from caseflow.services.deadlines import recompute_open_deadlines


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


JOBS = {
    job.name: job
    for job in (
        Job("refresh_provisional_deadlines", "Recompute provisional deadlines from current calendar data",
            {"hour": "6", "minute": "0"}, refresh_provisional_deadlines),
    )
}
