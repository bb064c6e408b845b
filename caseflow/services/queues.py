"""Case lists: a user's own queue, filtered searches, the supervisors' team queue (keyset-paginated) and
the exports of any of them, always limited to what the user may see."""
from __future__ import annotations

import base64
import binascii
import csv
import heapq
import io
import itertools
import json
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import sqlalchemy as sa
from cachetools import TTLCache
from flask import Flask, current_app, has_app_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy.orm import ORMExecuteState, Session, aliased, joinedload

from caseflow.calendar import LOCAL_TZ, local_date, to_local, utcnow
from caseflow.extensions import bulk_writes_to, db, holds_changes_to
from caseflow.models import (
    Case, Jurisdiction, Leave, Person, SavedFilter, User, UserRole, mask_resident_id, user_jurisdiction,
)
from caseflow.services import access
from caseflow.services.access import visible_cases
from caseflow.services.audit import record_read
from caseflow.services.deadlines import LIGHTS, LightBounds
from caseflow.services.errors import INVALID_DATA, NotFound, PermissionDenied, ValidationFailed
from caseflow.workflows import UnknownWorkflow, all_workflows
from caseflow.workflows import get as get_workflow
from caseflow.workflows.definition import NOT_A_CHOICE, NOT_A_DATE, REQUIRED, TOO_LONG, Text


@dataclass(frozen=True)
class CaseFilter:
    """What a list asks for; every field optional. ``assignee`` is a username, or "me". ``text`` finds a
    receipt number or a full resident ID exactly, or part of an applicant's name."""

    workflow: str | None = None
    state: str | None = None
    assignee: str | None = None
    light: str | None = None
    open_only: bool = False
    text: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Case] | list[ListedCase]  # ORM cases in the all-cases list (the API's too), rows in My queue
    total: int
    page: int
    page_size: int
    bounds: LightBounds

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# Lists show applicant, village and assignee of every row, never loaded per row. An assignee's roles and
# places are not shown, and not loaded (the model would load both with every user).
LISTED = (joinedload(Case.applicant), joinedload(Case.jurisdiction),
          joinedload(Case.assignee).lazyload(User.role_rows), joinedload(Case.assignee).lazyload(User.jurisdictions))


def _ids(query: sa.Select) -> list[int]:
    """The case ids of ``query`` (a SELECT of cases, ordered and limited). The ordered walk selects ids
    alone, so the database sorts and limits cases without their related rows; the page's rows are then
    loaded by id. Joining in the walk itself let PostgreSQL join thousands of rows before a sort."""
    return list(db.session.scalars(query.with_only_columns(Case.id)))


def _listed(query: sa.Select) -> list[Case]:
    """The cases of ``query`` (a SELECT of cases, ordered and limited) as ORM objects with what a list shows
    of them (the all-cases list, whose page the API also serves)."""
    return _by_ids(_ids(query))


def _by_ids(ids: list[int]) -> list[Case]:
    """Cases by id, in that order, with what a list shows of them."""
    if not ids:
        return []
    found = {case.id: case for case in db.session.scalars(sa.select(Case).where(Case.id.in_(ids)).options(*LISTED))}
    return [found[case_id] for case_id in ids if case_id in found]


@dataclass(frozen=True, slots=True)
class ListedVillage:
    id: int
    name: str
    name_en: str | None
    parent_id: int | None

    label = Jurisdiction.label  # the model's own wording of a village's name, by locale


@dataclass(frozen=True, slots=True)
class ListedPerson:
    name: str


@dataclass(frozen=True, slots=True)
class ListedHandler:
    display_name: str


@dataclass(frozen=True, slots=True)
class ListedCase:
    """A case as My queue and the team queue show it: the columns a row shows, sorts by or checks steps
    with (``data`` for the workflows' read-only hooks), and the applicant's name, the village and the
    assignee's name, read as plain rows. Loading 50 ORM cases with their related objects took a fifth of a
    page's Python time. The attributes are named as on ``Case`` and its relations, so the list macros,
    ``access.can_read`` and ``cases.available_steps`` take either. The order of the fields is that of the
    columns of ``_LISTED_ROWS``."""

    id: int
    number: str | None
    workflow: str
    workflow_version: int
    state: str
    version: int
    jurisdiction_id: int
    assignee_id: int | None
    opened_at: datetime
    state_entered_at: datetime
    due_at: datetime | None
    deadline_provisional: bool
    paused_since: datetime | None
    closed_at: datetime | None
    data: dict[str, Any]
    applicant: ListedPerson
    jurisdiction: ListedVillage
    assignee: ListedHandler | None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


_LISTED_HANDLER = aliased(User)
# Built once: a statement's cache key is worked out on every execution otherwise.
_LISTED_ROWS = (
    sa.select(Case.id, Case.number, Case.workflow, Case.workflow_version, Case.state, Case.version,
              Case.jurisdiction_id, Case.assignee_id, Case.opened_at, Case.state_entered_at, Case.due_at,
              Case.deadline_provisional, Case.paused_since, Case.closed_at, Case.data,
              Person.name, Jurisdiction.name, Jurisdiction.name_en, Jurisdiction.parent_id,
              _LISTED_HANDLER.display_name)
    .join(Person, Person.id == Case.applicant_id)
    .join(Jurisdiction, Jurisdiction.id == Case.jurisdiction_id)
    .outerjoin(_LISTED_HANDLER, _LISTED_HANDLER.id == Case.assignee_id)
    .where(Case.id.in_(sa.bindparam("ids", expanding=True)))
)


