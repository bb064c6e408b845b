"""Why is this case late? Its path through its workflow, rebuilt from the audit trail.

A case's *spans* are the stretches it spent in one state: each starts with an event that entered a state
(the opening, ``submit``, or a workflow step — a step back into the same state starts a new span, as it
restarts the deadline) and ends with the next such event, or runs on (the state the case is in now).
Assignments, attachments, payments and purges do not move a case and start no span.

For each span:

time in the state
    calendar time from entering to leaving (or to now), and the office's working days in it
    (``OfficeCalendar.working_days_between``: working days after the local entry date up to and including
    the local leaving date).
clock stopped
    the state pauses the office's deadline (``Workflow.clock_stopped``: waiting for the applicant's
    documents, a public-notice period); such a span, and a closed state, has no deadline.
deadline
    the legal limit of the state counted from entering it, recomputed with the deadline policy in force
    now (``load_policy().rule(workflow, state).limit.after(entered_at, calendar)``) — except for the span
    the case is still in, whose deadline is the one on the case (``Case.due_at``). As in the monthly report
    this is an approximation for past spans: a deadline rule or calendar override changed since, and the
    育儿补贴 30-working-day overall limit, are not replayed.
late
    left (or, for the span still running, now) after that deadline; by how long (calendar time) and by
    how many working days (working days after the deadline's last day up to the leaving day). ``Case.
    late_steps`` counts the same thing as the steps were taken, against the deadline then in force; the
    page shows both.
held by
    who was assigned the case meanwhile. The holder is rebuilt from the trail: nobody when it is opened
    (except a need-to-know case, which its opener holds from the start), the clerk or supervisor who
    accepted it when it was unassigned (the step that issues the receipt; ``apply_transition`` assigns it
    to them without an assignment event), and each assignment event's "to". An assignment's "from", and
    the case's assignee now, say who really held it before: where they disagree with the inference, they
    win.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ, OfficeCalendar, local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, CaseEvent, User
from caseflow.services import access
from caseflow.services.deadlines import DeadlinePolicy, load_policy
from caseflow.workflows import get as get_workflow
from caseflow.workflows.definition import Workflow

OPENING_TRIGGER = "submit"
ASSIGN_TRIGGER = "assign"


class EventLike(Protocol):
    """What the history reads of an event: a ``CaseEvent`` or a row of its columns."""

    at: datetime
    trigger: str
    from_state: str | None
    to_state: str
    actor_id: int | None


class CaseLike(Protocol):
    """What the history reads of a case: a ``Case`` or a row of these columns."""

    workflow: str
    workflow_version: int
    state: str
    due_at: datetime | None


@dataclass(frozen=True)
class Holding:
    """Someone (a username; None: nobody, the unassigned pool) holding the case from ``start`` to ``end``
    (None: still)."""

    username: str | None
    start: datetime
    end: datetime | None

    def overlap(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) during which this holding ran (``end`` of a running one: now)."""
        until = min(self.end, end) if self.end is not None else end
        return max((until - max(self.start, start)).total_seconds(), 0.0)


@dataclass(frozen=True)
class Span:
    """One stay of the case in one state (see the module docstring)."""

    index: int
    state: str
    entered_at: datetime
    entered_by: str  # the trigger of the event that entered the state
    entered_actor_id: int | None
    left_at: datetime | None  # None: the case is still in this state
    left_by: str | None
    seconds: float
    working_days: int
    clock_stopped: bool
    closed: bool
    due_at: datetime | None
    late: bool
    overrun_seconds: float
    overrun_working_days: int
    holders: tuple[tuple[str | None, float], ...] = ()  # (username, seconds held during the span)

    @property
    def running(self) -> bool:
        return self.left_at is None

    @property
    def counts_against_office(self) -> bool:
        """Time the office is answerable for: an open state whose clock runs."""
        return not (self.clock_stopped or self.closed)


