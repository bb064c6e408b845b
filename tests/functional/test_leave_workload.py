"""Workload and leave: open cases per handler by light, leave periods, no new work for someone on leave, and
handing their open cases on with the leave noted on each case."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Jurisdiction, Leave
from caseflow.services import access
from caseflow.services.audit import reads_of
from caseflow.services.cases import apply_transition, assign_case
from caseflow.services.deadlines import LightBounds
from caseflow.services.errors import PermissionDenied, ValidationFailed
from caseflow.services.leave import (
    ALREADY_OVER, BAD_DELEGATE, DELEGATE_IS_USER, END_BEFORE_START, NOT_A_HANDLER, Move, cancel_leave, on_leave,
    reassign_for_leave, record_leave, shorten_leave, users_on_leave, workload,
)
from caseflow.workflows.definition import NOT_A_DATE, REQUIRED
from tests.factories import advance, make_case, make_procedure_case, make_user, reload
from tests.functional.test_openapi import api, error_of
from tests.functional.ui_support import (
    field_error, form_fields, html_of, make_outside_case, options_of, signed_in, text_of,
)

TODAY = local_date(utcnow())
DAY = timedelta(days=1)


def leave(office, username="clerk", starts=TODAY, ends=TODAY + 4 * DAY, reason="年休假", delegate=None,
          by="supervisor") -> Leave:
    with transactional():
        return record_leave(office[username], starts, ends, reason, office[delegate] if delegate else None,
                            office[by])


def assigned(office, case, username):
    with transactional():
        assign_case(case, office[username], office["supervisor"], case.version)
    return reload(case)


def errors_of(call) -> dict[str, object]:
    with pytest.raises(ValidationFailed) as refused:
        with transactional():
            call()
    return refused.value.fields


# ------------------------------------------------------------------------------------- recording leave

def test_leave_is_recorded_with_its_delegate(office):
    recorded = leave(office, delegate="clerk2")
    assert (recorded.user_id, recorded.starts_on, recorded.ends_on, recorded.reason, recorded.delegate_id,
            recorded.created_by_id) == (office["clerk"].id, TODAY, TODAY + 4 * DAY, "年休假", office["clerk2"].id,
                                        office["supervisor"].id)
    assert on_leave(office["clerk"], TODAY).id == recorded.id
    assert on_leave(office["clerk"], TODAY + 5 * DAY) is None
    assert set(users_on_leave(TODAY + 4 * DAY)) == {office["clerk"].id}
    assert users_on_leave(TODAY - DAY) == {}


def test_leave_validation_reports_every_problem_by_field(office):
    clerk, supervisor = office["clerk"], office["supervisor"]
    assert errors_of(lambda: record_leave(clerk, "", "2026-13-01", " ", None, supervisor)) == {
        "starts_on": REQUIRED, "ends_on": NOT_A_DATE, "reason": REQUIRED}
    assert errors_of(lambda: record_leave(clerk, TODAY, TODAY - DAY, "病假", None, supervisor)) == {
        "ends_on": END_BEFORE_START}
    assert errors_of(lambda: record_leave(clerk, TODAY - 9 * DAY, TODAY - DAY, "病假", None, supervisor)) == {
        "ends_on": ALREADY_OVER}
    assert set(errors_of(lambda: record_leave(clerk, TODAY, TODAY, "长" * 201, None, supervisor))) == {"reason"}
    assert errors_of(lambda: record_leave(clerk, TODAY, TODAY, "病假", clerk, supervisor)) == {
        "delegate": DELEGATE_IS_USER}
    for not_a_delegate in ("village1", "outsider", "auditor"):
        assert errors_of(lambda: record_leave(clerk, TODAY, TODAY, "病假", office[not_a_delegate], supervisor)) == {
            "delegate": BAD_DELEGATE}
    assert errors_of(lambda: record_leave(office["village1"], TODAY, TODAY, "病假", None, supervisor)) == {
        "user": NOT_A_HANDLER}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Leave)) == 0


def test_leave_cannot_overlap_and_the_delegate_must_be_there(office):
    leave(office, "clerk2", starts=TODAY + 2 * DAY, ends=TODAY + 3 * DAY)
    fields = errors_of(lambda: record_leave(office["clerk"], TODAY, TODAY + 5 * DAY, "年休假", office["clerk2"],
                                            office["supervisor"]))
    assert fields["delegate"].zh == f"代理人在此期间也休假（{TODAY + 2 * DAY} 至 {TODAY + 3 * DAY}）。"
    leave(office, "clerk", starts=TODAY, ends=TODAY + DAY)
    fields = errors_of(lambda: record_leave(office["clerk"], TODAY + DAY, TODAY + 9 * DAY, "年休假", None,
                                            office["supervisor"]))
    assert fields["starts_on"].en == f"It overlaps leave already recorded ({TODAY} to {TODAY + DAY})."
    # Back to back is fine.
    assert leave(office, "clerk", starts=TODAY + 2 * DAY, ends=TODAY + 9 * DAY).ends_on == TODAY + 9 * DAY


def test_who_may_record_leave(office):
    elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
    with transactional():
        other_supervisor = make_user("supervisor2", ["supervisor"], [elsewhere])
    for outsider in ("clerk2", "auditor", "village1"):
        with pytest.raises(PermissionDenied):
            leave(office, by=outsider)
    with pytest.raises(PermissionDenied):  # a supervisor of another township
        with transactional():
            record_leave(office["clerk"], TODAY, TODAY, "年休假", None, other_supervisor)
    assert leave(office, by="admin").created_by_id == office["admin"].id


def test_calling_off_and_shortening_leave(office):
    ahead = leave(office, "clerk2", starts=TODAY + 3 * DAY, ends=TODAY + 5 * DAY)
    with transactional():
        assert cancel_leave(ahead, office["supervisor"]) is None
    assert db.session.get(Leave, ahead.id) is None
    running = leave(office, "clerk", starts=TODAY - 2 * DAY, ends=TODAY + 5 * DAY)
    with transactional():
        assert shorten_leave(running, (TODAY + 2 * DAY).isoformat(), office["supervisor"]).ends_on == TODAY + 2 * DAY
    assert errors_of(lambda: shorten_leave(running, TODAY + 3 * DAY, office["supervisor"]))  # not shorter
    assert errors_of(lambda: shorten_leave(running, TODAY - 3 * DAY, office["supervisor"]))  # before it began
    with transactional():
        kept = cancel_leave(running, office["supervisor"])
    assert kept.ends_on == TODAY - DAY and on_leave(office["clerk"], TODAY) is None  # back today
    with pytest.raises(ValidationFailed):  # what is over stays as a record
        with transactional():
            cancel_leave(reload_leave(kept), office["supervisor"])
    with pytest.raises(PermissionDenied):
        with transactional():
            cancel_leave(reload_leave(kept), office["clerk2"])


def reload_leave(row: Leave) -> Leave:
    db.session.expire_all()
    return db.session.get(Leave, row.id)


# ------------------------------------------------------------------------------------- no new work

def test_nobody_is_given_new_cases_while_on_leave(office):
    case = make_case(office)
    leave(office, "clerk", delegate="clerk2")
    assert office["clerk"] not in access.case_handlers(case)
    assert office["clerk"] in access.case_handlers(case, TODAY + 5 * DAY)
    fields = errors_of(lambda: assign_case(case, office["clerk"], office["supervisor"], case.version))
    assert fields["assignee"].zh == f"Clerk 休假中（{TODAY} 至 {TODAY + 4 * DAY}），不能指派新的案件。"
    assert reload(case).assignee_id is None and len(reload(case).events) == 1
    # Leave that has not begun does not stop assignment today.
    leave(office, "clerk2", starts=TODAY + DAY, ends=TODAY + 2 * DAY)
    assert assigned(office, case, "clerk2").assignee.username == "clerk2"


def test_the_team_queue_offers_no_one_on_leave_for_bulk_assignment(app, office):
    make_case(office)
    leave(office, "clerk")
    page = html_of(signed_in(app, "supervisor").get("/team"))
    bulk = options_of(page, "bulk-assignee")
    assert f'value="{office["clerk2"].id}"' in bulk and f'value="{office["clerk"].id}"' not in bulk
    assert "Clerk" in options_of(page, "f-assignee")  # their cases can still be found


def test_someone_on_leave_may_still_take_a_case_themselves(office):
    """Leave keeps others from handing them work; what they decide to do themselves is theirs."""
    case = make_case(office)
    leave(office, "clerk")
    with transactional():
        assign_case(case, office["clerk"], office["clerk"], case.version)
    assert reload(case).assignee.username == "clerk"
    accepted = advance(make_case(office), ["accept"], office)  # accepting it makes the case theirs
    assert reload(accepted).assignee.username == "clerk"


def test_the_api_refuses_to_assign_to_someone_on_leave(app, client, office):
    case = make_case(office)
    leave(office, "clerk2")
    response = api(app, client, "supervisor", language="en").post(
        f"/cases/{case.id}/assignment", {"assignee": "clerk2", "version": case.version})
    assert response.status_code == 422
    assert "on leave" in error_of(response)["fields"]["assignee"]


def test_the_case_page_does_not_offer_someone_on_leave(app, office):
    case = make_case(office)
    leave(office, "clerk2")
    page = signed_in(app, "supervisor").get(f"/cases/{case.id}")
    options = re.findall(r'<option value="(\d+)"', re.search(r'<select id="f-assignee".*?</select>', html_of(page),
                                                              re.S).group(0))
    assert str(office["clerk"].id) in options and str(office["clerk2"].id) not in options


# ----------------------------------------------------------------------------------------------- workload

def test_workload_counts_open_cases_by_light(office):
    opened = utcnow() - timedelta(days=1)
    yellow = make_case(office, now=opened)
    red = make_case(office, now=opened - timedelta(days=30))
    green = make_case(office, now=opened + timedelta(days=10))
    stopped = advance(make_case(office, now=opened), ["request_supplement"], office)  # clock stopped: no light
    closed = advance(make_case(office, now=opened), ["withdraw"], office)
    unassigned = make_case(office, now=opened)
    for case in (yellow, red, green, stopped):
        assigned(office, case, "clerk")
    procedure = make_procedure_case(office, by="clerk2")  # need-to-know, the supervisor may see it
    elsewhere = make_outside_case(office)  # another township's: not counted here
    now = reload(yellow).due_at - timedelta(minutes=1)
    load = workload(office["supervisor"], now)
    rows = {row.user.username: row for row in load.handlers}
    assert set(rows) == {"supervisor", "clerk", "clerk2"}  # handlers only: no village officer, auditor, admin
    assert rows["clerk"].counts == {"green": 1, "yellow": 1, "red": 1, "none": 1}
    assert rows["clerk"].total == 4
    expected_light = load.bounds.light(reload(procedure).due_at) or "none"
    assert rows["clerk2"].counts[expected_light] == 1 and rows["clerk2"].total == 1
    assert sum(load.unassigned.values()) == 1 and load.unassigned[load.bounds.light(reload(unassigned).due_at)] == 1
    assert rows["supervisor"].total == 0
    assert reload(closed).is_closed and elsewhere.assignee_id is None
    with pytest.raises(PermissionDenied):
        workload(office["clerk"])


def test_workload_page_shows_counts_leave_and_links(app, office):
    case = assigned(office, make_case(office), "clerk")
    leave(office, "clerk", delegate="clerk2", reason="婚假")
    leave(office, "clerk2", starts=TODAY + 10 * DAY, ends=TODAY + 12 * DAY, reason="年休假")
    supervisor = signed_in(app, "supervisor")
    page = supervisor.get("/workload/")
    assert page.status_code == 200
    html, text = html_of(page), text_of(page)
    row = re.search(rf'<tr class="handler-row away" data-user-id="{office["clerk"].id}">(.*?)</tr>', html, re.S)
    assert row, "the clerk's row is marked as away"
    row_text = text_of(row.group(1))
    assert "休假中" in row_text and f"{TODAY} 至 {TODAY + 4 * DAY}" in row_text and "婚假" in row_text
    assert "代理人：Clerk2" in row_text
    assert f"{TODAY + 10 * DAY} 至 {TODAY + 12 * DAY}" in text and "计划休假" in text
    light = LightBounds.current().light(reload(case).due_at)
    link = f'/workload/handlers/{office["clerk"].id}?light={light}'
    assert f'href="{link}"' in html
    listed = supervisor.get(link)
    assert listed.status_code == 200 and re.search(rf'data-case-id="{case.id}"', html_of(listed))
    assert "工作量" in text_of(signed_in(app, "supervisor").get("/"))  # the nav link
    for username in ("clerk", "auditor", "admin", "village1"):
        response = signed_in(app, username).get("/workload/")
        assert response.status_code == 403
    assert 'id="nav-workload"' not in html_of(signed_in(app, "clerk").get("/"))


def test_a_handler_page_shows_only_what_the_supervisor_may_see(app, office):
    procedure = make_procedure_case(office, by="clerk2")
    page = signed_in(app, "supervisor").get(f"/workload/handlers/{office['clerk2'].id}")
    assert f'data-case-id="{procedure.id}"' in html_of(page)
    assert signed_in(app, "supervisor").get(f"/workload/handlers/{office['outsider'].id}").status_code == 404


def test_handing_on_reports_each_case_and_changes_only_what_it_may(office):
    mine = assigned(office, make_case(office), "clerk")
    moved_on = assigned(office, make_case(office), "clerk2")
    to_nobody_known = assigned(office, make_case(office), "clerk")
    to_a_village_officer = assigned(office, make_case(office), "clerk")
    away = leave(office, "clerk", reason="病假")
    with transactional():
        results = reassign_for_leave(away, [
            Move(mine.id, office["clerk2"].id, reload(mine).version),
            Move(moved_on.id, office["supervisor"].id, reload(moved_on).version),
            Move(to_nobody_known.id, 999999, reload(to_nobody_known).version),
            Move(to_a_village_officer.id, office["village1"].id, reload(to_a_village_officer).version),
            Move(999999, None, 1),
        ], office["supervisor"])
    assert [r.ok for r in results] == [True, False, False, False, False]
    assert results[1].message.en == "Clerk no longer holds this case; left as it is."
    assert results[2].message.en == "No such user."
    assert results[3].message.en == "Cases can only go to a clerk or supervisor of this jurisdiction."
    assert results[4].case is None and results[4].message.en.startswith("Case not found")
    assert reload(mine).assignee.username == "clerk2"
    assert reload(mine).events[-1].reason == f"休假 {TODAY} 至 {TODAY + 4 * DAY}：病假"
    assert reload(moved_on).assignee.username == "clerk2"
    assert reload(to_nobody_known).assignee.username == "clerk"
    assert reload(to_a_village_officer).assignee.username == "clerk"
    with pytest.raises(PermissionDenied):
        with transactional():
            reassign_for_leave(away, [Move(mine.id, None, reload(mine).version)], office["clerk2"])


# ------------------------------------------------------------------------------------------ recording in the UI

def test_recording_leave_in_the_form_then_handing_cases_on(app, office):
    first = assigned(office, make_case(office, name="甲"), "clerk")
    second = assigned(office, make_case(office, name="乙"), "clerk")
    kept = assigned(office, make_case(office, name="丙"), "clerk")
    procedure = make_procedure_case(office, by="clerk", name="丁")
    other = assigned(office, make_case(office, name="戊"), "clerk2")
    supervisor = signed_in(app, "supervisor")
    response = supervisor.post("/workload/leave", data={
        "user": office["clerk"].id, "starts_on": TODAY.isoformat(), "ends_on": (TODAY + 4 * DAY).isoformat(),
        "reason": "年休假", "delegate": office["clerk2"].id})
    assert response.status_code == 302
    recorded = db.session.scalar(sa.select(Leave))
    assert response.headers["Location"].endswith(f"/workload/leave/{recorded.id}/reassign")

    page = supervisor.get(f"/workload/leave/{recorded.id}/reassign")
    fields = form_fields(page)
    listed = {int(v) for v in fields["case"]}
    assert listed == {first.id, second.id, kept.id, procedure.id}  # the clerk's open cases, not clerk2's
    assert other.id not in listed
    for case in (first, second, kept, procedure):
        assert fields[f"to-{case.id}"] == [str(office["clerk2"].id)]  # the delegate by default
        assert fields[f"version-{case.id}"] == [str(reload(case).version)]
    note = f"休假 {TODAY} 至 {TODAY + 4 * DAY}：年休假"
    assert note in text_of(page)

    # Meanwhile someone moves the second case on: the page's version of it is now stale.
    with transactional():
        apply_transition(reload(second), "accept", office["clerk"], reload(second).version)
    fields[f"to-{kept.id}"] = ["keep"]
    fields[f"to-{first.id}"] = [""]  # back to the pool
    result = supervisor.post(f"/workload/leave/{recorded.id}/reassign", data=fields)
    assert result.status_code == 200
    outcomes = {int(case_id): text_of(row) for case_id, row in
                re.findall(r'<tr class="move-result" data-case-id="(\d+)">(.*?)</tr>', html_of(result), re.S)}
    assert set(outcomes) == {first.id, second.id, procedure.id}
    assert "放回待分配" in outcomes[first.id]
    assert "已移交给 Clerk2" in outcomes[procedure.id]
    assert "未更改" in outcomes[second.id] and "已被他人修改" in outcomes[second.id]
    assert reload(first).assignee_id is None
    assert reload(procedure).assignee.username == "clerk2"
    assert reload(second).assignee.username == "clerk" and reload(kept).assignee.username == "clerk"
    for case in (first, procedure):
        event = reload(case).events[-1]
        assert (event.trigger, event.actor.username, event.reason) == ("assign", "supervisor", note)
    assert reload(second).events[-1].trigger == "accept"  # not overwritten
    # The need-to-know case shown and handed on here is logged as read.
    assert {r.what for r in reads_of(reload(procedure)) if r.user.username == "supervisor"} >= {
        "leave:list", "leave:assignment"}
    # The page now lists what is still the clerk's.
    assert {int(v) for v in form_fields(result)["case"]} == {second.id, kept.id}


def test_the_leave_form_keeps_what_was_typed_on_errors(app, office):
    response = signed_in(app, "supervisor").post("/workload/leave", data={
        "user": office["clerk"].id, "starts_on": (TODAY + 3 * DAY).isoformat(), "ends_on": TODAY.isoformat(),
        "reason": "", "delegate": office["village1"].id})
    assert response.status_code == 422
    fields = form_fields(response)
    assert fields["user"] == [str(office["clerk"].id)] and fields["starts_on"] == [(TODAY + 3 * DAY).isoformat()]
    assert field_error(response, "ends_on") == "结束日期不能早于开始日期。"
    assert field_error(response, "reason") == "此项为必填项。"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Leave)) == 0


def test_calling_off_leave_in_the_ui(app, office):
    ahead = leave(office, "clerk2", starts=TODAY + 3 * DAY, ends=TODAY + 5 * DAY)
    running = leave(office, "clerk", starts=TODAY - DAY, ends=TODAY + 5 * DAY)
    supervisor = signed_in(app, "supervisor")
    assert supervisor.post(f"/workload/leave/{running.id}/shorten",
                           data={"ends_on": (TODAY + DAY).isoformat()}).status_code == 302
    assert reload_leave(running).ends_on == TODAY + DAY
    supervisor.post(f"/workload/leave/{running.id}/cancel")
    assert reload_leave(running).ends_on == TODAY - DAY
    ahead_id = ahead.id
    supervisor.post(f"/workload/leave/{ahead_id}/cancel")
    db.session.expire_all()
    assert db.session.scalar(sa.select(Leave.id).where(Leave.id == ahead_id)) is None
    assert signed_in(app, "clerk").post(f"/workload/leave/{running.id}/cancel").status_code == 403
