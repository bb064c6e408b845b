"""Whole birth-registration cases driven through the web UI only, from the village officer's application
to the printed documents."""
from __future__ import annotations

import re

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import Case
from tests import factories
from tests.factories import reload
from tests.functional.ui_support import form_fields, html_of, signed_in, step_links, text_of


def submit_application(app, office, name="赵丽", **overrides) -> Case:
    village1 = signed_in(app, "village1")
    form = {
        "applicant.name": name, "applicant.resident_id": factories.resident_id("19930720"),
        "applicant.phone": "138 1234 5678", "jurisdiction": str(office.village.id),
        "applicant_relation": "mother", "marital_status": "married", "marriage_date": "2021-02-14",
        "hukou_address": "示例镇东村 3 组 21 号", "existing_children": "0", "channel": "on_site",
    } | overrides
    response = village1.post("/cases/new/birth_registration", data=form)
    assert response.status_code == 302, text_of(response)[:500]
    case_id = int(re.fullmatch(r"/cases/(\d+)", response.headers["Location"]).group(1))
    page = village1.get(response.headers["Location"])
    assert "申请已提交。" in text_of(page) and name in text_of(page)
    return db.session.get(Case, case_id)


def take_step(client, case: Case, trigger: str, **data) -> str:
    """Open the step's form as a user would, fill it in, send it; returns the case page shown next."""
    form = client.get(f"/cases/{case.id}/steps/{trigger}")
    assert form.status_code == 200, text_of(form)[:300]
    version = form_fields(form)["version"][0]
    response = client.post(f"/cases/{case.id}/steps/{trigger}", data={"version": version, **data},
                           follow_redirects=True)
    assert response.status_code == 200, text_of(response)[:500]
    assert response.request.path == f"/cases/{case.id}", text_of(response)[:500]
    return text_of(response)


def test_submit_accept_register_with_receipt_and_voucher(app, office):
    case = submit_application(app, office)
    assert case.state == "submitted" and case.created_by.username == "village1"
    assert case.applicant.phone == "+8613812345678" and case.data["hukou_address"] == "示例镇东村 3 组 21 号"

    clerk = signed_in(app, "clerk")
    assert case.id in [int(i) for i in re.findall(r'data-case-id="(\d+)"', html_of(clerk.get("/")))]

    page = take_step(clerk, case, "accept")
    case = reload(case)
    assert case.state == "accepted" and case.number and case.pin and case.assignee.username == "clerk"
    assert "已办理：受理。" in page and f"已生成办件编号 {case.number}。" in page
    assert case.number in page and "受理回执" in page

    receipt = clerk.get(f"/cases/{case.id}/documents/receipt")
    assert receipt.status_code == 200
    text = text_of(receipt)
    assert "受理回执" in text and app.config["CASEFLOW_OFFICE_NAME"] in text
    assert f"办件编号 {case.number}" in text and f"查询密码 {case.pin}" in text
    assert case.applicant.masked_resident_id in text and case.applicant.resident_id not in html_of(receipt)
    assert "办结期限" in text and "自受理之日起3个工作日内" in text and "后续办理" in text
    assert '<html lang="zh-CN">' in html_of(receipt)

    page = take_step(clerk, case, "register")
    case = reload(case)
    assert case.state == "registered" and case.closed_at is not None and case.outcome == "registered"
    assert "已办理：登记并出具凭证。" in page and "生育登记服务凭证" in page

    voucher = clerk.get(f"/cases/{case.id}/documents/voucher")
    assert voucher.status_code == 200
    text = text_of(voucher)
    assert "生育登记服务凭证" in text and f"编号：{case.number}" in text and "赵丽" in text
    assert "已于" in text and "予以登记" in text and "户籍地址 示例镇东村 3 组 21 号" in text
    assert "申请人身份 母亲" in text
    # The receipt stays printable (same content) after the case is closed.
    assert f"查询密码 {case.pin}" in text_of(clerk.get(f"/cases/{case.id}/documents/receipt"))
    assert [e.trigger for e in case.events] == ["submit", "accept", "register"]


def test_documents_are_official_chinese_even_for_an_english_user(app, office):
    case = submit_application(app, office)
    clerk = signed_in(app, "clerk")
    take_step(clerk, case, "accept")
    clerk.post("/lang/en")
    receipt = text_of(clerk.get(f"/cases/{case.id}/documents/receipt"))
    assert "受理回执" in receipt and "后续办理" in receipt and "生育登记" in receipt
    assert "Acceptance receipt" not in receipt
    assert "Acceptance receipt" in text_of(clerk.get(f"/cases/{case.id}"))  # the UI itself is English