def listed_cases(ids: list[int]) -> list[ListedCase]:
    """Cases by id, in that order, as ``ListedCase`` rows. The ids come from a query that already limits
    them to what the user may see."""
    if not ids:
        return []
    villages: dict[int, ListedVillage] = {}
    found: dict[int, ListedCase] = {}
    for row in db.session.execute(_LISTED_ROWS, {"ids": ids}):
        *columns, applicant, village_name, village_name_en, township_id, assignee_name = row
        case_id, village_id, assignee_id = columns[0], columns[6], columns[7]
        village = villages.get(village_id)
        if village is None:
            village = villages[village_id] = ListedVillage(village_id, village_name, village_name_en, township_id)
        found[case_id] = ListedCase(*columns, applicant=ListedPerson(applicant), jurisdiction=village,
                                    assignee=ListedHandler(assignee_name) if assignee_id is not None else None)
    return [found[case_id] for case_id in ids if case_id in found]


def _likely(condition: sa.ColumnElement[bool], probability: str) -> sa.ColumnElement[bool]:
    """``condition``, with SQLite told how often it holds (``likelihood``): its statistics know an index's
    average rows per value, not that NULL (no one, not closed) is far more common than any one value, nor
    how many cases a range of dates holds. PostgreSQL keeps those statistics and gets the plain condition."""
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.func.likelihood(condition, sa.literal_column(probability))
    return condition


def is_open(*, walked: bool = False) -> sa.ColumnElement[bool]:
    """``closed_at IS NULL``, as the lists filter on it. SQLite keeps no statistics of NULLs: it takes the
    condition for one that almost no case meets (as if it were ``= one closing time``), prefers the index
    on (village, closing time) and then sorts a township's open cases on every page. Told that about one
    case in five is open (likelihood), it walks the list's own order instead (at 1M cases a page's query
    went from 170 ms to 1 ms).

    ``walked``: for the pages that walk an index of open cases in the list's order (migration
    c9d4e6f8a2b7). SQLite does not weigh the LIMIT: reading a township's open cases through (village,
    closing time) and sorting them all looks cheaper to it than walking the open cases in order until a
    page is full, unless it is told that the condition holds for nearly every case it reads (for a team
    page at 100k cases, 13 ms of sorting against 0.2 ms of walking)."""
    return _likely(Case.closed_at.is_(None), "0.9" if walked else "0.2")


def _unassigned_walked() -> sa.ColumnElement[bool]:
    """``assignee_id IS NULL``, for My queue's walk of the unassigned cases along ``ix_case_unassigned_queue``.
    SQLite takes "no one" for one more assignee, with the average assignee's 200 open cases: it gathered a
    township's 10,778 unassigned open cases through (assignee, village), read each row and sorted them, 10 ms
    a page at 1M cases. Told that a fifth of the cases are unassigned, it walks the index (0.03 ms)."""
    return _likely(Case.assignee_id.is_(None), "0.2")


def _ordered(query: sa.Select) -> sa.Select:
    # Most urgent first; cases without a running deadline last, newest first among them.
    return query.order_by(Case.due_at.asc().nulls_last(), Case.opened_at.desc(), Case.id.desc())


def _count(query: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Case.id).order_by(None).subquery())) or 0


def _paginate(query: sa.Select, page: int, page_size: int, bounds: LightBounds) -> Page:
    page = max(page, 1)
    total = _count(query)
    items = _listed(_ordered(query).limit(page_size).offset((page - 1) * page_size))
    return Page(items, total, page, page_size, bounds)


def search_cases(user: User, filters: CaseFilter, *, page: int = 1, page_size: int = 50,
                 now: datetime | None = None) -> Page:
    """Cases ``user`` may see that match ``filters``, most urgent first."""
    bounds = LightBounds.current(now)
    return _paginate(search_query(user, filters, bounds), page, page_size, bounds)


def search_query(user: User, filters: CaseFilter, bounds: LightBounds) -> sa.Select:
    """The unordered SELECT behind ``search_cases`` (its export runs the same one)."""
    query = visible_cases(user)
    if filters.workflow:
        query = query.where(Case.workflow == filters.workflow)
    if filters.state:
        query = query.where(Case.state == filters.state)
    if filters.assignee == "me":
        query = query.where(Case.assignee_id == user.id)
    elif filters.assignee:
        query = query.where(Case.assignee.has(User.username == filters.assignee))
    if filters.light in LIGHTS:
        query = query.where(bounds.where(filters.light))
    if filters.open_only or filters.light in ("red", "yellow", "green"):
        # A light of a running deadline is an open case's (a closed case has none); saying so lets the
        # database read the open cases' deadline indexes.
        query = query.where(is_open())
    text = (filters.text or "").strip()
    if text:
        # A resident ID is matched only in full, so the search cannot be used to fish for IDs.
        query = query.where(sa.or_(
            sa.func.upper(Case.number) == text.upper(),
            Case.applicant.has(sa.or_(Person.name.contains(text, autoescape=True),
                                      Person.resident_id == text.upper())),
        ))
    return query


def ordered_search(query: sa.Select) -> sa.Select:
    """``query`` in the order the all-cases list shows it (for its export)."""
    return _ordered(query)


def my_queue_query(user: User) -> sa.Select:
    """Open cases assigned to ``user``, and unassigned open cases in their jurisdiction."""
    return visible_cases(user).where(
        is_open(),
        sa.or_(Case.assignee_id == user.id, Case.assignee_id.is_(None)),
    )


def _queue_order(row: sa.Row) -> tuple:
    """A row's place in the order of ``_ordered`` (deadline, empty last; then newest; then highest id)."""
    return (row.due_at is None, row.due_at.timestamp() if row.due_at else 0.0, -row.opened_at.timestamp(), -row.id)


def _most_urgent(query: sa.Select, limit: int) -> list[sa.Row]:
    """The first ``limit`` (id, due_at, opened_at) rows of ``query`` in the order of ``_ordered``: the cases
    with a deadline, then those without. Asked apart, each is a walk along an index that starts with the
    deadline (an index lists the empty ones first, so one walk in ``NULLS LAST`` order would sort)."""
    keys = query.with_only_columns(Case.id, Case.due_at, Case.opened_at)
    rows = db.session.execute(keys.where(Case.due_at.is_not(None))
                              .order_by(Case.due_at, Case.opened_at.desc(), Case.id.desc()).limit(limit)).all()
    if len(rows) < limit:
        rows += db.session.execute(keys.where(_no_value(Case.due_at))
                                   .order_by(Case.opened_at.desc(), Case.id.desc()).limit(limit - len(rows))).all()
    return rows


