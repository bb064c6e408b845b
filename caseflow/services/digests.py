"""The daily reminder email (每日提醒): one email per user who has something to act on.

At 08:30 on each working day of the office calendar the scheduler composes, for every active clerk and
supervisor with an email address who has not turned it off on their profile:

- *overdue*: open cases assigned to them whose legal deadline has passed;
- *due today*: their cases whose deadline falls before the end of today;
- *due soon*: their cases due after today and at most 2 working days from now;
- *new unassigned*: cases nobody has taken yet, in their jurisdiction, opened since the previous working
  day's digest (Monday's covers Friday morning onwards);
- and, for supervisors, *team red*: overdue cases of their jurisdiction held by someone else or nobody.

Only cases the user may read are listed (``access.visible_cases``), and the email names no applicant of a
need-to-know case: email leaves the office's systems, and the receipt number is enough to find the case.
Listing one is a read all the same, logged in the case's read log ("digest").
Each message goes through the outbox under the key ``digest:<local date>:user:<id>``, so however often the
job runs in a day, each user gets that day's email once; on a day the office is closed nothing is queued.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import aliased, defer, joinedload

from caseflow.calendar import OfficeCalendar, end_of_local_day, local_date, to_local
from caseflow.extensions import db
from caseflow.models import Case, OutboxMessage, User, UserRole
from caseflow.services import access
from caseflow.services.audit import record_reads
from caseflow.services.cases import workflow_of
from caseflow.services.deadlines import load_calendar
from caseflow.services.outbox import queue_email
from caseflow.services.queues import deadline_text, is_open

# A section lists at most this many cases and then says how many more there are (the queue has them all).
SECTION_LIMIT = 30


# Called at render time, inside the recipient's locale.
SECTION_TITLES = {
    "overdue": lambda: _("Overdue"),
    "due_today": lambda: _("Due today"),
    "due_soon": lambda: _("Due within 2 working days"),
    "new_unassigned": lambda: _("New and not yet assigned"),
    "team_red": lambda: _("Overdue in your team"),
}


@dataclass
class Section:
    """One list of the email: its cases (at most SECTION_LIMIT) and how many there are in all."""

    name: str
    cases: list[Case] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.cases)


@dataclass
class Digest:
    user: User
    day: datetime
    sections: list[Section]

    @property
    def is_empty(self) -> bool:
        return all(section.total == 0 for section in self.sections)


@dataclass(frozen=True)
class Line:
    """One case as an email lists it, in one language: the same in every recipient's email."""

    number: str
    title: str
    state: str
    applicant: str | None  # None: a need-to-know case, whose applicant an email never names
    village: str
    deadline: str
    due: str  # "due <deadline>" in the plain text, "" without a deadline
    assignee: str
    link: str


# The sections whose cases are the same for many recipients (see DigestRun).
SHARED_SECTIONS = frozenset({"new_unassigned", "team_red"})


@dataclass
class DigestRun:
    """What one run of the job works out once for all its recipients rather than once for each: the day's
    emails already queued, what each recipient may read, the new unassigned cases of each set of villages
    (every handler of a township gets the same list), and the lines of the sections several recipients
    share, in each language (a township's red cases go to each of its supervisors). A user's own cases are
    listed to them alone: keeping their lines too made the job's process grow from 106 MB to 152 MB over
    1,000 recipients at 1M cases."""

    queued_before: set[str] = field(default_factory=set)
    scopes: dict[int, access.ReadScope] = field(default_factory=dict)  # the recipients' (access.read_scopes)
    unassigned: dict[tuple, Section] = field(default_factory=dict)
    lines: dict[tuple[int, str], Line] = field(default_factory=dict)


def previous_digest_time(now: datetime, calendar: OfficeCalendar) -> datetime:
    """The same time of day on the previous working day: where "new since the last email" starts."""
    day = local_date(now) - timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return to_local(now).replace(year=day.year, month=day.month, day=day.day)


def _shown(entity) -> tuple:
    """Loader options for the cases an email lists: applicant, village and assignee in the same query.
    What an email does not show is not loaded: the form data (JSON, decoded row by row), the assignee's
    roles and places."""
    return (defer(entity.data), joinedload(entity.applicant), joinedload(entity.jurisdiction),
            joinedload(entity.assignee).lazyload(User.role_rows), joinedload(entity.assignee).lazyload(User.jurisdictions))


