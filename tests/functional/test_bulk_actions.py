"""Bulk actions from the team queue: assign or take one step on many cases, each on its own, with a reason
recorded per case, and an outcome for every selected case."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, CaseEvent, PublicNotice
from caseflow.services.bulk import bulk_ready, bulk_transition
from caseflow.services.cases import assign_case
from caseflow.services.errors import ValidationFailed
from caseflow.services.subsidies import enrolment_of
from caseflow.workflows import all_workflows
from tests.factories import make_case, make_procedure_case, make_user, reload
from tests.functional.test_subsidy_flow import reviewed, step
from tests.functional.ui_support import (
    field_kinds, form_fields, html_of, make_outside_case, signed_in, text_of, ui_client,
)


def selection(*cases, versions=None) -> dict:
    """The form the team queue sends for these ticked cases, at the versions the page showed."""
    versions = versions or {}
    return {"case_id": [str(c.id) for c in cases],
            "version": [f"{c.id}:{versions.get(c.id, c.version)}" for c in cases]}


def outcomes(response) -> dict[int, tuple[str, str]]:
    """case id → (outcome kind, the row's text) from the result page."""
    html = html_of(response)
    rows = re.findall(r'<tr class="bulk-outcome [^"]*" id="outcome-(\d+)" data-case-id="\d+" '
                      r'data-outcome="(\w+)">(.*?)</tr>', html, re.S)
    return {int(case_id): (kind, text_of(row)) for case_id, kind, row in rows}


def events(case, trigger: str) -> list[CaseEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                              CaseEvent.trigger == trigger)))


def on_notice(office, started, village=None, **person):
    """A subsidy case on a public notice that started at ``started``."""
    case = reviewed(office, started - timedelta(days=1), village=village, **person)
    return step(case, "start_notice", "clerk", started, office)


# ---------------------------------------------------------------------------------------------- assign

def test_bulk_assign_records_the_reason_on_every_case(app, office):
    cases = [make_case(office, name=f"指派{i}") for i in range(3)]
    taken = cases[2]
    with transactional():
        assign_case(taken, office["clerk"], office["supervisor"], taken.version)
    taken = reload(taken)
    client = signed_in(app, "supervisor")
    response = client.post("/team/bulk", data={
        **selection(*cases[:2], taken), "action": "assign", "assignee": str(office["clerk2"].id),
        "reason": "张三休假，由李四接手", "query": "light=green"})
    assert response.status_code == 200
    result = outcomes(response)
    assert [kind for kind, _ in result.values()] == ["done", "done", "done"]
    assert "共 3 件：已办理 3 件，未办理 0 件" in text_of(response)
    assert 'href="/team?light=green"' in html_of(response)
    for case in cases:
        case = reload(case)
        assert case.assignee_id == office["clerk2"].id
        last = events(case, "assign")[-1]
        assert last.reason == "张三休假，由李四接手" and last.actor_id == office["supervisor"].id
        assert last.data["to"] == "clerk2"
    assert events(taken, "assign")[-1].data["from"] == "clerk"


def test_bulk_assign_refuses_a_case_the_assignee_may_not_hold_and_does_the_others(app, office):
    with transactional():
        east_clerk = make_user("eastclerk", ["clerk"], [office.village])
    east = make_case(office, name="东村甲")
    west = make_case(office, name="西村乙", village=office.other_village, by="village2")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(east, west), "action": "assign", "assignee": str(east_clerk.id), "reason": "按村分工"})
    result = outcomes(response)
    assert result[east.id][0] == "done"
    assert result[west.id][0] == "invalid" and "只能指派给本辖区的办事员或主管" in result[west.id][1]
    assert reload(east).assignee_id == east_clerk.id and reload(west).assignee_id is None
    assert events(west, "assign") == []


