"""The case page, the step forms, assignment, new applications, and what each role and place may see."""
from __future__ import annotations

import re

from datetime import timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import to_local, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case
from caseflow.services.cases import apply_transition, assign_case
from caseflow.workflows.definition import BAD_PHONE, BAD_RESIDENT_ID, REQUIRED
from tests import factories
from tests.factories import birth_registration_data, make_case, reload
from tests.functional.ui_support import (
    field_error, field_kinds, form_fields, html_of, signed_in, step_links, text_of,
)


def move(case, office, *steps):
    """Take ``case`` through ``steps`` (trigger, username, reason, data) with the real service."""
    for trigger, by, reason, data in steps:
        with transactional():
            apply_transition(case, trigger, office[by], case.version, reason=reason, data=data)
        case = reload(case)
    return case


def shown_deadline(moment) -> str:
    """How a period ending at ``moment`` (a local midnight) is written: its last day, 24:00."""
    return f"{to_local(moment - timedelta(seconds=1)):%Y-%m-%d} 24:00"


ACCEPT = ("accept", "clerk", None, {})
VERIFY = ("verify", "clerk", None, {"discrepancy": "户籍地址不一致", "other_registry": "邻县公安局"})
REGISTER = ("register", "clerk", None, {})


# ------------------------------------------------------------------------------------------ case page

def test_case_page_shows_the_case_with_the_resident_id_masked(app, office):
    other_parent = factories.resident_id("19880808")
    case = make_case(office, name="王芳", phone="13912345678",
                     data=birth_registration_data(other_parent_name="李强",
                                                  other_parent_resident_id=other_parent))
    page = signed_in(app, "clerk").get(f"/cases/{case.id}")
    assert page.status_code == 200
    html, text = html_of(page), text_of(page)
    full_id = case.applicant.resident_id
    assert full_id not in html and other_parent not in html  # never the full number, not even in an attribute
    assert case.applicant.masked_resident_id in text
    assert other_parent[:6] + "********" + other_parent[-4:] in text
    assert "王芳" in text and "139 1234 5678" in text and "东村" in text
    # Application data with the workflow's labels; choices by their label, not their stored value.
    for label, value in [("申请人身份", "母亲"), ("婚姻状况", "已婚"), ("户籍地址", "示例镇东村 8 号"),
                         ("现有子女数", "1"), ("申请方式", "现场办理"), ("另一方姓名", "李强")]:
        assert f"{label} {value}" in text
    assert "mother" not in text and "on_site" not in text
    assert "未受理" in text and "已提交" in text and "法定期限" in text and "待分配" in text
    assert "提交申请" in text and "Village1" in text  # the first history entry and who submitted


def test_the_application_section_shows_the_application_not_what_later_steps_recorded(app, office):
    case = factories.advance(make_case(office), ["accept", "verify"], office)
    page = html_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    application = page[page.index("<h2>申请信息</h2>"):]
    application = application[:application.index("</section>")]
    assert "户籍地址" in application
    # The verification step's values belong to its timeline entry, with their labels, never as raw keys.
    assert "discrepancy" not in page and "other_registry" not in page
    assert "不一致之处" not in application and "不一致之处" in page


def test_case_page_shows_deadlines_and_the_stopped_clock(app, office):
    start = utcnow() - timedelta(days=3)
    case = make_case(office, now=start)

    def step(trigger, by, data, at):
        with transactional():
            apply_transition(case, trigger, office[by], reload(case).version, data=data, now=at)

    step("request_supplement", "clerk", {"missing_items": "户口簿复印件"}, start + timedelta(hours=1))
    text = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    assert "暂停计时" in text and "暂停计时开始于" in text
    assert "户口簿复印件" in text and "已提交 → 待补正材料" in text and "一次性告知补正" in text

    step("resubmit", "village1", {"supplied_items": "已补交"}, start + timedelta(days=1, hours=3))
    step("accept", "clerk", {}, start + timedelta(days=2))
    case = reload(case)
    text = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    assert "累计暂停计时 1天2小时" in text
    assert f"法定期限 {shown_deadline(case.due_at)}" in text
    assert f"内部目标期限 {shown_deadline(case.target_at)}" in text
    assert f"办件编号 {case.number}" in text  # the receipt number in the acceptance's history entry


