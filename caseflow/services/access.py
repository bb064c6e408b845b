"""Who may see and touch what: roles and jurisdictions, checked on every read and every action."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, Jurisdiction, Leave, User, UserRole, user_jurisdiction
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
    if user.has_role(SYSTEM):
        return set(db.session.scalars(sa.select(Jurisdiction.id)))
    own = [j.id for j in user.jurisdictions]
    if not own:
        return set()
    rows = db.session.scalars(
        sa.select(Jurisdiction.id).where(sa.or_(Jurisdiction.id.in_(own), Jurisdiction.parent_id.in_(own)))
    )
    return set(rows)


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


def can_see_pin(user: User) -> bool:
    """Whether ``user`` may see an applicant's progress look-up PIN (printed on the receipt)."""
    return user.is_active and user.has_role(*PIN_READER_ROLES)


def can_read(user: User, case: Case) -> bool:
    if not (can_read_cases(user) and case.jurisdiction_id in jurisdiction_ids(user)):
        return False
    if case.workflow in need_to_know_workflows():
        return case.assignee_id == user.id or user.has_role(*NEED_TO_KNOW_ROLES)
    return True


def readable_case(user: User, case_id: int, *, for_update: bool = False) -> Case:
    """Load a case ``user`` may read, or raise NotFound (never revealing that it exists)."""
    case = db.session.get(Case, case_id, with_for_update=for_update)
    if case is None or not can_read(user, case):
        raise NotFound(CASE_NOT_FOUND)
    return case


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