def test_back_to_the_pool(app, office):
    case = make_case(office, name="退回")
    with transactional():
        assign_case(case, office["clerk"], office["supervisor"], case.version)
    case = reload(case)
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(case), "action": "assign", "assignee": "none", "reason": "重新分配"})
    assert outcomes(response)[case.id][0] == "done" and reload(case).assignee_id is None


# ------------------------------------------------------------------------------------------ transitions

def test_bulk_step_reports_a_stale_and_a_refused_case_and_does_the_others(app, office):
    now = utcnow()
    ended = [on_notice(office, now - timedelta(days=10), name=f"期满{i}") for i in range(2)]
    running = on_notice(office, now - timedelta(hours=1), name="公示中")
    stale = on_notice(office, now - timedelta(days=10), name="已变")
    shown = {case.id: case.version for case in (*ended, running, stale)}
    # Someone changes one case after the supervisor's page showed it.
    with transactional():
        assign_case(stale, office["clerk"], office["supervisor"], stale.version, reason="另行指派")

    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(*ended, running, stale, versions=shown), "action": "transition", "trigger": "end_notice",
        "reason": "公示期满无异议，批量登记"})
    assert response.status_code == 200
    result = outcomes(response)
    assert list(result) == [ended[0].id, ended[1].id, running.id, stale.id]  # every case, in order
    assert result[ended[0].id][0] == result[ended[1].id][0] == "done"
    assert result[running.id][0] == "guard" and "公示期尚未届满" in result[running.id][1]
    assert result[stale.id][0] == "conflict" and "已被他人修改" in result[stale.id][1]
    assert "共 4 件：已办理 2 件，未办理 2 件" in text_of(response)
    for case in ended:
        assert reload(case).state == "notice_ended"
        assert events(case, "end_notice")[0].reason == "公示期满无异议，批量登记"
    assert reload(running).state == reload(stale).state == "public_notice"
    assert events(running, "end_notice") == events(stale, "end_notice") == []


def test_cases_of_a_village_started_together_share_one_notice(app, office):
    start = utcnow() - timedelta(days=2)
    east = [reviewed(office, start, name=f"东{i}") for i in range(2)]
    west = reviewed(office, start, village=office.other_village, name="西")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(*east, west), "action": "transition", "trigger": "start_notice", "reason": "本月公示"})
    assert [kind for kind, _ in outcomes(response).values()] == ["done"] * 3
    notices = {enrolment_of(reload(case)).notice_id for case in east}
    assert len(notices) == 1
    assert enrolment_of(reload(west)).notice_id not in notices
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PublicNotice)) == 2
    notice = db.session.get(PublicNotice, notices.pop())
    assert {entry.case_id for entry in notice.entries} == {case.id for case in east}
    assert all(reload(case).state == "public_notice" for case in (*east, west))
    assert events(west, "start_notice")[0].reason == "本月公示"


def test_a_step_not_available_on_every_selected_case_is_refused_as_a_whole(app, office):
    submitted = make_case(office, name="待受理")
    applied = reviewed(office, utcnow() - timedelta(days=2), name="补贴")
    client = signed_in(app, "supervisor")
    response = client.post("/team/bulk", data={
        **selection(submitted, applied), "action": "transition", "trigger": "accept", "reason": "批量受理",
        "query": "status=all"})
    assert response.status_code == 422
    text = text_of(response)
    assert "未作任何处理" in text and "该操作不适用于所选的以下案件" in text and "补贴" in text
    assert reload(submitted).state == "submitted" and reload(submitted).number is None
    # The form comes back as it was: the same cases ticked, the reason kept, at the versions first shown.
    form = form_fields(response)
    assert set(form["case_id"]) == {str(submitted.id), str(applied.id)}
    assert form["reason"] == ["批量受理"]


