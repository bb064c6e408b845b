"""孕14周以上终止妊娠证明 through the web UI and the API: the whole path with its printed documents, the
hour countdown, need-to-know access (404 for everyone else, in every list and search) and the read log."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale

from caseflow.calendar import LOCAL_TZ, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, CaseRead
from caseflow.services.retention import purge_expired_procedure_details
from caseflow.views.template_helpers import time_left
from tests import factories
from tests.factories import make_case, make_procedure_case, reload
from tests.functional.test_openapi import api
from tests.functional.test_ui_workflow import take_step
from tests.functional.ui_support import case_rows, html_of, signed_in, step_links, text_of

NEW = "/cases/new/procedure_certificate"


def submit_application(app, office, username="clerk", name="周丽", **overrides) -> Case:
    client = signed_in(app, username)
    form = {
        "applicant.name": name, "applicant.resident_id": factories.resident_id("19950312"),
        "applicant.phone": "139 1234 5678", "jurisdiction": str(office.village.id),
        "gestation_weeks": "18", "institution": "示例县妇幼保健院", "declaration": "confirmed",
    } | overrides
    response = client.post(NEW, data=form)
    assert response.status_code == 302, text_of(response)[:500]
    case_id = int(re.fullmatch(r"/cases/(\d+)", response.headers["Location"]).group(1))
    return db.session.get(Case, case_id)


def reads(case) -> list[tuple[str, str]]:
    rows = db.session.execute(sa.select(CaseRead.what, CaseRead.user_id).where(CaseRead.case_id == case.id)
                              .order_by(CaseRead.id))
    return [(what, user_id) for what, user_id in rows]


# ----------------------------------------------------------------------------------------- the whole path

def test_the_form_asks_only_for_the_minimum(app, office):
    page = signed_in(app, "clerk").get(NEW)
    assert page.status_code == 200
    text = text_of(page)
    assert "孕周（整周）" in text and "拟就诊的医疗机构" in text and "本人声明" in text
    assert "不询问、不记录胎儿性别" in text
    for absent in ("配偶", "丈夫", "婚姻", "性别选择（", "避孕"):
        assert absent not in text


def test_an_invalid_application_is_shown_again_with_every_value_kept(app, office):
    client = signed_in(app, "clerk")
    response = client.post(NEW, data={"applicant.name": "周丽", "applicant.resident_id": factories.resident_id(),
                                      "applicant.phone": "13912345678", "jurisdiction": str(office.village.id),
                                      "gestation_weeks": "12", "institution": "示例县妇幼保健院"})
    assert response.status_code == 422
    text = text_of(response)
    assert "请输入 14 到 40 之间的数。" in text and "此项为必填项。" in text
    assert 'value="示例县妇幼保健院"' in html_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_submit_and_issue_with_receipt_and_certificate(app, office):
    case = submit_application(app, office)
    assert case.state == "submitted" and case.assignee.username == "clerk" and case.number.startswith("ZZ")
    clerk = signed_in(app, "clerk")
    page = clerk.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert step_links(page, case.id) == {"issue", "request_supplement", "withdraw"}
    assert "受理回执" in text_of(page) and "18" in text_of(page)

    receipt = clerk.get(f"/cases/{case.id}/documents/receipt")
    assert receipt.status_code == 200 and '<html lang="zh-CN">' in html_of(receipt)
    text = text_of(receipt)
    assert f"办件编号 {case.number}" in text and f"查询密码 {case.pin}" in text and "免费" in text
    assert "受理当日办结" in text and "应当立即救治" in text
    assert case.applicant.resident_id not in html_of(receipt)

    page = take_step(clerk, case, "issue")
    case = reload(case)
    assert case.state == "issued" and case.outcome == "issued" and case.closed_at is not None
    assert "已办理：出具证明（免费）。" in page

    certificate = clerk.get(f"/cases/{case.id}/documents/certificate")
    assert certificate.status_code == 200 and '<html lang="zh-CN">' in html_of(certificate)
    text = text_of(certificate)
    assert "兹证明周丽" in text and case.applicant.masked_resident_id in text and f"编号：{case.number}" in text
    assert "不是为了非医学需要的选择性别" in text and "不是医疗决定" in text and "免费" in text
    # Minimal: no weeks, no institution, nothing about anyone else.
    for absent in ("示例县妇幼保健院", "18 周", "孕周", "配偶", case.applicant.resident_id, case.applicant.phone):
        assert absent not in html_of(certificate)
    assert [e.trigger for e in case.events] == ["submit", "issue"]


def test_supplement_resubmit_and_refusal_with_remedies(app, office):
    case = submit_application(app, office, name="吴静")
    clerk = signed_in(app, "clerk")
    take_step(clerk, case, "request_supplement", missing_items="居民身份证原件")
    notice = text_of(clerk.get(f"/cases/{case.id}/documents/supplement_notice"))
    assert "一次性告知" in notice and "居民身份证原件" in notice and "补正期间不计入办理期限" in notice
    take_step(clerk, case, "resubmit", supplied_items="居民身份证复印件（原件仍未提供）")

    supervisor = signed_in(app, "supervisor")
    form = supervisor.get(f"/cases/{case.id}/steps/refuse")
    assert "申请人身份与所提交的身份证件不符" in text_of(form)
    # A ground outside the list is refused, with the form shown again.
    version = str(reload(case).version)
    bad = supervisor.post(f"/cases/{case.id}/steps/refuse",
                          data={"version": version, "reason": "理由", "refusal_ground": "medical_grounds"})
    assert bad.status_code == 422 and "请从列表中选择。" in text_of(bad) and reload(case).state == "submitted"
    take_step(supervisor, case, "refuse", reason="经一次性告知后，仍未提供居民身份证原件。",
              refusal_ground="incomplete_application")
    assert reload(case).state == "refused"

    decision = supervisor.get(f"/cases/{case.id}/documents/refusal_decision")
    assert decision.status_code == 200 and '<html lang="zh-CN">' in html_of(decision)
    text = text_of(decision)
    assert "不予出具证明决定书" in text and "申请材料不齐全，经一次性告知补正后仍未补齐" in text
    assert "经一次性告知后，仍未提供居民身份证原件。" in text
    assert f"六十日内向{app.config['CASEFLOW_COUNTY_GOVERNMENT']}申请行政复议" in text
    assert f"六个月内直接向{app.config['CASEFLOW_COURT']}提起行政诉讼" in text
    assert "不涉及你的医疗需要" in text


def test_the_english_ui_works_and_documents_stay_chinese(app, office):
    case = make_procedure_case(office)
    clerk = signed_in(app, "clerk")
    clerk.post("/lang/en")
    page = text_of(clerk.get(f"/cases/{case.id}"))
    assert "Weeks of pregnancy (whole weeks)" in page and "Same-day certificate" in page
    assert re.search(r"(\d+ h \d+ min left|Overdue by)", page)
    receipt = text_of(clerk.get(f"/cases/{case.id}/documents/receipt"))
    assert "受理回执" in receipt and "受理当日办结" in receipt


# ------------------------------------------------------------------------------------------ countdown

def test_time_left_counts_hours_and_minutes_on_same_day_deadlines_only(app, office):
    opened = datetime(2026, 11, 28, 20, 47, 30, tzinfo=LOCAL_TZ)   # due 24:00 the same day
    case = reload(make_procedure_case(office, now=opened))
    birth = reload(make_case(office, now=opened))
    with app.test_request_context(), force_locale("zh"):
        assert time_left(case, opened) == "还剩 3小时12分钟"
        assert time_left(case, opened + timedelta(hours=3, minutes=42, seconds=30)) == "已超期 0小时30分钟"
        assert time_left(birth, opened) == ""
    with app.test_request_context(), force_locale("en"):
        assert time_left(case, opened) == "3 h 12 min left"
        assert time_left(case, opened + timedelta(hours=5)) == "Overdue by 1 h 47 min"
        assert time_left(case, opened + timedelta(days=2)) == "Overdue by 1 d 20 h"


def test_case_page_and_queue_show_the_countdown(app, office):
    fresh = make_procedure_case(office, name="郑芳")
    overdue = make_procedure_case(office, name="孙敏", now=utcnow() - timedelta(days=2))
    clerk = signed_in(app, "clerk")
    pattern = r"(还剩|已超期) (\d+天)?\d+小时\d+分钟|(还剩|已超期) \d+天\d+小时"
    page = text_of(clerk.get(f"/cases/{fresh.id}"))
    assert re.search(pattern, page) and "当日" in page
    assert "已超期" in text_of(clerk.get(f"/cases/{overdue.id}"))
    rows = dict(case_rows(clerk.get("/")))
    assert re.search(pattern, rows[fresh.id]) and "已超期" in rows[overdue.id]
    search_rows = dict(case_rows(clerk.get("/cases?workflow=procedure_certificate")))
    assert "已超期" in search_rows[overdue.id]


# -------------------------------------------------------------------------------------- need to know

def test_nobody_else_finds_the_case_anywhere(app, client, office):
    case = reload(make_procedure_case(office, by="clerk", name="钱秀英"))
    searches = ["/", "/cases", "/cases?q=钱秀英", f"/cases?q={case.number}", f"/cases?q={case.applicant.resident_id}",
                "/cases?workflow=procedure_certificate", "/cases?open=1"]
    pages = [f"/cases/{case.id}", f"/cases/{case.id}/steps/issue", f"/cases/{case.id}/documents/receipt"]
    for username in ("clerk2", "village1", "village2"):
        other = signed_in(app, username)
        for url in pages:
            assert other.get(url).status_code == 404, (username, url)
        for url in searches:
            response = other.get(url)
            assert response.status_code == 200
            assert case.id not in dict(case_rows(response)) and "钱秀英" not in text_of(response), (username, url)
        assert other.post(f"/cases/{case.id}/steps/issue", data={"version": case.version}).status_code == 404
        body = api(app, client, username).get("/cases").get_json()
        assert body["total"] == 0 and body["items"] == []
        assert api(app, client, username).get("/cases", q=case.number).get_json()["total"] == 0
        assert api(app, client, username).get(f"/cases/{case.id}").status_code == 404
    assert reads(case) == []  # refused look-ups are not reads
    assert reload(case).state == "submitted"


def test_handler_supervisor_and_auditor_read_and_every_read_is_logged(app, client, office):
    case = reload(make_procedure_case(office, by="clerk", name="冯娟"))
    for username in ("clerk", "supervisor", "auditor"):
        user = signed_in(app, username)
        assert user.get(f"/cases/{case.id}").status_code == 200
        assert case.id in dict(case_rows(user.get(f"/cases?q={case.number}")))
        assert case.id in dict(case_rows(user.get(f"/cases?q={case.applicant.resident_id}")))
        assert case.id in dict(case_rows(user.get("/cases?q=冯娟")))
        assert api(app, client, username).get("/cases").get_json()["total"] == 1
    assert case.id in dict(case_rows(signed_in(app, "clerk").get("/")))
    signed_in(app, "clerk").get(f"/cases/{case.id}/documents/receipt")
    signed_in(app, "clerk").get(f"/cases/{case.id}/steps/issue")
    api(app, client, "auditor").get(f"/cases/{case.id}")
    ids = {name: office[name].id for name in ("clerk", "supervisor", "auditor")}
    logged = reads(case)
    assert logged[:3] == [("case", ids["clerk"]), ("case", ids["supervisor"]), ("case", ids["auditor"])]
    assert ("document:receipt", ids["clerk"]) in logged and ("step:issue", ids["clerk"]) in logged
    assert any(what.startswith("api") and user_id == ids["auditor"] for what, user_id in logged)

    for username in ("supervisor", "auditor"):
        text = text_of(signed_in(app, username).get(f"/cases/{case.id}"))
        assert "查阅记录" in text and "Clerk" in text and "打印文书" in text
    clerk_page = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    assert "查阅记录" not in clerk_page and "本案件的每次查阅均有记录" not in clerk_page


def test_reassignment_gives_the_case_to_the_new_clerk_only(app, office):
    case = make_procedure_case(office, by="clerk", name="蒋丽")
    supervisor = signed_in(app, "supervisor")
    response = supervisor.post(f"/cases/{case.id}/assign",
                               data={"version": reload(case).version, "assignee": office["clerk2"].id})
    assert response.status_code == 302 and reload(case).assignee.username == "clerk2"
    clerk, clerk2 = signed_in(app, "clerk"), signed_in(app, "clerk2")
    assert clerk.get(f"/cases/{case.id}").status_code == 404
    assert case.id not in dict(case_rows(clerk.get("/")))
    assert clerk2.get(f"/cases/{case.id}").status_code == 200
    assert case.id in dict(case_rows(clerk2.get("/")))
    take_step(clerk2, case, "issue")
    assert reload(case).state == "issued"


def test_village_officers_get_no_new_application_link_and_no_form(app, office):
    village = signed_in(app, "village1")
    assert NEW not in html_of(village.get("/cases/new"))
    assert village.get(NEW).status_code == 403
    assert village.post(NEW, data={"gestation_weeks": "16"}).status_code == 403
    assert NEW in html_of(signed_in(app, "clerk").get("/cases/new"))
    assert NEW in html_of(signed_in(app, "supervisor").get("/cases/new"))


def test_the_api_opens_one_for_the_clerk_and_refuses_village_officers(app, client, office):
    payload = {"workflow": "procedure_certificate", "jurisdiction": "V1", "applicant": factories.applicant(),
               "data": factories.procedure_certificate_data()}
    assert api(app, client, "village1").post("/cases", payload).status_code == 403
    response = api(app, client, "clerk").post("/cases", payload)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    case = db.session.get(Case, body["id"])
    assert case.assignee.username == "clerk" and body["number"] == case.number
    assert api(app, client, "clerk2").get(f"/cases/{case.id}").status_code == 404


# ------------------------------------------------------------------------------------------ retention

def test_purged_details_are_shown_as_deleted(app, office):
    opened = utcnow() - timedelta(days=300)
    case = make_procedure_case(office, now=opened)
    with transactional():
        from caseflow.services.cases import apply_transition
        apply_transition(case, "issue", office["clerk"], case.version, now=opened + timedelta(hours=1))
    with transactional():
        assert purge_expired_procedure_details(utcnow()) == 1
    text = text_of(signed_in(app, "supervisor").get(f"/cases/{case.id}"))
    assert "示例县人民医院" not in text
    assert "孕周（整周） 已按保留期限删除" in text and "拟就诊的医疗机构 已按保留期限删除" in text
    # The history says what went, by label, never the values.
    assert "已按保留期限删除敏感信息" in text and "已删除 孕周（整周）、拟就诊的医疗机构" in text
    assert signed_in(app, "clerk").get(f"/cases/{case.id}/documents/certificate").status_code == 200