def _section(name: str, query: sa.Select) -> Section:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Case.id).order_by(None).subquery())) or 0
    if not total:
        return Section(name, [], 0)
    # The ids first, then those cases with what the email shows: joined in the ordered query itself, the
    # related rows of every matching case (a township's thousands of red ones) were joined before the sort.
    ids = list(db.session.scalars(query.with_only_columns(Case.id).limit(SECTION_LIMIT)))
    found = {case.id: case for case in db.session.scalars(sa.select(Case).where(Case.id.in_(ids)).options(*_shown(Case)))}
    return Section(name, [found[case_id] for case_id in ids if case_id in found], total)


def _own_sections(mine: sa.Select, now: datetime, end_of_today: datetime, soon: datetime) -> list[Section]:
    """Overdue, due today and due soon among the user's own cases, from one query: each case comes with
    its section, its rank there by deadline and the section's size (window functions), and only the first
    SECTION_LIMIT of each section are loaded."""
    section = sa.case((Case.due_at < now, "overdue"), (Case.due_at <= end_of_today, "due_today"), else_="due_soon")
    ranked = mine.where(Case.due_at <= soon).add_columns(
        section.label("section"),
        sa.func.row_number().over(partition_by=section, order_by=(Case.due_at, Case.id)).label("rank"),
        sa.func.count().over(partition_by=section).label("total"),
    ).subquery()
    row = aliased(Case, ranked)
    sections = {name: Section(name) for name in ("overdue", "due_today", "due_soon")}
    for case, name, total in db.session.execute(
            sa.select(row, ranked.c.section, ranked.c.total).where(ranked.c.rank <= SECTION_LIMIT)
            .order_by(ranked.c.rank, ranked.c.section).options(*_shown(row))):
        sections[name].cases.append(case)
        sections[name].total = total
    return list(sections.values())


def compose_digest(user: User, now: datetime, calendar: OfficeCalendar, run: DigestRun | None = None) -> Digest:
    """What ``user``'s email for the day of ``now`` would list (possibly nothing). ``run``: what the job's
    run has already worked out for other recipients."""
    run = run or DigestRun()
    visible = access.visible_cases(user).where(is_open())
    mine = visible.where(Case.assignee_id == user.id)
    end_of_today = end_of_local_day(local_date(now))
    soon = calendar.add_working_days(now, 2).at
    sections = _own_sections(mine, now, end_of_today, soon)
    if user.has_role(*access.HANDLER_ROLES):
        # Unassigned cases are the same for everyone who may read the same villages with the same right to
        # need-to-know cases (an unassigned one is nobody's own): one query per township, not per handler.
        scope = run.scopes[user.id] if user.id in run.scopes else access.read_scope(user)
        seen_by = (scope.jurisdictions, scope.reads_all_need_to_know)
        if seen_by not in run.unassigned:
            since = previous_digest_time(now, calendar)
            run.unassigned[seen_by] = _section("new_unassigned", visible.where(
                Case.assignee_id.is_(None), Case.opened_at >= since, Case.opened_at < now)
                .order_by(Case.opened_at, Case.id))
        sections.append(run.unassigned[seen_by])
    if user.has_role("supervisor"):
        sections.append(_section("team_red", visible.where(
            Case.due_at < now, sa.or_(Case.assignee_id.is_(None), Case.assignee_id != user.id))
            .order_by(Case.due_at, Case.id)))
    return Digest(user, now, sections)


def digest_recipients() -> list[User]:
    """Active clerks and supervisors with an email address who want the daily email."""
    handlers = sa.select(UserRole.user_id).where(UserRole.role.in_(access.HANDLER_ROLES))
    return list(db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.daily_digest.is_(True), User.email.is_not(None),
                              User.email != "", User.id.in_(handlers)).order_by(User.id)))


def case_link(case: Case) -> str:
    """The case page's address as the user opens caseflow (``CASEFLOW_BASE_URL``)."""
    return email_link("cases.detail", case_id=case.id)