@pytest.mark.parametrize("trigger,message", [
    ("request_supplement", "不能批量执行"),  # it asks for the missing documents, case by case
    ("withdraw", "不能批量执行"),  # the applicant's own decision, one case at a time
    ("no_such_step", "请选择要执行的操作"),
    ("", "请选择要执行的操作"),
])
def test_steps_that_need_more_than_a_reason_are_refused(app, office, trigger, message):
    case = make_case(office, name="单件")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(case), "action": "transition", "trigger": trigger, "reason": "批量"})
    assert response.status_code == 422 and message in text_of(response)
    assert reload(case).version == case.version


def test_an_unknown_step_on_cases_nobody_here_may_see_is_refused_before_anything(app, office):
    outside = make_outside_case(office, name="外镇")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(outside), "action": "transition", "trigger": "nope", "reason": "批量"})
    assert response.status_code == 422 and "请选择要执行的操作" in text_of(response) and "nope" not in text_of(response)


def test_bulk_accept_issues_receipts(app, office):
    cases = [make_case(office, name=f"受理{i}") for i in range(2)]
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(*cases), "action": "transition", "trigger": "accept", "reason": "材料齐全"})
    result = outcomes(response)
    for case in cases:
        case = reload(case)
        assert case.state == "accepted" and case.number and case.number in result[case.id][1]


def test_only_bulk_ready_steps_are_offered(app, office):
    make_case(office, name="甲")
    page = html_of(signed_in(app, "supervisor").get("/team"))
    options = re.search(r'<select id="bulk-trigger" name="trigger">(.*?)</select>', page, re.S).group(1)
    offered = set(re.findall(r'<option value="(\w+)"', options))
    assert offered == {"accept"}  # not request_supplement (needs fields) nor withdraw (the applicant's act)
    assert re.search(r'data-steps="accept"', page)
    for workflow in all_workflows():
        for step_ in workflow.steps:
            if step_.danger or any(spec.required for spec in step_.fields):
                assert not bulk_ready(step_)


# ----------------------------------------------------------------------------------- required, refused

def test_a_reason_is_required(app, office):
    case = make_case(office, name="无理由")
    client = signed_in(app, "supervisor")
    for reason in ("", "   "):
        response = client.post("/team/bulk", data={**selection(case), "action": "assign",
                                                  "assignee": str(office["clerk"].id), "reason": reason})
        assert response.status_code == 422 and "批量操作须填写理由" in text_of(response)
        assert 'id="bulk-reason-error"' in html_of(response)
        assert form_fields(response)["case_id"] == [str(case.id)]
    assert reload(case).assignee_id is None and events(case, "assign") == []
    response = client.post("/team/bulk", data={"action": "assign", "assignee": str(office["clerk"].id),
                                              "reason": "有理由"})
    assert response.status_code == 422 and "请至少选择一件案件" in text_of(response)
    response = client.post("/team/bulk", data={**selection(case), "action": "assign", "assignee": "",
                                              "reason": "有理由"})
    assert response.status_code == 422 and "此项为必填项" in text_of(response)
    response = client.post("/team/bulk", data={**selection(case), "action": "assign",
                                              "assignee": str(office["outsider"].id), "reason": "有理由"})
    assert response.status_code == 422 and "本辖区没有这位承办人" in text_of(response)
    assert reload(case).assignee_id is None


def test_english_messages(app, office):
    case = make_case(office, name="英文")
    client = signed_in(app, "supervisor")
    client.post("/lang/en", data={"next": "/team"})
    response = client.post("/team/bulk", data={**selection(case), "action": "assign",
                                              "assignee": str(office["clerk"].id), "reason": ""})
    assert "A bulk action needs a reason" in text_of(response)
    response = client.post("/team/bulk", data={**selection(case, versions={case.id: case.version - 1}),
                                              "action": "assign", "assignee": str(office["clerk"].id),
                                              "reason": "x"})
    assert "changed by someone else" in outcomes(response)[case.id][1]