def my_queue(user: User, *, page: int = 1, page_size: int = 50, now: datetime | None = None) -> Page:
    """``user``'s queue, a page of it, most urgent first.

    The user's own open cases and the open unassigned ones are two walks, each in the list's order along
    an index of its own, merged here (one query with their OR makes the database gather and sort all of a
    township's unassigned cases for every page)."""
    page = max(page, 1)
    visible = visible_cases(user)
    own = visible.where(is_open(), Case.assignee_id == user.id)
    unassigned = visible.where(is_open(), Case.assignee_id.is_(None))
    total = _count(own) + _count(unassigned)
    shown = page * page_size
    walks = (own, visible.where(is_open(walked=True), _unassigned_walked()))
    rows = heapq.merge(*(_most_urgent(walk, shown) for walk in walks), key=_queue_order)
    ids = [row.id for row in itertools.islice(rows, shown - page_size, shown)]
    return Page(listed_cases(ids), total, page, page_size, LightBounds.current(now))


# ------------------------------------------------------------------------------------------- team queue
#
# Supervisors (and, read-only, auditors) see every case of their jurisdictions. The list pages by keyset,
# never by OFFSET: each page asks for the rows after (or before) the last row seen, by the sort key and the
# case id, so a deep page costs what the first one does. A sort key that may be empty (the deadline, the
# receipt number) puts its empty rows last in either direction; they are fetched as a second segment ordered
# by id, so every query is a plain range walk along an index (due_at, number, opened_at, state_entered_at,
# the id). Counts stop at COUNT_CAP.

TEAM_ROLES = frozenset({"supervisor", "auditor"})
BULK_ROLES = frozenset({"supervisor"})
SORTS: dict[str, sa.orm.InstrumentedAttribute] = {
    "due": Case.due_at, "opened": Case.opened_at, "number": Case.number, "state_entered": Case.state_entered_at,
}
NULLABLE_SORTS = frozenset({"due", "number"})
STATUSES = ("open", "closed", "all")
# A page counts at most this many matching cases and then says "10,000+": counting a million rows for a
# page header would cost more than the page.
COUNT_CAP = 10_000
# An export holds at most this many rows; a filter matching more is refused with a message (narrow it, e.g.
# by dates) rather than cut short without saying so.
EXPORT_LIMIT = 50_000
MAX_SAVED_FILTERS = 100

UNKNOWN_WORKFLOW = Text("没有这类事项。", "No such kind of matter.")
STATE_NOT_IN_WORKFLOW = Text("所选事项没有这个状态。", "The chosen matter has no such state.")
UNKNOWN_STATE = Text("没有这个状态。", "No such state.")
UNKNOWN_HANDLER = Text("本辖区没有这位承办人。", "No such clerk or supervisor in your jurisdictions.")
DATES_REVERSED = Text("开始日期晚于结束日期。", "The start date is after the end date.")
CLOSED_RANGE_NOT_OPEN = Text("办结日期只适用于已办结的案件：请将“是否办结”选为“已办结”或“全部”。",
                             "Closing dates only find closed cases: set “Open or closed” to “Closed” or “All”.")
STALE_PAGE_LINK = Text("该翻页链接与当前排序不符，已显示第一页。",
                       "That page link does not fit this list's order; showing the first page.")
TEAM_ONLY = Text("只有主管和审计人员可以查看团队案件。", "Only supervisors and auditors see the team queue.")
TOO_MANY_TO_EXPORT = Text("符合条件的案件超过 {n} 件，无法一次导出。请缩小筛选范围（例如按日期）。",
                          "More than {n} cases match: too many for one export. Narrow the filter (by dates, say).")
FILTER_NAME_TAKEN_LIMIT = Text("最多保存 {n} 个筛选条件，请先删除不用的。",
                               "You can keep at most {n} saved filters; delete one you no longer use.")
SAVED_FILTER_NOT_FOUND = Text("找不到该筛选条件。", "No such saved filter.")


