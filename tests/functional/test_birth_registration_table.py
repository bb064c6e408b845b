"""Every (state, trigger, role) of birth registration: allowed combinations move the case and write
exactly one audit event; refused ones change nothing."""
import pytest
import sqlalchemy as sa

from caseflow.extensions import transactional
from caseflow.models import CaseEvent
from caseflow.services.cases import apply_transition
from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES
from tests.factories import advance, make_case, reload, valid_input

WORKFLOW = latest("birth_registration")
# How to reach each state from submission.
PATHS = {
    "submitted": (),
    "needs_supplement": ("request_supplement",),
    "accepted": ("accept",),
    "verifying": ("accept", "verify"),
    "registered": ("accept", "register"),
    "refused": ("accept", "verify", "refuse"),
    "withdrawn": ("withdraw",),
    "voided": ("accept", "register", "void"),
}
TRIGGERS = sorted({step.trigger for step in WORKFLOW.steps})
# The user acting in each role; the village officer works in the case's village.
ACTOR = {"village_officer": "village1", "clerk": "clerk", "supervisor": "supervisor",
         "admin": "admin", "auditor": "auditor"}


def test_paths_reach_every_state():
    assert set(PATHS) == {s.name for s in WORKFLOW.states}


def event_count(db, case):
    return db.session.scalar(sa.select(sa.func.count()).where(CaseEvent.case_id == case.id))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state, trigger, role):
    case = advance(make_case(office), PATHS[state], office)
    assert case.state == state
    before = (case.state, case.version, event_count(db, case))
    step = WORKFLOW.step_for(trigger, state)
    actor = office[ACTOR[role]]
    allowed = step is not None and role in step.roles

    call = lambda: apply_transition(case, trigger, actor, case.version,
                                    reason="书面理由" if step and step.reason_required else None,
                                    data=valid_input(step.fields) if step else {})
    if allowed:
        with transactional():
            call()
        case = reload(case)
        assert case.state == step.dest
        assert case.version == before[1] + 1
        assert event_count(db, case) == before[2] + 1
        assert case.events[-1].trigger == trigger and case.events[-1].actor_id == actor.id
    else:
        expected = NotFound if role == "admin" else (InvalidTransition if step is None else PermissionDenied)
        with pytest.raises(expected):
            with transactional():
                call()
        case = reload(case)
        assert (case.state, case.version, event_count(db, case)) == before
