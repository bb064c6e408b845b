"""Every (state, trigger, role) of the subsidy workflow: allowed combinations move the case and write
exactly one audit event; refused ones change nothing. Opening the annual reconfirmation belongs to the
system account alone; the end of a notice to the system account and, by hand, a supervisor."""
from datetime import timedelta

import pytest

from caseflow.calendar import utcnow
from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES, SYSTEM
from tests.factories import advance_subsidy, make_subsidy_case, subsidy_step_input
from tests.functional.transition_table import check_cell

WORKFLOW = latest("subsidy")
ENROLLED = ("village_review", "start_notice", "end_notice", "township_review", "county_approve", "enrol")
PATHS = {
    "applied": (),
    "returned": ("return_for_documents",),
    "village_reviewed": ("village_review",),
    "public_notice": ("village_review", "start_notice"),
    "objection_check": ("village_review", "start_notice", "object"),
    "notice_ended": ("village_review", "start_notice", "end_notice"),
    "township_reviewed": ("village_review", "start_notice", "end_notice", "township_review"),
    "county_approved": ENROLLED[:-1],
    "active": ENROLLED,
    "reconfirming": ENROLLED + ("open_reconfirmation",),
    "suspended": ENROLLED + ("open_reconfirmation", "suspend"),
    "exit_scheduled": ENROLLED + ("schedule_exit",),
    "ended": ENROLLED + ("schedule_exit", "end_enrolment"),
    "rejected": ENROLLED[:4] + ("reject",),
    "withdrawn": ("withdraw",),
}
TRIGGERS = sorted({step.trigger for step in WORKFLOW.steps})
ACTOR = {"village_officer": "village1", "clerk": "clerk", "supervisor": "supervisor",
         "admin": "admin", "auditor": "auditor"}


def test_paths_reach_every_state():
    assert set(PATHS) == {s.name for s in WORKFLOW.states}


def test_clock_driven_steps_belong_to_the_system_account_and_for_notices_a_supervisor():
    roles = {step.trigger: step.roles for step in WORKFLOW.steps}
    assert roles["open_reconfirmation"] == frozenset({SYSTEM})
    assert roles["end_notice"] == frozenset({SYSTEM, "supervisor"})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state, trigger, role):
    start = utcnow() - timedelta(days=300)
    case = advance_subsidy(make_subsidy_case(office, now=start), PATHS[state], office, start=start)
    assert case.state == state
    step = WORKFLOW.step_for(trigger, state)
    allowed = step is not None and role in step.roles
    refusal = None if allowed else (NotFound if role == "admin" else
                                    InvalidTransition if step is None else PermissionDenied)
    check_cell(case, trigger, office[ACTOR[role]], dest=step and step.dest, refusal=refusal,
               reason="书面理由" if step and step.reason_required else None,
               data=subsidy_step_input(step) if step else {})