def test_auditors_clerks_and_outsiders_cannot_act(app, office):
    case = make_case(office, name="审计")
    data = {**selection(case), "action": "assign", "assignee": str(office["clerk"].id), "reason": "试图指派"}
    for username in ("auditor", "clerk", "village1", "outsider"):
        assert signed_in(app, username).post("/team/bulk", data=data).status_code == 403, username
    assert reload(case).assignee_id is None
    with pytest.raises(Exception) as refused:
        bulk_transition([(case.id, case.version)], "accept", office["auditor"], "x")
    assert "Only supervisors" in str(refused.value)


def test_a_case_the_supervisor_may_not_see_is_reported_without_its_details(app, office):
    outside = make_outside_case(office, name="外镇机密")
    mine = make_case(office, name="本镇")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(mine, outside), "action": "assign", "assignee": str(office["clerk"].id), "reason": "分配"})
    result = outcomes(response)
    assert result[mine.id][0] == "done"
    assert result[outside.id][0] == "permission" and "外镇机密" not in text_of(response)
    assert reload(outside).assignee_id is None and reload(outside).version == outside.version  # untouched
    assert events(outside, "assign") == []


def test_need_to_know_cases_can_be_reassigned_in_bulk_by_their_supervisor(app, office):
    certificate = make_procedure_case(office, name="保密", by="clerk")
    response = signed_in(app, "supervisor").post("/team/bulk", data={
        **selection(certificate), "action": "assign", "assignee": str(office["clerk2"].id), "reason": "调岗"})
    assert outcomes(response)[certificate.id][0] == "done"
    assert reload(certificate).assignee_id == office["clerk2"].id


def test_tampered_selections_are_refused_or_reported(app, office):
    case = make_case(office, name="篡改")
    client = signed_in(app, "supervisor")
    base = {"action": "assign", "assignee": str(office["clerk"].id), "reason": "分配"}
    for bad in ("99999999999", "1.5", "²", "-1"):
        assert client.post("/team/bulk", data={**base, "case_id": [bad]}).status_code == 400, bad
    # A version that is not a number counts as none: the case is reported as changed, not overwritten.
    response = client.post("/team/bulk", data={**base, "case_id": [str(case.id)], "version": [f"{case.id}:²"]})
    assert outcomes(response)[case.id][0] == "conflict" and reload(case).assignee_id is None
    response = client.post("/team/bulk", data={**base, "case_id": [str(case.id), str(case.id)],
                                              "version": [f"{case.id}:{case.version}"]})
    assert list(outcomes(response)) == [case.id] and len(events(case, "assign")) == 1  # once, not twice
    assert client.post("/team/bulk", data={**base, **selection(case), "action": "delete"}).status_code == 400


def test_the_service_refuses_an_empty_selection_before_doing_anything(office):
    with pytest.raises(ValidationFailed) as refused:
        bulk_transition([], "accept", office["supervisor"], "x")
    assert set(refused.value.fields) == {"case_id"}


# ----------------------------------------------------------------------------------------------- CSRF

def test_bulk_actions_need_the_csrf_token(csrf_app, office):
    case = make_case(office, name="跨站")
    client = ui_client(csrf_app)
    token = form_fields(client.get("/login"))["csrf_token"][0]
    client.post("/login", data={"username": "supervisor", "password": "correct-horse-battery",
                                "csrf_token": token})
    data = {**selection(case), "action": "assign", "assignee": str(office["clerk"].id), "reason": "伪造"}
    assert client.post("/team/bulk", data=data).status_code == 400
    assert reload(case).assignee_id is None

    page = client.get("/team")
    kinds = field_kinds(page)
    assert kinds["reason"] == "textarea" and kinds["assignee"] == "select" and kinds["case_id"] == "checkbox"
    token = re.search(r'<form method="post" action="/team/bulk"[^>]*>\s*<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)"', html_of(page)).group(1)
    response = client.post("/team/bulk", data={**data, "csrf_token": token})
    assert response.status_code == 200 and reload(case).assignee_id == office["clerk"].id
    assert client.post("/team/filters", data={"name": "x", "query": ""}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