@pytest.mark.parametrize("username, expected", [
    ("village1", {"withdraw"}),
    ("clerk", {"accept", "request_supplement", "withdraw"}),
    ("supervisor", {"accept", "request_supplement", "withdraw"}),
    ("auditor", set()),
])
def test_actions_on_a_submitted_case_follow_the_role(app, office, username, expected):
    case = make_case(office)
    page = signed_in(app, username).get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert step_links(page, case.id) == expected
    if not expected:
        assert "当前状态下您没有可办理的操作。" in text_of(page)


@pytest.mark.parametrize("username, expected", [
    ("clerk", {"register", "withdraw"}),
    ("supervisor", {"register", "refuse", "withdraw"}),
    ("village1", {"withdraw"}),
])
def test_only_a_supervisor_may_refuse(app, office, username, expected):
    case = move(make_case(office), office, ACCEPT, VERIFY)
    assert step_links(signed_in(app, username).get(f"/cases/{case.id}"), case.id) == expected


def test_danger_steps_are_styled_as_such(app, office):
    case = move(make_case(office), office, ACCEPT, VERIFY)
    html = html_of(signed_in(app, "supervisor").get(f"/cases/{case.id}"))
    assert f'class="button button-danger" href="/cases/{case.id}/steps/refuse"' in html
    assert f'class="button button-primary" href="/cases/{case.id}/steps/register"' in html
    form = signed_in(app, "supervisor").get(f"/cases/{case.id}/steps/refuse")
    assert "card-danger" in html_of(form) and "此操作将办结本案。" in text_of(form)


# ----------------------------------------------------------------------------------------- step forms

@pytest.mark.parametrize("trigger, steps, by, fields", [
    ("accept", [], "clerk", {}),
    ("request_supplement", [], "clerk", {"missing_items": "textarea"}),
    ("withdraw", [], "village1", {"reason": "textarea"}),
    ("verify", [ACCEPT], "clerk", {"discrepancy": "textarea", "other_registry": "text"}),
    ("register", [ACCEPT], "clerk", {}),
    ("register", [ACCEPT, VERIFY], "clerk", {"verification_result": "textarea"}),
    ("refuse", [ACCEPT, VERIFY], "supervisor", {"reason": "textarea", "legal_basis": "text"}),
    ("void", [ACCEPT, REGISTER], "supervisor", {"reason": "textarea", "void_ground": "select"}),
])
def test_each_step_form_asks_only_for_what_the_step_needs(app, office, trigger, steps, by, fields):
    case = move(make_case(office), office, *steps)
    page = signed_in(app, by).get(f"/cases/{case.id}/steps/{trigger}")
    assert page.status_code == 200
    kinds = field_kinds(page)
    language_form = {"csrf_token", "next"}  # the header's language switch
    assert set(kinds) - language_form == {"version", *fields}
    assert {name: kinds[name] for name in fields} == fields
    assert form_fields(page)["version"] == [str(case.version)]
    assert '<form method="post" action="/cases/%d/steps/%s"' % (case.id, trigger) in html_of(page)


def test_choice_fields_offer_their_labels(app, office):
    case = move(make_case(office), office, ACCEPT, REGISTER)
    html = html_of(signed_in(app, "supervisor").get(f"/cases/{case.id}/steps/void"))
    assert 'value="applicant_request"' in html and "申请人申请" in html
    assert 'value="error_correction"' in html and "更正错误" in html
    assert "applicant_request\n" not in html
    assert "作废理由" in html  # the step's own label for its reason


def test_a_role_that_may_not_take_a_step_gets_403_and_nothing_changes(app, office):
    case = make_case(office)
    client = signed_in(app, "village1")
    assert client.get(f"/cases/{case.id}/steps/accept").status_code == 403
    response = client.post(f"/cases/{case.id}/steps/accept", data={"version": case.version})
    assert response.status_code == 403 and "您无权访问此页面" in text_of(response)
    assert reload(case).state == "submitted" and reload(case).number is None


def test_unknown_step_is_404_and_a_step_from_another_state_goes_back_to_the_case(app, office):
    case = make_case(office)
    client = signed_in(app, "clerk")
    assert client.get(f"/cases/{case.id}/steps/explode").status_code == 404
    response = client.get(f"/cases/{case.id}/steps/register")
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{case.id}"
    assert "此操作在案件当前状态下不可用。" in text_of(client.get(f"/cases/{case.id}"))


