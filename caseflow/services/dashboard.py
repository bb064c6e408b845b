"""The supervisors' dashboard (统计看板): a township's cases at a glance, for a period of months.

Who and what: supervisors and auditors (active, with case access) see the villages they work in of one
township (a user holding several picks one). Every figure is counted on ``access.visible_cases`` of the
viewer, so a need-to-know case is counted only where the viewer may read it, and a case of a village they do
not hold never is. Figures are counts only: no case is named, so showing them is not a read of one.

The period is a run of whole calendar months in office local time (Asia/Shanghai), at most ``MAX_MONTHS``,
by default the 12 months ending with the current one (which then counts up to now). Months use the report's
bounds (``report_figures.month_bounds``); "in the period" means ``start <= instant < end``.

Open cases by light (now)
    cases not closed (``Case.closed_at IS NULL``) by workflow and by the light of their legal deadline at
    this instant (``LightBounds``: red — the deadline has passed; yellow — it runs out by the end of the
    next working day; green — later; none — no running deadline: the clock is stopped, or the state has
    none). The same definitions as the team queue's light filter, to which each number links.

On-time rate by workflow and village (the period)
    finished = cases closed in the period; on time = those with no step taken after its legal deadline
    (``Case.late_steps == 0``); rate = on time / finished — the monthly report's definitions over a longer
    period. For workflows whose report hides small counts (birth registration, procedure certificate) the
    village cells follow the report's rule (``report_figures.suppress_small_counts``: 0 < n < 5 shown as
    "<5", plus the complementary cell; the rate of a village with a hidden count is withheld). Totals are
    never hidden.

Trend (each month of the period)
    received = cases opened in the month; finished = cases closed in the month, and of them finished late
    (``late_steps > 0``); overdue = cases open at the month's end whose legal deadline had passed then —
    the monthly report's ``red_at_end`` (state at the end rebuilt from the audit trail for cases that moved
    on since, see ``report_figures``). For the current month "the end" is now.

Ratings (the period)
    ``ratings.rating_figures`` of the township for the period, counting only cases the viewer may read.

Why late, per workflow (the period)
    the late cases: those finished in the period with a step past its deadline (``late_steps > 0``) and,
    when the period runs to the current month, those open now past their deadline. At most
    ``LATE_SAMPLE`` of each kind are examined (the most recently finished; the longest overdue), and the
    page says how many of how many. For each, ``case_history.spans_of`` rebuilds its stays in each state;
    per state (closed states left out): how many of the cases were in it, the mean time they spent there
    (calendar time, and the median in working days), how many stays ran past the state's deadline, that
    number's share of all such stays of the workflow (the "share of lateness"), and the mean time past the
    deadline. Also the mean clock-stopped time per case. The bottleneck is the state with the most stays
    past their deadline (then the most time past it).

Scale (benchmark: ``python -m bench.report``): counts are GROUP BY (workflow, village) or (workflow, month)
in SQL, restricted by indexed instants (``opened_at``, ``closed_at``, ``due_at``) or to open cases, mostly
from the indexes alone (migrations f4c8e2a6b1d9, a3c7e9b2d4f6); the month of an instant is a CASE over the month bounds, so
both SQLite and PostgreSQL group it without date functions. The period's closed cases are read once for
the on-time table and the trend. Overdue at each month's end: cases still in the state they were in are
counted for all months in one query; those that moved on since are rebuilt from the audit trail
(``report_figures.red_moved_at_ends``: one probe of a case's events per stay, not per month, and a deadline
comparison per case). Python also handles the capped sample of late cases.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, CaseEvent, Jurisdiction, User
from caseflow.services import access
from caseflow.services.case_history import WorkingDayCounter, spans_of
from caseflow.services.deadlines import LIGHTS, DeadlinePolicy, LightBounds, load_policy
from caseflow.services.ratings import rating_figures
from caseflow.services.report_figures import (
    MonthBounds, in_period, median_value, month_bounds, parse_month, red_moved_at_ends, sum_of, suppress_small_counts,
)
from caseflow.workflows import UnknownWorkflow, all_workflows, latest
from caseflow.workflows.definition import Text, Workflow

DASHBOARD_ROLES = frozenset({"supervisor", "auditor"})
DEFAULT_MONTHS = 12
MAX_MONTHS = 24
# Late cases examined per workflow and kind (finished late; open past the deadline).
LATE_SAMPLE = 250
ON_TIME_KEYS = ("finished", "finished_on_time")
TREND_KEYS = ("received", "finished", "finished_late", "overdue")

MONTH_NOT_BEGUN = Text("{month} 尚未开始。", "{month} has not begun yet.")
MONTHS_REVERSED = Text("起始月份晚于截止月份。", "The first month is after the last one.")
TOO_MANY_MONTHS = Text("最多可选 {n} 个月。", "Choose at most {n} months.")
UNKNOWN_WORKFLOW = Text("没有这类事项。", "No such kind of matter.")
NO_SUCH_TOWNSHIP = Text("您的辖区中没有这个乡镇。", "No such township in your jurisdictions.")


def may_see_dashboard(user: User) -> bool:
    """Supervisors and auditors who may read cases."""
    return access.can_read_cases(user) and user.has_role(*DASHBOARD_ROLES)


def dashboard_townships(user: User) -> list[Jurisdiction]:
    """The townships with at least one village ``user`` works in, by code."""
    ids = access.jurisdiction_ids(user)
    if not ids:
        return []
    parents = sa.select(Jurisdiction.parent_id).where(Jurisdiction.id.in_(ids), Jurisdiction.kind == "village")
    return list(db.session.scalars(sa.select(Jurisdiction).where(
        Jurisdiction.kind == "township", Jurisdiction.id.in_(parents)).order_by(Jurisdiction.code)))


def township_villages(user: User, township: Jurisdiction) -> list[Jurisdiction]:
    """The villages of ``township`` that ``user`` works in, by code."""
    return list(db.session.scalars(sa.select(Jurisdiction).where(
        Jurisdiction.parent_id == township.id, Jurisdiction.kind == "village",
        Jurisdiction.id.in_(access.jurisdiction_ids(user))).order_by(Jurisdiction.code)))


# ------------------------------------------------------------------------------------------- periods

def _month_text(year: int, number: int) -> str:
    return f"{year:04d}-{number:02d}"


def shift_month(month: str, by: int) -> str:
    """ "2026-03" moved by ``by`` months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + by
    return _month_text(index // 12, index % 12 + 1)


def current_month(now: datetime) -> str:
    day = local_date(now)
    return _month_text(day.year, day.month)


@dataclass(frozen=True)
class Period:
    """Whole months, first to last (office local time)."""

    months: tuple[MonthBounds, ...]

    @property
    def first(self) -> str:
        return self.months[0].month

    @property
    def last(self) -> str:
        return self.months[-1].month

    @property
    def start(self) -> datetime:
        return self.months[0].start

    @property
    def end(self) -> datetime:
        return self.months[-1].end


def period_of(first: str, last: str) -> Period:
    """The months from ``first`` to ``last`` ("YYYY-MM", both included)."""
    months, month = [], first
    while month <= last:
        months.append(month_bounds(month))
        month = shift_month(month, 1)
    return Period(tuple(months))


def default_period(now: datetime) -> Period:
    """The 12 months ending with the current one."""
    last = current_month(now)
    return period_of(shift_month(last, 1 - DEFAULT_MONTHS), last)


def parse_period(first: str | None, last: str | None, now: datetime) -> tuple[Period, dict[str, Text]]:
    """The period asked for by "from" and "to" months; a month left empty takes the default period's. A
    value that is not valid gets a message under its name ("from" or "to") and the default period is
    used."""
    default = default_period(now)
    errors: dict[str, Text] = {}
    chosen: dict[str, str] = {}
    this_month = current_month(now)
    for name, value, fallback in (("from", first, default.first), ("to", last, default.last)):
        text = (value or "").strip()
        if not text:
            chosen[name] = fallback
            continue
        try:
            month = parse_month(text)
        except ValueError as bad:
            errors[name] = bad.args[0]
            continue
        if month > this_month:
            errors[name] = MONTH_NOT_BEGUN.format(month=month)
        else:
            chosen[name] = month
    if errors:
        return default, errors
    if chosen["from"] > chosen["to"]:
        return default, {"to": MONTHS_REVERSED}
    if len(period_of(chosen["from"], chosen["to"]).months) > MAX_MONTHS:
        return default, {"from": TOO_MANY_MONTHS.format(n=MAX_MONTHS)}
    return period_of(chosen["from"], chosen["to"]), {}


# ------------------------------------------------------------------------------------------- figures

@dataclass(frozen=True)
class OnTimeTable:
    """One workflow's finished and on-time cases by village (suppressed where the workflow asks) and in
    total."""

    workflow: Workflow
    rows: list[dict[str, Any]]  # {"village_id", "finished", "finished_on_time", "on_time_rate"}; None: hidden
    total: dict[str, Any]
    suppressed: list[list[Any]]


@dataclass(frozen=True)
class TrendMonth:
    month: MonthBounds
    counted_at: datetime  # the instant "overdue" was counted at: the month's end, or now
    by_workflow: dict[str, dict[str, int]]

    @property
    def partial(self) -> bool:
        return self.counted_at < self.month.end

    def figures(self, workflow: str | None = None) -> dict[str, int]:
        """The month's TREND_KEYS for one workflow, or summed over all."""
        rows = [self.by_workflow.get(workflow, {})] if workflow else list(self.by_workflow.values())
        return {key: sum(row.get(key, 0) for row in rows) for key in TREND_KEYS}


@dataclass(frozen=True)
class StateLateness:
    state: str
    label: Text
    clock_stopped: bool
    cases: int  # sampled cases that were in the state
    mean_seconds: float
    median_working_days: int | float | None
    late: int  # stays past the state's deadline
    share: float | None  # of all such stays of the workflow
    mean_overrun_seconds: float | None


@dataclass(frozen=True)
class WorkflowLateness:
    workflow: Workflow
    finished_late: int  # in the period, all of them
    open_late: int  # now (0 when the period has ended)
    examined_finished: int
    examined_open: int
    states: list[StateLateness]
    mean_stopped_seconds: float | None
    late_stays: int
    bottleneck: str | None

    @property
    def examined(self) -> int:
        return self.examined_finished + self.examined_open

    @property
    def capped(self) -> bool:
        return self.examined < self.finished_late + self.open_late


@dataclass
class Dashboard:
    township: Jurisdiction
    villages: list[Jurisdiction]
    period: Period
    now: datetime
    workflows: list[Workflow]
    lights: dict[str, dict[str, int]]
    on_time: list[OnTimeTable]
    trend: list[TrendMonth]
    ratings: dict[str, Any]
    lateness: list[WorkflowLateness] = field(default_factory=list)


def _scoped(user: User, village_ids: list[int]) -> sa.Select:
    """The viewer's visible cases in the chosen villages: the base of every query here."""
    return access.visible_cases(user).where(Case.jurisdiction_id.in_(village_ids))


def open_by_light(user: User, village_ids: list[int], bounds: LightBounds) -> dict[str, dict[str, int]]:
    """Open cases by workflow: {"green", "yellow", "red", "none", "total"} at ``bounds``."""
    found: dict[str, dict[str, int]] = {}
    for name, total, *lit in db.session.execute(
            _scoped(user, village_ids)
            .with_only_columns(Case.workflow, sa.func.count(), *(sum_of(bounds.where(light)) for light in LIGHTS))
            .where(Case.closed_at.is_(None))
            .group_by(Case.workflow)):
        found[name] = {light: int(n or 0) for light, n in zip(LIGHTS, lit)} | {"total": int(total)}
    return found


ClosedCounts = list[tuple[str, int, int, int, int, int]]


def closed_in_period(user: User, village_ids: list[int], period: Period) -> ClosedCounts:
    """The cases closed in the period, by workflow, village and month (index in the period): (workflow,
    village, month, finished, finished on time, finished late). One pass for the on-time table and the
    trend."""
    # The month's index is computed in a subquery and grouped outside it: PostgreSQL does not see two
    # renderings of one CASE with bound parameters as the same grouping expression.
    closed = (_scoped(user, village_ids)
              .with_only_columns(Case.workflow.label("workflow"), Case.jurisdiction_id.label("village"),
                                 _month_index(Case.closed_at, period).label("m"),
                                 Case.late_steps.label("late_steps"))
              .where(in_period(Case.closed_at, period.start, period.end)).subquery())
    return [(name, int(vid), int(index), int(n), int(on_time or 0), int(late or 0))
            for name, vid, index, n, on_time, late in db.session.execute(
                sa.select(closed.c.workflow, closed.c.village, closed.c.m, sa.func.count(),
                          sum_of(closed.c.late_steps == 0), sum_of(closed.c.late_steps > 0))
                .group_by(closed.c.workflow, closed.c.village, closed.c.m))]


def on_time_by_village(user: User, villages: list[Jurisdiction], workflows: list[Workflow],
                       period: Period, closed: ClosedCounts | None = None) -> list[OnTimeTable]:
    """Finished and finished-on-time cases of the period, by workflow and village (``closed``: the
    period's ``closed_in_period`` when already read)."""
    village_ids = [v.id for v in villages]
    if closed is None:
        closed = closed_in_period(user, village_ids, period)
    counts: dict[tuple[str, int], tuple[int, int]] = {}
    for name, vid, _month, finished, on_time, _late in closed:
        before = counts.get((name, vid), (0, 0))
        counts[(name, vid)] = (before[0] + finished, before[1] + on_time)
    tables = []
    for wf in workflows:
        rows = []
        for vid in village_ids:
            finished, on_time = counts.get((wf.name, vid), (0, 0))
            rows.append({"village_id": vid, "finished": finished, "finished_on_time": on_time,
                         "on_time_rate": _rate(on_time, finished)})
        finished = sum(r["finished"] for r in rows)
        on_time = sum(r["finished_on_time"] for r in rows)
        total = {"finished": finished, "finished_on_time": on_time, "on_time_rate": _rate(on_time, finished)}
        suppressed = suppress_small_counts(rows, ON_TIME_KEYS) if wf.report.suppress_small_counts else []
        tables.append(OnTimeTable(wf, rows, total, suppressed))
    return tables


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _month_index(column: Any, period: Period) -> sa.ColumnElement[int]:
    """Which month of the period an instant (already known to be in the period) falls in: 0, 1, …"""
    if len(period.months) == 1:
        return sa.literal(0)
    return sa.case(*((column < month.end, index) for index, month in enumerate(period.months[:-1])),
                   else_=len(period.months) - 1)


def monthly_trend(user: User, village_ids: list[int], period: Period, policy: DeadlinePolicy,
                  now: datetime, closed: ClosedCounts | None = None) -> list[TrendMonth]:
    """Received, finished (and finished late) and overdue at the month's end, per month and workflow
    (``closed``: the period's ``closed_in_period`` when already read)."""
    by_month: list[dict[str, dict[str, int]]] = [{} for _ in period.months]

    def add(index: int, name: str, key: str, n: Any) -> None:
        row = by_month[index].setdefault(name, dict.fromkeys(TREND_KEYS, 0))
        row[key] += int(n or 0)

    # The month's index is computed in a subquery and grouped outside it: PostgreSQL does not see two
    # renderings of one CASE with bound parameters as the same grouping expression.
    opened = (_scoped(user, village_ids)
              .with_only_columns(Case.workflow.label("workflow"), _month_index(Case.opened_at, period).label("m"))
              .where(in_period(Case.opened_at, period.start, period.end)).subquery())
    for name, index, n in db.session.execute(
            sa.select(opened.c.workflow, opened.c.m, sa.func.count()).group_by(opened.c.workflow, opened.c.m)):
        add(int(index), name, "received", n)
    if closed is None:
        closed = closed_in_period(user, village_ids, period)
    for name, _vid, index, n, _on_time, late in closed:
        add(index, name, "finished", n)
        add(index, name, "finished_late", late)

    ends = [min(month.end, now) for month in period.months]
    for index, name, n in overdue_at_ends(user, village_ids, ends, policy):
        add(index, name, "overdue", n)
    return [TrendMonth(month, at, by_month[index]) for index, (month, at) in enumerate(zip(period.months, ends))]


def overdue_at_ends(user: User, village_ids: list[int], ends: list[datetime],
                    policy: DeadlinePolicy) -> list[tuple[int, str, int]]:
    """(index of the instant, workflow, how many) of the cases open at each of ``ends`` (ascending) whose
    legal deadline had passed then: the report's ``red_at_end`` at each instant (``report_figures.open_at_end``
    and ``states_at_end``), counted on what ``user`` may see.

    Cases still in the state they were in at an instant are counted for every instant in one grouped query:
    such a case is overdue at ``end`` exactly when it was opened, entered its state and passed its deadline
    before ``end``, so from the first instant that holds onwards. Cases that have moved on since are rebuilt
    from the audit trail, one instant at a time.
    """
    scope = access.visible_cases(user).whereclause
    found: dict[tuple[int, str], int] = {}
    if not ends:
        return []
    # The first instant at which the case counts; grouped in an outer query (see _month_index on why).
    first = sa.case(*((sa.and_(Case.opened_at < end, Case.state_entered_at < end, Case.due_at < end), index)
                      for index, end in enumerate(ends)), else_=None)
    still = (sa.select(Case.workflow.label("workflow"), first.label("first"))
             .where(Case.jurisdiction_id.in_(village_ids), Case.closed_at.is_(None), Case.due_at < ends[-1], scope)
             .subquery())
    counted = [0] * len(ends)
    by_first: dict[str, list[int]] = {}
    for name, index, n in db.session.execute(
            sa.select(still.c.workflow, still.c.first, sa.func.count())
            .where(still.c.first.is_not(None)).group_by(still.c.workflow, still.c.first)):
        by_first.setdefault(name, list(counted))[int(index)] += int(n)
    for name, firsts in by_first.items():
        running = 0
        for index, n in enumerate(firsts):
            running += n
            found[(index, name)] = running
    for key, n in red_moved_at_ends(village_ids, ends, policy, scope).items():
        found[key] = found.get(key, 0) + n
    return [(index, name, n) for (index, name), n in sorted(found.items())]


LateSample = tuple[int, int, list[int], list[int]]


def late_samples(user: User, village_ids: list[int], workflows: list[Workflow], period: Period,
                 now: datetime) -> dict[str, LateSample]:
    """Per workflow: (finished late in the period, open past the deadline now, and the ids examined of
    each: the ``LATE_SAMPLE`` most recently finished, the ``LATE_SAMPLE`` longest overdue). One query per
    kind for every workflow: each case is ranked within its workflow and counted with it."""
    found: dict[str, LateSample] = {wf.name: (0, 0, [], []) for wf in workflows}
    base = _scoped(user, village_ids).where(Case.workflow.in_(list(found)))

    def ranked(query: sa.Select, order: tuple[Any, ...]) -> dict[str, tuple[int, list[int]]]:
        sample = LATE_SAMPLE  # read at call time (a test lowers it)
        rows = query.with_only_columns(
            Case.workflow.label("workflow"), Case.id.label("id"),
            sa.func.row_number().over(partition_by=Case.workflow, order_by=order).label("rank"),
            sa.func.count().over(partition_by=Case.workflow).label("total")).subquery()
        result: dict[str, tuple[int, list[int]]] = {}
        for name, case_id, total in db.session.execute(
                sa.select(rows.c.workflow, rows.c.id, rows.c.total).where(rows.c.rank <= sample)
                .order_by(rows.c.workflow, rows.c.rank)):
            result.setdefault(name, (int(total), []))[1].append(case_id)
        return result

    finished = ranked(base.where(in_period(Case.closed_at, period.start, period.end), Case.late_steps > 0),
                      (Case.closed_at.desc(), Case.id.desc()))
    open_late = {} if period.end <= now else ranked(
        base.where(Case.closed_at.is_(None), Case.due_at < now), (Case.due_at, Case.id))
    for name in found:
        finished_total, finished_ids = finished.get(name, (0, []))
        open_total, open_ids = open_late.get(name, (0, []))
        found[name] = (finished_total, open_total, finished_ids, open_ids)
    return found


def lateness_by_state(user: User, village_ids: list[int], wf: Workflow, period: Period, policy: DeadlinePolicy,
                      now: datetime, sample: LateSample | None = None) -> WorkflowLateness:
    """Where the late cases of ``wf`` spent their time and ran past their deadlines (module docstring).
    ``sample``: its ``late_samples`` entry when already read for every workflow."""
    if sample is None:
        sample = late_samples(user, village_ids, [wf], period, now)[wf.name]
    finished_total, open_total, finished_ids, open_ids = sample
    ids = finished_ids + open_ids
    cases = {row.id: row for row in db.session.execute(
        sa.select(Case.id, Case.workflow, Case.workflow_version, Case.state, Case.due_at)
        .where(Case.id.in_(ids)))} if ids else {}
    events: dict[int, list[Any]] = {case_id: [] for case_id in ids}
    for start in range(0, len(ids), 500):
        for row in db.session.execute(
                sa.select(CaseEvent.case_id, CaseEvent.at, CaseEvent.trigger, CaseEvent.from_state,
                          CaseEvent.to_state, CaseEvent.actor_id)
                .where(CaseEvent.case_id.in_(ids[start:start + 500]))
                .order_by(CaseEvent.case_id, CaseEvent.seq)):
            events[row.case_id].append(row)

    seconds: dict[str, list[float]] = {}
    days: dict[str, list[int]] = {}
    late: dict[str, list[tuple[float, int]]] = {}
    stopped: list[float] = []
    cache: dict[tuple[Any, ...], datetime | None] = {}
    counter = WorkingDayCounter(policy.calendar)
    # Its running totals over the whole span at once: extended case by case (the cases go back in time) they
    # would be rebuilt for nearly every case.
    earliest = min((rows[0].at for rows in events.values() if rows), default=None)
    if earliest is not None:
        counter.between(earliest, max(now, *(rows[-1].at for rows in events.values() if rows)))
    for case_id in ids:
        case = cases.get(case_id)
        if case is None:
            continue
        per_state_seconds: dict[str, float] = {}
        per_state_days: dict[str, int] = {}
        case_stopped = 0.0
        try:
            spans = spans_of(case, events[case_id], policy, now, cache, counter)
        except UnknownWorkflow:
            continue
        for span in spans:
            if span.closed:
                continue
            per_state_seconds[span.state] = per_state_seconds.get(span.state, 0.0) + span.seconds
            per_state_days[span.state] = per_state_days.get(span.state, 0) + span.working_days
            if span.clock_stopped:
                case_stopped += span.seconds
            if span.late:
                late.setdefault(span.state, []).append((span.overrun_seconds, span.overrun_working_days))
        for state, value in per_state_seconds.items():
            seconds.setdefault(state, []).append(value)
            days.setdefault(state, []).append(per_state_days[state])
        stopped.append(case_stopped)

    late_stays = sum(len(v) for v in late.values())
    states = []
    for state in wf.states:
        name = state.name
        if name not in seconds:
            continue
        overruns = late.get(name, [])
        states.append(StateLateness(
            state=name, label=wf.state_label(name), clock_stopped=name in wf.clock_stopped,
            cases=len(seconds[name]), mean_seconds=statistics.fmean(seconds[name]),
            median_working_days=median_value(days[name]), late=len(overruns),
            share=round(len(overruns) / late_stays, 4) if late_stays else None,
            mean_overrun_seconds=statistics.fmean(o for o, _d in overruns) if overruns else None,
        ))
    bottleneck = None
    if late_stays:
        bottleneck = max(late, key=lambda s: (len(late[s]), sum(o for o, _d in late[s])))
    return WorkflowLateness(
        workflow=wf, finished_late=finished_total, open_late=open_total, examined_finished=len(finished_ids),
        examined_open=len(open_ids), states=states,
        mean_stopped_seconds=statistics.fmean(stopped) if stopped else None, late_stays=late_stays,
        bottleneck=bottleneck)


def dashboard_figures(user: User, township: Jurisdiction, period: Period,
                      now: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard of ``township`` for ``period``, as ``user`` may see them (the module
    docstring defines each). A pure read."""
    now = now or utcnow()
    villages = township_villages(user, township)
    village_ids = [v.id for v in villages]
    workflows = all_workflows()
    policy = load_policy()
    with db.session.no_autoflush:
        samples = late_samples(user, village_ids, workflows, period, now)
        closed = closed_in_period(user, village_ids, period)
        return Dashboard(
            township=township, villages=villages, period=period, now=now, workflows=workflows,
            lights=open_by_light(user, village_ids, LightBounds.at(now, policy.calendar)),
            on_time=on_time_by_village(user, villages, workflows, period, closed),
            trend=monthly_trend(user, village_ids, period, policy, now, closed),
            ratings=rating_figures(township, period.start, period.end, viewer=user),
            lateness=[lateness_by_state(user, village_ids, wf, period, policy, now, samples[wf.name])
                      for wf in workflows],
        )


def workflow_named(name: str | None) -> Workflow | None:
    """The current version of the workflow ``name`` (None for none or an unknown name)."""
    if not name:
        return None
    try:
        return latest(name)
    except UnknownWorkflow:
        return None
