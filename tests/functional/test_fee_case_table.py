"""Every (state, trigger, role) of the fee case: allowed combinations move the case (to the state the
workflow names, or back to the state an appeal interrupted) and write exactly one audit event; refused
ones change nothing. Roles include the scheduler's system account."""
from datetime import date

import pytest
import sqlalchemy as sa

from caseflow.extensions import transactional
from caseflow.models import CaseEvent
from caseflow.services.cases import apply_transition
from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied, Refused
from caseflow.services.fees import NOT_SETTLED, record_payment
from caseflow.services.users import system_user
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES, SYSTEM
from tests.factories import FEE_NOW, FEE_STEP_INPUT, advance_fee, make_fee_case, reload

WORKFLOW = latest("fee_case")
TO_NOTICE = ("investigate", "review", "serve_notice")
TO_SERVED = TO_NOTICE + ("decide", "serve_decision")
TO_OVERDUE = TO_SERVED + ("start_payment", "mark_overdue")
TO_COURT = TO_OVERDUE + ("serve_demand", "apply_to_court")
PATHS = {
    "opened": (),
    "investigating": ("investigate",),
    "reviewed": ("investigate", "review"),
    "notice_served": TO_NOTICE,
    "hearing_scheduled": TO_NOTICE + ("schedule_hearing",),
    "heard": TO_NOTICE + ("schedule_hearing", "record_hearing"),
    "decided": TO_NOTICE + ("decide",),
    "no_penalty": TO_NOTICE + ("no_penalty",),
    "transferred": ("investigate", "transfer"),
    "served": TO_SERVED,
    "payment_due": TO_SERVED + ("start_payment",),
    "instalments": TO_SERVED + ("start_payment", "grant_instalments"),
    "postponed": TO_SERVED + ("start_payment", "grant_postponement"),
    "overdue": TO_OVERDUE,
    "under_appeal": TO_SERVED + ("appeal",),
    "demand_served": TO_OVERDUE + ("serve_demand",),
    "court_applied": TO_COURT,
    "suspended": TO_COURT + ("court_suspended",),
    "enforced": TO_COURT + ("court_enforced",),
    "terminated": TO_COURT + ("court_terminated",),
    "paid": TO_SERVED + ("start_payment", "@pay"),
    "revoked": TO_SERVED + ("appeal", "appeal_revoked"),
    "closed": TO_COURT + ("court_enforced", "close"),
}
TRIGGERS = sorted({step.trigger for step in WORKFLOW.steps})
ALL_ROLES = ROLES + (SYSTEM,)
ACTOR = {"village_officer": "village1", "clerk": "clerk", "supervisor": "supervisor", "admin": "admin",
         "auditor": "auditor"}
# Where an appeal's outcome leaves the case: back where the appeal interrupted it (here: served).
RESUMED = {"appeal_upheld": "served", "appeal_changed": "served"}


def build(office, state):
    case = make_fee_case(office)
    for trigger in PATHS[state]:
        if trigger == "@pay":
            with transactional():
                record_payment(case, office["clerk"], case.version, amount_fen=360000,
                               paid_on=date(2025, 2, 1), receipt_ref="NS-0001", now=FEE_NOW)
        else:
            advance_fee(case, (trigger,), office)
    assert case.state == state
    return case


def actor_for(office, role):
    return system_user(FEE_NOW) if role == SYSTEM else office[ACTOR[role]]


def event_count(db, case):
    return db.session.scalar(sa.select(sa.func.count()).where(CaseEvent.case_id == case.id))


def fire(case, trigger, actor):
    step = WORKFLOW.step_for(trigger, case.state)
    with transactional():
        apply_transition(case, trigger, actor, case.version, reason="书面理由" if step and step.reason_required else None,
                         data=FEE_STEP_INPUT.get(trigger, {}), now=FEE_NOW)


def test_paths_reach_every_state():
    assert set(PATHS) == {s.name for s in WORKFLOW.states}


@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state):
    shared = build(office, state)
    for trigger in TRIGGERS:
        step = WORKFLOW.step_for(trigger, state)
        for role in ALL_ROLES:
            where = (state, trigger, role)
            allowed = step is not None and role in step.roles
            if allowed and trigger != "settle":
                case = build(office, state)
                before = (case.version, event_count(db, case))
                fire(case, trigger, actor_for(office, role))
                case = reload(case)
                assert case.state == RESUMED.get(trigger, step.dest), where
                assert case.version == before[0] + 1, where
                assert event_count(db, case) == before[1] + 1, where
                assert case.events[-1].trigger == trigger, where
                continue
            case = shared
            before = (case.state, case.version, event_count(db, case))
            if allowed:  # settle: refused while anything is outstanding
                expected = Refused
            elif role == "admin":
                expected = NotFound
            else:
                expected = InvalidTransition if step is None else PermissionDenied
            with pytest.raises(expected) as refusal:
                fire(case, trigger, actor_for(office, role))
            if trigger == "settle" and allowed:
                assert refusal.value.message.zh.startswith(NOT_SETTLED.zh[:6]), where
            case = reload(case)
            assert (case.state, case.version, event_count(db, case)) == before, where
