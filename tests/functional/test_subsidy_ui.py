"""The subsidy pages over real HTTP: scheme administration, starting and printing public notices, payment
batches (create, view, results, re-payment, bank file), the case page panel and the printed documents."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from caseflow.extensions import transactional
from caseflow.models import Payment, PublicNotice, SubsidyScheme
from caseflow.services.subsidies import enrolment_of, scheme_by_code
from caseflow.services.subsidy_payments import create_payment_batch, mark_payment
from tests.factories import reload
from tests.functional.test_subsidy_flow import at, enrolled, reviewed, step
from tests.functional.ui_support import field_error, form_fields, html_of, signed_in, text_of, ui_client

ACCOUNT = "6228480012345678901"


# ---------------------------------------------------------------------------------------------- schemes

@pytest.mark.parametrize("username", ["supervisor", "clerk", "village1", "auditor"])
def test_scheme_pages_are_for_admins_only(app, office, username):
    client = signed_in(app, username)
    assert client.get("/subsidies/schemes").status_code == 403
    assert client.post("/subsidies/schemes/new", data={"code": "x"}).status_code == 403
    assert ui_client(app).get("/subsidies/schemes").status_code == 302  # to the sign-in page


def test_admin_lists_edits_adds_and_deactivates_schemes(app, office, db):
    client = signed_in(app, "admin")
    page = text_of(client.get("/subsidies/schemes"))
    assert "育儿补贴" in page and "¥3,600.00" in page and "¥960.00" in page
    jiangfu = scheme_by_code("jiangfu")
    form = form_fields(client.get(f"/subsidies/schemes/{jiangfu.id}"))
    assert form["annual_yuan"] == ["960.00"]
    response = client.post(f"/subsidies/schemes/{jiangfu.id}", data={
        "name": jiangfu.name, "annual_yuan": "1,200.50", "frequency": "annual", "eligibility_notes": "年满60周岁",
        "active": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (scheme_by_code("jiangfu").annual_fen, scheme_by_code("jiangfu").eligibility_notes) == (120050, "年满60周岁")

    response = client.post("/subsidies/schemes/new", data={
        "code": "local_bonus", "name": "本镇独生子女奖励", "annual_yuan": "120", "frequency": "monthly", "active": "1"})
    assert response.status_code == 302
    assert scheme_by_code("local_bonus").annual_fen == 12000

    local = scheme_by_code("local_bonus")
    assert client.post(f"/subsidies/schemes/{local.id}/deactivate").status_code == 302
    db.session.expire_all()
    assert not db.session.get(SubsidyScheme, local.id).active
    assert "本镇独生子女奖励" not in html_of(signed_in(app, "village1").get("/cases/new/subsidy"))


def test_scheme_form_errors_are_shown_in_the_users_language_and_keep_the_input(app, office, db):
    client = signed_in(app, "admin")
    response = client.post("/subsidies/schemes/new", data={
        "code": "Bad Code", "name": "", "annual_yuan": "12.345", "frequency": "weekly", "eligibility_notes": "说明"})
    assert response.status_code == 422
    assert field_error(response, "annual_yuan").startswith("请输入金额")
    assert field_error(response, "name") == "此项为必填项。"
    assert field_error(response, "code") and field_error(response, "frequency")
    assert form_fields(response)["eligibility_notes"] == ["说明"]
    client.post("/profile/language", data={"locale": "en"})
    response = client.post("/subsidies/schemes/new", data={"code": "jiangfu", "name": "x", "annual_yuan": "-1",
                                                          "frequency": "annual"})
    assert field_error(response, "code") == "That code is already used."
    assert field_error(response, "annual_yuan").startswith("Enter an amount in yuan")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubsidyScheme)) == 4
    childcare = scheme_by_code("childcare")
    response = client.post(f"/subsidies/schemes/{childcare.id}", data={
        "name": childcare.name, "annual_yuan": "3600", "frequency": "annual", "active": "1"})
    assert field_error(response, "frequency") == "The childcare subsidy is paid at least quarterly."


def test_the_admin_menu_links_to_the_schemes(app, office):
    assert "/subsidies/schemes" in html_of(signed_in(app, "admin").get("/admin/users"))


# ---------------------------------------------------------------------------------------------- notices

def test_a_clerk_starts_one_notice_for_several_cases_and_prints_it(app, office, db):
    first = reviewed(office, at("2026-11-02"), name="张敏")
    second = reviewed(office, at("2026-11-02"), name="李强")
    other = reviewed(office, at("2026-11-02"), village=office.other_village, name="王芳")
    client = signed_in(app, "clerk")
    page = client.get(f"/subsidies/notices/new?village={office.village.id}")
    assert form_fields(page)["case_id"] == []  # checkboxes, none ticked
    assert "张敏" in text_of(page) and "王芳" not in text_of(page)

    form = form_fields(page)
    assert set(form["version"]) == {f"{first.id}:{first.version}", f"{second.id}:{second.version}"}
    response = client.post("/subsidies/notices/new", data={"case_id": [str(first.id), str(second.id)],
                                                           "version": form["version"]})
    assert response.status_code == 302
    notice = db.session.scalar(sa.select(PublicNotice))
    assert response.headers["Location"].endswith(f"/subsidies/notices/{notice.id}")
    assert (reload(first).state, reload(second).state, reload(other).state) == \
        ("public_notice", "public_notice", "village_reviewed")

    printed = client.get(f"/subsidies/notices/{notice.id}/print")
    text = text_of(printed)
    assert "扶助补贴资格确认公示" in text and "张敏" in text and "李强" in text and "东村" in text
    assert "农村部分计划生育家庭奖励扶助" in text
    assert first.applicant.resident_id not in html_of(printed)
    assert first.applicant.masked_resident_id not in html_of(printed)
    assert "东村" in text_of(client.get("/subsidies/notices"))


def test_mixing_villages_or_a_stale_case_is_refused_with_a_message(app, office, db):
    first = reviewed(office, at("2026-11-02"))
    other = reviewed(office, at("2026-11-02"), village=office.other_village, name="王芳")
    client = signed_in(app, "clerk")
    response = client.post("/subsidies/notices/new", data={"case_id": [str(first.id), str(other.id)]})
    assert response.status_code == 422 and "待公示" in text_of(response)
    response = client.post("/subsidies/notices/new", data={"case_id": [str(first.id)],
                                                           "version": [f"{first.id}:{first.version - 1}"]})
    assert response.status_code == 422 and "已被他人修改" in text_of(response) and first.number in text_of(response)
    # No version sent for a case: refused the same way, never taken as "whatever it is now".
    response = client.post("/subsidies/notices/new", data={"case_id": [str(first.id)]})
    assert response.status_code == 422 and "已被他人修改" in text_of(response)
    assert form_fields(response)["case_id"] == [str(first.id)]  # the choice is kept
    assert reload(first).state == "village_reviewed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PublicNotice)) == 0


@pytest.mark.parametrize("huge", ["99999999999999999999999", str(2**63), "0"])
def test_ids_no_row_can_have_are_not_found_or_a_field_error(app, office, db, huge):
    reviewed(office, at("2026-11-02"))
    client = signed_in(app, "clerk")
    assert client.post("/subsidies/notices/new", data={"case_id": [huge], "version": [f"{huge}:1"]}).status_code == 404
    assert client.get(f"/subsidies/notices/new?village={huge}").status_code == 404
    supervisor = signed_in(app, "supervisor")
    response = supervisor.post("/subsidies/batches", data={"scheme_id": huge, "period": "2026"})
    assert response.status_code == 422 and field_error(response, "scheme_id")
    for url in (f"/subsidies/batches/{huge}", f"/subsidies/batches/{huge}/export.xlsx", f"/subsidies/notices/{huge}",
                f"/subsidies/notices/{huge}/print"):
        assert supervisor.get(url).status_code == 404, url
    assert supervisor.post(f"/subsidies/payments/{huge}/result", data={"outcome": "paid"}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PublicNotice)) == 0


def test_notice_pages_respect_roles_and_jurisdiction(app, office, db):
    case = step(reviewed(office, at("2026-11-02")), "start_notice", "clerk", at("2026-11-02"), office)
    notice_id = enrolment_of(case).notice_id
    assert signed_in(app, "village1").get("/subsidies/notices/new").status_code == 403
    assert signed_in(app, "village1").get(f"/subsidies/notices/{notice_id}").status_code == 200
    assert signed_in(app, "village2").get(f"/subsidies/notices/{notice_id}").status_code == 404
    assert signed_in(app, "outsider").get(f"/subsidies/notices/{notice_id}/print").status_code == 404
    assert "东村" not in text_of(signed_in(app, "outsider").get("/subsidies/notices"))
    assert signed_in(app, "admin").get("/subsidies/notices").status_code == 403


def test_the_case_page_starts_a_notice_with_the_generic_step_form(app, office):
    case = reviewed(office, at("2026-11-02"))
    client = signed_in(app, "clerk")
    response = client.post(f"/cases/{case.id}/steps/start_notice", data={"version": case.version, "notice_id": ""})
    assert response.status_code == 302, text_of(response)[:300]
    assert reload(case).state == "public_notice" and enrolment_of(case).notice_id is not None


# ---------------------------------------------------------------------------------------------- batches

def test_a_supervisor_creates_a_batch_and_exports_the_bank_file(app, office, db):
    enrolled(office, starts="2025-01-01", name="张敏")
    client = signed_in(app, "supervisor")
    jiangfu = scheme_by_code("jiangfu")
    bad = client.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2026Q1"})
    assert bad.status_code == 422 and field_error(bad, "period").startswith("期间格式")
    response = client.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2026"})
    assert response.status_code == 302
    batch_url = response.headers["Location"]
    page = client.get(batch_url)
    assert "张敏" in text_of(page) and "¥960.00" in text_of(page)
    assert ACCOUNT not in html_of(page) and "*" * 15 + ACCOUNT[-4:] in html_of(page)  # masked on screen
    exported = client.get(batch_url + "/export.xlsx")
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
    assert rows[1][1] == "张敏" and rows[1][4] == ACCOUNT and rows[-1][5] == "960.00"
    assert "2026" in text_of(client.get("/subsidies/batches"))


def test_clerks_record_results_but_neither_create_nor_export(app, office, db):
    enrolled(office, starts="2025-01-01", name="张敏")
    with transactional():
        batch = create_payment_batch(scheme_by_code("jiangfu"), "2026", office["supervisor"], at("2026-11-20"))
    payment = batch.payments[0]
    client = signed_in(app, "clerk")
    assert client.post("/subsidies/batches", data={"scheme_id": batch.scheme_id, "period": "2027"}).status_code == 403
    assert client.get(f"/subsidies/batches/{batch.id}/export.xlsx").status_code == 403
    assert signed_in(app, "village1").get(f"/subsidies/batches/{batch.id}").status_code == 403
    # Another township's clerk neither sees the batch in the list nor opens it.
    assert signed_in(app, "outsider").get(f"/subsidies/batches/{batch.id}").status_code == 404
    outside = text_of(signed_in(app, "outsider").get("/subsidies/batches"))
    assert "2026" not in outside and "¥960.00" not in outside
    assert signed_in(app, "outsider").get(f"/subsidies/batches/{batch.id}/export.xlsx").status_code == 403

    response = client.post(f"/subsidies/payments/{payment.id}/result", data={"outcome": "failed", "reason": ""},
                           follow_redirects=True)
    assert "此项为必填项" in text_of(response)
    client.post(f"/subsidies/payments/{payment.id}/result", data={"outcome": "failed", "reason": "户名不符"})
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "failed"
    client.post(f"/subsidies/payments/{payment.id}/repay", data={"bank_name": "工商银行",
                                                                  "bank_account": "6222020200112233445"})
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.status == "pending" and len(payment.attempts) == 2
    client.post(f"/subsidies/payments/{payment.id}/result", data={"outcome": "paid"})
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "paid"
    response = client.post(f"/subsidies/payments/{payment.id}/repay",
                           data={"bank_name": "工商银行", "bank_account": "6222020200112233445"}, follow_redirects=True)
    assert "已发放的款项不能再发" in text_of(response)
    assert signed_in(app, "outsider").post(f"/subsidies/payments/{payment.id}/result",
                                           data={"outcome": "paid"}).status_code == 404


def test_a_supervisor_of_two_townships_picks_one_and_one_of_villages_only_is_told_why_not(app, office, db):
    from caseflow.models import Jurisdiction
    from tests.factories import make_user
    enrolled(office, starts="2025-01-01", name="张敏")
    elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
    with transactional():
        make_user("supervisor_both", ["supervisor"], [office.township, elsewhere])
        make_user("supervisor_v1", ["supervisor"], [office.village])
    client = signed_in(app, "supervisor_both")
    page = client.get("/subsidies/batches")
    assert "township_id" in form_fields(page) and "他镇" in text_of(page)
    jiangfu = scheme_by_code("jiangfu")
    response = client.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2026"})
    assert response.status_code == 422 and field_error(response, "township_id") == "请选择乡镇。"
    assert form_fields(response)["period"] == ["2026"]
    huge = client.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2026",
                                                    "township_id": "99999999999999999999999"})
    assert huge.status_code == 422 and field_error(huge, "township_id")
    response = client.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2026",
                                                        "township_id": office.township.id})
    assert response.status_code == 302
    assert "张敏" in text_of(client.get(response.headers["Location"]))
    assert "示例镇" in text_of(client.get("/subsidies/batches"))

    village_only = signed_in(app, "supervisor_v1")
    page = village_only.get("/subsidies/batches")
    assert "period" not in form_fields(page) and "只有主管该乡镇" in text_of(page)
    response = village_only.post("/subsidies/batches", data={"scheme_id": jiangfu.id, "period": "2027"})
    assert response.status_code == 422 and "只有主管该乡镇" in text_of(response)
    # The township's batch: readable by a supervisor of its village, but no bank file for them.
    batch_id = db.session.scalar(sa.select(sa.func.max(Payment.batch_id)))
    page = village_only.get(f"/subsidies/batches/{batch_id}")
    assert page.status_code == 200 and "张敏" in text_of(page) and "export.xlsx" not in html_of(page)
    assert village_only.get(f"/subsidies/batches/{batch_id}/export.xlsx").status_code == 403
    assert "export.xlsx" in html_of(client.get(f"/subsidies/batches/{batch_id}"))


def test_forms_need_the_csrf_token(csrf_app, office):
    enrolled(office, starts="2025-01-01")
    client = csrf_app.test_client()
    login_page = client.get("/login")
    token = form_fields(login_page)["csrf_token"][0]
    client.post("/login", data={"username": "supervisor", "password": "correct-horse-battery", "csrf_token": token})
    response = client.post("/subsidies/batches", data={"scheme_id": 1, "period": "2026"})
    assert response.status_code == 400


# --------------------------------------------------------------------------------- case page, documents

def test_the_case_page_shows_the_enrolment_and_its_payments(app, office, db):
    case = enrolled(office, starts="2025-01-01", name="张敏")
    with transactional():
        batch = create_payment_batch(scheme_by_code("jiangfu"), "2026", office["supervisor"], at("2026-11-20"))
        mark_payment(batch.payments[0], "paid", None, office["clerk"])
    text = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    assert "农村部分计划生育家庭奖励扶助" in text and "¥960.00" in text and "2025-01-01" in text
    assert ACCOUNT[-4:] in text and ACCOUNT not in text
    assert "已发放" in text or "Paid" in text


def test_receipt_and_rejection_decision_print_in_chinese_with_remedies(app, office):
    case = reviewed(office, at("2026-11-02"), name="张敏")
    client = signed_in(app, "village1")
    receipt = text_of(client.get(f"/cases/{case.id}/documents/receipt"))
    assert "受理回执" in receipt and case.number in receipt and "农村部分计划生育家庭奖励扶助" in receipt
    case = step(case, "start_notice", "clerk", at("2026-11-02"), office)
    case = step(case, "object", "clerk", at("2026-11-03"), office, objection="已享受同类补助")
    case = step(case, "reject", "supervisor", at("2026-11-06"), office, reason="经核查已享受特扶", legal_basis="实施方案第三条")
    decision = text_of(client.get(f"/cases/{case.id}/documents/rejection_decision"))
    assert "不予确认决定书" in decision and "经核查已享受特扶" in decision and "实施方案第三条" in decision
    assert app.config["CASEFLOW_COUNTY_GOVERNMENT"] in decision and app.config["CASEFLOW_COURT"] in decision
    assert "六十日" in decision and "六个月" in decision
