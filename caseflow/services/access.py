"""Who may see and touch what: roles and jurisdictions, checked on every read and every action."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, Jurisdiction, Leave, User, UserRole, user_jurisdiction
from caseflow.services.audit import LAST_LINK
from caseflow.services.errors import CASE_NOT_FOUND, NotFound, PermissionDenied
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import SYSTEM, Text

# Admins manage users, villages and the calendar; they have no need to read cases.
CASE_READER_ROLES = frozenset({"village_officer", "clerk", "supervisor", "auditor"})
# Roles that may hold (be assigned) a case.
HANDLER_ROLES = frozenset({"clerk", "supervisor"})
# Roles that hand the receipt, with the applicant's look-up PIN, to the applicant. Oversight (auditors)
# reads cases but has no need for the PIN.
PIN_READER_ROLES = frozenset({"village_officer", "clerk", "supervisor"})
# Who, besides the assigned handler, may see need-to-know cases (procedure certificates).
NEED_TO_KNOW_ROLES = frozenset({"supervisor", "auditor", SYSTEM})

NOT_IN_JURISDICTION = Text("该村（社区）不在您的辖区内。", "That village is outside your jurisdiction.")


def jurisdiction_ids(user: User) -> set[int]:
    """The jurisdictions ``user`` works in: their own, and every village of a township they hold."""
    everywhere = user.has_role(SYSTEM)
    own = frozenset() if everywhere else frozenset(j.id for j in user.jurisdictions)
    if not (everywhere or own):
        return set()
    key: frozenset[int] | str = "all" if everywhere else own
    memo = _request_memo()
    if memo is not None and key in memo:
        return set(memo[key])
    query = sa.select(Jurisdiction.id)
    if not everywhere:
        query = query.where(sa.or_(Jurisdiction.id.in_(own), Jurisdiction.parent_id.in_(own)))
    found = set(db.session.scalars(query))
    if memo is not None:
        memo[key] = frozenset(found)
    return found


# One page asks for the same user's jurisdictions again and again: its list, each header badge, and the
# permission check of every row (a team-queue page of 50 rows asked 57 times, a third of its time). Within
# a web request the answer is kept on the database session, by the jurisdictions the user holds, and
# forgotten whenever the session flushes, commits or rolls back, or holds changes not yet flushed, so a
# request that changes jurisdictions sees its change at once. Jobs, the CLI and services called outside a
# request keep nothing.
_MEMO_KEY = "caseflow.access.jurisdiction_ids"


def _request_memo() -> dict[frozenset[int] | str, frozenset[int]] | None:
    if not has_request_context():
        return None
    session = db.session()
    if session.new or session.dirty or session.deleted:
        return None
    return session.info.setdefault(_MEMO_KEY, {})


def _forget_jurisdictions(session: Session, *_args: object) -> None:
    session.info.pop(_MEMO_KEY, None)


for _event in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
    sa.event.listen(Session, _event, _forget_jurisdictions)


def can_read_cases(user: User) -> bool:
    return user.is_active and user.has_role(*CASE_READER_ROLES, SYSTEM)


def need_to_know_workflows() -> frozenset[str]:
    return frozenset(wf.name for wf in all_workflows() if wf.need_to_know)


def visible_cases(user: User) -> sa.Select:
    """A SELECT of the cases ``user`` may see; filter and order it further as needed.

    Need-to-know cases are left out for everyone but their handler and the jurisdiction's supervisors and
    auditors, so no list, search, count or export built on this can reveal them.
    """
    query = sa.select(Case)
    if not can_read_cases(user):
        return query.where(sa.false())
    query = query.where(Case.jurisdiction_id.in_(jurisdiction_ids(user)))
    if not user.has_role(*NEED_TO_KNOW_ROLES):
        query = query.where(sa.or_(Case.workflow.not_in(need_to_know_workflows()), Case.assignee_id == user.id))
    return query


def visible_case(user: User, case_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """Whether the case ``case_id`` refers to (a column of another table: ``Reminder.case_id``) is one
    ``user`` may see, as ``visible_cases`` decides: an EXISTS on that one case. Written as
    ``case_id IN visible_cases(user)`` instead, SQLite first lists every case the user may see (a
    township's quarter of a million at 1M cases) on every page that counts reminders or follow-ups."""
    return visible_cases(user).with_only_columns(Case.id).where(Case.id == case_id).exists()


def can_see_pin(user: User) -> bool:
    """Whether ``user`` may see an applicant's progress look-up PIN (printed on the receipt)."""
    return user.is_active and user.has_role(*PIN_READER_ROLES)


@dataclass(frozen=True)
class ReadScope:
    """Which cases one user may read, worked out once: ``can_read`` for one case, and for the many cases
    of a scan (services/reminders.py) without a query per case."""

    user_id: int
    jurisdictions: frozenset[int]
    need_to_know: frozenset[str]  # workflows whose cases only their handler (and oversight) may read
    reads_all_need_to_know: bool

    def allows(self, jurisdiction_id: int, workflow: str, assignee_id: int | None) -> bool:
        return jurisdiction_id in self.jurisdictions and _need_to_know_allows(
            workflow, assignee_id, self.user_id, self.need_to_know, self.reads_all_need_to_know)


def _need_to_know_allows(workflow: str, assignee_id: int | None, user_id: int, need_to_know: frozenset[str],
                         reads_all_need_to_know: bool) -> bool:
    """The rule beside the village's: a need-to-know workflow's case only for its handler and oversight."""
    return workflow not in need_to_know or assignee_id == user_id or reads_all_need_to_know


def read_scope(user: User) -> ReadScope:
    """What ``user`` may read (nothing at all when inactive or without a case-reading role)."""
    return read_scopes([user])[user.id]


def read_scopes(users: Iterable[User]) -> dict[int, ReadScope]:
    """``read_scope`` of many users, by user id: ``jurisdiction_ids`` once per distinct set of places held
    (what it depends on, as its memo's key says), so a scan over hundreds of assignees asks a few times."""
    need_to_know = need_to_know_workflows()
    places: dict[frozenset[int] | str, frozenset[int]] = {}
    scopes: dict[int, ReadScope] = {}
    for user in users:
        if not can_read_cases(user):
            scopes[user.id] = ReadScope(user.id, frozenset(), frozenset(), False)
            continue
        held: frozenset[int] | str = "all" if user.has_role(SYSTEM) else frozenset(j.id for j in user.jurisdictions)
        if held not in places:
            places[held] = frozenset(jurisdiction_ids(user))
        scopes[user.id] = ReadScope(user.id, places[held], need_to_know, user.has_role(*NEED_TO_KNOW_ROLES))
    return scopes


def can_read(user: User, case: Case) -> bool:
    """``read_scope(user).allows(...)`` for one case, without a query when it can: every step and every
    case page asks, and listing the user's jurisdictions was a round trip of its own. The case's village
    is in the user's jurisdictions when the user holds it, or holds its township (``jurisdiction_ids``);
    the township is known without a query when the village is in the session (``readable_case`` loads it
    with the case)."""
    if not can_read_cases(user):
        return False
    if not user.has_role(SYSTEM):
        held = {j.id for j in user.jurisdictions}
        if case.jurisdiction_id not in held:
            village = db.session.identity_map.get(identity_key(Jurisdiction, case.jurisdiction_id))
            if village is not None:
                if village.parent_id not in held:
                    return False
            elif case.jurisdiction_id not in jurisdiction_ids(user):
                return False
    return _need_to_know_allows(case.workflow, case.assignee_id, user.id, need_to_know_workflows(),
                                user.has_role(*NEED_TO_KNOW_ROLES))


def readable_case(user: User, case_id: int, *, for_update: bool = False, with_applicant: bool = False) -> Case:
    """Load a case ``user`` may read, or raise NotFound (never revealing that it exists).

    Its village comes in the same query (``can_read`` needs its township), and its applicant too when
    asked for (a page or answer that shows the case). ``for_update`` locks the case row only, not the
    village's, which every case of the village shares, and as FOR NO KEY UPDATE (what the step's own
    UPDATE takes): rows that refer to the case may still be inserted meanwhile, as the deadline scan does
    while it holds the case's ``case_deadline`` row, which the step's UPDATE then waits for (FOR UPDATE
    would make the two wait for each other)."""
    if for_update:  # statements built once: their cache key is worked out once, not on every step
        locked = _LOCKED_CASE_WITH_APPLICANT if with_applicant else _LOCKED_CASE
        case = db.session.execute(locked, {"case_id": case_id}).scalar_one_or_none()
    else:
        case = db.session.get(Case, case_id, options=_WITH_APPLICANT if with_applicant else _WITH_VILLAGE)
    if case is None or not can_read(user, case):
        raise NotFound(CASE_NOT_FOUND)
    return case


_WITH_VILLAGE = (joinedload(Case.jurisdiction, innerjoin=True),)
_WITH_APPLICANT = (*_WITH_VILLAGE, joinedload(Case.applicant, innerjoin=True))
_LOCKED_CASE, _LOCKED_CASE_WITH_APPLICANT = (
    sa.select(Case).options(*options, *LAST_LINK).where(Case.id == sa.bindparam("case_id"))
    .with_for_update(of=Case, key_share=True).execution_options(populate_existing=True)
    for options in (_WITH_VILLAGE, _WITH_APPLICANT))


def require_village(user: User, jurisdiction: Jurisdiction) -> None:
    """Cases belong to villages; ``user`` must work in this one."""
    if jurisdiction.kind != "village" or jurisdiction.id not in jurisdiction_ids(user):
        raise PermissionDenied(NOT_IN_JURISDICTION)


def villages_of(user: User) -> list[Jurisdiction]:
    """The villages ``user`` may open cases in, by code."""
    ids = jurisdiction_ids(user)
    return list(db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_(ids), Jurisdiction.kind == "village")
        .order_by(Jurisdiction.code)
    ))


def case_handlers(case: Case, day: date | None = None) -> list[User]:
    """Active clerks and supervisors who work where ``case`` is: the people it may be assigned to.
    Those on leave on ``day`` (default: today) are left out: they get no new work.

    Assigning a need-to-know case is what lets a clerk see it at all.
    """
    day = day or local_date(utcnow())
    away = sa.select(Leave.user_id).where(Leave.covering(day))
    places = [case.jurisdiction_id]
    if case.jurisdiction.parent_id is not None:
        places.append(case.jurisdiction.parent_id)
    holds_place = sa.select(user_jurisdiction.c.user_id).where(
        user_jurisdiction.c.jurisdiction_id.in_(places))
    handles = sa.select(UserRole.user_id).where(UserRole.role.in_(HANDLER_ROLES))
    return list(db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.id.in_(holds_place), User.id.in_(handles),
                              User.id.not_in(away))
        .order_by(User.display_name, User.username)
    ))
