"""Fee cases through the web UI only: the clerk opens the case, the generic step pages move it, the case
page shows the money and the 90-day clock, payments are recorded on their own form, and the admin keeps
the fee types (社会抚养费 refused)."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, FeeAccount, FeePayment, FeeType
from tests import factories
from tests.factories import reload
from tests.functional.test_ui_workflow import take_step
from tests.functional.ui_support import field_error, form_fields, html_of, signed_in, step_links, text_of, ui_client


def days_ago(n: int) -> str:
    return (local_date(utcnow()) - timedelta(days=n)).isoformat()


def open_in_ui(app, office) -> Case:
    clerk = signed_in(app, "clerk")
    form = {"applicant.name": "周某", "applicant.resident_id": factories.resident_id("19800301"),
            "applicant.phone": "13912345678", "jurisdiction": str(office.village.id),
            "fee_type": "sex_determination_fine", "violation_date": days_ago(30), "harm_to_life_or_health": "no",
            "party_role": "provider_responsible", "provider_name": "某某诊所", "case_source": "群众举报"}
    response = clerk.post("/cases/new/fee_case", data=form)
    assert response.status_code == 302, text_of(response)[:800]
    case_id = int(re.fullmatch(r"/cases/(\d+)", response.headers["Location"]).group(1))
    return db.session.get(Case, case_id)


def test_main_path_in_the_ui(app, office):
    # A violation 3 years ago is refused on the form, with the values kept.
    clerk = signed_in(app, "clerk")
    late = clerk.post("/cases/new/fee_case", data={
        "applicant.name": "周某", "applicant.resident_id": factories.resident_id(), "applicant.phone": "13912345678",
        "jurisdiction": str(office.village.id), "fee_type": "subsidy_recovery", "violation_date": days_ago(3 * 366),
        "harm_to_life_or_health": "no", "party_role": "person", "case_source": "核查"})
    assert late.status_code == 422 and "追责时效" in field_error(late, "violation_date")
    assert form_fields(late)["case_source"] == ["核查"]

    case = open_in_ui(app, office)
    page = text_of(clerk.get(f"/cases/{case.id}"))
    due = local_date(case.opened_at) + timedelta(days=90)
    assert "罚款及收费" in page or "Fee" in page
    assert f"{due.year}年{due.month}月{due.day}日" in page and "还剩 90 天" in page

    take_step(clerk, case, "investigate", investigator_1="李执法", investigator_1_cert="A1",
              investigator_2="王执法", investigator_2_cert="A2")
    supervisor = signed_in(app, "supervisor")
    take_step(supervisor, case, "review", findings="属实", major_case="no", legal_review="not_required")
    take_step(clerk, case, "serve_notice", proposed_amount="5,000", notice_reasons="非医学需要鉴定胎儿性别",
              notice_basis="《人口与计划生育法》第四十条", notice_service_method="in_person",
              notice_served_on=days_ago(1), notice_proof="SD-1")
    # The decision may not exceed the notice: the step page says why and keeps what was typed.
    form = clerk.get(f"/cases/{case.id}/steps/decide")
    assert form.status_code == 403  # clerks prepare; the head of office decides
    version = form_fields(supervisor.get(f"/cases/{case.id}/steps/decide"))["version"][0]
    refused = supervisor.post(f"/cases/{case.id}/steps/decide", data={
        "version": version, "decided_amount": "6000", "decision_facts": "事实", "decision_basis": "第四十条",
        "payment_place": "财政所"})
    assert refused.status_code == 422 and "第四十五条" in text_of(refused)
    assert form_fields(refused)["decided_amount"] == ["6000"]
    page = take_step(supervisor, case, "decide", decided_amount="5000", decision_facts="事实",
                     decision_basis="第四十条", payment_place="示例镇财政所")
    assert "行政处罚决定书" in page
    take_step(clerk, case, "serve_decision", decision_service_method="in_person", electronic_consent="no",
              decision_served_on=days_ago(0), decision_proof="SD-2")
    page = take_step(clerk, case, "start_payment")
    case = reload(case)
    assert case.state == "payment_due"
    assert "¥5,000.00" in page and "登记缴款" in page

    # Payments: bad input is refused in both languages' sense, with the values kept.
    form = clerk.get(f"/cases/{case.id}/payments")
    version = form_fields(form)["version"][0]
    bad = clerk.post(f"/cases/{case.id}/payments", data={"version": version, "amount": "abc",
                                                          "paid_on": days_ago(0), "receipt_ref": "NS-1"})
    assert bad.status_code == 422 and "请输入金额" in field_error(bad, "amount")
    assert form_fields(bad)["receipt_ref"] == ["NS-1"]
    too_much = clerk.post(f"/cases/{case.id}/payments", data={"version": version, "amount": "6000",
                                                               "paid_on": days_ago(0), "receipt_ref": "NS-1"})
    assert too_much.status_code == 422 and "超过应缴余额" in field_error(too_much, "amount")
    done = clerk.post(f"/cases/{case.id}/payments", data={"version": version, "amount": "2000",
                                                           "paid_on": days_ago(0), "receipt_ref": "NS-1"},
                      follow_redirects=True)
    assert "已登记缴款。" in text_of(done) and "¥3,000.00" in text_of(done) and "NS-1" in text_of(done)
    stale = clerk.post(f"/cases/{case.id}/payments", data={"version": version, "amount": "1",
                                                            "paid_on": days_ago(0), "receipt_ref": "NS-2"})
    assert stale.status_code == 409 and "已被他人修改" in text_of(stale)
    version = form_fields(clerk.get(f"/cases/{case.id}/payments"))["version"][0]
    paid = clerk.post(f"/cases/{case.id}/payments", data={"version": version, "amount": "3000.00",
                                                           "paid_on": days_ago(0), "receipt_ref": "NS-2"},
                      follow_redirects=True)
    assert "已全部缴清" in text_of(paid)
    case = reload(case)
    assert case.state == "paid" and db.session.get(FeeAccount, case.id).paid_principal_fen == 500000
    # Village officers see nothing to do here.
    village1 = signed_in(app, "village1")
    assert step_links(village1.get(f"/cases/{case.id}"), case.id) == set()
    assert village1.get(f"/cases/{case.id}/payments").status_code == 403


def test_payment_form_needs_csrf(csrf_app, office):
    case = factories.advance_fee(factories.make_fee_case(office), (
        "investigate", "review", "serve_notice", "decide", "serve_decision", "start_payment"), office)
    client = ui_client(csrf_app)
    token = lambda html: re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # noqa: E731
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD,
                                "csrf_token": token(html_of(client.get("/login")))})
    data = {"version": case.version, "amount": "1", "paid_on": "2025-09-01", "receipt_ref": "X"}
    assert client.post(f"/cases/{case.id}/payments", data=data).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeePayment)) == 0
    form = client.get(f"/cases/{case.id}/payments")
    done = client.post(f"/cases/{case.id}/payments", data=data | {"csrf_token": token(html_of(form))})
    assert done.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeePayment)) == 1


def test_fee_type_admin(app, office):
    admin = signed_in(app, "admin")
    assert signed_in(app, "supervisor").get("/admin/fee-types").status_code == 403
    listing = text_of(admin.get("/admin/fee-types"))
    assert "追回违规领取的扶助金、补贴" in listing and "非医学需要胎儿性别鉴定罚款" in listing
    assert "收费项目" in text_of(admin.get("/admin/users"))  # the admin navigation links here

    refused = admin.post("/admin/fee-types/new", data={"code": "shfyf", "name": "社会抚养费（征收）",
                                                        "legal_basis": "旧条例", "delegated": "1", "active": "1"})
    assert refused.status_code == 422 and "2021" in field_error(refused, "name")
    assert form_fields(refused)["legal_basis"] == ["旧条例"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeeType)) == 2

    added = admin.post("/admin/fee-types/new", data={"code": "demo_fee", "name": "示例罚款", "name_en": "Demo fine",
                                                      "legal_basis": "某法第一条", "active": "1"},
                       follow_redirects=True)
    assert "已保存收费项目。" in text_of(added)
    fee_type = db.session.scalar(sa.select(FeeType).where(FeeType.code == "demo_fee"))
    assert fee_type.delegated_to_township is False and fee_type.active
    edit = admin.post(f"/admin/fee-types/{fee_type.id}", data={"code": "demo_fee", "name": "示例罚款（改）",
                                                               "legal_basis": "某法第二条", "delegated": "1",
                                                               "active": "1"})
    assert edit.status_code == 302
    admin.post(f"/admin/fee-types/{fee_type.id}/deactivate")
    db.session.expire_all()
    fee_type = db.session.get(FeeType, fee_type.id)
    assert (fee_type.name, fee_type.delegated_to_township, fee_type.active) == ("示例罚款（改）", True, False)
    # No longer offered on the application form.
    assert "示例罚款" not in html_of(signed_in(app, "clerk").get("/cases/new/fee_case"))