@dataclass(frozen=True)
class TeamFilter:
    """What the team queue shows, in which order. ``assignee`` is a username or "none" (unassigned); dates
    are office-local days, both ends included; ``status`` is "open", "closed" or "all"."""

    workflow: str | None = None
    state: str | None = None
    village_id: int | None = None
    assignee: str | None = None
    light: str | None = None
    opened_from: date | None = None
    opened_to: date | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    status: str = "open"
    sort: str = "due"
    descending: bool = False

    def query_args(self) -> dict[str, str]:
        """The filter as query-string arguments, defaults left out: what links and saved filters carry."""
        args: dict[str, str] = {}
        for name in ("workflow", "state", "assignee", "light"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        if self.village_id is not None:
            args["village"] = str(self.village_id)
        for name in ("opened_from", "opened_to", "closed_from", "closed_to"):
            if getattr(self, name) is not None:
                args[name] = getattr(self, name).isoformat()
        if self.status != "open":
            args["status"] = self.status
        if self.sort != "due":
            args["sort"] = self.sort
        if self.descending:
            args["dir"] = "desc"
        return args

    @property
    def closed_only(self) -> bool:
        """Whether only closed cases can match: the status says so, or a range of closing dates does."""
        return self.status == "closed" or self.closed_from is not None or self.closed_to is not None

    @property
    def dated(self) -> bool:
        """Whether a range of opening or closing dates bounds the cases."""
        return any(day is not None for day in (self.opened_from, self.opened_to, self.closed_from, self.closed_to))


def may_see_team_queue(user: User) -> bool:
    return access.can_read_cases(user) and user.has_role(*TEAM_ROLES)


def may_act_in_bulk(user: User) -> bool:
    return access.can_read_cases(user) and user.has_role(*BULK_ROLES)


@dataclass(frozen=True)
class Handler:
    """A clerk or supervisor as the team queue offers them: to filter by, and to assign to. ``away``: on
    leave today."""

    id: int
    username: str
    display_name: str
    active: bool
    away: bool


def team_handlers(user: User, *, assignable: bool = False) -> list[Handler]:
    """Clerks and supervisors who work where ``user`` does (a village of theirs, or its township): whom the
    team queue can filter by. Inactive ones are listed too, so that cases someone left behind can be found;
    ``assignable`` keeps only those who can be given work now: active and not on leave today."""
    ids = access.jurisdiction_ids(user)
    if not ids:
        return []
    # The townships of those places, asked in the same statement (a round trip of its own before).
    parents = sa.select(Jurisdiction.parent_id).where(Jurisdiction.id.in_(ids), Jurisdiction.parent_id.is_not(None))
    held = sa.or_(user_jurisdiction.c.jurisdiction_id.in_(ids), user_jurisdiction.c.jurisdiction_id.in_(parents))
    # Who is on leave comes with each handler, rather than in a statement of its own for the list of whom
    # work can be given to.
    away = sa.exists().where(Leave.user_id == User.id, Leave.covering(local_date(utcnow())))
    # Plain rows, not users: a township has hundreds of handlers, and the page shows only their names (a
    # user object would also load its roles and places).
    query = sa.select(User.id, User.username, User.display_name, User.active, away).where(
        User.id.in_(sa.select(user_jurisdiction.c.user_id).where(held)),
        User.id.in_(sa.select(UserRole.user_id).where(UserRole.role.in_(access.HANDLER_ROLES))),
    )
    handlers = [Handler(*row) for row in db.session.execute(query.order_by(User.display_name, User.username))]
    return assignable_among(handlers) if assignable else handlers


def assignable_among(handlers: Sequence[Handler]) -> list[Handler]:
    """Those of ``handlers`` who can be given work now: active and not on leave today (in the same order).
    The team queue lists all its handlers and offers these for assignment."""
    return [u for u in handlers if u.active and not u.away]


@dataclass(frozen=True)
class TeamDirectory:
    """The people and places a team-queue page offers in its drop-downs: ``team_handlers`` and the villages
    (``access.villages_of``, as plain rows)."""

    handlers: tuple[Handler, ...]
    villages: tuple[ListedVillage, ...]


# Every page of every supervisor of a township lists the same 250 handlers and the same villages: reading
# and shaping them was a sixth of a page at a million cases. Each process keeps them, by the places the
# user works in and the day (who is on leave), for CASEFLOW_DIRECTORY_CACHE_SECONDS. A commit in this
# process that writes a user, role, leave or place empties its own cache; another worker's change shows
# when its entry expires. Nothing is decided from this copy: what a page lists is checked against the
# user's own jurisdictions, and the bulk form checks the chosen handler afresh.
_DIRECTORY_CACHE = "caseflow.team_directory"
_DIRECTORY_WRITTEN = "caseflow.team_directory.written"
_DIRECTORY_ROWS = (User, UserRole, Leave, Jurisdiction)
_DIRECTORY_TABLES = frozenset({User.__table__, UserRole.__table__, Leave.__table__, Jurisdiction.__table__,
                               user_jurisdiction})
_directory_lock = threading.Lock()


def team_directory(user: User) -> TeamDirectory:
    """The team queue's handlers and villages for ``user``, from this process's cache when it has them."""
    key = (frozenset(access.jurisdiction_ids(user)), local_date(utcnow()))
    cache = _directory_cache()
    if cache is not None:
        with _directory_lock:
            found = cache.get(key)
        if found is not None:
            return found
    directory = TeamDirectory(
        handlers=tuple(team_handlers(user)),
        villages=tuple(ListedVillage(v.id, v.name, v.name_en, v.parent_id) for v in access.villages_of(user)))
    if cache is not None:
        with _directory_lock:
            cache[key] = directory
    return directory


def _directory_cache() -> TTLCache | None:
    seconds = current_app.config["CASEFLOW_DIRECTORY_CACHE_SECONDS"]
    if not seconds:
        return None
    with _directory_lock:
        cache = current_app.extensions.get(_DIRECTORY_CACHE)
        if cache is None or cache.ttl != seconds:
            cache = current_app.extensions[_DIRECTORY_CACHE] = TTLCache(maxsize=256, ttl=seconds)
        return cache


def forget_team_directories(app: Flask | None = None) -> None:
    """Empty the team directory cache of ``app`` (default: the current app), as a commit that writes a user,
    role, leave or place does."""
    cache = (app or current_app).extensions.get(_DIRECTORY_CACHE)
    if cache is not None:
        with _directory_lock:
            cache.clear()


def _note_directory_flush(session: Session, *_args: object) -> None:
    if holds_changes_to(session, _DIRECTORY_ROWS):
        session.info[_DIRECTORY_WRITTEN] = True


def _note_directory_bulk_write(execution: ORMExecuteState) -> None:
    if bulk_writes_to(execution, _DIRECTORY_TABLES):
        execution.session.info[_DIRECTORY_WRITTEN] = True


def _forget_directory_if_written(session: Session) -> None:
    if session.info.pop(_DIRECTORY_WRITTEN, False) and has_app_context():
        forget_team_directories()


def _drop_directory_note(session: Session, *_args: object) -> None:
    session.info.pop(_DIRECTORY_WRITTEN, None)


sa.event.listen(Session, "before_flush", _note_directory_flush)
sa.event.listen(Session, "do_orm_execute", _note_directory_bulk_write)
sa.event.listen(Session, "after_commit", _forget_directory_if_written)
sa.event.listen(Session, "after_rollback", _drop_directory_note)


def _day(raw: str) -> date:
    """A filter date; years far outside any case (0001, 9999) are refused like a typo, before they
    overflow the date arithmetic of the query."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(NOT_A_DATE) from None
    if not 2000 <= day.year <= 2100:
        raise ValueError(NOT_A_DATE)
    return day


def parse_team_filter(user: User, args: Mapping[str, str], *, handlers: Sequence[Handler] | None = None,
                      villages: Sequence[Jurisdiction | ListedVillage] | None = None,
                      ) -> tuple[TeamFilter, dict[str, Text]]:
    """Read a team-queue filter from query-string ``args``. A value that is not valid (for this user: a
    village or a handler outside their jurisdictions) is dropped with a message under its name; the other
    filters are kept. ``handlers`` and ``villages``: the user's ``team_handlers`` and villages, when the
    caller has them already (the page lists both: ``team_directory``)."""
    errors: dict[str, Text] = {}
    values: dict[str, Any] = {}

    def raw(name: str) -> str:
        return (args.get(name) or "").strip()

    workflows = {wf.name: wf for wf in all_workflows()}
    if raw("workflow"):
        if raw("workflow") in workflows:
            values["workflow"] = raw("workflow")
        else:
            errors["workflow"] = UNKNOWN_WORKFLOW
    if raw("state"):
        chosen = workflows.get(values.get("workflow", ""))
        names = ({s.name for s in chosen.states} if chosen
                 else {s.name for wf in workflows.values() for s in wf.states})
        if raw("state") in names:
            values["state"] = raw("state")
        else:
            errors["state"] = STATE_NOT_IN_WORKFLOW if chosen else UNKNOWN_STATE
    if raw("village"):
        village = raw("village")
        mine = {v.id for v in (access.villages_of(user) if villages is None else villages)}
        if village.isascii() and village.isdigit() and int(village) in mine:
            values["village_id"] = int(village)
        else:
            errors["village"] = access.NOT_IN_JURISDICTION
    if raw("assignee"):
        known = team_handlers(user) if handlers is None else handlers
        if raw("assignee") == "none" or raw("assignee") in {u.username for u in known}:
            values["assignee"] = raw("assignee")
        else:
            errors["assignee"] = UNKNOWN_HANDLER
    if raw("light"):
        if raw("light") in LIGHTS:
            values["light"] = raw("light")
        else:
            errors["light"] = NOT_A_CHOICE
    for name in ("opened_from", "opened_to", "closed_from", "closed_to"):
        if raw(name):
            try:
                values[name] = _day(raw(name))
            except ValueError as exc:
                errors[name] = exc.args[0]
    for start, end in (("opened_from", "opened_to"), ("closed_from", "closed_to")):
        if start in values and end in values and values[start] > values[end]:
            errors[end] = DATES_REVERSED
            del values[start], values[end]
    if raw("status"):
        if raw("status") in STATUSES:
            values["status"] = raw("status")
        else:
            errors["status"] = NOT_A_CHOICE
    if values.get("status", "open") == "open" and ("closed_from" in values or "closed_to" in values):
        for name in ("closed_from", "closed_to"):
            if name in values:
                del values[name]
                errors[name] = CLOSED_RANGE_NOT_OPEN
    if raw("sort"):
        if raw("sort") in SORTS:
            values["sort"] = raw("sort")
        else:
            errors["sort"] = NOT_A_CHOICE
    if raw("dir"):
        if raw("dir") in ("asc", "desc"):
            values["descending"] = raw("dir") == "desc"
        else:
            errors["dir"] = NOT_A_CHOICE
    return TeamFilter(**values), errors


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TZ)


def team_query(user: User, filters: TeamFilter, bounds: LightBounds, *, loose_opening: bool = False) -> sa.Select:
    """The unordered SELECT of the cases ``user`` may see that match ``filters`` (nothing for anyone who
    may not use the team queue).

    ``loose_opening``: SQLite is told that the range of opening dates holds most cases. It keeps no
    statistics of dates and takes any range for a few cases, so it gathered a township's cases of the range
    through (village, opening time) and read each row, all cases where only the open ones were asked for
    (``team_queue`` says when to loosen):

    - a page's open cases with a deadline, when the range holds more than COUNT_CAP cases: they are walked
      in deadline order along ``ix_case_open_by_due``, which holds the opening time, until a page is full
      (0.05 ms, where gathering and sorting them took 14 ms for two months at 1M cases and 90 ms for a
      year; at worst, a wide range with no open case, the walk passes the whole index, 13 ms). A range of
      fewer cases is gathered and sorted (a month of 2025: 3 ms, where the walk would pass the whole index);
    - the count of open cases: counted from the village's closing index, which holds the opening time, and
      at worst through all the township's open cases (1.3–4.8 ms, where the range took 10 ms for three weeks
      and 25 ms for a year).

    Not for a state's or a handler's cases (``_walked``), which their own index finds."""
    if not may_see_team_queue(user):
        return sa.select(Case).where(sa.false())
    query = visible_cases(user)
    if filters.workflow:
        query = query.where(Case.workflow == filters.workflow)
    if filters.state:
        query = query.where(Case.state == filters.state)
    if filters.village_id is not None:
        query = query.where(Case.jurisdiction_id == filters.village_id)
    if filters.assignee == "none":
        query = query.where(Case.assignee_id.is_(None))
    elif filters.assignee:
        handler = aliased(User)
        query = query.where(Case.assignee_id.in_(sa.select(handler.id).where(handler.username == filters.assignee)))
    if filters.light in LIGHTS:
        query = query.where(bounds.where(filters.light))
    if filters.status == "open":
        query = query.where(is_open(walked=_walked(filters)))
    elif filters.status == "closed":
        query = query.where(Case.closed_at.is_not(None))
    opened = _between_days(Case.opened_at, filters.opened_from, filters.opened_to)
    if loose_opening and _walked(filters):
        opened = [_likely(condition, "0.9") for condition in opened]
    return query.where(*opened, *_between_days(Case.closed_at, filters.closed_from, filters.closed_to))


def _between_days(column: sa.orm.InstrumentedAttribute, start: date | None, end: date | None,
                  ) -> list[sa.ColumnElement[bool]]:
    """``column`` from the start of office-local day ``start`` to the end of ``end`` (either may be open)."""
    conditions = []
    if start is not None:
        conditions.append(column >= _local_midnight(start))
    if end is not None:
        conditions.append(column < _local_midnight(end + timedelta(days=1)))
    return conditions


def _walked(filters: TeamFilter) -> bool:
    """Whether the pages of ``filters`` walk an index in the list's order (``is_open(walked=True)``): not
    when they ask for one handler's or one state's cases, which are few; SQLite reads those through their
    own index and sorts them."""
    return not (filters.state or filters.assignee not in (None, "none"))


def ordered_team(query: sa.Select, filters: TeamFilter) -> sa.Select:
    """``query`` in the team queue's order for ``filters`` (empty sort values last), all pages at once."""
    column = SORTS[filters.sort]
    if filters.descending:
        return query.order_by(column.is_(None), column.desc(), Case.id.desc())
    return query.order_by(column.is_(None), column.asc(), Case.id.asc())


