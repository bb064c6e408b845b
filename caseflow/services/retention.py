"""Retention: deleting personal details once the law no longer needs them kept (个人信息保护法 第19、47条)."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import PurePath

import sqlalchemy as sa
from flask import current_app

from caseflow.extensions import db
from caseflow.models import Attachment, Case, Comment, User
from caseflow.services.attachments import purge_attachment_bytes
from caseflow.services.audit import append_event
from caseflow.services.cases import each_on_its_own, workflow_of
from caseflow.services.errors import PermissionDenied
from caseflow.services.users import system_user
from caseflow.workflows.definition import SYSTEM, Text

PROCEDURE_WORKFLOW = "procedure_certificate"
SYSTEM_ONLY = Text("只有系统可以按保留期限删除数据。", "Only the system deletes data under the retention period.")


def purge_expired_procedure_details(now: datetime, actor: User | None = None) -> int:
    """Delete the medical details of procedure certificate cases closed more than
    ``CASEFLOW_PROCEDURE_RETENTION_DAYS`` ago; returns how many cases were purged.

    Each case loses its sensitive application fields, its comments' bodies and its attachments; it keeps
    its statistical record (state, dates, deadlines, outcome, jurisdiction) and gains one "purge" event
    naming the fields removed (never their values). The audit chain stays intact: sensitive values were
    never written into it. Run by the scheduler as the system account; a second run changes nothing.
    """
    actor = actor or system_user(now)
    if not actor.has_role(SYSTEM):
        raise PermissionDenied(SYSTEM_ONLY)
    cutoff = now - timedelta(days=current_app.config["CASEFLOW_PROCEDURE_RETENTION_DAYS"])
    expired = db.session.scalars(
        sa.select(Case).where(Case.workflow == PROCEDURE_WORKFLOW, Case.closed_at.is_not(None),
                              Case.closed_at < cutoff, Case.purged_at.is_(None))
        .order_by(Case.id)
    ).all()
    def purge(case: Case) -> None:
        _purge_case(case, actor, now)
        db.session.flush()

    return each_on_its_own(expired, purge)


def _purge_case(case: Case, actor: User, now: datetime) -> None:
    sensitive = workflow_of(case).sensitive_fields
    removed = sorted(name for name in case.data if name in sensitive)
    case.data = {name: value for name, value in case.data.items() if name not in sensitive}
    comments = db.session.scalars(
        sa.select(Comment).where(Comment.case_id == case.id, Comment.purged_at.is_(None))).all()
    for comment in comments:
        comment.body, comment.purged_at = "", now
    attachments = db.session.scalars(
        sa.select(Attachment).where(Attachment.case_id == case.id, Attachment.purged_at.is_(None))).all()
    for attachment in attachments:
        purge_attachment_bytes(attachment, now)  # the record (kind, size, hash) stays; its name may be health data
        attachment.filename = f"{attachment.kind}{PurePath(attachment.filename).suffix}"
    case.purged_at = now
    append_event(case, actor, "purge", case.state, case.state, now,
                 data={"removed_fields": removed, "comments": len(comments), "attachments": len(attachments)})
