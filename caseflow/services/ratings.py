"""好差评: the applicant's one rating of a finished case, and the supervisors' follow-up of bad ones.

An applicant rates a case from the public progress page (views/progress.py) after proving, with the
receipt number and PIN, that it is theirs; there is no user behind a rating. A rating of 1 or 2 (不满意,
非常不满意) opens a follow-up (差评回访) in the same transaction: any supervisor who may read the case
(its township's supervisors; need-to-know cases included, as supervisors may read those) can take it and
must close it with a written resolution. Comments are the applicant's own words: stored as typed and only
ever shown escaped.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db, insert_or_nothing
from caseflow.models import Case, FollowUp, Jurisdiction, Rating, User
from caseflow.services import access
from caseflow.services.errors import (
    INVALID_DATA, Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed,
)
from caseflow.services.progress import may_be_rated
from caseflow.workflows.definition import REQUIRED, TOO_LONG, Text

LEVELS: tuple[tuple[int, Text], ...] = (
    (5, Text("非常满意", "Very satisfied")),
    (4, Text("满意", "Satisfied")),
    (3, Text("基本满意", "Fairly satisfied")),
    (2, Text("不满意", "Dissatisfied")),
    (1, Text("非常不满意", "Very dissatisfied")),
)
# Ratings at or below this open a follow-up for the supervisors.
BAD_AT_MOST = 2
COMMENT_MAX_LENGTH = 500
RESOLUTION_MAX_LENGTH = 2000

CHOOSE_A_LEVEL = Text("请选择一个评价等级。", "Choose one of the five levels.")
NOT_FINISHED = Text("办结后才能评价。", "The case can be rated once it is finished.")
ALREADY_RATED = Text("该办件已经评价过，感谢您的反馈。", "This case has already been rated. Thank you.")
FOLLOW_UP_NOT_FOUND = Text("找不到该回访任务，或您无权查看。", "Follow-up not found, or you may not see it.")
SUPERVISORS_ONLY = Text("只有主管可以处理差评回访。", "Only supervisors handle follow-ups of bad ratings.")
TAKEN_BY_SOMEONE_ELSE = Text("该回访已由其他主管接手。", "Another supervisor has taken this follow-up.")
FOLLOW_UP_CLOSED = Text("该回访已办结。", "This follow-up is already closed.")


def level_label(level: int) -> Text:
    return dict(LEVELS)[level]


def rating_of(case: Case) -> Rating | None:
    return db.session.scalar(sa.select(Rating).where(Rating.case_id == case.id))


def follow_up_of(rating: Rating) -> FollowUp | None:
    return db.session.scalar(sa.select(FollowUp).where(FollowUp.rating_id == rating.id))


def clean_rating(level: Any, comment: str | None) -> tuple[int, str | None]:
    """The level (1–5) and the comment (None when empty); ValidationFailed names each bad field."""
    errors: dict[str, Text] = {}
    text = str(level).strip() if level is not None else ""
    value = int(text) if text in {str(level) for level, _label in LEVELS} else 0
    if value not in dict(LEVELS):
        errors["level"] = CHOOSE_A_LEVEL
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > COMMENT_MAX_LENGTH:
        errors["comment"] = TOO_LONG.format(n=COMMENT_MAX_LENGTH)
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    return value, comment


def rate_case(case: Case, level: Any, comment: str | None, now: datetime | None = None) -> Rating:
    """Record the applicant's rating of ``case``: once per case, once its service is over.

    The caller has established that the rater holds the receipt number and PIN. A bad rating (1 or 2)
    opens a follow-up for the supervisors in the same transaction. Two submissions racing for the same
    case leave one rating: the insert does nothing when the case already has one (unique case_id), and
    the loser gets Conflict(ALREADY_RATED).
    """
    now = now or utcnow()
    value, comment = clean_rating(level, comment)
    if not may_be_rated(case):
        raise InvalidTransition(NOT_FINISHED)
    rating_id = db.session.execute(
        insert_or_nothing(Rating, "case_id").values(case_id=case.id, level=value, comment=comment, created_at=now)
        .returning(Rating.id)
    ).scalar()
    if rating_id is None:
        raise Conflict(ALREADY_RATED)
    rating = db.session.get(Rating, rating_id)
    if value <= BAD_AT_MOST:
        db.session.add(FollowUp(rating_id=rating.id, case_id=case.id, status="open", created_at=now))
    db.session.flush()
    return rating


# ----------------------------------------------------------------------------------------- follow-ups

def _visible_follow_ups(user: User) -> sa.Select:
    """Follow-ups of the cases ``user`` may read, for supervisors only (nothing for anyone else)."""
    query = sa.select(FollowUp)
    if not (user.is_active and user.has_role("supervisor")):
        return query.where(sa.false())
    # An EXISTS on each follow-up's case: ``case_id IN visible_cases`` made SQLite list a township's
    # quarter of a million visible cases for the header's badge on every page.
    return query.where(access.visible_case(user, FollowUp.case_id))


def follow_ups_for(user: User, status: str = "open", limit: int = 200) -> list[FollowUp]:
    """The follow-ups ``user`` handles with ``status`` ("open": oldest first, so none is forgotten;
    "done": latest closed first)."""
    query = _visible_follow_ups(user).where(FollowUp.status == status)
    order = (FollowUp.created_at, FollowUp.id) if status == "open" else (FollowUp.closed_at.desc(),
                                                                         FollowUp.id.desc())
    return list(db.session.scalars(query.order_by(*order).limit(limit)))


def open_follow_up_count(user: User) -> int:
    """How many open follow-ups ``user`` could take (the header's badge)."""
    return db.session.scalar(sa.select(open_follow_up_counter(user))) or 0


def open_follow_up_counter(user: User) -> sa.ScalarSelect:
    """``open_follow_up_count`` as a scalar subquery: the page layout reads it in the one statement it
    makes on every page (views/template_helpers.py)."""
    query = _visible_follow_ups(user).where(FollowUp.status == "open")
    return sa.select(sa.func.count()).select_from(query.subquery()).scalar_subquery()


def readable_follow_up(user: User, follow_up_id: int) -> FollowUp:
    """A follow-up ``user`` may handle, or NotFound (never revealing that it exists)."""
    follow_up = db.session.get(FollowUp, follow_up_id)
    if (follow_up is None or not user.has_role("supervisor")
            or not access.can_read(user, follow_up.case)):
        raise NotFound(FOLLOW_UP_NOT_FOUND)
    return follow_up


def _require_supervisor(follow_up: FollowUp, actor: User) -> None:
    if not access.can_read(actor, follow_up.case):
        raise NotFound(FOLLOW_UP_NOT_FOUND)
    if not actor.has_role("supervisor"):
        raise PermissionDenied(SUPERVISORS_ONLY)


def take_follow_up(follow_up: FollowUp, actor: User) -> FollowUp:
    """``actor`` takes an open follow-up nobody has taken (taking one's own again changes nothing).

    One conditional UPDATE, so two supervisors taking it at once cannot both win.
    """
    _require_supervisor(follow_up, actor)
    taken = db.session.execute(
        sa.update(FollowUp).where(
            FollowUp.id == follow_up.id, FollowUp.status == "open",
            sa.or_(FollowUp.assignee_id.is_(None), FollowUp.assignee_id == actor.id))
        .values(assignee_id=actor.id).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(follow_up)
    if not taken:
        raise Conflict(FOLLOW_UP_CLOSED if follow_up.status != "open" else TAKEN_BY_SOMEONE_ELSE)
    return follow_up


def close_follow_up(follow_up: FollowUp, actor: User, resolution: str | None,
                    now: datetime | None = None) -> FollowUp:
    """Close an open follow-up with what was done (the resolution is required).

    Any supervisor who may read the case may close it, taken by them or not; they are recorded as the
    one who closed it. A follow-up closed meanwhile by someone else is a Conflict, never overwritten.
    """
    now = now or utcnow()
    _require_supervisor(follow_up, actor)
    text = (resolution or "").strip()
    if not text:
        raise ValidationFailed(INVALID_DATA, {"resolution": REQUIRED})
    if len(text) > RESOLUTION_MAX_LENGTH:
        raise ValidationFailed(INVALID_DATA, {"resolution": TOO_LONG.format(n=RESOLUTION_MAX_LENGTH)})
    closed = db.session.execute(
        sa.update(FollowUp).where(FollowUp.id == follow_up.id, FollowUp.status == "open")
        .values(status="done", resolution=text, closed_at=now, closed_by_id=actor.id,
                assignee_id=sa.func.coalesce(FollowUp.assignee_id, actor.id))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(follow_up)
    if not closed:
        raise Conflict(FOLLOW_UP_CLOSED)
    return follow_up


# -------------------------------------------------------------------------------------------- figures

def rating_figures(township: Jurisdiction, start: datetime, end: datetime,
                   viewer: User | None = None) -> dict[str, Any]:
    """The ratings given in [start, end) on cases of ``township``'s villages, for the monthly report and
    the dashboard: {"count", "by_level": {"5": n … "1": n}, "average" (2 decimals, None without
    ratings), "bad" (levels 1–2), "follow_ups_open", "follow_ups_done"}. The follow-up counts are of the
    follow-ups those ratings opened, by their status now.

    With ``viewer``, only cases ``viewer`` may read count (so a figure on a page cannot reveal a
    need-to-know case to someone who may not see it); without, every case of the township (the report,
    which goes to its supervisors).
    """
    villages = sa.select(Jurisdiction.id).where(Jurisdiction.parent_id == township.id,
                                                Jurisdiction.kind == "village")
    scope = (sa.select(Rating.id).join(Case, Case.id == Rating.case_id)
             .where(Case.jurisdiction_id.in_(villages), Rating.created_at >= start, Rating.created_at < end))
    if viewer is not None:
        scope = scope.where(Case.id.in_(access.visible_cases(viewer).with_only_columns(Case.id)
                                        .scalar_subquery()))
    rated = scope.scalar_subquery()
    by_level = {str(level): 0 for level, _label in LEVELS}
    for level, count in db.session.execute(
            sa.select(Rating.level, sa.func.count()).where(Rating.id.in_(rated)).group_by(Rating.level)):
        by_level[str(level)] = count
    count = sum(by_level.values())
    total = sum(int(level) * n for level, n in by_level.items())
    follow_ups = dict(db.session.execute(
        sa.select(FollowUp.status, sa.func.count()).where(FollowUp.rating_id.in_(rated))
        .group_by(FollowUp.status)).all())
    return {
        "count": count,
        "by_level": by_level,
        "average": round(total / count, 2) if count else None,
        "bad": sum(n for level, n in by_level.items() if int(level) <= BAD_AT_MOST),
        "follow_ups_open": follow_ups.get("open", 0),
        "follow_ups_done": follow_ups.get("done", 0),
    }
