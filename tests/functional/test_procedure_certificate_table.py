"""Every (state, trigger, role) of the procedure certificate: allowed combinations move the case and write
exactly one audit event; refused ones change nothing. The case is assigned to the acting clerk (a clerk
only ever sees the certificates assigned to them); a clerk it is not assigned to, and every village
officer, cannot even find it."""
import pytest

from caseflow.extensions import transactional
from caseflow.services.cases import apply_transition
from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES
from tests.factories import advance, make_procedure_case, reload, valid_input
from tests.functional.transition_table import check_cell, event_count

WORKFLOW = latest("procedure_certificate")
# How to reach each state from submission (the case is entered by, and assigned to, "clerk").
PATHS = {
    "submitted": (),
    "needs_supplement": ("request_supplement",),
    "issued": ("issue",),
    "refused": ("refuse",),
    "withdrawn": ("withdraw",),
}
TRIGGERS = sorted({step.trigger for step in WORKFLOW.steps})
ACTOR = {"village_officer": "village1", "clerk": "clerk", "supervisor": "supervisor",
         "admin": "admin", "auditor": "auditor"}
# Who may fire what, spelled out rather than read back from the workflow under test.
EXPECTED = {
    ("submitted", "issue"): {"clerk", "supervisor"},
    ("submitted", "request_supplement"): {"clerk", "supervisor"},
    ("submitted", "refuse"): {"supervisor"},
    ("submitted", "withdraw"): {"clerk", "supervisor"},
    ("needs_supplement", "resubmit"): {"clerk", "supervisor"},
    ("needs_supplement", "withdraw"): {"clerk", "supervisor"},
}


def test_paths_reach_every_state_and_the_table_covers_every_step():
    assert set(PATHS) == {s.name for s in WORKFLOW.states}
    assert {(state, s.trigger) for s in WORKFLOW.steps for state in s.sources} == set(EXPECTED)


def _call(case, trigger, actor):
    step = WORKFLOW.step_for(trigger, case.state)
    return apply_transition(case, trigger, actor, case.version,
                            reason="书面理由" if step and step.reason_required else None,
                            data=valid_input(step.fields) if step else {})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state, trigger, role):
    case = advance(make_procedure_case(office, by="clerk"), PATHS[state], office)
    assert case.state == state and case.assignee.username == "clerk"
    step = WORKFLOW.step_for(trigger, state)
    allowed = role in EXPECTED.get((state, trigger), set())
    assert allowed == (step is not None and role in step.roles)
    # Need-to-know: admins and village officers cannot read the case at all.
    refusal = None if allowed else (NotFound if role in ("admin", "village_officer") else
                                    InvalidTransition if step is None else PermissionDenied)
    check_cell(case, trigger, office[ACTOR[role]], dest=step and step.dest, refusal=refusal,
               reason="书面理由" if step and step.reason_required else None,
               data=valid_input(step.fields) if step else {})


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_a_clerk_the_case_is_not_assigned_to_cannot_touch_it(db, office, state, trigger):
    case = advance(make_procedure_case(office, by="clerk"), PATHS[state], office)
    before = (case.state, case.version, event_count(case))
    with pytest.raises(NotFound):
        with transactional():
            _call(case, trigger, office["clerk2"])
    case = reload(case)
    assert (case.state, case.version, event_count(case)) == before


@pytest.mark.parametrize("trigger", ["issue", "request_supplement", "withdraw"])
def test_the_clerk_a_case_is_assigned_to_acts_whoever_entered_it(db, office, trigger):
    """clerk2 entered the case, so holds it; the table's "clerk" would be refused, clerk2 is not."""
    case = make_procedure_case(office, by="clerk2")
    with pytest.raises(NotFound):
        with transactional():
            _call(case, trigger, office["clerk"])
    with transactional():
        _call(reload(case), trigger, office["clerk2"])
    assert reload(case).state == WORKFLOW.step_for(trigger, "submitted").dest
