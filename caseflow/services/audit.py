"""The append-only, hash-chained audit trail of a case."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import Case, CaseEvent, CaseRead, User
from caseflow.workflows import get as get_workflow

GENESIS = "0" * 64


def event_hash(event: CaseEvent) -> str:
    """SHA-256 over the event's content and the previous hash; any edit to history changes it."""
    payload = {
        "case_id": event.case_id,
        "seq": event.seq,
        "at": event.at.astimezone(timezone.utc).isoformat(),
        "actor_id": event.actor_id,
        "trigger": event.trigger,
        "from": event.from_state,
        "to": event.to_state,
        "reason": event.reason,
        "data": event.data,
        "prev": event.prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def append_event(case: Case, actor: User | None, trigger: str, from_state: str | None, to_state: str,
                 at: datetime, reason: str | None = None, data: dict[str, Any] | None = None) -> CaseEvent:
    """Add the next event of ``case`` to the session, chained to the one before it.

    Two writers racing for the same case both pick the same ``seq``; the unique (case_id, seq)
    constraint makes the second one fail instead of forking the chain.
    """
    if case.id is None:
        db.session.flush()
    last = db.session.execute(
        sa.select(CaseEvent.seq, CaseEvent.hash)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    event = CaseEvent(
        case_id=case.id,
        seq=(last.seq + 1) if last else 1,
        at=at,
        actor_id=actor.id if actor else None,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data or {},
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = event_hash(event)
    db.session.add(event)
    return event


def verify_chain(case: Case) -> int | None:
    """Return the ``seq`` of the first event whose hash or link does not hold, or None when intact."""
    events = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    )
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq or event.prev_hash != previous or event.hash != event_hash(event):
            return event.seq
        previous = event.hash
    return None


def record_read(case: Case, user: User, what: str, at: datetime) -> None:
    """Log that ``user`` saw ``what`` of ``case`` when it is a need-to-know case (个人信息保护法 第28条);
    reads of other cases are not logged. Call it wherever a case is shown, exported or acted on, and
    commit even on a GET: the one place that decides which reads are logged."""
    if get_workflow(case.workflow, case.workflow_version).need_to_know:
        db.session.add(CaseRead(case_id=case.id, user_id=user.id, at=at, what=what[:80]))


def record_reads(cases: Iterable[Case], user: User, what: str, at: datetime) -> None:
    """``record_read`` for every case a list, an export or a hand-over showed."""
    for case in cases:
        record_read(case, user, what, at)


def reads_of(case: Case, limit: int = 200) -> list[CaseRead]:
    """The latest reads of ``case``, newest first (shown to supervisors and auditors)."""
    return list(db.session.scalars(
        sa.select(CaseRead).where(CaseRead.case_id == case.id).order_by(CaseRead.at.desc(), CaseRead.id.desc())
        .limit(limit)
    ))
