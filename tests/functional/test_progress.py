"""The applicant's public progress page (/progress): receipt number + PIN → only the allowed facts, one
answer for every wrong pair, throttled per address and per receipt number, CSRF, never cached."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseflow.extensions import db, limiter, transactional
from caseflow.models import Case
from caseflow.services.cases import apply_transition
from caseflow.services.progress import find_case_by_receipt
from caseflow.views.template_helpers import deadline_day
from tests.factories import (
    advance, advance_subsidy, make_case, make_procedure_case, make_subsidy_case, reload,
)
from tests.functional.ui_support import form_fields, html_of, signed_in, text_of, ui_client


# The tests look cases up many times from one address; the throttling tests lower the limits again.
pytestmark = pytest.mark.usefixtures("generous_progress_limits")


def accepted_case(office, **applicant_fields) -> Case:
    """A birth registration accepted by the clerk (who now holds it): it has a receipt number and PIN."""
    case = make_case(office, **({"name": "王秀英", "phone": "13987654321"} | applicant_fields))
    return reload(advance(case, ["accept"], office))


def lookup(client, number: str, pin: str, **kwargs):
    return client.post("/progress", data={"number": number, "pin": pin}, **kwargs)


def without_tokens(response) -> str:
    """The page with what differs between any two responses anyway (the CSRF token) blanked."""
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html_of(response))


# ------------------------------------------------------------------------------------------ what is shown

def test_lookup_shows_the_step_what_is_needed_and_the_due_date_and_nothing_else(app, office):
    case = accepted_case(office)
    response = lookup(ui_client(app), case.number, case.pin)
    assert response.status_code == 200
    text = text_of(response)
    assert "生育登记" in text and case.number in text
    assert "已受理，正在办理登记" in text
    assert "正在办理，目前无需您提供材料。" in text
    assert case.due_at is not None
    assert f"下一步办理期限 {deadline_day(case.due_at).isoformat()}" in text
    person = case.applicant
    for secret in (person.name, person.resident_id, person.masked_resident_id, "13987654321", "139 8765 4321",
                   "东村", "示例镇东村 8 号", case.assignee.display_name, "Clerk", case.pin, "已婚", "现场办理"):
        assert secret not in text, secret
    assert case.pin not in html_of(response)


def test_the_number_may_be_typed_in_lower_case_with_spaces(app, office):
    case = accepted_case(office)
    typed = " ".join([case.number[:2].lower(), case.number[2:6], case.number[6:]])
    response = lookup(ui_client(app), typed, f" {case.pin} ")
    assert response.status_code == 200 and "已受理，正在办理登记" in text_of(response)


def test_waiting_for_documents_lists_the_supplement_notice_items_and_no_date(app, office):
    # The supplement notice carries the receipt number and PIN (行政许可法 第32条: a written answer),
    # so the applicant can look up what is still missing before the case is accepted.
    case = make_case(office, name="王秀英")
    with transactional():
        apply_transition(case, "request_supplement", office["clerk"], case.version,
                         data={"missing_items": "户口簿原件\n结婚证复印件 <b>两份</b>"})
    case = reload(case)
    assert case.state == "needs_supplement" and case.due_at is None

    response = lookup(ui_client(app), case.number, case.pin)
    assert response.status_code == 200
    text = text_of(response)
    assert "材料需要补正" in text
    assert "请补齐以下材料后重新提交（补正期间办理期限暂停计算）：" in text
    assert "户口簿原件" in text and "结婚证复印件 <b>两份</b>" in text  # shown as typed, escaped
    assert "&lt;b&gt;两份&lt;/b&gt;" in html_of(response)
    assert "下一步办理期限 无：办理期限暂停计算中。" in text
    assert "王秀英" not in text


def test_a_need_to_know_case_shows_its_state_and_date_only(app, office):
    case = make_procedure_case(office, name="李芳")
    assert case.number and case.pin
    client = ui_client(app)
    text = text_of(lookup(client, case.number, case.pin))
    assert "孕14周以上终止妊娠证明" in text and "已受理，当日办结" in text
    assert f"下一步办理期限 {deadline_day(case.due_at).isoformat()}" in text

    advance(case, ["request_supplement"], office)  # valid_input writes "测试说明" as the missing items
    case = reload(case)
    assert case.data["missing_items"] == "测试说明"
    text = text_of(lookup(client, case.number, case.pin))
    assert "材料需要补正" in text and "请按补正材料通知书补齐所列材料后重新提交。" in text
    for secret in ("测试说明", "李芳", "示例县人民医院", "16", case.applicant.masked_resident_id, "Clerk"):
        assert secret not in text, secret


def test_a_public_notice_pauses_the_time_limit(app, office):
    case = make_subsidy_case(office, name="赵大妈")
    advance_subsidy(case, ["village_review", "start_notice"], office)
    case = reload(case)
    assert case.state == "public_notice" and case.number
    text = text_of(lookup(ui_client(app), case.number, case.pin))
    assert "扶助补贴资格确认" in text and "正在公示" in text
    assert "公示期间办理期限暂停计算；公示期满无异议的，转入乡级审核。" in text
    assert "下一步办理期限 无：办理期限暂停计算中。" in text
    assert "赵大妈" not in text and "奖励扶助" not in text and "960" not in text


def test_a_closed_case_has_no_due_date_and_offers_the_rating(app, office):
    case = accepted_case(office)
    advance(case, ["register"], office)
    response = lookup(ui_client(app), case.number, case.pin)
    text = text_of(response)
    assert "已登记，请领取生育登记服务凭证" in text and "办理已结束。" in text
    assert "下一步办理期限 无：已办结。" in text
    fields = form_fields(response)
    assert set(fields) >= {"token", "level", "comment"} and "pin" not in fields
    assert 'id="rating-form"' in html_of(response) and 'id="f-level-1"' in html_of(response)


def test_an_open_case_offers_no_rating(app, office):
    case = accepted_case(office)
    html = html_of(lookup(ui_client(app), case.number, case.pin))
    assert 'id="rating-form"' not in html and 'name="token"' not in html


def test_english_on_request_for_an_anonymous_visitor(app, office):
    case = accepted_case(office)
    client = ui_client(app)
    assert "查询办理进度" in text_of(client.get("/progress"))
    switched = client.post("/lang/en", data={"next": "/progress"})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/progress")
    page = client.get("/progress")
    assert '<html lang="en">' in html_of(page)
    assert "Check the progress of an application" in text_of(page)
    text = text_of(lookup(client, case.number, case.pin))
    assert "Birth registration" in text and "Accepted: the registration is being prepared" in text
    assert "The office is working on it; nothing is needed from you now." in text
    assert f"Next step due by {deadline_day(case.due_at).isoformat()}" in text
    # After a look-up the switch comes back to the empty form, not to the case (nothing is kept).
    back = client.post("/lang/zh", data={"next": "/progress"}, follow_redirects=True)
    assert "查询办理进度" in text_of(back) and case.number not in text_of(back)


# ------------------------------------------------------------------------------------------ wrong pairs

def test_wrong_pin_unknown_number_and_malformed_pin_get_one_answer(app, office):
    case = accepted_case(office)
    unknown = case.number[:-6] + "999999"
    assert db.session.scalar(sa.select(Case).where(Case.number == unknown)) is None
    wrong_pin = f"{(int(case.pin) + 1) % 10**6:06d}"
    client = ui_client(app)
    answers = [lookup(client, case.number, wrong_pin), lookup(client, unknown, case.pin),
               lookup(client, case.number, "abc"), lookup(client, case.number, case.pin + "0")]
    assert {r.status_code for r in answers} == {200}
    bodies = {without_tokens(r).replace(unknown, "NUMBER").replace(case.number, "NUMBER") for r in answers}
    assert len(bodies) == 1
    text = text_of(answers[0])
    assert "办件编号或查询密码不正确，请对照回执核对后重试。" in text
    assert "已受理" not in text and "生育登记" not in text


def test_a_case_without_a_receipt_cannot_be_found(app, office):
    case = make_case(office)  # submitted, not accepted: no number, no PIN
    assert case.number is None and case.pin is None
    assert find_case_by_receipt("", "") is None
    assert find_case_by_receipt(str(case.id), "") is None


def test_empty_fields_ask_for_both(app, office):
    response = ui_client(app).post("/progress", data={"number": " ", "pin": ""})
    assert response.status_code == 422
    text = text_of(response)
    assert "请输入办件编号。" in text and "请输入查询密码。" in text


# ------------------------------------------------------------------------------------------- throttling

def test_lookups_are_limited_per_address(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PROGRESS_RATE_LIMIT", "3 per minute")
    limiter.reset()
    case = accepted_case(office)
    client = ui_client(app)
    for _attempt in range(3):
        assert lookup(client, case.number, "000000").status_code == 200
    blocked = lookup(client, case.number, case.pin)  # even the right PIN, once the address is over
    assert blocked.status_code == 429
    assert "您所在网络的查询次数过多，请稍等几分钟后再试。" in text_of(blocked)
    assert "已受理" not in text_of(blocked)
    assert blocked.headers["Cache-Control"] == "no-store"
    elsewhere = lookup(ui_client(app), case.number, case.pin, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 200 and "已受理，正在办理登记" in text_of(elsewhere)


def test_failed_lookups_are_limited_per_receipt_number_from_any_address(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PROGRESS_NUMBER_LIMIT", "3 per day")
    limiter.reset()
    case, other = accepted_case(office), accepted_case(office)
    for _ in range(5):  # successful look-ups do not count
        assert "已受理" in text_of(lookup(ui_client(app), other.number, other.pin))
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        answer = lookup(ui_client(app), case.number, "000000", environ_base={"REMOTE_ADDR": address})
        assert answer.status_code == 200
    locked = lookup(ui_client(app), case.number, case.pin, environ_base={"REMOTE_ADDR": "10.0.0.4"})
    assert locked.status_code == 429
    assert "该办件编号今日查询失败次数过多" in text_of(locked) and "已受理" not in text_of(locked)
    assert "已受理" in text_of(lookup(ui_client(app), other.number, other.pin))
    # A number nobody has is locked the same way: the lock tells nothing about whether it exists.
    unknown = case.number[:-6] + "999999"
    for address in ("10.0.1.1", "10.0.1.2", "10.0.1.3"):
        lookup(ui_client(app), unknown, "000000", environ_base={"REMOTE_ADDR": address})
    assert lookup(ui_client(app), unknown, "000000").status_code == 429


# ------------------------------------------------------------------------------------- CSRF and caching

def test_the_form_needs_its_csrf_token(csrf_app, app, office):
    case = accepted_case(office)
    client = csrf_app.test_client()
    assert lookup(client, case.number, case.pin).status_code == 400
    form = client.get("/progress")
    token = form_fields(form)["csrf_token"][0]
    found = client.post("/progress", data={"csrf_token": token, "number": case.number, "pin": case.pin})
    assert found.status_code == 200 and "已受理，正在办理登记" in text_of(found)
    assert client.post("/progress/rating", data={"level": "5"}).status_code == 400


def test_no_page_of_the_look_up_is_cached_and_the_pin_stays_out_of_urls(app, office):
    case = accepted_case(office)
    client = ui_client(app)
    form = client.get("/progress")
    assert 'method="post" action="/progress"' in html_of(form)
    assert 'id="f-number" name="number"' in html_of(form)
    assert 'id="f-pin" name="pin" type="password"' in html_of(form)
    for response in (form, lookup(client, case.number, case.pin), lookup(client, case.number, "000000"),
                     client.post("/progress/rating", data={"token": "forged", "level": "5"})):
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    # The page never reads a number or PIN from the query string: a link carrying them finds nothing.
    linked = client.get(f"/progress?number={case.number}&pin={case.pin}")
    assert linked.status_code == 200 and "已受理" not in text_of(linked)


# --------------------------------------------------------------------------------- receipts, login page

def test_receipts_tell_the_applicant_where_to_look_up(app, office):
    case = accepted_case(office)
    receipt = signed_in(app, "clerk").get(f"/cases/{case.id}/documents/receipt")
    assert receipt.status_code == 200
    text = text_of(receipt)
    assert f"凭办件编号和查询密码可在 {app.config['CASEFLOW_BASE_URL']}/progress 查询办理进度" in text
    assert f"查询密码 {case.pin}" in text


def test_the_login_page_links_to_the_progress_page(app):
    page = ui_client(app).get("/login")
    assert 'href="/progress"' in html_of(page) and "申请人：查询办理进度" in text_of(page)
