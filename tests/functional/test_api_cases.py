"""JSON API: opening cases, listing and filtering them, reading one."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.models import Case, Person, mask_resident_id
from caseflow.services.deadlines import LightBounds, load_calendar
from caseflow.workflows import birth_registration
from tests.factories import advance, applicant, birth_registration_data, make_case, reload, resident_id
from tests.functional.test_openapi import api, error_of


def new_case(**overrides):
    return {"workflow": "birth_registration", "jurisdiction": "V1", "applicant": applicant(),
            "data": birth_registration_data()} | overrides


def case_count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Case))


# ------------------------------------------------------------------------------------------- create

def test_a_village_officer_opens_a_case_by_village_code(app, client, office, db):
    person = applicant()
    response = api(app, client, "village1").post("/cases", new_case(applicant=person))

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/cases/{body['id']}")
    case = db.session.get(Case, body["id"])
    assert (case.workflow, case.state, case.jurisdiction.code, case.created_by.username) == \
        ("birth_registration", "submitted", "V1", "village1")
    assert case.applicant.resident_id == person["resident_id"]
    assert case.data == birth_registration_data()
    assert [e.trigger for e in case.events] == ["submit"]
    assert body["state"] == "submitted" and body["state_title"] == "已提交"
    assert body["number"] is None and body["version"] == 1 and body["workflow_version"] == 1
    assert body["jurisdiction"] == {"id": office.village.id, "code": "V1", "name": "东村"}
    assert body["applicant"] == {"name": "张敏", "masked_resident_id": mask_resident_id(person["resident_id"]),
                                 "phone": "+8613812345678"}
    assert body["available_transitions"] == ["withdraw"]
    assert datetime.fromisoformat(body["due_at"]) == case.due_at
    assert body["opened_at"].endswith("+00:00") and body["closed_at"] is None
    with db.engine.connect() as other_connection:  # committed, not just flushed in the shared session
        stored = other_connection.execute(sa.select(Case.state).where(Case.id == body["id"])).scalar()
    assert stored == "submitted"


def test_a_case_can_name_its_village_by_integer_id(app, client, office, db):
    response = api(app, client, "clerk").post("/cases", new_case(jurisdiction=office.other_village.id))
    assert response.status_code == 201
    assert db.session.get(Case, response.get_json()["id"]).jurisdiction.code == "V2"


def test_invalid_application_gets_422_with_every_field_error_in_chinese_by_default(app, client, office, db):
    response = api(app, client, "village1").post("/cases", new_case(
        applicant={"name": "", "resident_id": "110101199001011234", "phone": "12"},
        data=birth_registration_data(existing_children="two", marital_status="divorced") | {"channel": None}))

    assert response.status_code == 422
    assert error_of(response) == {
        "code": "invalid_data",
        "message": "请更正标出的字段。",
        "fields": {
            "applicant.name": "此项为必填项。",
            "applicant.resident_id": "居民身份证号码无效：应为 18 位，且校验位正确。",
            "applicant.phone": "电话号码无效。",
            "existing_children": "请输入整数。",
            "marital_status": "请从列表中选择。",
            "channel": "此项为必填项。",
        },
    }
    assert case_count(db) == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0


def test_invalid_application_errors_in_english_on_request(app, client, office):
    response = api(app, client, "village1", language="en").post("/cases", new_case(
        applicant=applicant(resident_id="110101199001011234"), data={}))

    assert response.status_code == 422
    error = error_of(response)
    assert error["message"] == "Please correct the marked fields."
    assert error["fields"]["applicant.resident_id"] == \
        "Invalid resident ID: it must have 18 characters with a correct check digit."
    assert error["fields"]["hukou_address"] == "This field is required."


def test_a_village_outside_the_callers_jurisdiction_is_refused_with_403(app, client, office, db):
    response = api(app, client, "village1").post("/cases", new_case(jurisdiction="V2"))
    assert response.status_code == 403
    assert error_of(response) == {"code": "forbidden", "message": "该村（社区）不在您的辖区内。"}
    # A township is not a village: cases belong to villages.
    assert api(app, client, "clerk").post("/cases", new_case(jurisdiction="T1")).status_code == 403
    assert api(app, client, "outsider").post("/cases", new_case()).status_code == 403
    assert case_count(db) == 0


def test_roles_that_may_not_open_cases_get_403(app, client, office, db):
    response = api(app, client, "auditor", language="en").post("/cases", new_case())
    assert response.status_code == 403
    assert error_of(response)["message"] == "Your role may not submit this kind of application."
    assert case_count(db) == 0


def test_an_unknown_village_gets_422_on_the_jurisdiction_field(app, client, office, db):
    for reference in ("NO-SUCH-CODE", 999_999):
        response = api(app, client, "clerk").post("/cases", new_case(jurisdiction=reference))
        assert response.status_code == 422
        assert error_of(response)["fields"] == {"jurisdiction": "没有这个村（社区）。"}
    assert case_count(db) == 0


@pytest.mark.parametrize("change, field, message", [
    ({"workflow": "no_such_workflow"}, "workflow", "No such workflow."),
    ({"jurisdiction": 1.5}, "jurisdiction", "Must be a village code (string) or id (integer)."),
    ({"applicant": ["张敏"]}, "applicant._schema", "Must be a JSON object."),
    ({"data": "none"}, "data", "Must be a JSON object."),
    ({"colour": "red"}, "colour", "Unknown field."),
])
def test_a_malformed_application_gets_400(app, client, office, db, change, field, message):
    response = api(app, client, "clerk", language="en").post("/cases", new_case(**change))
    assert response.status_code == 400
    assert error_of(response)["fields"] == {field: message}
    assert case_count(db) == 0


# --------------------------------------------------------------------------------------------- list

def opened_for_light(light: str) -> datetime:
    """An opening time whose first deadline (submitted: 5 working days) shows ``light`` now."""
    calendar, now = load_calendar(), utcnow()
    bounds, limit = LightBounds.at(now, calendar), birth_registration.WORKFLOW.deadlines["submitted"].limit
    return next(now - timedelta(days=days) for days in range(60)
                if bounds.light(limit.after(now - timedelta(days=days), calendar).at) == light)


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()["items"]]


def test_cases_filter_by_deadline_light(app, client, office):
    cases = {light: make_case(office, now=opened_for_light(light)) for light in ("red", "yellow", "green")}
    closed = advance(make_case(office), ["withdraw"], office)
    clerk = api(app, client, "clerk")

    for light, case in cases.items():
        response = clerk.get("/cases", light=light)
        assert ids(response) == [case.id], light
        assert response.get_json()["items"][0]["light"] == light
    assert ids(clerk.get("/cases", light="none")) == [closed.id]
    # Most urgent first.
    assert ids(clerk.get("/cases")) == [cases["red"].id, cases["yellow"].id, cases["green"].id, closed.id]


def test_cases_filter_by_workflow_state_and_assignee(app, client, office):
    submitted = make_case(office)
    mine = advance(make_case(office), ["accept"], office)  # accepted by "clerk", who now holds it
    theirs = make_case(office)
    clerk, clerk2 = api(app, client, "clerk"), api(app, client, "clerk2")
    clerk2.post(f"/cases/{theirs.id}/transitions", {"trigger": "accept", "version": theirs.version})

    assert sorted(ids(clerk.get("/cases", workflow="birth_registration"))) == \
        sorted([submitted.id, mine.id, theirs.id])
    assert ids(clerk.get("/cases", workflow="no_such_workflow")) == []
    assert ids(clerk.get("/cases", state="submitted")) == [submitted.id]
    assert ids(clerk.get("/cases", assignee="me")) == [mine.id]
    assert ids(clerk2.get("/cases", assignee="me")) == [theirs.id]
    assert ids(clerk.get("/cases", assignee="clerk2", state="accepted")) == [theirs.id]
    assert clerk.get("/cases", assignee="me").get_json()["items"][0]["assignee"] == "clerk"


def test_cases_list_only_what_the_caller_may_see(app, client, office):
    east = make_case(office)
    west = make_case(office, by="village2", village=office.other_village)

    assert ids(api(app, client, "village1").get("/cases")) == [east.id]
    assert ids(api(app, client, "village2").get("/cases")) == [west.id]
    assert sorted(ids(api(app, client, "auditor").get("/cases"))) == sorted([east.id, west.id])
    for username in ("outsider", "admin"):
        assert api(app, client, username).get("/cases").get_json() == \
            {"items": [], "total": 0, "page": 1, "page_size": app.config["CASEFLOW_PAGE_SIZE"]}


def test_cases_are_paginated(app, client, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    made = [make_case(office, now=utcnow() - timedelta(days=n)) for n in range(5)]
    clerk = api(app, client, "clerk")

    pages = [clerk.get("/cases", page=n).get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 and p["page_size"] == 2 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert sorted(i["id"] for p in pages for i in p["items"]) == sorted(c.id for c in made)
    assert ids(clerk.get("/cases")) == ids(clerk.get("/cases", page=1))


def test_a_bad_filter_gets_400(app, client, office):
    clerk = api(app, client, "clerk", language="en")
    assert error_of(clerk.get("/cases", light="purple"))["fields"] == \
        {"light": "Must be one of: green, yellow, red, none."}
    assert error_of(clerk.get("/cases", page="two"))["fields"] == {"page": "Enter a whole number."}
    assert error_of(clerk.get("/cases", page=0))["fields"] == {"page": "Must be 1 or more."}


# ---------------------------------------------------------------------------------------------- get

def test_a_case_shows_the_resident_ids_masked_never_in_full(app, client, office):
    other_parent = resident_id()
    case = make_case(office, data=birth_registration_data(other_parent_name="李强",
                                                          other_parent_resident_id=other_parent))
    clerk = api(app, client, "clerk")

    case_response, events_response = clerk.get(f"/cases/{case.id}"), clerk.get(f"/cases/{case.id}/events")
    body = case_response.get_json()
    assert body["applicant"]["masked_resident_id"] == case.applicant.masked_resident_id
    assert "resident_id" not in body["applicant"]
    assert body["data"]["other_parent_resident_id"] == mask_resident_id(other_parent)
    assert events_response.get_json()[0]["data"]["other_parent_resident_id"] == mask_resident_id(other_parent)
    for response in (case_response, events_response, clerk.get("/cases")):
        text = response.get_data(as_text=True)
        assert case.applicant.resident_id not in text and other_parent not in text


def test_a_case_has_every_documented_field(app, client, office):
    case = make_case(office)
    body = api(app, client, "supervisor").get(f"/cases/{case.id}").get_json()
    assert {"id", "number", "workflow", "workflow_version", "state", "version", "jurisdiction", "assignee",
            "due_at", "target_at", "light", "available_transitions", "data", "applicant",
            "deadline_provisional", "opened_at", "closed_at"} <= set(body)
    assert body["data"] == case.data
    assert datetime.fromisoformat(body["target_at"]) == case.target_at
    assert body["deadline_provisional"] is case.deadline_provisional


def test_available_transitions_depend_on_the_callers_role_and_the_state(app, client, office):
    case = make_case(office)
    seen = {name: api(app, client, name).get(f"/cases/{case.id}").get_json()["available_transitions"]
            for name in ("clerk", "supervisor", "village1", "auditor")}
    assert seen == {"clerk": ["accept", "request_supplement", "withdraw"],
                    "supervisor": ["accept", "request_supplement", "withdraw"],
                    "village1": ["withdraw"], "auditor": []}

    advance(case, ["accept", "register"], office)
    for username, triggers in (("supervisor", ["void"]), ("clerk", [])):
        body = api(app, client, username).get(f"/cases/{case.id}").get_json()
        assert body["available_transitions"] == triggers, username


def test_a_case_in_english(app, client, office):
    case = advance(make_case(office), ["accept"], office)
    body = api(app, client, "clerk", language="en").get(f"/cases/{case.id}").get_json()
    assert body["state_title"] == "Accepted"
    assert body["number"] == reload(case).number and body["assignee"] == "clerk"


def test_a_case_the_caller_may_not_see_is_indistinguishable_from_a_missing_one(app, client, office):
    case = make_case(office)
    for username in ("outsider", "village2", "admin"):
        hidden = api(app, client, username).get(f"/cases/{case.id}")
        missing = api(app, client, username).get("/cases/999999")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.get_json() == missing.get_json() == \
            {"error": {"code": "not_found", "message": "找不到该案件，或您无权查看。"}}
