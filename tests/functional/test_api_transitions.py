"""JSON API: moving cases through their workflow, refusals that change nothing, and the audit trail."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import Case, CaseEvent
from caseflow.services.audit import GENESIS, verify_chain
from tests.factories import advance, applicant, birth_registration_data, make_case, reload
from tests.functional.test_openapi import api, error_of


def committed(case_id: int) -> tuple:
    """The case and its trail as another connection sees them: what was committed, nothing else.

    (API calls in tests share the test's session, which would also show changes left uncommitted.)
    """
    with db.engine.connect() as connection:
        case = connection.execute(sa.select(Case.state, Case.version, Case.number, Case.assignee_id,
                                            Case.due_at, Case.closed_at).where(Case.id == case_id)).one()
        events = connection.execute(sa.select(CaseEvent.seq, CaseEvent.trigger, CaseEvent.hash)
                                    .where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)).all()
    return tuple(case), [tuple(event) for event in events]


def snapshot(case: Case) -> tuple:
    """What a refused call must leave alone."""
    return committed(case.id)


def fire(caller, case_id: int, trigger: str, version, **extra):
    return caller.post(f"/cases/{case_id}/transitions", {"trigger": trigger, "version": version, **extra})


def test_a_birth_registration_from_submission_to_registration(app, client, office):
    village1, clerk = api(app, client, "village1"), api(app, client, "clerk")
    created = village1.post("/cases", {"workflow": "birth_registration", "jurisdiction": "V1",
                                       "applicant": applicant(), "data": birth_registration_data()}
                            ).get_json()
    case_id = created["id"]
    assert (created["state"], created["version"], created["number"]) == ("submitted", 1, None)

    accepted = fire(clerk, case_id, "accept", 1)
    assert accepted.status_code == 200
    body = accepted.get_json()
    assert (body["state"], body["version"], body["assignee"]) == ("accepted", 2, "clerk")
    assert body["number"].startswith("SY") and len(body["number"]) == 12
    assert body["available_transitions"] == ["register", "verify", "withdraw"]

    verifying = fire(clerk, case_id, "verify", 2, data={"discrepancy": "户籍地址与申请不一致",
                                                         "other_registry": "示例县公安局"}).get_json()
    assert (verifying["state"], verifying["version"], verifying["number"]) == ("verifying", 3, body["number"])

    registered = fire(clerk, case_id, "register", 3, data={"verification_result": "核实无误"}).get_json()
    assert (registered["state"], registered["version"]) == ("registered", 4)
    assert registered["closed_at"] is not None
    assert registered["due_at"] is None and registered["light"] is None
    assert registered["available_transitions"] == []

    (state, version, number, *_), events = committed(case_id)
    assert (state, version, number) == ("registered", 4, body["number"])
    assert [trigger for _, trigger, _ in events] == ["submit", "accept", "verify", "register"]
    case = db.session.get(Case, case_id)
    assert case.outcome == "registered"
    assert case.events[2].data == {"discrepancy": "户籍地址与申请不一致", "other_registry": "示例县公安局"}


def test_a_stale_version_gets_409_and_changes_nothing(app, client, office):
    case = make_case(office)
    seen = case.version
    advance(case, ["accept"], office)
    before = snapshot(case)

    response = fire(api(app, client, "clerk2"), case.id, "request_supplement", seen,
                    data={"missing_items": "户口簿"})

    assert response.status_code == 409
    assert error_of(response) == {"code": "stale_version", "message": "该案件已被他人修改，请刷新后重试。"}
    assert snapshot(case) == before
    english = fire(api(app, client, "clerk2", language="en"), case.id, "verify", seen)
    assert error_of(english)["message"] == "This case was changed by someone else — reload and try again."


def test_a_role_that_may_not_fire_the_trigger_gets_403_and_changes_nothing(app, client, office):
    case = advance(make_case(office), ["accept", "register"], office)
    before = snapshot(case)

    response = fire(api(app, client, "clerk"), case.id, "void", case.version, reason="登记错误",
                    data={"void_ground": "error_correction"})

    assert response.status_code == 403
    assert error_of(response) == {"code": "forbidden", "message": "您的角色不能执行此操作。"}
    assert snapshot(case) == before
    assert fire(api(app, client, "auditor"), case.id, "void", case.version, reason="x",
                data={"void_ground": "error_correction"}).status_code == 403
    assert snapshot(case) == before


@pytest.mark.parametrize("trigger", ["register", "void", "no_such_trigger"])
def test_a_trigger_not_available_in_the_state_gets_422_and_changes_nothing(app, client, office, trigger):
    case = make_case(office)
    before = snapshot(case)

    response = fire(api(app, client, "supervisor", language="en"), case.id, trigger, case.version, reason="x")

    assert response.status_code == 422
    assert error_of(response) == {"code": "invalid_transition",
                                  "message": "That action is not available in the case's current state."}
    assert snapshot(case) == before


def test_a_missing_reason_and_missing_data_get_422_per_field_and_change_nothing(app, client, office):
    case = advance(make_case(office), ["accept", "register"], office)
    before = snapshot(case)
    supervisor = api(app, client, "supervisor")

    response = fire(supervisor, case.id, "void", case.version, reason="   ")

    assert response.status_code == 422
    assert error_of(response) == {"code": "invalid_data", "message": "请更正标出的字段。",
                                  "fields": {"reason": "此操作需要书面理由。", "void_ground": "此项为必填项。"}}
    english = fire(supervisor.in_language("en"), case.id, "void", case.version,
                   data={"void_ground": "because"})
    assert error_of(english)["fields"] == {"reason": "This action needs a written reason.",
                                           "void_ground": "Choose one of the listed options."}
    assert snapshot(case) == before

    voided = fire(supervisor, case.id, "void", case.version, reason="登记错误",
                  data={"void_ground": "error_correction"})
    assert voided.status_code == 200 and voided.get_json()["state"] == "voided"


def test_a_case_the_caller_may_not_see_gets_404_and_changes_nothing(app, client, office):
    case = make_case(office)
    before = snapshot(case)
    for username in ("outsider", "village2"):
        response = fire(api(app, client, username), case.id, "withdraw", case.version, reason="x")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert fire(api(app, client, "clerk"), 999_999, "accept", 1).status_code == 404
    assert snapshot(case) == before


@pytest.mark.parametrize("version", ["1", 1.5, True, None])
def test_a_version_that_is_not_an_integer_gets_400_and_changes_nothing(app, client, office, version):
    case = make_case(office)
    before = snapshot(case)

    response = fire(api(app, client, "clerk", language="en"), case.id, "accept", version)

    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"
    assert set(error_of(response)["fields"]) == {"version"}
    assert snapshot(case) == before


def test_a_transition_request_without_trigger_or_version_gets_400(app, client, office):
    case = make_case(office)
    response = api(app, client, "clerk").post(f"/cases/{case.id}/transitions", {"reason": "x"})
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"trigger": "此项为必填项。", "version": "此项为必填项。"}


# ------------------------------------------------------------------------------------------- events

def test_events_are_the_audit_trail_oldest_first_with_a_valid_hash_chain(app, client, office):
    case = advance(make_case(office), ["accept", "verify"], office)
    supervisor = api(app, client, "supervisor")
    fire(supervisor, case.id, "refuse", reload(case).version, reason="户籍信息不符",
         data={"legal_basis": "人口与计划生育法"})

    response = api(app, client, "auditor").get(f"/cases/{case.id}/events")

    assert response.status_code == 200
    events = response.get_json()
    assert [(e["seq"], e["trigger"], e["from"], e["to"], e["actor"]) for e in events] == [
        (1, "submit", None, "submitted", "village1"),
        (2, "accept", "submitted", "accepted", "clerk"),
        (3, "verify", "accepted", "verifying", "clerk"),
        (4, "refuse", "verifying", "refused", "supervisor"),
    ]
    assert events[1]["data"] == {"number": reload(case).number}
    assert events[3]["reason"] == "户籍信息不符" and events[3]["data"] == {"legal_basis": "人口与计划生育法"}
    assert [e["prev_hash"] for e in events] == [GENESIS] + [e["hash"] for e in events[:-1]]
    assert [e["hash"] for e in events] == [e.hash for e in reload(case).events]
    assert verify_chain(case) is None
    assert all(e["at"].endswith("+00:00") for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


def test_events_of_a_case_the_caller_may_not_see_get_404(app, client, office):
    case = make_case(office)
    response = api(app, client, "outsider").get(f"/cases/{case.id}/events")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "找不到该案件，或您无权查看。"}
