"""JSON API: taking, handing back and assigning cases; searching by text and open cases only."""
from __future__ import annotations

from tests.factories import advance, make_case, reload
from tests.functional.test_openapi import api, error_of


def assign(caller, case, assignee, version=None, reason=None):
    return caller.post(f"/cases/{case.id}/assignment",
                       {"assignee": assignee, "version": case.version if version is None else version,
                        "reason": reason})


def test_a_clerk_takes_an_unassigned_case_and_hands_it_back(app, client, office):
    case = make_case(office)
    clerk = api(app, client, "clerk")
    taken = assign(clerk, case, "me")
    assert taken.status_code == 200 and taken.get_json()["assignee"] == "clerk"
    case = reload(case)
    assert case.assignee.username == "clerk"
    returned = assign(clerk, case, None)
    assert returned.status_code == 200 and returned.get_json()["assignee"] is None
    assert [e.data for e in reload(case).events if e.trigger == "assign"] == [
        {"from": None, "to": "clerk"}, {"from": "clerk", "to": None}]


def test_a_supervisor_assigns_with_a_reason_recorded(app, client, office, db):
    case = advance(make_case(office), ["accept"], office)  # accepted: assigned to clerk
    response = assign(api(app, client, "supervisor"), case, "clerk2", reason="李办事员休假")
    assert response.status_code == 200 and response.get_json()["assignee"] == "clerk2"
    event = reload(case).events[-1]
    assert (event.trigger, event.actor.username, event.reason) == ("assign", "supervisor", "李办事员休假")


def test_refusals_change_nothing(app, client, office, db):
    case = advance(make_case(office), ["accept"], office)
    before = (reload(case).assignee_id, reload(case).version, len(reload(case).events))
    clerk2 = api(app, client, "clerk2", language="en")
    forbidden = assign(clerk2, case, "me")  # a colleague's case cannot be grabbed
    assert forbidden.status_code == 403
    supervisor = api(app, client, "supervisor", language="en")
    not_handler = assign(supervisor, case, "village1")
    assert not_handler.status_code == 422 and "assignee" in error_of(not_handler)["fields"]
    unknown = assign(supervisor, case, "nobody")
    assert unknown.status_code == 422 and "assignee" in error_of(unknown)["fields"]
    stale = assign(supervisor, case, "clerk2", version=case.version - 1)
    assert stale.status_code == 409
    assert assign(api(app, client, "outsider"), case, "me").status_code == 404
    case = reload(case)
    assert (case.assignee_id, case.version, len(case.events)) == before


def test_list_by_text_and_open_only(app, client, office):
    found = advance(make_case(office, name="欧阳春"), ["accept"], office)
    closed = advance(make_case(office, name="欧阳夏"), ["withdraw"], office)
    make_case(office, name="李四")
    clerk = api(app, client, "clerk")
    by_name = {item["id"] for item in clerk.get("/cases", q="欧阳").get_json()["items"]}
    assert by_name == {found.id, closed.id}
    assert [i["id"] for i in clerk.get("/cases", q=found.number.lower()).get_json()["items"]] == [found.id]
    assert [i["id"] for i in clerk.get("/cases", q=found.applicant.resident_id).get_json()["items"]] == [found.id]
    assert clerk.get("/cases", q=found.applicant.resident_id[:10]).get_json()["total"] == 0  # no ID fishing
    assert {i["id"] for i in clerk.get("/cases", q="欧阳", open="true").get_json()["items"]} == {found.id}
    assert clerk.get("/cases", open="maybe").status_code == 400