def email_link(endpoint: str, **values) -> str:
    """An absolute link for an email: there is no request to take the host from, so the configured base
    URL (which may carry a path prefix) goes in front of the route's path."""
    path = current_app.url_map.bind("caseflow.invalid").build(endpoint, values)
    return current_app.config["CASEFLOW_BASE_URL"] + path


def _line(case: Case, locale: str, hidden: frozenset[str]) -> Line:
    workflow = workflow_of(case)
    return Line(
        number=case.number or _("Not yet accepted (no. %(id)d)", id=case.id),
        title=workflow.title.get(locale), state=workflow.state_label(case.state).get(locale),
        applicant=None if case.workflow in hidden else case.applicant.name,
        village=case.jurisdiction.label(locale), deadline=deadline_text(case.due_at),
        due=_("due %(deadline)s", deadline=deadline_text(case.due_at)) if case.due_at else "",
        assignee=case.assignee.display_name if case.assignee else _("unassigned"), link=case_link(case),
    )


def render_digest(digest: Digest, run: DigestRun | None = None) -> tuple[str, str, str]:
    """(subject, plain text, HTML) in the user's language."""
    run = run or DigestRun()
    locale = "en" if (digest.user.locale or "zh").startswith("en") else "zh"
    with force_locale(digest.user.locale or "zh"):
        day = local_date(digest.day)
        counts = " · ".join(f"{SECTION_TITLES[s.name]()} {s.total}" for s in digest.sections if s.total)
        subject = _("Daily reminder %(date)s: %(counts)s", date=day.isoformat(), counts=counts)
        hidden = access.need_to_know_workflows()
        lines: dict[str, list[Line]] = {}
        for section in digest.sections:
            lines[section.name] = []
            for case in section.cases:
                if section.name not in SHARED_SECTIONS:
                    lines[section.name].append(_line(case, locale, hidden))
                    continue
                if (case.id, locale) not in run.lines:
                    run.lines[case.id, locale] = _line(case, locale, hidden)
                lines[section.name].append(run.lines[case.id, locale])
        context = dict(digest=digest, day=day, titles=SECTION_TITLES, lines=lines,
                       queue_link=email_link("cases.index"), profile_link=email_link("profile.index"))
        # The templates straight from the environment: a web page's context processors (the demo banner
        # asks the database) have no part in an email.
        templates = current_app.jinja_env
        return (subject, templates.get_template("email/digest.txt").render(context),
                templates.get_template("email/digest.html").render(context))


def send_daily_digests(now: datetime) -> str:
    """Queue today's reminder email for every user who has something; nothing on a non-working day."""
    calendar = load_calendar()
    day = local_date(now)
    if not calendar.is_working_day(day):
        return f"{day.isoformat()} is not a working day: no reminder emails"
    # The day's emails already queued by an earlier run, in one query rather than one per user.
    recipients = digest_recipients()
    run = DigestRun(queued_before=set(db.session.scalars(
        sa.select(OutboxMessage.key).where(OutboxMessage.key.like(f"{_key_prefix(now)}%")))),
        scopes=access.read_scopes(recipients))
    queued = sum(queue_digest(user, now, calendar, run) for user in recipients)
    return f"{queued} reminder email(s) queued for {day.isoformat()}"


def _key_prefix(now: datetime) -> str:
    return f"digest:{local_date(now).isoformat()}:user:"


def queue_digest(user: User, now: datetime, calendar: OfficeCalendar, run: DigestRun | None = None) -> bool:
    """Compose ``user``'s email for the day of ``now`` and queue it, unless it would list nothing.
    Returns whether there was something to send (an email queued by an earlier run counts).
    ``run``: the job's run, with the day's outbox keys already queued (without it, this email's is looked up)."""
    key = f"{_key_prefix(now)}{user.id}"
    if run is None:
        run = DigestRun(queued_before=set(db.session.scalars(
            sa.select(OutboxMessage.key).where(OutboxMessage.key == key))))
    digest = compose_digest(user, now, calendar, run)
    if digest.is_empty:
        return False
    subject, text, html = render_digest(digest, run)
    if key not in run.queued_before:
        # Listing a need-to-know case in an email shows it: logged like any read, once per email.
        record_reads((case for section in digest.sections for case in section.cases), user, "digest", now)
    queue_email(key, user.email, subject, text, html, now=now)
    return True