@dataclass
class CaseHistory:
    """A case's spans and holders, as of ``now``."""

    case: Any
    workflow: Workflow
    spans: list[Span]
    holdings: list[Holding]
    now: datetime
    names: dict[str, str] = field(default_factory=dict)  # username → display name
    actors: dict[int, str] = field(default_factory=dict)  # user id → display name

    @property
    def stopped_seconds(self) -> float:
        return sum(s.seconds for s in self.spans if s.clock_stopped)

    @property
    def late_spans(self) -> list[Span]:
        return [s for s in self.spans if s.late]

    @property
    def total_seconds(self) -> float:
        """From the opening to the closing (or to now)."""
        if not self.spans:
            return 0.0
        end = self.case.closed_at or self.now
        return (end - self.spans[0].entered_at).total_seconds()

    def name(self, username: str | None) -> str | None:
        return None if username is None else self.names.get(username, username)


class WorkingDayCounter:
    """``OfficeCalendar.working_days_between`` for many spans at once: each local day's status is looked up
    once and counts come from running totals, so a span of years costs two look-ups rather than a walk over
    its days (the dashboard examines cases open for years)."""

    def __init__(self, calendar: OfficeCalendar):
        self.calendar = calendar
        self.first: date | None = None
        self.last: date | None = None
        self.totals: list[int] = []  # totals[i]: working days after ``first`` up to first + i days

    def _cover(self, low: date, high: date) -> None:
        if self.first is not None and self.last is not None and self.first <= low and high <= self.last:
            return
        first = low if self.first is None else min(low, self.first)
        last = high if self.last is None else max(high, self.last)
        totals, running, day = [0], 0, first
        while day < last:
            day += timedelta(days=1)
            running += self.calendar.is_working_day(day)
            totals.append(running)
        self.first, self.last, self.totals = first, last, totals

    def between(self, start: datetime, end: datetime) -> int:
        """Working days after ``start``'s local date up to and including ``end``'s (0 on the same day)."""
        low, high = local_date(start), local_date(end)
        if high <= low:
            return 0
        self._cover(low, high)
        assert self.first is not None
        return self.totals[(high - self.first).days] - self.totals[(low - self.first).days]


def entering_events(workflow: Workflow, events: Iterable[EventLike]) -> list[EventLike]:
    """The events that entered a state: the opening and every workflow step, in order."""
    return [e for e in events
            if e.trigger == OPENING_TRIGGER
            or (e.from_state is not None and workflow.step_for(e.trigger, e.from_state) is not None)]


def _deadline(workflow: Workflow, state: str, entered_at: datetime, policy: DeadlinePolicy,
              cache: dict[tuple[Any, ...], datetime | None]) -> datetime | None:
    """The legal deadline of ``state`` entered at ``entered_at`` under ``policy`` (None: no deadline)."""
    if state in workflow.closed or state in workflow.clock_stopped:
        return None
    rule = policy.rule(workflow, state)
    if rule is None:
        return None
    # A deadline in days depends on the local day only: compute each (state, day) once.
    day = entered_at if rule.limit.unit == "hours" else entered_at.astimezone(LOCAL_TZ).date()
    key = (workflow.name, workflow.version, state, day)
    if key not in cache:
        cache[key] = rule.limit.after(entered_at, policy.calendar).at
    return cache[key]


def spans_of(case: CaseLike, events: Sequence[EventLike], policy: DeadlinePolicy, now: datetime,
             cache: dict[tuple[Any, ...], datetime | None] | None = None,
             counter: WorkingDayCounter | None = None) -> list[Span]:
    """The spans of ``case`` from its ``events`` (in ``seq`` order), as of ``now``. ``cache`` (computed
    deadlines) and ``counter`` (working days) are kept across calls when this runs over many cases."""
    workflow = get_workflow(case.workflow, case.workflow_version)
    cache = {} if cache is None else cache
    counter = counter or WorkingDayCounter(policy.calendar)
    entries = entering_events(workflow, events)
    spans = []
    for index, event in enumerate(entries):
        following = entries[index + 1] if index + 1 < len(entries) else None
        left_at = following.at if following is not None else None
        end = left_at or now
        state = event.to_state
        if following is None and state == case.state and state not in workflow.closed:
            due = case.due_at  # the deadline in force on the case now
        else:
            due = _deadline(workflow, state, event.at, policy, cache)
        late = due is not None and end > due
        spans.append(Span(
            index=index + 1, state=state, entered_at=event.at, entered_by=event.trigger,
            entered_actor_id=event.actor_id, left_at=left_at, left_by=following.trigger if following else None,
            seconds=max((end - event.at).total_seconds(), 0.0),
            working_days=counter.between(event.at, end),
            clock_stopped=state in workflow.clock_stopped, closed=state in workflow.closed, due_at=due,
            late=late, overrun_seconds=(end - due).total_seconds() if late else 0.0,
            # Working days after the deadline's last day: a deadline at 24:00 is the next local midnight.
            overrun_working_days=counter.between(due - timedelta(microseconds=1), end) if late else 0,
        ))
    return spans


