"""Every (state, trigger, role) of birth registration: allowed combinations move the case and write
exactly one audit event; refused ones change nothing."""
import pytest

from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES
from tests.factories import advance, make_case, valid_input
from tests.functional.transition_table import check_cell

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


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state, trigger, role):
    case = advance(make_case(office), PATHS[state], office)
    assert case.state == state
    step = WORKFLOW.step_for(trigger, state)
    allowed = step is not None and role in step.roles
    refusal = None if allowed else (NotFound if role == "admin" else
                                    InvalidTransition if step is None else PermissionDenied)
    check_cell(case, trigger, office[ACTOR[role]], dest=step and step.dest, refusal=refusal,
               reason="书面理由" if step and step.reason_required else None,
               data=valid_input(step.fields) if step else {})
