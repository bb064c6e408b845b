"""Deadlines and deadline lights, computed from a case's workflow and the office calendar."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from caseflow.calendar import OfficeCalendar
from caseflow.extensions import db
from caseflow.models import CalendarOverride, Case
from caseflow.workflows import get as get_workflow
from caseflow.workflows.definition import Workflow

Light = Literal["green", "yellow", "red"]
LIGHTS: tuple[str, ...] = ("green", "yellow", "red", "none")


def load_calendar() -> OfficeCalendar:
    """The national calendar with this office's overrides applied."""
    rows = db.session.execute(sa.select(CalendarOverride.day, CalendarOverride.is_working_day))
    return OfficeCalendar({day: working for day, working in rows})


def refresh_deadlines(case: Case, workflow: Workflow, calendar: OfficeCalendar) -> None:
    """Set the case's target and legal deadline for the state it is in.

    A closed case, or one whose clock is stopped (waiting for the applicant), has no deadline.
    """
    rule = workflow.deadlines.get(case.state)
    if case.closed_at is not None or case.state in workflow.clock_stopped or rule is None:
        case.target_at = case.due_at = None
        case.deadline_provisional = False
        return
    limit = rule.limit.after(case.state_entered_at, calendar)
    target = rule.target.after(case.state_entered_at, calendar) if rule.target else None
    case.due_at = limit.at
    case.target_at = target.at if target else None
    case.deadline_provisional = limit.provisional or bool(target and target.provisional)


def recompute_open_deadlines(*, only_provisional: bool = False) -> int:
    """Recompute the deadlines of open cases from the current calendar; returns how many changed.

    Run after an override changes, and by the scheduler so that provisional deadlines (years the
    installed chinese-calendar had no data for) become firm once a package upgrade brings the data.
    """
    calendar = load_calendar()
    query = sa.select(Case).where(Case.closed_at.is_(None), Case.due_at.is_not(None))
    if only_provisional:
        query = query.where(Case.deadline_provisional.is_(True))
    changed = 0
    for case in db.session.scalars(query).all():
        before = (case.target_at, case.due_at, case.deadline_provisional)
        refresh_deadlines(case, get_workflow(case.workflow, case.workflow_version), calendar)
        changed += before != (case.target_at, case.due_at, case.deadline_provisional)
    db.session.flush()
    return changed


@dataclass(frozen=True)
class LightBounds:
    """The instants that separate the lights at one moment: red before ``now``, yellow up to the end of
    the next working day, green after."""

    now: datetime
    yellow_until: datetime

    @classmethod
    def at(cls, now: datetime, calendar: OfficeCalendar) -> "LightBounds":
        return cls(now, calendar.add_working_days(now, 1).at)

    def light(self, due_at: datetime | None) -> Light | None:
        if due_at is None:
            return None
        if due_at < self.now:
            return "red"
        return "yellow" if due_at <= self.yellow_until else "green"

    def where(self, light: str) -> sa.ColumnElement[bool]:
        """The SQL condition for cases showing ``light`` ("none": no running deadline)."""
        if light == "red":
            return Case.due_at < self.now
        if light == "yellow":
            return Case.due_at.between(self.now, self.yellow_until)
        if light == "green":
            return Case.due_at > self.yellow_until
        return Case.due_at.is_(None)