def capped_count(query: sa.Select, cap: int) -> int:
    """How many rows ``query`` has, counting no further than ``cap + 1`` (so "more than ``cap``" shows)."""
    limited = query.with_only_columns(Case.id).order_by(None).limit(cap + 1).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(limited)) or 0


@dataclass(frozen=True)
class Cursor:
    """Where a page starts or ends: a row's sort value (None: the rows without one) and its id. ``count``:
    the list's capped count as its first page counted it, carried from page to page so that paging on
    does not count again (counting a large filter's 10,000 rows cost more than the rest of its query). A
    cursor of an older link has none, and its page counts again."""

    sort: str
    value: Any
    id: int
    count: int | None = None

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.id, self.count], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def of(cls, case: ListedCase, sort: str, count: int) -> "Cursor":
        return cls(sort, getattr(case, SORTS[sort].key), case.id, count)

    @classmethod
    def decode(cls, token: str, sort: str) -> "Cursor | None":
        """The cursor in ``token``, or None when it is not one for ``sort`` (edited, or from another order)."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            name, value, case_id, *rest = raw
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            return None
        if len(rest) > 1:
            return None
        count = rest[0] if rest else None
        if count is not None and not (_whole(count) and 0 <= count <= COUNT_CAP + 1):
            return None
        if name != sort or not _whole(case_id) or not 0 < case_id < 2**31:
            return None
        if value is None:
            return cls(sort, None, case_id, count) if sort in NULLABLE_SORTS else None
        if not isinstance(value, str):
            return None
        if sort == "number":
            return cls(sort, value, case_id, count)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return cls(sort, moment, case_id, count) if moment.tzinfo is not None else None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TeamPage:
    items: list[ListedCase]
    count: int  # at most COUNT_CAP + 1
    bounds: LightBounds
    next_cursor: str | None
    prev_cursor: str | None
    first: bool  # no rows before these

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def count_label(self) -> str:
        return f"{COUNT_CAP:,}+" if self.count_capped else f"{self.count:,}"


def _walk(query: sa.Select, filters: TeamFilter, cursor: Cursor | None, backward: bool, limit: int,
          by_deadline: sa.Select) -> list[ListedCase]:
    """Up to ``limit`` rows from ``cursor`` on (exclusive), in list order, or backwards from it.
    ``by_deadline``: ``query`` for the segment of cases with a deadline (``team_query``'s ``loose_opening``)."""
    column = SORTS[filters.sort]
    nullable = filters.sort in NULLABLE_SORTS
    segments = [False, True] if nullable else [False]  # rows with a value, then (nulls last) those without
    if filters.sort == "due" and filters.closed_only:
        # A closed case has no running deadline: no need to walk the deadline index for none (on PostgreSQL,
        # with closing dates and "all", that walk read every open case's row: 100 ms at 1M).
        segments = [True]
    if backward:
        segments.reverse()
    falling = filters.descending != backward
    walked = _walked(filters)
    rows: list[ListedCase] = []
    started = cursor is None
    for empty in segments:
        if not started and empty != (cursor.value is None):
            continue  # a segment wholly on the far side of the cursor
        keys = [Case.id] if empty else [column, Case.id]
        part = by_deadline if filters.sort == "due" and not empty else query
        if not started:
            if empty:
                part = part.where(Case.id < cursor.id if falling else Case.id > cursor.id)
            else:
                # A row-value comparison is one range along the (value, id) order, and already excludes the
                # rows without a value (an extra IS NOT NULL makes PostgreSQL count the nulls out twice and
                # misjudge the range as tiny).
                bound = sa.tuple_(*keys)
                part = part.where(bound < (cursor.value, cursor.id) if falling else bound > (cursor.value, cursor.id))
            started = True
        elif nullable and not empty:
            part = part.where(column.is_not(None))
        order = keys
        if empty and (not walked or filters.dated) and db.session.get_bind().dialect.name == "postgresql":
            # One state's or one handler's cases without a value (a state whose clock is stopped has no
            # deadline): PostgreSQL takes them for few and spread evenly over the ids, walks the primary key
            # in id order and passes most of the table, since they are the newest cases (290 ms for a
            # township's 5,000 cases waiting for documents, at 1M). Ordered by ``id + 0``, which no index
            # gives, it reads them through their filters' indexes and sorts them (10 ms); same order.
            # SQLite reads them in id order from the (workflow, state) index, whose entries end with the
            # row id (0.1 ms; sorting them instead took 28 ms). The same for a range of dates: a case's id
            # grows with its opening, so the range's cases are a band of ids, and walking the primary key
            # passed every case before the band (100 ms for the cases opened in one month of 2025).
            order = [Case.id + 0]
        part = part.order_by(*(key.desc() if falling else key.asc() for key in order))
        rows += _segment(_walks(part, filters, empty, walked), keys, falling, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def _walks(part: sa.Select, filters: TeamFilter, empty: bool, walked: bool) -> list[sa.Select]:
    """The walks that read ``part``, a segment of the list (``empty``: its rows without a sort value), merged
    by ``_segment``. With "open or closed: all", open and closed cases are two walks, each along its kind's own
    index: the sort indexes are kept apart by open and closed because a list of open cases (the default)
    walking one index over both would pass the closed cases first (there are several times as many, and
    older); PostgreSQL, which expects the open ones spread evenly, chooses that walk all the same.

    A closed case has no running deadline: by deadline, closed cases are never in the first segment, and in
    the second they are not checked for one, which would read each row (9 ms for a township's cases closed in
    two months, at 1M, where their ids come from the village's closing index alone in 0.7 ms)."""
    column = SORTS[filters.sort]
    without_value = [_no_value(column)] if empty else []
    closed_without_value = [] if filters.sort == "due" else without_value
    if filters.closed_only:
        return [part.where(*closed_without_value)]
    if filters.status == "open":
        return [part.where(*without_value)]
    open_ones = part.where(is_open(walked=walked), *without_value)
    if filters.sort == "due" and not empty:
        return [open_ones]
    return [open_ones, part.where(Case.closed_at.is_not(None), *closed_without_value)]


def _no_value(column: sa.orm.InstrumentedAttribute) -> sa.ColumnElement[bool]:
    """``column IS NULL``, for the rows a list shows last. SQLite keeps no statistics of NULLs and takes it
    for a condition that few cases meet: for a filter matching a handful of cases (a state, a handler) it
    then walks all the open cases without a deadline in id order, a quarter of the open cases, to find them.
    Told that about a quarter of the cases have no value, it reads the handful through their filter's index
    and sorts them."""
    return _likely(column.is_(None), "0.25")


def _segment(walks: list[sa.Select], keys: list, falling: bool, limit: int) -> list[ListedCase]:
    """Up to ``limit`` rows of ``walks`` (one, or the open and the closed cases), each ordered by ``keys``,
    merged in that order."""
    if len(walks) == 1:
        return listed_cases(_ids(walks[0].limit(limit)))
    # Each walk reads its sort keys and ids only; the page's rows are loaded once, for the merged ids.
    read = [db.session.execute(walk.limit(limit).with_only_columns(*keys)).all() for walk in walks]
    merged = heapq.merge(*read, key=tuple, reverse=falling)
    return listed_cases([row[-1] for row in itertools.islice(merged, limit)])


def team_queue(user: User, filters: TeamFilter, *, after: str | None = None, before: str | None = None,
               page_size: int = 50, now: datetime | None = None) -> tuple[TeamPage, Text | None]:
    """One page of the team queue: the cases ``user`` may see that match ``filters``, in their order, after
    the ``after`` cursor (or before ``before``), with the cursors of the pages around it. Returns the page
    and a message when a cursor did not fit (the first page is shown then). The count is the first page's,
    carried by the cursors: pages further on show the number the list had when it was opened."""
    bounds = LightBounds.current(now)
    query = team_query(user, filters, bounds)
    token, backward = (before, True) if before else (after, False)
    cursor = Cursor.decode(token, filters.sort) if token else None
    notice = STALE_PAGE_LINK if token and cursor is None else None
    opening = filters.opened_from is not None or filters.opened_to is not None

    def loosened(loose: bool) -> sa.Select:
        return team_query(user, filters, bounds, loose_opening=True) if loose and opening else query

    count = (capped_count(loosened(filters.status == "open"), COUNT_CAP) if cursor is None or cursor.count is None
             else cursor.count)
    by_deadline = loosened(count > COUNT_CAP and filters.sort == "due")
    rows = _walk(query, filters, cursor, backward, page_size + 1, by_deadline)
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backward:
        rows.reverse()
        if not more:  # reached the top: show the first page, full
            rows = _walk(query, filters, None, False, page_size + 1, by_deadline)
            more, rows, cursor, backward = len(rows) > page_size, rows[:page_size], None, False
    first = cursor is None
    has_next = more if not backward else True
    page = TeamPage(
        items=rows, count=count, bounds=bounds,
        next_cursor=Cursor.of(rows[-1], filters.sort, count).encode() if rows and has_next else None,
        prev_cursor=Cursor.of(rows[0], filters.sort, count).encode() if rows and not first else None,
        first=first,
    )
    return page, notice


# --------------------------------------------------------------------------------------- saved filters

def saved_filters(user: User) -> list[SavedFilter]:
    """``user``'s own saved filters, by name."""
    return list(db.session.scalars(sa.select(SavedFilter).where(SavedFilter.user_id == user.id)
                                   .order_by(SavedFilter.name, SavedFilter.id)))


def save_filter(user: User, name: str, filters: TeamFilter, now: datetime | None = None) -> tuple[SavedFilter, bool]:
    """Save ``filters`` under ``name`` for ``user`` (a filter of that name is replaced). Returns the row and
    whether it is new. What is kept is the query string, so the saved filter is also a shareable link."""
    if not may_see_team_queue(user):
        raise PermissionDenied(TEAM_ONLY)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(INVALID_DATA, {"name": REQUIRED})
    if len(name) > 100:
        raise ValidationFailed(INVALID_DATA, {"name": TOO_LONG.format(n=100)})
    query = urlencode(filters.query_args())
    row = db.session.scalar(sa.select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name))
    created = row is None
    if created:
        held = db.session.scalar(sa.select(sa.func.count()).where(SavedFilter.user_id == user.id)) or 0
        if held >= MAX_SAVED_FILTERS:
            raise ValidationFailed(INVALID_DATA, {"name": FILTER_NAME_TAKEN_LIMIT.format(n=MAX_SAVED_FILTERS)})
        row = SavedFilter(user_id=user.id, name=name)
        db.session.add(row)
    row.query, row.created_at = query, now or utcnow()
    db.session.flush()
    return row, created


def delete_saved_filter(user: User, filter_id: int) -> SavedFilter:
    """Delete one of ``user``'s saved filters (someone else's answers "not found")."""
    row = db.session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user.id:
        raise NotFound(SAVED_FILTER_NOT_FOUND)
    db.session.delete(row)
    db.session.flush()
    return row


# ---------------------------------------------------------------------------------------------- exports

EXPORT_FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_COLUMNS = (
    Text("办件编号", "Receipt number"), Text("事项", "Matter"), Text("状态", "State"),
    Text("村（社区）", "Village"), Text("申请人", "Applicant"), Text("居民身份证号（部分隐藏）", "Resident ID (masked)"),
    Text("承办人", "Assigned to"), Text("申请时间", "Opened"), Text("法定期限", "Deadline"),
    Text("期限预警", "Deadline light"), Text("办结时间", "Closed"),
)
EXPORT_LIGHTS = {
    "green": Text("正常", "On time"), "yellow": Text("1个工作日内到期", "Due within 1 working day"),
    "red": Text("已超期", "Overdue"), "none": Text("不计时", "No running deadline"),
    "closed": Text("已办结", "Closed"), "paused": Text("暂停计时", "Clock stopped"),
}
PROVISIONAL = Text("（暂定）", " (provisional)")
# Spreadsheet programs run a cell that starts with one of these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _local_text(moment: datetime | None) -> str:
    return "" if moment is None else to_local(moment).strftime("%Y-%m-%d %H:%M")


def deadline_text(moment: datetime | None) -> str:
    """As the office writes a deadline: a period ending at local midnight ends "24:00" of its last day (what
    the pages' ``deadline`` filter shows; exports and emails, which have no page, use this)."""
    if moment is None:
        return ""
    local = to_local(moment)
    if local.time() == time.min:
        return f"{local.date() - timedelta(days=1):%Y-%m-%d} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Export:
    data: bytes
    mimetype: str
    extension: str
    rows: int


def export_cases(user: User, query: sa.Select, fmt: str, locale: str, now: datetime | None = None) -> Export:
    """``query`` (a SELECT of cases built on ``visible_cases``, ordered as its list shows them) as a CSV
    (UTF-8 with a BOM, for Excel) or XLSX file, every page of it, with the applicant's resident ID masked.

    Refused (ValidationFailed) above EXPORT_LIMIT rows. Every need-to-know case in the file is logged as a
    read by ``user`` ("export"); the caller commits. Labels are in ``locale``.
    """
    now = now or utcnow()
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(INVALID_DATA, {"format": NOT_A_CHOICE})
    if capped_count(query, EXPORT_LIMIT) > EXPORT_LIMIT:
        raise ValidationFailed(TOO_MANY_TO_EXPORT.format(n=f"{EXPORT_LIMIT:,}"))
    bounds = LightBounds.current(now)
    # Aliases: the filters may hold EXISTS subqueries on person/user, which must not correlate to these joins.
    person, handler = aliased(Person), aliased(User)
    rows = db.session.execute(
        query.with_only_columns(
            Case.id, Case.number, Case.workflow, Case.workflow_version, Case.state, Case.jurisdiction_id,
            Case.opened_at, Case.due_at, Case.deadline_provisional, Case.paused_since, Case.closed_at,
            person.name, person.resident_id, handler.display_name,
        ).join(person, person.id == Case.applicant_id).outerjoin(handler, handler.id == Case.assignee_id)
    ).all()
    villages = {j.id: j.label(locale) for j in db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_({row.jurisdiction_id for row in rows})))}
    sensitive = access.need_to_know_workflows()
    workflows: dict[tuple[str, int], Any] = {}

    def workflow(name: str, version: int):
        if (name, version) not in workflows:
            try:
                workflows[name, version] = get_workflow(name, version)
            except UnknownWorkflow:
                workflows[name, version] = None
        return workflows[name, version]

    table: list[list[str]] = [[column.get(locale) for column in EXPORT_COLUMNS]]
    logged: list[int] = []
    for row in rows:
        wf = workflow(row.workflow, row.workflow_version)
        light = bounds.light(row.due_at) or ("closed" if row.closed_at else "paused" if row.paused_since else "none")
        due = deadline_text(row.due_at)
        if due and row.deadline_provisional:
            due += PROVISIONAL.get(locale)
        table.append([
            row.number or "", wf.title.get(locale) if wf else row.workflow,
            wf.state_label(row.state).get(locale) if wf else row.state, villages.get(row.jurisdiction_id, ""),
            row.name, mask_resident_id(row.resident_id), row.display_name or "", _local_text(row.opened_at), due,
            EXPORT_LIGHTS[light].get(locale), _local_text(row.closed_at),
        ])
        if row.workflow in sensitive:
            logged.append(row.id)
    for start in range(0, len(logged), 500):
        for case in db.session.scalars(sa.select(Case).where(Case.id.in_(logged[start:start + 500]))):
            record_read(case, user, "export", now)
    data = _csv(table) if fmt == "csv" else _xlsx(table)
    return Export(data, "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE, fmt, len(rows))


def _csv(table: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in table:
        writer.writerow(["'" + cell if cell.startswith(_FORMULA_START) else cell for cell in line])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx(table: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for column, width in zip("ABCDEFGHIJK", (18, 16, 22, 12, 12, 22, 12, 18, 20, 16, 18)):
        sheet.column_dimensions[column].width = width
    for line in table:
        cells = []
        for value in line:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, always: a name starting with "=" is not a formula
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