def test_request_supplement_then_resubmit(app, office):
    case = submit_application(app, office)
    clerk = signed_in(app, "clerk")
    missing = "1. 户口簿首页及本人页复印件\n2. 结婚证复印件"
    page = take_step(clerk, case, "request_supplement", missing_items=missing)
    case = reload(case)
    assert case.state == "needs_supplement" and case.paused_since is not None and case.due_at is None
    assert "补正材料通知书" in page

    notice = clerk.get(f"/cases/{case.id}/documents/supplement_notice")
    assert notice.status_code == 200
    text = text_of(notice)
    assert "补正材料通知书" in text and "一次性告知" in text
    assert "《中华人民共和国行政许可法》第三十二条" in text
    assert "户口簿首页及本人页复印件" in text and "结婚证复印件" in text
    assert "1. 户口簿首页及本人页复印件\n2. 结婚证复印件" in html_of(notice)  # one full list, lines kept
    # The applicant can look up what is missing: the notice carries the receipt number and PIN.
    assert f"办件编号：{case.number}" in text and case.pin in text and "/progress" in text
    assert case.pin not in text_of(signed_in(app, "auditor").get(f"/cases/{case.id}/documents/supplement_notice"))

    village1 = signed_in(app, "village1")
    assert step_links(village1.get(f"/cases/{case.id}"), case.id) == {"resubmit", "withdraw"}
    take_step(village1, case, "resubmit", supplied_items="户口簿、结婚证复印件各一份")
    case = reload(case)
    assert case.state == "submitted" and case.paused_since is None and case.due_at is not None
    assert clerk.get(f"/cases/{case.id}/documents/supplement_notice").status_code == 404  # no longer current
    assert "户口簿、结婚证复印件各一份" in text_of(clerk.get(f"/cases/{case.id}"))


def test_verify_then_supervisor_refuses_with_reasons_and_remedies(app, office):
    case = submit_application(app, office, name="钱敏")
    clerk = signed_in(app, "clerk")
    take_step(clerk, case, "accept")
    take_step(clerk, case, "verify", discrepancy="户籍地址与户籍地登记不一致", other_registry="邻县公安局户籍科")
    assert reload(case).state == "verifying"

    supervisor = signed_in(app, "supervisor")
    reasons = "经向邻县公安局户籍科核查，申请人申报的户籍信息与登记记录不符，\n经告知后申请人未能提供证明材料。"
    page = take_step(supervisor, case, "refuse", reason=reasons, legal_basis="《某省人口与计划生育条例》第十二条")
    case = reload(case)
    assert case.state == "refused" and case.outcome == "refused" and case.events[-1].reason == reasons
    assert "已办理：不予登记。" in page and "不予登记决定书" in page

    decision = supervisor.get(f"/cases/{case.id}/documents/refusal_decision")
    assert decision.status_code == 200
    text = text_of(decision)
    assert "不予登记决定书" in text and "钱敏" in text and case.number in text
    assert "申报的户籍信息与登记记录不符" in text and "未能提供证明材料" in text
    assert "《某省人口与计划生育条例》第十二条" in text
    # Both remedies, with their periods, bodies and legal bases.
    county, court = app.config["CASEFLOW_COUNTY_GOVERNMENT"], app.config["CASEFLOW_COURT"]
    assert f"六十日内向{county}申请行政复议" in text
    assert "《中华人民共和国行政复议法》第二十条、第二十四条" in text
    assert f"六个月内直接向{court}提起行政诉讼" in text
    assert "《中华人民共和国行政诉讼法》第四十六条" in text
    # The clerk could not have refused.
    assert "refuse" not in step_links(clerk.get(f"/cases/{case.id}"), case.id)


def test_supervisor_voids_a_registration_with_a_reason(app, office):
    case = submit_application(app, office)
    clerk = signed_in(app, "clerk")
    take_step(clerk, case, "accept")
    take_step(clerk, case, "register")
    assert "void" not in step_links(clerk.get(f"/cases/{case.id}"), case.id)

    supervisor = signed_in(app, "supervisor")
    form = supervisor.get(f"/cases/{case.id}/steps/void")
    version = form_fields(form)["version"][0]
    refused = supervisor.post(f"/cases/{case.id}/steps/void",
                              data={"version": version, "void_ground": "error_correction", "reason": ""})
    assert refused.status_code == 422 and reload(case).state == "registered"
    assert form_fields(refused)["void_ground"] == ["error_correction"]

    page = take_step(supervisor, case, "void", void_ground="error_correction", reason="登记时出生日期录入错误，依申请人申请更正")
    case = reload(case)
    assert case.state == "voided" and case.events[-1].reason == "登记时出生日期录入错误，依申请人申请更正"
    assert case.events[-1].data == {"void_ground": "error_correction"}
    assert "已作废" in page and "作废理由 登记时出生日期录入错误" in page and "作废依据 更正错误" in page
    assert supervisor.get(f"/cases/{case.id}/documents/voucher").status_code == 404


def test_applicant_withdraws_through_the_village_officer(app, office):
    case = submit_application(app, office)
    village1 = signed_in(app, "village1")
    page = take_step(village1, case, "withdraw", reason="申请人已迁出本镇，书面申请撤回")
    case = reload(case)
    assert case.state == "withdrawn" and case.closed_at is not None
    assert "已撤回" in page and "申请人撤回的说明 申请人已迁出本镇，书面申请撤回" in page
    assert not step_links(village1.get(f"/cases/{case.id}"), case.id)
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 1
