"""The append-only, hash-chained audit trail of a case."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import with_expression
from sqlalchemy.orm.attributes import set_committed_value

from caseflow.extensions import INSERT_BY_DIALECT, db
from caseflow.models import Case, CaseEvent, CaseRead, User
from caseflow.services.errors import STALE, Conflict
from caseflow.workflows import get as get_workflow

GENESIS = "0" * 64


def event_hash(event: CaseEvent) -> str:
    """SHA-256 over the event's content and the previous hash; any edit to history changes it."""
    return _content_hash(event.case_id, event.seq, event.at, event.actor_id, event.trigger, event.from_state,
                         event.to_state, event.reason, event.data, event.prev_hash)


def _content_hash(case_id: int, seq: int, at: datetime, actor_id: int | None, trigger: str,
                  from_state: str | None, to_state: str, reason: str | None, data: dict[str, Any],
                  prev_hash: str) -> str:
    payload = {
        "case_id": case_id,
        "seq": seq,
        "at": at.astimezone(timezone.utc).isoformat(),
        "actor_id": actor_id,
        "trigger": trigger,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "data": data,
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_events = CaseEvent.__table__
_LAST_EVENT = (sa.select(_events.c.seq, _events.c.hash).where(_events.c.case_id == sa.bindparam("case_id"))
               .order_by(_events.c.seq.desc()).limit(1))
_INSERT_EVENT = sa.insert(_events)
# By dialect, built once (extensions.insert_or_nothing needs the app to know it): the id comes back only
# when the row was inserted.
_INSERT_EVENT_OR_NOTHING = {
    dialect: insert(_events).on_conflict_do_nothing(index_elements=["case_id", "seq"]).returning(_events.c.id)
    for dialect, insert in INSERT_BY_DIALECT.items()
}


def _last_of_chain(column: sa.Column) -> sa.ScalarSelect:
    return (sa.select(column).where(_events.c.case_id == Case.id).order_by(_events.c.seq.desc()).limit(1)
            .scalar_subquery())


# Loader options for a query of cases: each case comes with the last link of its chain (one round trip
# fewer for the step that writes the next event).
LAST_LINK = (with_expression(Case.last_event_seq, _last_of_chain(_events.c.seq)),
             with_expression(Case.last_event_hash, _last_of_chain(_events.c.hash)))


def append_event(case: Case, actor: User | None, trigger: str, from_state: str | None, to_state: str,
                 at: datetime, reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Write the next event of ``case``, chained to the one before it (in the caller's transaction).

    The link it chains to is the one loaded with the case (``LAST_LINK``), used once, or else read now.
    A loaded link can be out of date: an event that does not move the case's version (an attachment, a
    payment) may have been written since the case was read. Its ``seq`` is then taken, so the INSERT does
    nothing and the link is read again. Two writers racing for the same case both pick the same ``seq``;
    the unique (case_id, seq) constraint makes the second one fail (a Conflict, as for a stale version)
    instead of forking the chain. The row is inserted at once, without an ORM object: an event is never
    changed after it is written, and this is the one row every step adds, so it skips the unit of work's
    bookkeeping.
    """
    if case.id is None:
        db.session.flush()
    data = data or {}
    actor_id = actor.id if actor else None

    def row_after(seq: int, prev_hash: str) -> dict[str, Any]:
        return {"case_id": case.id, "seq": seq + 1, "at": at, "actor_id": actor_id, "trigger": trigger,
                "from_state": from_state, "to_state": to_state, "reason": reason, "data": data,
                "prev_hash": prev_hash, "hash": _content_hash(case.id, seq + 1, at, actor_id, trigger, from_state,
                                                             to_state, reason, data, prev_hash)}

    state = sa.inspect(case)
    loaded_seq, loaded_hash = state.dict.get("last_event_seq"), state.dict.get("last_event_hash")
    if loaded_seq is not None:
        set_committed_value(case, "last_event_seq", None)  # once: a later event of this transaction reads it
        insert = _INSERT_EVENT_OR_NOTHING[db.session.get_bind().dialect.name]
        if db.session.execute(insert, row_after(loaded_seq, loaded_hash)).first() is not None:
            return
    last = db.session.execute(_LAST_EVENT, {"case_id": case.id}).first()
    try:
        db.session.execute(_INSERT_EVENT, row_after(last.seq, last.hash) if last else row_after(0, GENESIS))
    except sa.exc.IntegrityError as exc:
        if "case_event" not in str(exc.orig).lower():
            raise
        raise Conflict(STALE) from None


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
