"""Admin overrides of the office calendar; every change recomputes open deadlines."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.models import CalendarOverride, User
from caseflow.services.deadlines import recompute_open_deadlines
from caseflow.services.errors import PermissionDenied, ValidationFailed
from caseflow.workflows.definition import Text

ADMIN_ONLY = Text("只有管理员可以修改工作日历。", "Only an administrator may change the calendar.")
DUPLICATE_DAY = Text("这一天已有例外设置。", "That day already has an override.")
NOTE_REQUIRED = Text("请说明原因。", "Give a reason.")


def add_override(day: date, is_working_day: bool, note: str, actor: User,
                 now: datetime | None = None) -> int:
    """Record a closure or extra working day, then recompute open deadlines. Returns cases updated."""
    if not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)
    if not note.strip():
        raise ValidationFailed(NOTE_REQUIRED, {"note": NOTE_REQUIRED})
    if db.session.scalar(sa.select(CalendarOverride.id).where(CalendarOverride.day == day)):
        raise ValidationFailed(DUPLICATE_DAY, {"day": DUPLICATE_DAY})
    db.session.add(CalendarOverride(day=day, is_working_day=is_working_day, note=note.strip(),
                                    created_by_id=actor.id, created_at=now or utcnow()))
    db.session.flush()
    return recompute_open_deadlines()


def remove_override(override_id: int, actor: User) -> int:
    if not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)
    override = db.session.get(CalendarOverride, override_id)
    if override is not None:
        db.session.delete(override)
        db.session.flush()
    return recompute_open_deadlines()


def list_overrides() -> list[CalendarOverride]:
    """Every local override, by day."""
    return list(db.session.scalars(sa.select(CalendarOverride).order_by(CalendarOverride.day)))
