"""Case lists: a user's own queue and filtered searches, always limited to what the user may see."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from caseflow.extensions import db
from caseflow.models import Case, Person, User
from caseflow.services.access import visible_cases
from caseflow.services.deadlines import LIGHTS, LightBounds


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
    items: list[Case]
    total: int
    page: int
    page_size: int
    bounds: LightBounds

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _ordered(query: sa.Select) -> sa.Select:
    # Most urgent first; cases without a running deadline last, newest first among them.
    return query.order_by(Case.due_at.asc().nulls_last(), Case.opened_at.desc(), Case.id.desc())


def _paginate(query: sa.Select, page: int, page_size: int, bounds: LightBounds) -> Page:
    page = max(page, 1)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    # Lists show applicant, village and assignee of every row: load them in three queries, not per row.
    rows = _ordered(query).options(selectinload(Case.applicant), selectinload(Case.jurisdiction),
                                   selectinload(Case.assignee))
    items = list(db.session.scalars(rows.limit(page_size).offset((page - 1) * page_size)))
    return Page(items, total, page, page_size, bounds)


def search_cases(user: User, filters: CaseFilter, *, page: int = 1, page_size: int = 50,
                 now: datetime | None = None) -> Page:
    """Cases ``user`` may see that match ``filters``, most urgent first."""
    bounds = LightBounds.current(now)
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
    if filters.open_only:
        query = query.where(Case.closed_at.is_(None))
    text = (filters.text or "").strip()
    if text:
        # A resident ID is matched only in full, so the search cannot be used to fish for IDs.
        query = query.where(sa.or_(
            sa.func.upper(Case.number) == text.upper(),
            Case.applicant.has(sa.or_(Person.name.contains(text, autoescape=True),
                                      Person.resident_id == text.upper())),
        ))
    return _paginate(query, page, page_size, bounds)


def my_queue(user: User, *, page: int = 1, page_size: int = 50, now: datetime | None = None) -> Page:
    """Open cases assigned to ``user``, and unassigned open cases in their jurisdiction."""
    bounds = LightBounds.current(now)
    query = visible_cases(user).where(
        Case.closed_at.is_(None),
        sa.or_(Case.assignee_id == user.id, Case.assignee_id.is_(None)),
    )
    return _paginate(query, page, page_size, bounds)
