"""bench.transitions at tiny scale on the test database: every timed step really happened, once."""
from __future__ import annotations

import sqlalchemy as sa

from bench.transitions import BY_NAME, prepare_office, run_transitions
from caseflow.models import Case, CaseEvent
from caseflow.services.audit import verify_chain
from caseflow.workflows import get as get_workflow


def test_each_timed_transition_is_one_step_of_its_case_with_one_audit_event(db):
    office = prepare_office()
    figures = run_transitions(office, 30)

    assert figures["errors"] == {}
    assert figures["transitions"] == figures["latency"]["count"] == 30
    assert sum(figures["by_trigger"].values()) == 30
    assert figures["per_second"] > 0 and figures["rss_mb"]["end"] > 0
    assert sum(done for *_, done in figures["case_states"]) == 30
    # Opening wrote each case's "submit" event; the benchmark's steps wrote the rest, one per step.
    steps = db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.trigger != "submit"))
    assert steps == 30
    for case_id, route_name, opened_version, done in figures["case_states"]:
        case = db.session.get(Case, case_id)
        route = BY_NAME[route_name]
        workflow = get_workflow(case.workflow, case.workflow_version)
        state = workflow.initial
        for move in route.moves[:done]:
            state = workflow.step_for(move.trigger, state).dest
        assert (case.state, case.version) == (state, opened_version + done), route_name
        assert [e.trigger for e in case.events[1:]] == [m.trigger for m in route.moves[:done]]
        assert verify_chain(case) is None
