"""Notes on a case by the people handling it.

A comment is a working note ("called the applicant, documents come Monday"), not a decision: it does not
move the case, does not change its version and is not part of the hash-chained audit trail. Comments are
never edited or deleted by users; the retention purge may blank them (``Comment.purged_at``).
Who may comment is who may attach (``attachments.require_may_add``).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import Case, Comment, User
from caseflow.services.attachments import require_may_add
from caseflow.services.errors import INVALID_DATA, ValidationFailed
from caseflow.workflows.definition import Text

MAX_COMMENT_LENGTH = 2000

EMPTY_COMMENT = Text("备注不能为空。", "The note may not be empty.")
COMMENT_TOO_LONG = Text(f"备注不能超过 {MAX_COMMENT_LENGTH} 个字符。",
                        f"A note may have at most {MAX_COMMENT_LENGTH} characters.")


def add_comment(case: Case, actor: User, body: str | None, now: datetime) -> Comment:
    """Add a note to ``case`` by ``actor`` (same permission as attaching); flushes, never commits."""
    require_may_add(case, actor)
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed(INVALID_DATA, {"body": EMPTY_COMMENT})
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(INVALID_DATA, {"body": COMMENT_TOO_LONG})
    comment = Comment(case_id=case.id, author=actor, at=now, body=text)
    db.session.add(comment)
    db.session.flush()
    return comment


def list_comments(case: Case) -> list[Comment]:
    """The notes on ``case``, oldest first (the caller has checked that the reader may read the case)."""
    return list(db.session.scalars(
        sa.select(Comment).where(Comment.case_id == case.id).order_by(Comment.at, Comment.id)
    ))
