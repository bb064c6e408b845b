"""The main flows in a real browser: signing in, a birth registration from submission to registration, the
language switch, the applicant's progress look-up and the supervisor's team queue with a bulk reassignment.
Every form is sent by the browser with the CSRF token its page carries (the live server checks it); the
pages are read as a user sees them, by role, label and visible text, or by the ids the templates give."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from caseflow.extensions import db, limiter
from caseflow.models import Rating
from tests.e2e.conftest import fill_login, log_in
from tests.factories import PASSWORD, advance, make_case, reload

pytestmark = pytest.mark.e2e


def timeline(page):
    return page.locator("ol.timeline > li.timeline-entry")


def state(page):
    return page.locator(".case-status .state")


def test_login_refuses_a_wrong_password_and_lets_the_right_one_in(page, office, shot):
    fill_login(page, "clerk", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.get_by_label("用户名", exact=True)).to_have_value("clerk")  # kept; the password is not
    expect(page.get_by_label("密码", exact=True)).to_have_value("")
    shot(page, "1-wrong-password")

    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", page.url)
    expect(page.locator(".session-tools .who")).to_have_text("Clerk")
    shot(page, "2-queue")

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.goto("/")  # signed out: the queue sends the browser to sign in again
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))


def test_clerk_moves_a_birth_registration_from_submission_to_registration(page, office, shot):
    case = make_case(office, name="王芳")  # submitted by the village officer, unassigned
    log_in(page, "clerk")
    row = page.locator(f'tr.case-row[data-case-id="{case.id}"]')
    expect(row).to_contain_text("已提交")
    expect(row).to_contain_text("未受理")
    expect(row).to_contain_text("待分配")
    shot(page, "1-queue")

    row.get_by_role("link", name="王芳").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("生育登记")
    expect(state(page)).to_have_text("已提交")
    expect(timeline(page)).to_have_count(1)
    expect(timeline(page).first).to_contain_text("提交申请")
    expect(timeline(page).first).to_contain_text("→ 已提交")
    shot(page, "2-submitted")

    # Accept: the case gets its receipt number and goes to the clerk who accepted it.
    page.get_by_role("link", name="受理", exact=True).click()
    expect(page.get_by_role("heading", name="受理", exact=True)).to_be_visible()
    expect(page.get_by_text("“已提交”")).to_be_visible()
    page.get_by_role("button", name="受理", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="已办理：受理。")).to_be_visible()
    issued = page.get_by_role("status").filter(has_text="已生成办件编号")
    expect(issued).to_have_text(re.compile(r"已生成办件编号 SY\d{10}。"))
    number = re.search(r"SY\d{10}", issued.inner_text()).group()
    expect(page.locator(".case-number")).to_have_text(number)
    expect(state(page)).to_have_text("已受理")
    expect(timeline(page)).to_have_count(2)
    expect(timeline(page).last).to_contain_text("受理")
    expect(timeline(page).last).to_contain_text("已提交 → 已受理")
    expect(timeline(page).last).to_contain_text(number)
    expect(page.locator(".case-side")).to_contain_text("Clerk")  # 承办人
    shot(page, "3-accepted")

    # Send to verification: sent empty first, the form comes back with its messages.
    page.get_by_role("link", name="转核查").click()
    expect(page.locator(".case-summary")).to_contain_text(number)
    page.get_by_role("button", name="转核查").click()
    expect(page.get_by_role("alert")).to_contain_text("请更正标出的字段。")
    expect(page.locator("#f-discrepancy-error")).to_have_text("此项为必填项。")
    expect(page.get_by_label("不一致之处")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("需核查的户籍地").fill("邻县公安局户籍科")
    page.get_by_role("button", name="转核查").click()
    expect(page.locator("#f-discrepancy-error")).to_have_text("此项为必填项。")
    expect(page.get_by_label("需核查的户籍地")).to_have_value("邻县公安局户籍科")  # nothing lost
    shot(page, "4-verify-form-errors")
    page.get_by_label("不一致之处").fill("户籍地址与户口簿不一致")
    page.get_by_role("button", name="转核查").click()
    expect(page.get_by_role("status").filter(has_text="已办理：转核查。")).to_be_visible()
    expect(state(page)).to_have_text("核查中")
    expect(timeline(page)).to_have_count(3)
    expect(timeline(page).last).to_contain_text("已受理 → 核查中")
    expect(timeline(page).last).to_contain_text("户籍地址与户口簿不一致")
    expect(timeline(page).last).to_contain_text("邻县公安局户籍科")
    shot(page, "5-verifying")

    # Verified: register. The case closes and the voucher can be printed.
    page.get_by_role("link", name="核查无误，登记").click()
    page.get_by_label("核查结果").fill("经核查，户籍信息一致")
    page.get_by_role("button", name="核查无误，登记").click()
    expect(page.get_by_role("status").filter(has_text="已办理：核查无误，登记。")).to_be_visible()
    expect(state(page)).to_have_text("已登记")
    expect(page.locator(".case-status")).to_contain_text("已办结")
    expect(page.locator(".case-number")).to_have_text(number)
    expect(timeline(page)).to_have_count(4)
    expect(timeline(page).last).to_contain_text("核查中 → 已登记")
    expect(timeline(page).last).to_contain_text("经核查，户籍信息一致")
    expect(page.get_by_text("当前状态下您没有可办理的操作。")).to_be_visible()
    shot(page, "6-registered")

    page.get_by_role("link", name="生育登记服务凭证").click()
    expect(page.locator("body")).to_contain_text(number)
    expect(page.locator("body")).to_contain_text("王芳")
    shot(page, "7-voucher")

    case = reload(case)
    assert (case.state, case.number, case.assignee.username) == ("registered", number, "clerk")
    assert [e.trigger for e in case.events] == ["submit", "accept", "verify", "register"]
    assert [e.actor.username for e in case.events[1:]] == ["clerk"] * 3
    db.session.rollback()


def test_language_switch_changes_the_page_and_the_choice_stays(page, new_page, office, shot):
    page.goto("/login")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_role("button", name="English").click()  # before signing in: kept in the session
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "1-login-en")

    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    page.get_by_role("link", name="All cases").click()
    expect(page).to_have_url(re.compile(r"/cases$"))
    expect(page.get_by_role("navigation", name="Main menu")).to_contain_text("My queue")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "2-all-cases-en")

    # Switched while signed in, the choice goes on the account: a new session starts in it.
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="全部案件")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/cases$"))  # the switch stays on the page it was used on
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="All cases")).to_be_visible()
    assert reload_user_locale(office["clerk"]) == "en"

    elsewhere = new_page()
    log_in(elsewhere, "clerk")  # the form in Chinese, as for anyone not signed in
    expect(elsewhere.get_by_role("heading", name="My queue")).to_be_visible()
    shot(elsewhere, "3-new-session-en")

    elsewhere.get_by_role("button", name="中文").click()
    expect(elsewhere.get_by_role("heading", name="我的待办")).to_be_visible()
    elsewhere.get_by_role("link", name="全部案件").click()
    expect(elsewhere.get_by_role("heading", name="全部案件")).to_be_visible()
    expect(elsewhere.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(elsewhere, "4-back-to-zh")
    assert reload_user_locale(office["clerk"]) == "zh"


def reload_user_locale(user) -> str:
    db.session.expire_all()
    locale = db.session.get(type(user), user.id).locale
    db.session.rollback()
    return locale


def test_applicant_looks_up_progress_with_receipt_number_and_pin(page, new_page, office, shot):
    limiter.reset()  # look-ups are throttled per address and per receipt number
    case = advance(make_case(office, name="赵丽"), ["accept"], office)
    log_in(page, "clerk")
    page.goto(f"/cases/{case.id}")
    page.get_by_role("link", name="受理回执").click()  # printed and handed to the applicant
    receipt = page.locator("table.document-table")
    number = receipt.locator("tr", has=page.locator("th", has_text="办件编号")).locator("td").inner_text()
    pin = receipt.locator("tr", has=page.locator("th", has_text="查询密码")).locator("td").inner_text()
    assert re.fullmatch(r"SY\d{10}", number) and re.fullmatch(r"\d{6}", pin), (number, pin)
    shot(page, "1-receipt")

    applicant = new_page()  # nobody signed in
    applicant.goto("/progress")
    expect(applicant.get_by_role("heading", name="查询办理进度")).to_be_visible()
    wrong_pin = f"{(int(pin) + 1) % 1_000_000:06d}"
    applicant.get_by_label("办件编号").fill(number)
    applicant.get_by_label("查询密码").fill(wrong_pin)
    applicant.get_by_role("button", name="查询", exact=True).click()
    expect(applicant.get_by_role("alert")).to_have_text("办件编号或查询密码不正确，请对照回执核对后重试。")
    expect(applicant.locator("#progress-result")).to_have_count(0)
    shot(applicant, "2-wrong-pin")

    applicant.get_by_label("办件编号").fill(number.lower())  # typed as it comes
    applicant.get_by_label("查询密码").fill(pin)
    applicant.get_by_role("button", name="查询", exact=True).click()
    expect(applicant.locator("#progress-number")).to_have_text(number)
    expect(applicant.locator("#progress-step")).to_have_text("已受理，正在办理登记")
    expect(applicant.locator("#progress-result")).not_to_contain_text("赵丽")  # progress only, no names
    assert pin not in applicant.url and pin not in applicant.content()
    shot(applicant, "3-accepted")

    # Registered by the office: the applicant sees it and may rate the service once.
    advance(case, ["register"], office)
    applicant.get_by_role("link", name="查询其他办件").click()
    applicant.get_by_label("办件编号").fill(number)
    applicant.get_by_label("查询密码").fill(pin)
    applicant.get_by_role("button", name="查询", exact=True).click()
    expect(applicant.locator("#progress-step")).to_have_text("已登记，请领取生育登记服务凭证")
    applicant.get_by_label("非常满意", exact=True).check()
    applicant.get_by_role("button", name="提交评价").click()
    expect(applicant.get_by_role("status")).to_have_text("感谢您的评价！")
    shot(applicant, "4-rated")
    ratings = db.session.execute(sa.select(Rating.case_id, Rating.level)).all()
    db.session.rollback()
    assert ratings == [(case.id, 5)]
    limiter.reset()


def test_supervisor_filters_the_team_queue_and_reassigns_in_bulk_with_a_reason(page, office, shot):
    # The clerk accepted (and so holds) two cases of 东村 and one of 西村; one case of 东村 is unassigned.
    clerks_east = [advance(make_case(office, name=name), ["accept"], office) for name in ("钱一", "孙二")]
    clerks_west = advance(make_case(office, by="village2", village=office.other_village, name="李三"), ["accept"],
                          office)
    unassigned_east = make_case(office, name="周四")
    log_in(page, "supervisor")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="团队案件").click()
    expect(page.get_by_role("heading", name="团队案件", exact=True)).to_be_visible()
    rows = page.locator("#team-cases tbody tr.case-row")
    expect(rows).to_have_count(4)

    filters = page.get_by_role("search", name="筛选团队案件")
    filters.get_by_label("村（社区）").select_option(label="东村")
    filters.get_by_label("承办人").select_option(label="Clerk")
    filters.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"/team\?.*village=.*assignee=clerk"))
    expect(rows).to_have_count(2)
    shown = {int(rows.nth(i).get_attribute("data-case-id")) for i in range(2)}
    assert shown == {c.id for c in clerks_east}
    shot(page, "1-filtered")

    page.get_by_label("选择本页全部案件").check()  # the page's script ticks every case shown
    for case in clerks_east:
        expect(page.locator(f"#select-{case.id}")).to_be_checked()
    expect(page.locator("#bulk-selected-count")).to_have_text("已选择 2 件。")
    page.get_by_label("理由（记入每件案件）").fill("钱一、孙二的案件在承办人休假期间由 Clerk2 办理")
    page.get_by_label("将所选案件指派给").select_option(label="Clerk2")
    shot(page, "2-bulk-form")
    page.get_by_role("button", name="指派所选案件").click()

    expect(page.get_by_role("heading", name="批量处理结果")).to_be_visible()
    expect(page.locator("#bulk-summary")).to_have_text("共 2 件：已办理 2 件，未办理 0 件（逐件原因见下表）。")
    for case in clerks_east:
        expect(page.locator(f"#outcome-{case.id}")).to_have_attribute("data-outcome", "done")
    expect(page.locator("#bulk-reason-shown")).to_have_text("钱一、孙二的案件在承办人休假期间由 Clerk2 办理")
    shot(page, "3-result")

    page.locator("#back-to-team").click()  # back to the same filter: the clerk holds nothing there now
    expect(page.get_by_text("没有符合条件的案件。")).to_be_visible()
    page.get_by_role("search", name="筛选团队案件").get_by_label("承办人").select_option(label="Clerk2")
    page.get_by_role("search", name="筛选团队案件").get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(2)
    shot(page, "4-now-clerk2")

    page.goto(f"/cases/{clerks_east[0].id}")
    assignment = timeline(page).last
    expect(assignment).to_contain_text("指派承办人")
    expect(assignment).to_contain_text("钱一、孙二的案件在承办人休假期间由 Clerk2 办理")
    expect(assignment).to_contain_text("Clerk2")
    expect(page.locator(".case-side")).to_contain_text("Clerk2")

    holders = {c.id: getattr(reload(c).assignee, "username", None)
               for c in (*clerks_east, clerks_west, unassigned_east)}
    db.session.rollback()
    assert holders == {
        clerks_east[0].id: "clerk2", clerks_east[1].id: "clerk2", clerks_west.id: "clerk", unassigned_east.id: None}
