"""One cell of a workflow's (state × trigger × role) table test: the step is taken, or refused with
nothing changed."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.models import Case, CaseEvent, User
from caseflow.services.cases import apply_transition
from tests.factories import reload


def event_count(case: Case) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(CaseEvent.case_id == case.id))


def check_cell(case: Case, trigger: str, actor: User, *, dest: str | None, refusal: type[Exception] | None,
               reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Fire ``trigger``: with ``refusal`` None it must move the case to ``dest`` (version + 1, one event by
    ``actor``); otherwise it must raise ``refusal`` and leave state, version and trail as they were."""
    before = (case.state, case.version, event_count(case))

    def call() -> None:
        with transactional():
            apply_transition(case, trigger, actor, case.version, reason=reason, data=data or {})

    if refusal is None:
        call()
        case = reload(case)
        assert case.state == dest
        assert case.version == before[1] + 1
        assert event_count(case) == before[2] + 1
        assert case.events[-1].trigger == trigger and case.events[-1].actor_id == actor.id
    else:
        with pytest.raises(refusal):
            call()
        case = reload(case)
        assert (case.state, case.version, event_count(case)) == before
