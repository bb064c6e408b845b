"""The figures of the monthly meeting report (每月例会报表) of one township: ``compute_month_report``.

The output follows /work/tools/REPORT_SCHEMA.md (``schema`` 1); ``services/reports.py`` stores, renders,
exports and emails it. This module is a pure read: it never writes and never commits.

Period and scope
----------------
A month is a calendar month in office local time (Asia/Shanghai): ``start`` is local midnight of the 1st,
``end`` local midnight of the next month's 1st (exclusive), both compared in UTC. "In the month" means
``start <= instant < end``; for a *date* column (a fee payment's ``paid_on``) it means the local dates
from the 1st to the last day of the month. Only cases of the township's villages count
(``Case.jurisdiction_id`` in the township's children); a case of another township, or one filed on the
township itself, is never counted.

What each workflow means by "accepted", "supplement request", "refusal" and "appeal", and whether its
village counts are suppressed, is declared by the workflow module (``Workflow.report``, a
``ReportSpec``); nothing here is keyed on a workflow's name except the subsidy and fee money sections.
The triggers and states named are those of each workflow's current version; cases of older versions are
counted with them.

Per workflow, per village and for the whole township (ROW)
----------------------------------------------------------
received
    cases opened (``Case.opened_at``) in the month.
accepted
    cases with an event of an accept step (``ReportSpec.accept_triggers``; by default the steps that
    issue the receipt number) in the month. A workflow that accepts on opening
    (``ReportSpec.accepted_on_open``: the procedure certificate, whose receipt is issued on submission)
    counts its cases opened in the month, so accepted = received.
finished
    cases closed (``Case.closed_at``) in the month, whatever the outcome. ``closed_at`` is when the case
    last entered a closed state (a registration voided later moves it to the month of the voiding).
finished_on_time
    of those, cases none of whose steps was taken after its legal deadline (``Case.late_steps == 0``;
    ``apply_transition`` counts a step taken after the deadline of the state it leaves).
on_time_rate
    finished_on_time / finished, rounded to 4 decimals; null when nothing finished.
median_working_days
    the median, over the finished cases, of the working days from opening to closing in the office
    calendar (``OfficeCalendar.working_days_between(opened_at, closed_at)``: working days after the local
    opening date up to and including the closing date; 0 on the same day). An even count gives the mean
    of the middle two (e.g. 4.5). Clock stops are not taken out: this is the time the applicant waited.
    Null when nothing finished.
open_at_end
    cases opened before ``end`` that were not in a closed state at ``end`` (see "state at the end").
yellow_at_end, red_at_end
    of those, cases whose legal deadline light at the instant ``end`` was yellow / red
    (``LightBounds.at(end, calendar)``: red when the deadline was before ``end``, yellow when it falls
    between ``end`` and the end of the next working day). A case whose clock was stopped at ``end``, or
    whose state has no deadline, has no light and is in neither.

State at the end
    A case still in the state it entered before ``end`` (``state_entered_at < end``) was in that state
    at ``end``, with its current ``due_at``. A case that moved on after ``end`` gets its state at ``end``
    from the audit trail: the last event before ``end`` that entered a state (the opening or a workflow
    step; assignments, attachments and payments do not move a case), its ``to_state`` entered at that
    event's time. Its deadline is recomputed with the deadline policy in force now
    (``load_policy().rule(workflow, state).limit.after(entered_at, calendar)``), none when that state
    stops the clock, is closed or has no rule. This is an approximation: a deadline rule or calendar
    override changed since ``end``, and the 育儿补贴 30-working-day overall limit (which can pull a
    subsidy deadline in), are not replayed for such cases.

Suppression (workflows with ``ReportSpec.suppress_small_counts``: birth registration and procedure
certificate). In ``by_village`` every count cell with 0 < n < 5 is null and listed in ``suppressed`` as
``[village_id, key]`` (village order, then column order). Complementary suppression: in any column where
exactly one village cell is suppressed, the smallest other non-zero cell of that column (the first
village by code on a tie) is suppressed too, so the hidden cell cannot be recovered from the total. When
no other non-zero cell exists the total itself reveals the cell; the schema keeps totals unsuppressed, so
this is accepted (it says no more than "all of the township's few cases were in one village").
A village's ``on_time_rate`` is null when its ``finished`` or ``finished_on_time`` is suppressed (either
could be recovered from the rate and the other), its ``median_working_days`` when ``finished`` is. Zero
is always shown. The ``total`` row is never suppressed.

Per workflow, whole township
----------------------------
supplement_requests
    events of ``ReportSpec.supplement_triggers`` (requests for missing documents) in the month; a case
    asked twice counts twice.
refusals
    events of ``ReportSpec.refusal_triggers`` in the month, by reason: the value of the step's choice field
    ``ReportSpec.refusal_reason_field`` (label: the choice's label) where the workflow declares one,
    otherwise the step (reason: the trigger; label: the step's label). Only reasons with a count; in the
    order the choices / steps are declared, unknown values last.
appeals
    events of ``ReportSpec.appeal_triggers`` (a 复议 or 诉讼 recorded) in the month.

Subsidies (``subsidy``)
-----------------------
by_scheme lists every configured scheme (``SubsidyScheme``, by id): active ones always, inactive ones only
when one of their figures is not zero. ``total`` sums them.

applied
    subsidy cases opened in the month, by the scheme of their enrolment.
approved
    events of the county approval step (``county_approve``) in the month.
enrolled
    events of the enrolment step (``enrol``: 备案, payments start) in the month.
paid_fen
    the amount (``Payment.amount_fen``) of every payment attempt marked paid in the month
    (``PaymentAttempt.marked_at``), in payment batches of this township.
failed_payments
    payment attempts marked failed in the month in batches of this township (a payment that failed twice
    counts twice; its later successful attempt counts in ``paid_fen``).

reconfirmation (年审) of the month's calendar year Y, cumulative from 1 January to ``end``:
    ``opened`` counts subsidy cases whose year-Y round was opened before ``end`` (an ``open_reconfirmation``
    event with ``year`` = Y, the step that also records ``SubsidyEnrolment.reconfirmed_year`` = Y and moves
    the case to ``reconfirming``; the scheduler opens each enrolment's round once a year, and enrolments
    that started in Y count as confirmed for Y without a round, so they are not counted). Each opened round
    has one outcome as of ``end``: the first step that took the case out of ``reconfirming`` after the
    opening and before ``end`` — ``reconfirm`` → ``reconfirmed``, ``suspend`` → ``suspended`` (still counted
    so if payments resumed later), ``schedule_exit`` → ``exits``; no such step yet → ``pending``. So
    opened = reconfirmed + suspended + exits + pending.

Fee cases (``fee_case``)
------------------------
decided
    events of the decision step (``decide``) in the month.
decided_fen
    the sum of the amounts decided by those events (``decided_amount``, fen), as decided then (a later
    change on appeal does not alter it).
collected_fen
    everything paid (principal and late charge, ``FeePayment.amount_fen``) with ``paid_on`` in the month's
    local dates, on any fee case of the township.
outstanding_fen
    at ``end``, over the township's fee cases whose state at the end (as above) is one in which the
    decided money is owed — ``decided``, ``served``, the payable states (payment_due, instalments,
    postponed, overdue, demand_served, court_applied), ``under_appeal`` and ``suspended`` — the sum of
    max(0, principal + late charge − paid), where principal is the amount in force at ``end`` (the last
    ``decide`` or ``appeal_changed`` amount before ``end``), late charge is the 加处罚款 as of the
    month's last day (``services.fees.late_charge``, the figure the daily accrual records for that day; no
    charge while under appeal) and paid is every payment dated on or before that day. Not owed: cases not
    yet decided, paid in full, revoked, or whose court enforcement ended (enforced, terminated, closed).
under_appeal
    fee cases in ``under_appeal`` at ``end`` (state at the end, as above).

``ratings``: the 好差评 ratings applicants gave in the month on cases of the township (see
``services.ratings.rating_figures``): how many, by level, the average, the bad ones (不满意 or worse) and the
follow-ups those opened, open or done. Ratings are counted for the whole township only, never per village:
one applicant's rating must not be attributable.

Scale (benchmark: ``python -m bench.report``): every query is restricted to the month's instants or to
cases open at the end, through indexes that lead with the village (migrations f4c8e2a6b1d9, a3c7e9b2d4f6), and counts are
GROUP BY (workflow, village) in SQL. The month's events that any figure counts are read in one pass
(``_month_events``, by step and time). Python handles only the month's finished cases (median, working days
from running totals), the cases that moved after ``end`` (their state at the end: the candidates by id from
an index, then one probe of each one's events), and the fee cases owing at the end (read in chunks, the late
charge with everything it needs loaded beforehand).
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import aliased, load_only, selectinload

from caseflow.calendar import LOCAL_TZ, OfficeCalendar
from caseflow.extensions import db
from caseflow.models import (
    Case, CaseEvent, FeeAccount, FeePayment, Jurisdiction, Payment, PaymentAttempt, PaymentBatch,
    SubsidyEnrolment, SubsidyScheme, UTCDateTime,
)
from caseflow.services.case_history import WorkingDayCounter
from caseflow.services.deadlines import DeadlinePolicy, LightBounds, load_policy
from caseflow.services.ratings import rating_figures
from caseflow.workflows import UnknownWorkflow, all_workflows
from caseflow.workflows import get as get_workflow
from caseflow.workflows import fee_case as fee_wf
from caseflow.workflows import subsidy as subsidy_wf
from caseflow.workflows.definition import Text, Workflow

SCHEMA_VERSION = 1
# Village cells below this are hidden where the workflow asks for it.
SMALL_COUNT = 5
COUNT_KEYS = ("received", "accepted", "finished", "finished_on_time", "open_at_end", "yellow_at_end",
              "red_at_end")
# The first event of every case: it enters the initial state (services.cases.open_case).
OPENING_TRIGGER = "submit"

# Subsidy and fee money sections: the steps and states they read, checked against the workflows below.
SUBSIDY_APPROVE, SUBSIDY_ENROL = "county_approve", "enrol"
RECONFIRMATION_OPEN, RECONFIRMATION_STATE = "open_reconfirmation", "reconfirming"
RECONFIRMATION_OUTCOMES = {"reconfirm": "reconfirmed", "suspend": "suspended", "schedule_exit": "exits"}
FEE_DECIDE, FEE_CHANGE = "decide", "appeal_changed"
FEE_APPEAL_STATE = "under_appeal"
FEE_OWING = ("decided", "served") + fee_wf.PAYABLE + (FEE_APPEAL_STATE, "suspended")


def _check_money_sections() -> None:
    """The money sections name subsidy and fee steps and states: fail at import if a workflow lost one."""
    missing = [t for t in (SUBSIDY_APPROVE, SUBSIDY_ENROL, RECONFIRMATION_OPEN, *RECONFIRMATION_OUTCOMES)
               if not subsidy_wf.WORKFLOW.has_trigger(t)]
    missing += [t for t in (FEE_DECIDE, FEE_CHANGE) if not fee_wf.WORKFLOW.has_trigger(t)]
    missing += sorted(set(FEE_OWING) - {s.name for s in fee_wf.State})
    if missing:
        raise RuntimeError(f"report_figures names unknown subsidy/fee steps or states: {missing}")


_check_money_sections()


@dataclass(frozen=True)
class MonthBounds:
    """A calendar month in office local time: [start, end) as UTC instants and its local dates."""

    month: str
    start: datetime
    end: datetime
    first_day: date
    next_first_day: date

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.next_first_day.toordinal() - 1)


BAD_MONTH = Text("请按“年-月”填写月份，例如 2026-10。", "Enter the month as year-month, e.g. 2026-10.")
MONTH_TOO_EARLY = Text("月份不能早于 2000 年 1 月。", "The month cannot be before January 2000.")


def parse_month(text: str) -> str:
    """A month as a person types it ("2026-10", "2026-9") in its stored form ("2026-09"); ValueError with a
    message for the user when it is not one, or before 2000 (nothing here is older). Later bounds (an
    ended month, the current one) are the caller's, compared as text before any date arithmetic."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(BAD_MONTH)
    month = f"{match.group(1)}-{int(match.group(2)):02d}"
    if month < "2000-01":
        raise ValueError(MONTH_TOO_EARLY)
    return month


