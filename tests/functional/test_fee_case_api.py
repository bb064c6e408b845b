"""Fee cases through the JSON API: opened, moved by the generic transitions, refused by the legal guards
with a bilingual reason, and the account kept in step."""
from __future__ import annotations

from caseflow.extensions import db
from caseflow.models import FeeAccount
from tests.factories import FEE_STEP_INPUT, applicant, fee_case_data
from tests.functional.test_openapi import api, error_of


def fire(caller, case_id, trigger, version, **data):
    return caller.post(f"/cases/{case_id}/transitions",
                       {"trigger": trigger, "version": version, "data": FEE_STEP_INPUT.get(trigger, {}) | data})


def test_fee_case_through_the_api(app, client, office):
    clerk, supervisor = api(app, client, "clerk"), api(app, client, "supervisor")
    village1 = api(app, client, "village1")
    refused = village1.post("/cases", {"workflow": "fee_case", "jurisdiction": "V1", "applicant": applicant(),
                                       "data": fee_case_data(violation_date="2025-11-01")})
    assert refused.status_code == 403  # village officers have no part in fee cases

    created = clerk.post("/cases", {"workflow": "fee_case", "jurisdiction": "V1", "applicant": applicant(),
                                    "data": fee_case_data(violation_date="2025-11-01")})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    case_id = body["id"]
    assert (body["state"], body["version"]) == ("opened", 1)

    same_officer = fire(clerk, case_id, "investigate", 1, investigator_2="李执法", investigator_2_cert="ZF330100001")
    assert same_officer.status_code == 422 and error_of(same_officer)["code"] == "refused"
    assert "两名不同的执法人员" in error_of(same_officer)["message"]

    moved = fire(clerk, case_id, "investigate", 1).get_json()
    assert moved["state"] == "investigating" and moved["number"].startswith("FK")
    assert fire(clerk, case_id, "review", 2).status_code == 403  # the head of office reviews
    assert fire(supervisor, case_id, "review", 2).get_json()["state"] == "reviewed"
    notice = fire(clerk, case_id, "serve_notice", 3, notice_served_on="2025-11-20").get_json()
    assert notice["state"] == "notice_served"
    assert db.session.get(FeeAccount, case_id).notified_fen == 360000

    too_much = fire(supervisor, case_id, "decide", 4, decided_amount="4000")
    assert too_much.status_code == 422 and "第四十五条" in error_of(too_much)["message"]
    english = api(app, client, "supervisor", language="en")
    assert "Art. 45" in error_of(fire(english, case_id, "decide", 4, decided_amount="4000"))["message"]

    decided = fire(supervisor, case_id, "decide", 4, decided_amount="3000").get_json()
    assert decided["state"] == "decided" and "serve_decision" in decided["available_transitions"]
    db.session.expire_all()
    assert db.session.get(FeeAccount, case_id).decided_fen == 300000
    served = fire(clerk, case_id, "serve_decision", 5, decision_served_on="2025-11-21").get_json()
    assert served["state"] == "served"
    assert fire(clerk, case_id, "start_payment", 6).get_json()["state"] == "payment_due"
