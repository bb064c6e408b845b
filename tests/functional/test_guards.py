"""Workflow guards run as the state machine's conditions inside apply_transition; a refusal carries its
reason to the user and leaves nothing behind."""
import dataclasses

import pytest

from caseflow.extensions import transactional
from caseflow.services import cases as case_service
from caseflow.services.errors import Refused
from caseflow.workflows import latest
from caseflow.workflows.definition import GuardRefused, Text
from tests.factories import make_case, reload

NO_HUKOU_CHECK = Text("户籍信息尚未核对。", "The household registration has not been checked yet.")


def hukou_checked(event):
    """A guard in the style workflows declare: sees the case and the step's data, refuses with a reason."""
    if "示例镇" not in event.model.data["hukou_address"]:
        raise GuardRefused(NO_HUKOU_CHECK)
    return True


def always_false(event):
    return False


def guarded(guard):
    """Birth registration with ``guard`` on its accept step (a fresh Workflow builds its own machine)."""
    shipped = latest("birth_registration")
    steps = tuple(dataclasses.replace(s, guards=(guard,)) if s.trigger == "accept" else s for s in shipped.steps)
    return dataclasses.replace(shipped, steps=steps)


@pytest.mark.parametrize("guard, message", [(hukou_checked, NO_HUKOU_CHECK), (always_false, case_service.GUARD_FAILED)])
def test_a_refusing_guard_blocks_the_step_with_its_reason(db, office, monkeypatch, guard, message):
    monkeypatch.setattr(case_service, "workflow_of", lambda case: guarded(guard))
    case = make_case(office, data={**{"applicant_relation": "mother", "marital_status": "unmarried",
                                      "existing_children": 0, "channel": "online"},
                                   "hukou_address": "外省某市某区"})
    with pytest.raises(Refused) as info:
        with transactional():
            case_service.apply_transition(case, "accept", office["clerk"], case.version)
    assert info.value.message == message
    case = reload(case)
    assert case.state == "submitted" and case.number is None and len(case.events) == 1


def test_a_passing_guard_lets_the_step_through(db, office, monkeypatch):
    monkeypatch.setattr(case_service, "workflow_of", lambda case: guarded(hukou_checked))
    case = make_case(office)  # the factory's address is in 示例镇
    with transactional():
        case_service.apply_transition(case, "accept", office["clerk"], case.version)
    assert reload(case).state == "accepted"