def month_bounds(month: str) -> MonthBounds:
    """Parse "YYYY-MM" (ValueError otherwise) into its local-time bounds."""
    match = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", month or "")
    if not match:
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    year, number = int(match.group(1)), int(match.group(2))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return MonthBounds(month, _local_midnight(first), _local_midnight(following), first, following)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TZ).astimezone(timezone.utc)


def compute_month_report(township: Jurisdiction, month: str) -> dict[str, Any]:
    """Every figure of ``township``'s monthly meeting report for ``month`` ("YYYY-MM", office local time),
    as the JSON-serialisable dict of the report schema (defined figure by figure in this module's
    docstring). A pure read: nothing is written or flushed."""
    if township.kind != "township":
        raise ValueError(f"{township.code} is not a township")
    period = month_bounds(month)
    villages = list(db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.parent_id == township.id, Jurisdiction.kind == "village")
        .order_by(Jurisdiction.code)))
    village_ids = [v.id for v in villages]
    policy = load_policy()
    workflows = all_workflows()
    with db.session.no_autoflush:
        at_end = states_at_end(village_ids, period.end, policy)
        events = _month_events(workflows, village_ids, period)
        tallies = _tallies(workflows, village_ids, period, policy, at_end, events)
        report_workflows = [_workflow_section(wf, village_ids, tallies[wf.name], events) for wf in workflows]
        subsidy = _subsidy_section(township, village_ids, period, events)
        fee = _fee_section(village_ids, period, at_end, events)
    return {
        "schema": SCHEMA_VERSION,
        "month": period.month,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "township": _place(township),
        "villages": [_place(v) for v in villages],
        "workflows": report_workflows,
        "subsidy": subsidy,
        "fee_case": fee,
        "ratings": rating_figures(township, period.start, period.end),
    }