def test_step_validation_errors_keep_the_input(app, office):
    case = move(make_case(office), office, ACCEPT, VERIFY)
    client = signed_in(app, "supervisor")
    response = client.post(f"/cases/{case.id}/steps/refuse",
                           data={"version": case.version, "reason": "  ", "legal_basis": "《某条例》第五条"})
    assert response.status_code == 422
    assert "请更正标出的字段。" in text_of(response)
    assert field_error(response, "reason") == "此操作需要书面理由。"
    assert form_fields(response)["legal_basis"] == ["《某条例》第五条"]
    case = reload(case)
    assert case.state == "verifying" and len(case.events) == 3


def test_step_validation_speaks_english_on_request(app, office):
    case = make_case(office)
    client = signed_in(app, "clerk")
    client.post("/lang/en")
    response = client.post(f"/cases/{case.id}/steps/request_supplement", data={"version": case.version})
    assert response.status_code == 422
    assert field_error(response, "missing_items") == REQUIRED.en
    assert "Please correct the marked fields." in text_of(response)
    assert "Everything missing (listed once, in full)" in text_of(response)


def test_stale_version_is_a_conflict_and_changes_nothing(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    form = clerk.get(f"/cases/{case.id}/steps/request_supplement")
    seen_version = form_fields(form)["version"][0]

    # Meanwhile the supervisor gives the case to someone else.
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, reason="均衡工作量")
    events_before = len(reload(case).events)

    response = clerk.post(f"/cases/{case.id}/steps/request_supplement",
                          data={"version": seen_version, "missing_items": "结婚证复印件"})
    assert response.status_code == 409
    text = text_of(response)
    assert "该案件已被他人修改，请刷新后重试。" in text
    assert "最近一次变更" in text and "指派承办人" in text and "Supervisor" in text
    case = reload(case)
    assert case.state == "submitted" and case.assignee.username == "clerk2"
    assert len(case.events) == events_before
    # What the clerk typed is still there, and the form now carries the version they have just been shown.
    assert form_fields(response)["missing_items"] == ["结婚证复印件"]
    assert form_fields(response)["version"] == [str(case.version)]