def holdings_of(workflow: Workflow, events: Sequence[Any], actors: Mapping[int, tuple[str, bool]],
                assignee_now: str | None, now: datetime) -> list[Holding]:
    """Who held the case when, from its ``events`` (with their ``data``); ``actors`` maps an actor's user id
    to (username, whether they handle cases), ``assignee_now`` is the case's assignee's username."""
    periods: list[list[Any]] = []  # [username, start]

    def hold(username: str | None, at: datetime) -> None:
        if not periods or periods[-1][0] != username:
            periods.append([username, at])

    for event in events:
        actor = actors.get(event.actor_id) if event.actor_id is not None else None
        if event.trigger == OPENING_TRIGGER:
            hold(actor[0] if workflow.need_to_know and actor else None, event.at)
        elif event.trigger == ASSIGN_TRIGGER:
            data = event.data or {}
            if periods and periods[-1][0] != data.get("from"):
                periods[-1][0] = data.get("from")  # the trail's own word on who held it wins
            hold(data.get("to"), event.at)
        elif event.from_state is not None and periods and periods[-1][0] is None:
            step = workflow.step_for(event.trigger, event.from_state)
            if step is not None and step.issues_receipt and actor is not None and actor[1]:
                hold(actor[0], event.at)
    if periods and periods[-1][0] != assignee_now:
        periods[-1][0] = assignee_now
    merged: list[list[Any]] = []
    for username, start in periods:
        if not merged or merged[-1][0] != username:
            merged.append([username, start])
    return [Holding(username, start, merged[i + 1][1] if i + 1 < len(merged) else None)
            for i, (username, start) in enumerate(merged)]


def _with_holders(span: Span, holdings: list[Holding], now: datetime) -> Span:
    end = span.left_at or now
    if end > span.entered_at:
        held = tuple((h.username, h.overlap(span.entered_at, end)) for h in holdings
                     if h.overlap(span.entered_at, end) > 0)
    else:  # a state left the moment it was entered: whoever held the case then
        held = tuple((h.username, 0.0) for h in holdings
                     if h.start <= span.entered_at and (h.end is None or h.end > span.entered_at))
    return replace(span, holders=held)


def case_history(case: Case, now: datetime | None = None) -> CaseHistory:
    """The history of ``case`` as of ``now``: its spans, each with who held it, and the holders. The
    caller has checked that the reader may read the case (and logs the read of a need-to-know one)."""
    now = now or utcnow()
    workflow = get_workflow(case.workflow, case.workflow_version)
    events = list(db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.seq)))
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    usernames = {(e.data or {}).get(key) for e in events if e.trigger == ASSIGN_TRIGGER for key in ("from", "to")}
    if case.assignee is not None:
        usernames.add(case.assignee.username)
    users = list(db.session.scalars(sa.select(User).where(
        sa.or_(User.id.in_(actor_ids), User.username.in_({u for u in usernames if u})))))
    actors = {u.id: (u.username, u.has_role(*access.HANDLER_ROLES)) for u in users if u.id in actor_ids}
    holdings = holdings_of(workflow, events, actors, case.assignee.username if case.assignee else None, now)
    spans = [_with_holders(span, holdings, now) for span in spans_of(case, events, load_policy(), now)]
    return CaseHistory(case, workflow, spans, holdings, now, names={u.username: u.display_name for u in users},
                       actors={u.id: u.display_name for u in users})