def _place(place: Jurisdiction) -> dict[str, Any]:
    return {"id": place.id, "code": place.code, "name": place.name, "name_en": place.name_en}


def _label(text: Text) -> dict[str, str]:
    return {"zh": text.zh, "en": text.en}


def _in_month(column: Any, period: MonthBounds) -> sa.ColumnElement[bool]:
    return in_period(column, period.start, period.end)


def in_period(column: Any, start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """``start <= column < end``: the half-open periods every figure is counted over."""
    return sa.and_(column >= start, column < end)


# ------------------------------------------------------------------------------------- state at the end

@dataclass(frozen=True)
class _AtEnd:
    """A case opened before the end that has moved on since: its state at the end and its light."""

    case_id: int
    workflow: str
    village_id: int
    state: str
    is_open: bool
    due_at: datetime | None


def _entry_triggers() -> tuple[str, ...]:
    """Triggers of events that enter a state: the opening and every workflow step."""
    names = {OPENING_TRIGGER}
    for wf in all_workflows():
        names.update(s.trigger for s in wf.steps)
    return tuple(sorted(names))


def _moved_since(village_ids: list[int], end: datetime, scope: sa.ColumnElement[bool] | None) -> list[int]:
    """The ids of the cases of ``village_ids`` (and ``scope``) opened before ``end`` that entered their
    current state after it, i.e. moved on since.

    By id alone: the (jurisdiction_id, state_entered_at, opened_at, id) index answers that by itself. For a
    month long past most of a township's cases entered their state since, but few were opened before it;
    asked together with other columns, PostgreSQL may instead walk every case that entered its state since
    the end (state_entered_at's own index) and read each one."""
    return list(db.session.scalars(
        sa.select(Case.id)
        .where(Case.jurisdiction_id.in_(village_ids), Case.opened_at < end, Case.state_entered_at >= end,
               *(() if scope is None else (scope,)))
        .order_by(Case.id)))


def _last_entries(case_ids: list[int], end: datetime) -> Iterable[Any]:
    """Per case of ``case_ids``: (id, workflow, workflow_version, jurisdiction_id, to_state, at) of the last
    event before ``end`` that entered a state (to_state and at None when there is none), by id."""
    def last_entry(column: Any) -> sa.ScalarSelect[Any]:
        # Per case, through the (case_id, seq) index. Asked twice, for two columns: the second probe finds
        # the same pages cached. (A join on the event's id instead lets the planner misjudge the cases and
        # hash every event.)
        return (sa.select(column)
                .where(CaseEvent.case_id == Case.id, CaseEvent.at < end, CaseEvent.trigger.in_(_entry_triggers()))
                .order_by(CaseEvent.seq.desc()).limit(1)
                .correlate(Case).scalar_subquery())

    for chunk in _chunks(case_ids, 1000):
        yield from db.session.execute(
            sa.select(Case.id, Case.workflow, Case.workflow_version, Case.jurisdiction_id,
                      last_entry(CaseEvent.to_state), last_entry(CaseEvent.at))
            .where(Case.id.in_(chunk)).order_by(Case.id))


def states_at_end(village_ids: list[int], end: datetime, policy: DeadlinePolicy,
                  scope: sa.ColumnElement[bool] | None = None) -> list[_AtEnd]:
    """The cases of ``village_ids`` opened before ``end`` that left, after ``end``, the state they were in
    at ``end``: that state from the audit trail, and the legal deadline it had under the current policy.
    ``scope``, a condition on ``Case``, narrows the cases further (the dashboard passes what its viewer
    may see)."""
    found = []
    deadlines: dict[tuple[str, int, str, Any], datetime | None] = {}
    rules: dict[tuple[str, int, str], Any] = {}
    for case_id, name, version, village_id, state, entered_at in _last_entries(
            _moved_since(village_ids, end, scope), end):
        if state is None:  # no event before the end: not possible for a case opened before it
            continue
        try:
            wf = get_workflow(name, version)
        except UnknownWorkflow:
            continue
        is_open = state not in wf.closed
        due = None
        if is_open and state not in wf.clock_stopped:
            if (name, version, state) not in rules:
                rules[(name, version, state)] = policy.rule(wf, state)
            rule = rules[(name, version, state)]
            if rule is not None:
                # A deadline in days depends on the local day only: compute each (state, day) once.
                day = entered_at if rule.limit.unit == "hours" else entered_at.astimezone(LOCAL_TZ).date()
                key = (name, version, state, day)
                if key not in deadlines:
                    deadlines[key] = rule.limit.after(entered_at, policy.calendar).at
                due = deadlines[key]
        found.append(_AtEnd(case_id, name, village_id, state, is_open, due))
    return found


def red_moved_at_ends(village_ids: list[int], ends: list[datetime], policy: DeadlinePolicy,
                      scope: sa.ColumnElement[bool] | None = None) -> dict[tuple[int, str], int]:
    """By (index of the instant in ``ends``, workflow): how many of ``states_at_end(village_ids, end, policy,
    scope)`` were open with a legal deadline before ``end`` (red at the end) — the same count, without
    working out each case's deadline.

    No deadline comes earlier for a later start (``Period.after`` never goes back in time as its start moves
    on), so for each workflow version and state with a running deadline, "entered at ``t`` and late at the
    end" is "``t`` before one instant" (``_red_if_entered_before``), worked out once; a case is then a
    comparison. The cases that moved on since each instant are found for all of them in one pass over the
    (jurisdiction_id, state_entered_at, opened_at, id) index, from the earliest instant on."""
    found: dict[tuple[int, str], int] = {}
    if not ends:
        return found
    instants = sa.union_all(*(sa.select(sa.literal(index).label("index"), sa.literal(end, UTCDateTime).label("end"))
                              for index, end in enumerate(ends))).subquery()
    moved: dict[int, list[int]] = {}
    for index, case_id in db.session.execute(
            sa.select(instants.c.index, Case.id)
            .join(instants, sa.and_(Case.opened_at < instants.c.end, Case.state_entered_at >= instants.c.end))
            .where(Case.jurisdiction_id.in_(village_ids), Case.state_entered_at >= min(ends),
                   Case.opened_at < max(ends), *(() if scope is None else (scope,)))
            .order_by(instants.c.index, Case.id)):
        moved.setdefault(index, []).append(case_id)
    # From the last instant back: the last state entry before a later instant is also the last before an
    # earlier one when it came before that one too (later entries all came after the later instant), so a
    # case that stayed in one state across several month ends is looked up once, not once per month.
    entries: dict[int, tuple[str, int, str | None, datetime | None]] = {}
    for index in sorted(moved, reverse=True):
        end = ends[index]
        stale = [case_id for case_id in moved[index] if case_id not in entries
                 or (entries[case_id][3] is not None and entries[case_id][3] >= end)]
        for case_id, name, version, _village_id, state, entered_at in _last_entries(stale, end):
            entries[case_id] = (name, version, state, entered_at)
        before: dict[tuple[str, int, str], datetime | None] = {}
        for case_id in moved[index]:
            name, version, state, entered_at = entries[case_id]
            if state is None:
                continue
            key = (name, version, state)
            if key not in before:
                before[key] = None
                try:
                    wf = get_workflow(name, version)
                except UnknownWorkflow:
                    wf = None
                if wf is not None and state not in wf.closed and state not in wf.clock_stopped:
                    rule = policy.rule(wf, state)
                    if rule is not None:
                        before[key] = _red_if_entered_before(rule.limit, end, policy.calendar)
            if before[key] is not None and entered_at < before[key]:
                found[(index, name)] = found.get((index, name), 0) + 1
    return found


def _red_if_entered_before(limit: Any, end: datetime, calendar: OfficeCalendar) -> datetime | None:
    """The instant such that a state entered before it, with deadline ``limit``, had its deadline before
    ``end`` (and one entered at or after it did not); None when no start that far back was late."""
    if limit.unit == "hours":
        return end - timedelta(hours=limit.amount)

    # Deadlines in days depend on the local day of the start only: find the first day that was not late.
    def late(day: date) -> bool:
        return limit.after(_local_midnight(day), calendar).at < end

    high = end.astimezone(LOCAL_TZ).date()  # a deadline runs at least to the end of its start day
    low, step = high, 32
    while not late(low):
        if low.year < 1900:
            return None
        low, step = high - timedelta(days=step), step * 2
    while (high - low).days > 1:  # late(low), not late(high)
        middle = low + timedelta(days=(high - low).days // 2)
        low, high = (middle, high) if late(middle) else (low, middle)
    return _local_midnight(high)


# ------------------------------------------------------------------------------------------------- rows

@dataclass
class _Tally:
    """The counts of one ROW, and the working days of its finished cases (for the median)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    working_days: list[int] = field(default_factory=list)

    def absorb(self, other: "_Tally") -> None:
        for key in COUNT_KEYS:
            self.counts[key] += other.counts[key]
        self.working_days.extend(other.working_days)

    def row(self) -> dict[str, Any]:
        """The ROW of the schema, keys in its order."""
        counts, finished = self.counts, self.counts["finished"]
        return {
            "received": counts["received"], "accepted": counts["accepted"], "finished": finished,
            "finished_on_time": counts["finished_on_time"],
            "on_time_rate": round(counts["finished_on_time"] / finished, 4) if finished else None,
            "median_working_days": median_value(self.working_days),
            "open_at_end": counts["open_at_end"], "yellow_at_end": counts["yellow_at_end"],
            "red_at_end": counts["red_at_end"],
        }


def sum_of(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    """How many rows of a group meet ``condition``."""
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _tallies(workflows: list[Workflow], village_ids: list[int], period: MonthBounds, policy: DeadlinePolicy,
             at_end: list[_AtEnd], events: _MonthEvents) -> dict[str, dict[int, _Tally]]:
    """The ROW figures by workflow and village."""
    tallies = {wf.name: {vid: _Tally() for vid in village_ids} for wf in workflows}

    def add(name: str, village_id: int, key: str, n: Any) -> None:
        if village_id in tallies.get(name, {}):
            tallies[name][village_id].counts[key] += int(n or 0)

    in_villages = Case.jurisdiction_id.in_(village_ids)
    on_open = {wf.name for wf in workflows if wf.report.accepted_on_open}
    for name, vid, n in db.session.execute(
            sa.select(Case.workflow, Case.jurisdiction_id, sa.func.count())
            .where(in_villages, _in_month(Case.opened_at, period))
            .group_by(Case.workflow, Case.jurisdiction_id)):
        add(name, vid, "received", n)
        if name in on_open:
            add(name, vid, "accepted", n)

    for (name, vid), cases in events.accepted.items():
        add(name, vid, "accepted", len(cases))

    # The month's finished cases one by one: the median needs each one's working days (from running totals
    # over the days they span, not a walk over each case's days).
    calendar = policy.calendar
    finished = db.session.execute(
        sa.select(Case.workflow, Case.jurisdiction_id, Case.opened_at, Case.closed_at, Case.late_steps)
        .where(in_villages, _in_month(Case.closed_at, period))).all()
    counter = WorkingDayCounter(calendar)
    if finished:  # its running totals over the whole span at once, not rebuilt as older openings come up
        counter.between(min(row.opened_at for row in finished), period.end)
    for name, vid, opened_at, closed_at, late_steps in finished:
        if vid in tallies.get(name, {}):
            add(name, vid, "finished", 1)
            add(name, vid, "finished_on_time", late_steps == 0)
            tallies[name][vid].working_days.append(counter.between(opened_at, closed_at))

    for (name, vid), counts in open_at_end(village_ids, period.end, calendar, at_end).items():
        for key, n in counts.items():
            add(name, vid, key, n)
    return tallies


def open_at_end(village_ids: list[int], end: datetime, calendar: OfficeCalendar, at_end: list[_AtEnd],
                scope: sa.ColumnElement[bool] | None = None) -> dict[tuple[str, int], dict[str, int]]:
    """``open_at_end``, ``yellow_at_end`` and ``red_at_end`` by (workflow, village) at the instant ``end``
    (as the module docstring defines them); ``at_end`` is ``states_at_end`` for the same ``end`` and
    ``scope``. ``scope``, a condition on ``Case``, narrows the cases counted."""
    found: dict[tuple[str, int], dict[str, int]] = {}

    def add(name: str, village_id: int, key: str, n: Any) -> None:
        counts = found.setdefault((name, village_id), {"open_at_end": 0, "yellow_at_end": 0, "red_at_end": 0})
        counts[key] += int(n or 0)

    # Cases still in the state they were in then (counted and lit in SQL) …
    bounds = LightBounds.at(end, calendar)
    for name, vid, n, red, yellow in db.session.execute(
            sa.select(Case.workflow, Case.jurisdiction_id, sa.func.count(), sum_of(bounds.where("red")),
                      sum_of(bounds.where("yellow")))
            .where(Case.jurisdiction_id.in_(village_ids), Case.opened_at < end, Case.state_entered_at < end,
                   Case.closed_at.is_(None), *(() if scope is None else (scope,)))
            .group_by(Case.workflow, Case.jurisdiction_id)):
        add(name, vid, "open_at_end", n)
        add(name, vid, "red_at_end", red)
        add(name, vid, "yellow_at_end", yellow)
    # … and those that have moved on since, from their state at the end.
    for moved in at_end:
        if moved.is_open:
            add(moved.workflow, moved.village_id, "open_at_end", 1)
            light = bounds.light(moved.due_at)
            if light in ("red", "yellow"):
                add(moved.workflow, moved.village_id, f"{light}_at_end", 1)
    return found


def _accept_triggers(wf: Workflow) -> tuple[str, ...]:
    """The steps counted as accepting: declared, or by default those issuing the receipt number."""
    if wf.report.accepted_on_open:
        return ()
    if wf.report.accept_triggers is not None:
        return wf.report.accept_triggers
    return tuple(dict.fromkeys(s.trigger for s in wf.steps if s.issues_receipt))


def median_value(values: list[int] | list[float]) -> int | float | None:
    """The median of ``values`` (the mean of the middle two for an even count); an int when whole, None
    for no values."""
    if not values:
        return None
    middle = statistics.median(values)
    return int(middle) if float(middle).is_integer() else float(middle)


def suppress_small_counts(rows: list[dict[str, Any]], keys: tuple[str, ...] = COUNT_KEYS) -> list[list[Any]]:
    """Hide small village cells of ``keys`` in place (and their complements, see the module docstring), and
    the rate and median derived from hidden ones; returns the [village_id, key] pairs hidden."""
    hidden = {(row["village_id"], key) for row in rows for key in keys if 0 < row[key] < SMALL_COUNT}
    for key in keys:
        if sum((row["village_id"], key) in hidden for row in rows) != 1:
            continue
        others = [row for row in rows if (row["village_id"], key) not in hidden and row[key] > 0]
        if others:
            smallest = min(others, key=lambda row: row[key])  # min keeps the first (by code) on a tie
            hidden.add((smallest["village_id"], key))
    listed = []
    for row in rows:
        vid = row["village_id"]
        for key in keys:
            if (vid, key) in hidden:
                row[key] = None
                listed.append([vid, key])
        if ((vid, "finished") in hidden or (vid, "finished_on_time") in hidden) and "on_time_rate" in row:
            row["on_time_rate"] = None
        if (vid, "finished") in hidden and "median_working_days" in row:
            row["median_working_days"] = None
    return listed


# -------------------------------------------------------------------------------- events of the month

@dataclass
class _MonthEvents:
    """The month's events that figures count, by what they count for (read in one pass: _month_events)."""

    by_trigger: dict[tuple[str, str], int] = field(default_factory=dict)  # (workflow, trigger) → events
    accepted: dict[tuple[str, int], set[int]] = field(default_factory=dict)  # (workflow, village) → cases
    reasons: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (workflow, reason) → refusals
    by_scheme: dict[tuple[int, str], int] = field(default_factory=dict)  # (scheme, subsidy step) → events
    decided: int = 0
    decided_fen: int = 0

    def count(self, workflow: str, triggers: Iterable[str]) -> int:
        return sum(self.by_trigger.get((workflow, t), 0) for t in triggers)


def _month_events(workflows: list[Workflow], village_ids: list[int], period: MonthBounds) -> _MonthEvents:
    """Every event of the month that a figure counts — acceptances, supplement requests, refusals (with
    their reason), appeals, the subsidy approvals and enrolments (with the enrolment's scheme) and the fee
    decisions (with their amount) — of the township's cases, in one pass over the month's events of those
    steps (index on (trigger, at)) rather than one per figure."""
    name_subsidy, name_fee = subsidy_wf.WORKFLOW.name, fee_wf.WORKFLOW.name
    accepting = {wf.name: set(_accept_triggers(wf)) for wf in workflows}
    wanted: dict[str, set[str]] = {}
    for wf in workflows:
        spec = wf.report
        wanted[wf.name] = accepting[wf.name] | set(
            spec.supplement_triggers + spec.refusal_triggers + spec.appeal_triggers)
    wanted.setdefault(name_subsidy, set()).update((SUBSIDY_APPROVE, SUBSIDY_ENROL))
    wanted.setdefault(name_fee, set()).add(FEE_DECIDE)
    reasons = [(wf.name, wf.report.refusal_triggers, wf.report.refusal_reason_field) for wf in workflows
               if wf.report.refusal_triggers and wf.report.refusal_reason_field is not None]
    reason = sa.case(*((sa.and_(Case.workflow == name, CaseEvent.trigger.in_(triggers)),
                        CaseEvent.data[field_name].as_string()) for name, triggers, field_name in reasons),
                     else_=sa.null()) if reasons else sa.null()
    amount = sa.case((sa.and_(Case.workflow == name_fee, CaseEvent.trigger == FEE_DECIDE),
                      CaseEvent.data["decided_amount"].as_integer()), else_=sa.null())
    triggers = sorted(set().union(*wanted.values()))
    found = _MonthEvents()
    for name, vid, case_id, trigger, why, fen, scheme_id in db.session.execute(
            sa.select(Case.workflow, Case.jurisdiction_id, CaseEvent.case_id, CaseEvent.trigger, reason, amount,
                      SubsidyEnrolment.scheme_id)
            .select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
            .outerjoin(SubsidyEnrolment, SubsidyEnrolment.case_id == Case.id)
            .where(CaseEvent.trigger.in_(triggers), _in_month(CaseEvent.at, period),
                   Case.jurisdiction_id.in_(village_ids),
                   sa.or_(*(sa.and_(Case.workflow == n, CaseEvent.trigger.in_(sorted(t)))
                            for n, t in wanted.items())))):
        key = (name, trigger)
        found.by_trigger[key] = found.by_trigger.get(key, 0) + 1
        if trigger in accepting.get(name, ()):
            found.accepted.setdefault((name, vid), set()).add(case_id)
        if any(name == n and trigger in t for n, t, _f in reasons):
            found.reasons[(name, why)] = found.reasons.get((name, why), 0) + 1
        if name == name_subsidy and trigger in (SUBSIDY_APPROVE, SUBSIDY_ENROL) and scheme_id is not None:
            found.by_scheme[(scheme_id, trigger)] = found.by_scheme.get((scheme_id, trigger), 0) + 1
        if name == name_fee and trigger == FEE_DECIDE:
            found.decided += 1
            found.decided_fen += int(fen or 0)
    return found


def _refusals(wf: Workflow, events: _MonthEvents) -> list[dict[str, Any]]:
    spec = wf.report
    if not spec.refusal_triggers:
        return []
    steps = [s for s in wf.steps if s.trigger in spec.refusal_triggers]
    if spec.refusal_reason_field is None:
        # One entry per refusal step (by trigger), labelled as the step.
        entries = []
        for trigger in dict.fromkeys(s.trigger for s in steps):
            count = events.by_trigger.get((wf.name, trigger), 0)
            if count:
                label = next(s.label for s in steps if s.trigger == trigger)
                entries.append({"reason": trigger, "label": _label(label), "count": count})
        return entries
    field = next(f for s in steps for f in s.fields if f.name == spec.refusal_reason_field)
    counted = {reason: n for (name, reason), n in events.reasons.items() if name == wf.name}
    order = [key for key, _ in field.choices]
    entries = []
    for reason in sorted(counted, key=lambda r: (order.index(r) if r in order else len(order), str(r))):
        label = field.choice_label(reason) if reason is not None else None
        if label is None:  # a value no longer offered, or none recorded: show it as it is
            label = Text(reason, reason) if reason is not None else steps[0].label
        entries.append({"reason": reason if reason is not None else steps[0].trigger, "label": _label(label),
                        "count": counted[reason]})
    return entries


def _workflow_section(wf: Workflow, village_ids: list[int], tallies: dict[int, _Tally],
                      events: _MonthEvents) -> dict[str, Any]:
    spec = wf.report
    by_village = [{"village_id": vid} | tallies[vid].row() for vid in village_ids]
    total = _Tally()
    for vid in village_ids:
        total.absorb(tallies[vid])
    suppressed = suppress_small_counts(by_village) if spec.suppress_small_counts else []
    return {
        "workflow": wf.name,
        "title": _label(wf.title),
        "suppress_small_counts": spec.suppress_small_counts,
        "total": total.row(),
        "by_village": by_village,
        "suppressed": suppressed,
        "supplement_requests": events.count(wf.name, spec.supplement_triggers),
        "refusals": _refusals(wf, events),
        "appeals": events.count(wf.name, spec.appeal_triggers),
    }


# ---------------------------------------------------------------------------------------------- subsidy

SUBSIDY_KEYS = ("applied", "approved", "enrolled", "paid_fen", "failed_payments")


def _subsidy_section(township: Jurisdiction, village_ids: list[int], period: MonthBounds,
                     events: _MonthEvents) -> dict[str, Any]:
    name = subsidy_wf.WORKFLOW.name
    figures: dict[int, dict[str, int]] = {}

    def add(scheme_id: int, key: str, n: Any) -> None:
        figures.setdefault(scheme_id, dict.fromkeys(SUBSIDY_KEYS, 0))[key] += int(n or 0)

    subsidy_cases = sa.and_(Case.workflow == name, Case.jurisdiction_id.in_(village_ids))
    for scheme_id, n in db.session.execute(
            sa.select(SubsidyEnrolment.scheme_id, sa.func.count())
            .join(Case, Case.id == SubsidyEnrolment.case_id)
            .where(subsidy_cases, _in_month(Case.opened_at, period))
            .group_by(SubsidyEnrolment.scheme_id)):
        add(scheme_id, "applied", n)
    steps = {SUBSIDY_APPROVE: "approved", SUBSIDY_ENROL: "enrolled"}
    for (scheme_id, trigger), n in events.by_scheme.items():
        add(scheme_id, steps[trigger], n)
    for scheme_id, status, n, fen in db.session.execute(
            sa.select(PaymentBatch.scheme_id, PaymentAttempt.status, sa.func.count(),
                      sa.func.sum(Payment.amount_fen))
            .join(Payment, Payment.id == PaymentAttempt.payment_id)
            .join(PaymentBatch, PaymentBatch.id == Payment.batch_id)
            .where(PaymentBatch.township_id == township.id, PaymentAttempt.status.in_(("paid", "failed")),
                   _in_month(PaymentAttempt.marked_at, period))
            .group_by(PaymentBatch.scheme_id, PaymentAttempt.status)):
        if status == "paid":
            add(scheme_id, "paid_fen", fen)
        else:
            add(scheme_id, "failed_payments", n)

    by_scheme = []
    total = dict.fromkeys(SUBSIDY_KEYS, 0)
    for scheme in db.session.scalars(sa.select(SubsidyScheme).order_by(SubsidyScheme.id)):
        values = figures.get(scheme.id, dict.fromkeys(SUBSIDY_KEYS, 0))
        if not scheme.active and not any(values.values()):
            continue
        label = {"zh": scheme.name, "en": scheme.name_en or scheme.name}
        by_scheme.append({"scheme": scheme.code, "label": label} | values)
        for key in SUBSIDY_KEYS:
            total[key] += values[key]
    return {"by_scheme": by_scheme, "total": total,
            "reconfirmation": _reconfirmation(village_ids, period)}


def _reconfirmation(village_ids: list[int], period: MonthBounds) -> dict[str, int]:
    """The year's 年审 rounds opened before the end, by their outcome as of the end (see the docstring)."""
    year = period.first_day.year
    opening = aliased(CaseEvent)
    after = aliased(CaseEvent)
    outcome = (
        sa.select(after.trigger)
        .where(after.case_id == opening.case_id, after.seq > opening.seq, after.at < period.end,
               after.from_state == RECONFIRMATION_STATE, after.to_state != RECONFIRMATION_STATE)
        .order_by(after.seq).limit(1)
        .correlate(opening).scalar_subquery()
    )
    rounds = (
        sa.select(outcome.label("outcome"))
        .select_from(opening).join(Case, Case.id == opening.case_id)
        .where(Case.workflow == subsidy_wf.WORKFLOW.name, Case.jurisdiction_id.in_(village_ids),
               opening.trigger == RECONFIRMATION_OPEN, opening.at >= _local_midnight(date(year, 1, 1)),
               opening.at < period.end, opening.data["year"].as_integer() == year)
        .subquery()
    )
    result = {"year": year, "opened": 0, "reconfirmed": 0, "suspended": 0, "exits": 0, "pending": 0}
    by_outcome = sa.select(rounds.c.outcome, sa.func.count()).group_by(rounds.c.outcome)
    for trigger, n in db.session.execute(by_outcome):
        result["opened"] += int(n)
        result[RECONFIRMATION_OUTCOMES.get(trigger, "pending")] += int(n)
    return result


# ------------------------------------------------------------------------------------------------- fees

def _fee_section(village_ids: list[int], period: MonthBounds, at_end: list[_AtEnd],
                 events: _MonthEvents) -> dict[str, int]:
    name = fee_wf.WORKFLOW.name
    fee_cases = sa.and_(Case.workflow == name, Case.jurisdiction_id.in_(village_ids))
    decided, decided_fen = events.decided, events.decided_fen
    collected_fen = db.session.scalar(
        sa.select(sa.func.sum(FeePayment.amount_fen))
        .join(Case, Case.id == FeePayment.case_id)
        .where(fee_cases, FeePayment.paid_on >= period.first_day, FeePayment.paid_on < period.next_first_day))

    # States at the end: cases still in theirs (SQL), and those that moved on since (from the trail).
    # Through (workflow, state): a few hundred cases. Left to itself SQLite walks every case of the villages
    # that entered its state before the end, by (jurisdiction_id, state_entered_at, …), and reads each one;
    # "jurisdiction_id + 0" keeps the village condition but not that index (the usual SQLite idiom).
    states: dict[int, str] = dict(db.session.execute(
        sa.select(Case.id, Case.state)
        .where(Case.workflow == name, (Case.jurisdiction_id + 0).in_(village_ids),
               Case.state_entered_at < period.end, Case.state.in_(FEE_OWING))).all())
    states |= {moved.case_id: moved.state for moved in at_end
               if moved.workflow == name and moved.state in FEE_OWING}
    under_appeal = sum(state == FEE_APPEAL_STATE for state in states.values())
    return {
        "decided": decided,
        "decided_fen": decided_fen,
        "collected_fen": int(collected_fen or 0),
        "outstanding_fen": _outstanding(sorted(states), period),
        "under_appeal": under_appeal,
    }


def _outstanding(case_ids: list[int], period: MonthBounds) -> int:
    """Σ max(0, principal in force at the end + late charge as of the last day − paid by that day)."""
    from caseflow.services.fees import appeal_days_of, late_charge

    total = 0
    for chunk in _chunks(case_ids, 500):
        principal: dict[int, int] = {}
        amount = sa.case((CaseEvent.trigger == FEE_CHANGE, CaseEvent.data["changed_amount"].as_integer()),
                         else_=CaseEvent.data["decided_amount"].as_integer())
        for case_id, fen in db.session.execute(
                sa.select(CaseEvent.case_id, amount)
                .where(CaseEvent.case_id.in_(chunk), CaseEvent.trigger.in_((FEE_DECIDE, FEE_CHANGE)),
                       CaseEvent.at < period.end)
                .order_by(CaseEvent.case_id, CaseEvent.seq)):
            if fen is not None:
                principal[case_id] = int(fen)  # the last one before the end wins
        paid = dict(db.session.execute(
            sa.select(FeePayment.case_id, sa.func.sum(FeePayment.amount_fen))
            .where(FeePayment.case_id.in_(chunk), FeePayment.paid_on <= period.last_day)
            .group_by(FeePayment.case_id)).all())
        # late_charge reads each case, its appeal periods, and its account's instalments and payments: read
        # here for the whole chunk, it finds them in the session (or is given them) instead of asking per case.
        cases = db.session.scalars(  # held: the session's map is weak; late_charge reads the state only
            sa.select(Case).options(load_only(Case.state)).where(Case.id.in_(chunk))).all()
        accounts = {a.case_id: a for a in db.session.scalars(
            sa.select(FeeAccount).where(FeeAccount.case_id.in_(chunk))
            .options(selectinload(FeeAccount.payments), selectinload(FeeAccount.instalments)))}
        appeals = appeal_days_of(chunk)
        for case_id in chunk:
            account = accounts.get(case_id)
            charge = (late_charge(account, period.last_day, appeal_days=appeals[case_id])
                      if account is not None else 0)
            total += max(0, principal.get(case_id, 0) + charge - int(paid.get(case_id) or 0))
        del cases
    return total


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]