def test_stale_version_after_the_case_moved_on(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    seen_version = form_fields(clerk.get(f"/cases/{case.id}/steps/accept"))["version"][0]
    move(case, office, ("request_supplement", "clerk2", None, {"missing_items": "户口簿"}))

    response = clerk.post(f"/cases/{case.id}/steps/accept", data={"version": seen_version})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{case.id}"
    assert "该案件已被他人修改，请刷新后重试。" in text_of(clerk.get(f"/cases/{case.id}"))
    case = reload(case)
    assert case.state == "needs_supplement"  # not accepted by the stale form
    assert [e.trigger for e in case.events] == ["submit", "request_supplement"]


# ----------------------------------------------------------------------------------------- assignment

def test_clerk_takes_and_returns_a_case(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    page = clerk.get(f"/cases/{case.id}")
    assert "由我承办" in text_of(page)
    response = clerk.post(f"/cases/{case.id}/assign", data={"assignee": "me", "version": case.version},
                          follow_redirects=True)
    assert "您已承办此案件。" in text_of(response)
    case = reload(case)
    assert case.assignee.username == "clerk"
    assert case.events[-1].trigger == "assign" and case.events[-1].actor.username == "clerk"

    page = clerk.get(f"/cases/{case.id}")
    assert "由我承办" not in text_of(page) and "退回待分配" in text_of(page)
    clerk.post(f"/cases/{case.id}/assign", data={"assignee": "", "version": case.version})
    assert reload(case).assignee is None


def test_supervisor_assigns_to_a_handler_of_the_jurisdiction(app, office):
    case = make_case(office)
    supervisor = signed_in(app, "supervisor")
    page = supervisor.get(f"/cases/{case.id}")
    offered = form_fields(page)  # the assign form's select lists the township's clerks and supervisors only
    assert "assignee" in offered
    html = html_of(page)
    for user in ("clerk", "clerk2", "supervisor"):
        assert f'<option value="{office[user].id}"' in html
    for user in ("village1", "auditor", "outsider", "admin"):
        assert f'<option value="{office[user].id}"' not in html

    response = supervisor.post(f"/cases/{case.id}/assign", follow_redirects=True, data={
        "assignee": office["clerk2"].id, "version": case.version, "reason": "熟悉该村情况"})
    assert "案件已指派给 Clerk2。" in text_of(response)
    case = reload(case)
    assert case.assignee.username == "clerk2" and case.events[-1].reason == "熟悉该村情况"
    text = text_of(supervisor.get(f"/cases/{case.id}"))
    assert "原承办人 待分配" in text and "新承办人 Clerk2" in text and "熟悉该村情况" in text

    # Not to someone who may not handle cases here.
    supervisor.post(f"/cases/{case.id}/assign",
                    data={"assignee": office["outsider"].id, "version": case.version})
    assert reload(case).assignee.username == "clerk2"


def test_clerk_may_not_assign_to_others(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    assert "指派给" not in text_of(clerk.get(f"/cases/{case.id}"))  # no assign form for a clerk
    response = clerk.post(f"/cases/{case.id}/assign", follow_redirects=True,
                          data={"assignee": office["clerk2"].id, "version": case.version})
    assert "您不能指派此案件。" in text_of(response)
    assert reload(case).assignee is None


def test_assign_with_a_stale_version_changes_nothing(app, office):
    case = make_case(office)
    version = case.version
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version)
    supervisor = signed_in(app, "supervisor")
    response = supervisor.post(f"/cases/{case.id}/assign", follow_redirects=True,
                               data={"assignee": office["clerk"].id, "version": version})
    assert "该案件已被他人修改，请刷新后重试。" in text_of(response)
    assert reload(case).assignee.username == "clerk2"


# ------------------------------------------------------------------------------------ who sees what

def test_outsider_gets_404_for_the_case_and_everything_on_it(app, office):
    case = move(make_case(office), office, ACCEPT)
    outsider = signed_in(app, "outsider")
    for path in (f"/cases/{case.id}", f"/cases/{case.id}/steps/register",
                 f"/cases/{case.id}/documents/receipt"):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert case.applicant.name not in text_of(response) and case.number not in text_of(response)
    step = outsider.post(f"/cases/{case.id}/steps/register", data={"version": case.version})
    assert step.status_code == 404
    take = outsider.post(f"/cases/{case.id}/assign", data={"assignee": "me", "version": case.version})
    assert take.status_code == 404
    case = reload(case)
    assert case.state == "accepted" and case.assignee.username == "clerk"
    # Missing and not allowed look the same.
    assert outsider.get("/cases/999999").status_code == 404


def test_village_officer_cannot_see_another_village(app, office):
    case = make_case(office, by="village2", village=office.other_village)
    assert signed_in(app, "village1").get(f"/cases/{case.id}").status_code == 404
    assert signed_in(app, "village2").get(f"/cases/{case.id}").status_code == 200


def test_receipt_pin_only_for_those_who_hand_it_to_the_applicant(app, office):
    case = move(make_case(office), office, ACCEPT)
    with transactional():
        reload(case).pin = "739154"  # a known PIN: a random one could also occur in a date or number
    for username in ("clerk", "supervisor", "village1"):
        receipt = signed_in(app, username).get(f"/cases/{case.id}/documents/receipt")
        assert receipt.status_code == 200 and "查询密码 739154" in text_of(receipt), username
    auditor = signed_in(app, "auditor")
    receipt = auditor.get(f"/cases/{case.id}/documents/receipt")
    assert receipt.status_code == 200
    assert "查询密码 （仅经办人可见）" in text_of(receipt) and case.number in text_of(receipt)
    assert "739154" not in html_of(receipt)
    # The case page never shows the PIN, to anyone who may read the case.
    for username in ("clerk", "supervisor", "village1", "auditor"):
        page = signed_in(app, username).get(f"/cases/{case.id}")
        assert page.status_code == 200 and "739154" not in html_of(page), username


def test_documents_exist_only_when_available(app, office):
    case = make_case(office)
    client = signed_in(app, "clerk")
    page = client.get(f"/cases/{case.id}")
    assert "可打印文书" not in text_of(page)
    for name in ("receipt", "voucher", "refusal_decision", "supplement_notice", "no_such_document"):
        assert client.get(f"/cases/{case.id}/documents/{name}").status_code == 404


# ------------------------------------------------------------------------------------ new application

def _application(office, **overrides):
    form = {
        "applicant.name": "陈静", "applicant.resident_id": factories.resident_id("19920315"),
        "applicant.phone": "13800138000", "jurisdiction": str(office.village.id),
        "applicant_relation": "mother", "other_parent_name": "", "other_parent_resident_id": "",
        "marital_status": "married", "marriage_date": "2019-10-01", "hukou_address": "示例镇东村 12 号",
        "residence_address": "", "existing_children": "1", "channel": "on_site",
    }
    return form | overrides


def test_new_application_form_offers_only_the_officers_villages(app, office):
    page = signed_in(app, "village1").get("/cases/new/birth_registration")
    assert page.status_code == 200
    html = html_of(page)
    assert f'<option value="{office.village.id}" selected>东村</option>' in html
    assert f'value="{office.other_village.id}"' not in html
    names = set(field_kinds(page))
    assert {"applicant.name", "applicant.resident_id", "applicant.phone", "jurisdiction",
            "applicant_relation", "other_parent_name", "other_parent_resident_id", "marital_status",
            "marriage_date", "hukou_address", "residence_address", "existing_children", "channel"} <= names
    # The clerk of the township chooses among all its villages.
    html = html_of(signed_in(app, "clerk").get("/cases/new/birth_registration"))
    assert f'value="{office.village.id}"' in html and f'value="{office.other_village.id}"' in html


def test_new_application_validation_keeps_every_input(app, office):
    good_id = factories.resident_id("19920315")
    bad_id = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    client = signed_in(app, "village1")
    response = client.post("/cases/new/birth_registration", data=_application(
        office, **{"applicant.resident_id": bad_id, "applicant.phone": "12345"}))
    assert response.status_code == 422
    assert field_error(response, "applicant.resident_id") == BAD_RESIDENT_ID.zh
    assert field_error(response, "applicant.phone") == BAD_PHONE.zh
    assert field_error(response, "applicant.name") == ""
    kept = form_fields(response)
    assert kept["applicant.name"] == ["陈静"] and kept["applicant.resident_id"] == [bad_id]
    assert kept["applicant.phone"] == ["12345"] and kept["hukou_address"] == ["示例镇东村 12 号"]
    assert kept["marital_status"] == ["married"] and kept["channel"] == ["on_site"]
    assert kept["marriage_date"] == ["2019-10-01"] and kept["existing_children"] == ["1"]
    assert 'aria-invalid="true"' in html_of(response)
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


def test_new_application_missing_choice_and_bad_number(app, office):
    response = signed_in(app, "clerk").post("/cases/new/birth_registration", data=_application(
        office, marital_status="", existing_children="两个"))
    assert response.status_code == 422
    assert field_error(response, "marital_status") == REQUIRED.zh
    assert field_error(response, "existing_children") == "请输入整数。"
    assert form_fields(response)["existing_children"] == ["两个"]


def test_an_empty_application_reports_every_missing_field_at_once(app, office):
    response = signed_in(app, "clerk").post("/cases/new/birth_registration", data={})
    assert response.status_code == 422
    for name in ("applicant.name", "applicant.resident_id", "applicant.phone", "jurisdiction",
                 "applicant_relation", "marital_status", "hukou_address", "existing_children", "channel"):
        assert field_error(response, name) == REQUIRED.zh, name
    assert field_error(response, "other_parent_name") == ""


def test_new_application_for_a_village_elsewhere_is_refused(app, office):
    response = signed_in(app, "village1").post("/cases/new/birth_registration", data=_application(
        office, jurisdiction=str(office.other_village.id)))
    assert response.status_code == 403
    assert field_error(response, "jurisdiction") == "该村（社区）不在您的辖区内。"
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


def test_new_application_is_only_for_roles_that_may_open(app, office):
    assert signed_in(app, "auditor").get("/cases/new/birth_registration").status_code == 403
    assert signed_in(app, "clerk").get("/cases/new/no_such_workflow").status_code == 404
    header = text_of(signed_in(app, "auditor").get("/"))
    assert "新申请" not in header and "全部案件" in header
    assert signed_in(app, "auditor").get("/cases/new").status_code == 403


def test_new_application_page_lists_what_the_role_may_open(app, office):
    page = html_of(signed_in(app, "village1").get("/cases/new"))
    assert 'id="nav-new"' in page
    links = set(re.findall(r'href="/cases/new/(\w+)"', page))
    assert links == {"birth_registration", "subsidy"}  # village officers enter neither certificates nor fee cases
    clerk = set(re.findall(r'href="/cases/new/(\w+)"', html_of(signed_in(app, "clerk").get("/cases/new"))))
    assert clerk == {"birth_registration", "procedure_certificate", "subsidy", "fee_case"}
