"""The daily reminder email, composed by the real job and delivered to a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ, end_of_local_day
from caseflow.extensions import db, transactional
from caseflow.jobs import JOBS, run_recorded
from caseflow.models import Case, OutboxMessage, User
from caseflow.services.office_calendar import add_override
from caseflow.services.outbox import deliver_pending
from tests.factories import advance, make_case, make_procedure_case, make_user, reload
from tests.functional.ui_support import html_of, make_outside_case, signed_in, text_of

# Tuesday 24 November 2026, 08:30 in the office: the job's slot.
NOW = datetime(2026, 11, 24, 8, 30, tzinfo=LOCAL_TZ)
BASE = "https://caseflow.example.cn/office"


def at(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_TZ)


def due_end_of(day: date) -> datetime:
    return end_of_local_day(day)


@pytest.fixture(autouse=True)
def base_url(app, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_BASE_URL", BASE)


def set_due(case: Case, due_at: datetime | None) -> Case:
    """Put a case's legal deadline where the test needs it (the workflows' own deadlines are tested
    elsewhere; here only the digest's reading of them matters)."""
    with transactional():
        case = reload(case)
        case.due_at = due_at
    return case


def assigned_case(office, due_at: datetime, *, to: str = "clerk", opened: datetime | None = None, **who) -> Case:
    case = advance(make_case(office, now=opened or at(2, 9), **who), ["accept"], office, now=opened or at(2, 10))
    if to != "clerk":
        with transactional():
            reload(case).assignee = office[to]
    return set_due(case, due_at)


def run_digest(now: datetime = NOW) -> str:
    return run_recorded(JOBS["daily_digest"], now, trigger="manual")


def queued() -> dict[str, OutboxMessage]:
    db.session.expire_all()
    return {row.to_address: row for row in db.session.scalars(sa.select(OutboxMessage))}


def sections(text: str) -> dict[str, str]:
    """The plain-text email cut into its sections: title → body."""
    parts = re.split(r"^== (.+?) \(\d+\) ==$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.fixture
def desk(office):
    """The cases of a Tuesday morning (24 Nov 2026, 08:30), one for each thing the email tells about."""
    cases = {
        "overdue": assigned_case(office, due_end_of(date(2026, 11, 23)), name="逾期甲"),
        "today": assigned_case(office, due_end_of(date(2026, 11, 24)), name="今日乙"),
        # Two working days from Tue 08:30 end with Thursday.
        "thursday": assigned_case(office, due_end_of(date(2026, 11, 26)), name="周四丙"),
        "friday": assigned_case(office, due_end_of(date(2026, 11, 27)), name="周五丁"),
        "clerk2_overdue": assigned_case(office, due_end_of(date(2026, 11, 20)), to="clerk2", name="同事戊"),
        # Unassigned: opened after Monday's 08:30 email, and before it.
        "new": make_case(office, now=at(23, 10), name="新件己"),
        "not_new": make_case(office, now=at(23, 8, 0), name="旧件庚"),
        "closed": advance(make_case(office, now=at(2), name="办结辛"), ["accept", "register"], office, now=at(3)),
    }
    set_due(cases["closed"], due_end_of(date(2026, 11, 20)))  # a closed case is never listed, whatever it says
    procedure = make_procedure_case(office, by="clerk2", now=at(20, 9))
    cases["procedure"] = set_due(procedure, due_end_of(date(2026, 11, 20)))
    return cases


def test_each_user_gets_their_own_cases_in_sections(app, office, desk, smtp_up):
    summary = run_digest()
    assert summary == "3 reminder email(s) queued for 2026-11-24"
    # Village officers, the auditor and the admin handle no cases; the outsider's township has nothing.
    assert set(queued()) == {"clerk@example.test", "clerk2@example.test", "supervisor@example.test"}

    clerk = queued()["clerk@example.test"]
    assert clerk.key == f"digest:2026-11-24:user:{office['clerk'].id}"
    assert clerk.subject == "每日提醒 2026-11-24：已超期 1 · 今日到期 1 · 2 个工作日内到期 1 · 新收未分派 1"
    parts = sections(clerk.text_body)
    assert list(parts) == ["已超期", "今日到期", "2 个工作日内到期", "新收未分派"]
    assert desk["overdue"].number in parts["已超期"] and "逾期甲" in parts["已超期"]
    assert "2026-11-23 24:00" in parts["已超期"]
    assert desk["today"].number in parts["今日到期"]
    assert desk["thursday"].number in parts["2 个工作日内到期"]
    assert "新件己" in parts["新收未分派"] and f"{BASE}/cases/{desk['new'].id}" in parts["新收未分派"]
    for absent in ("周五丁", "旧件庚", "办结辛", "同事戊"):
        assert absent not in clerk.text_body
    # The clerk may not see the need-to-know case assigned to clerk2 at all.
    assert desk["procedure"].number not in clerk.text_body and desk["procedure"].number not in clerk.html_body

    # Every case is linked in the HTML part too, through the configured address.
    for name in ("overdue", "today", "thursday", "new"):
        assert f'href="{BASE}/cases/{desk[name].id}"' in clerk.html_body
    assert f"{BASE}/profile" in clerk.text_body and f'href="{BASE}/profile"' in clerk.html_body


def test_supervisors_also_get_their_teams_overdue_cases_without_naming_a_need_to_know_applicant(office, desk):
    run_digest()
    supervisor = queued()["supervisor@example.test"]
    parts = sections(supervisor.text_body)
    assert set(parts) == {"新收未分派", "团队超期案件"}
    team = parts["团队超期案件"]
    assert desk["overdue"].number in team and desk["clerk2_overdue"].number in team
    holders = re.findall(r"· (\w+)\n  https://", team)  # who holds each case, in deadline order
    assert holders == ["Clerk2", "Clerk2", "Clerk"]
    assert desk["procedure"].number in team
    procedure_line = next(line for line in team.splitlines() if desk["procedure"].number in line)
    applicant_line = team.splitlines()[team.splitlines().index(procedure_line) + 1]
    assert reload(desk["procedure"]).applicant.name not in team
    assert applicant_line.strip().startswith("东村")  # the village follows directly: no name in an email
    assert reload(desk["procedure"]).applicant.name not in supervisor.html_body

    clerk2 = sections(queued()["clerk2@example.test"].text_body)
    assert desk["clerk2_overdue"].number in clerk2["已超期"] and desk["procedure"].number in clerk2["已超期"]


def test_the_email_speaks_the_users_language(office, desk):
    with transactional():
        db.session.get(User, office["clerk"].id).locale = "en"
    run_digest()
    clerk = queued()["clerk@example.test"]
    assert clerk.subject == ("Daily reminder 2026-11-24: Overdue 1 · Due today 1 · Due within 2 working days 1"
                             " · New and not yet assigned 1")
    assert "Hello Clerk," in clerk.text_body and "Birth registration" in clerk.text_body
    assert 'lang="en"' in clerk.html_body and "Receipt no." in clerk.html_body
    assert "您好" in queued()["supervisor@example.test"].text_body  # the others keep Chinese


def test_delivered_over_smtp_with_text_and_html(office, desk, smtp_up):
    run_digest()
    assert deliver_pending(NOW).sent == 3
    messages = {m["To"]: m for m in smtp_up.handler.messages()}
    assert set(messages) == {"clerk@example.test", "clerk2@example.test", "supervisor@example.test"}
    clerk = messages["clerk@example.test"]
    assert clerk["Subject"].startswith("每日提醒 2026-11-24")
    assert clerk.get_body(("plain",)).get_content().count(f"{BASE}/cases/") == 4
    assert desk["overdue"].number in clerk.get_body(("html",)).get_content()


def test_running_the_job_again_sends_nothing_twice(office, desk, smtp_up):
    run_digest()
    run_digest(NOW + timedelta(hours=3))  # a second run the same day (by hand, or a second scheduler)
    assert len(queued()) == 3
    assert deliver_pending(NOW + timedelta(hours=3)).sent == 3
    assert deliver_pending(NOW + timedelta(hours=4)).sent == 0
    assert len(smtp_up.handler.envelopes) == 3


@pytest.mark.parametrize("day", [datetime(2026, 11, 28, 8, 30, tzinfo=LOCAL_TZ),   # Saturday
                                 datetime(2026, 10, 5, 8, 30, tzinfo=LOCAL_TZ)])   # National Day holiday
def test_nothing_is_sent_on_a_day_the_office_is_closed(office, desk, smtp_up, day):
    assert run_digest(day).endswith("is not a working day: no reminder emails")
    assert queued() == {}
    assert deliver_pending(day).sent == 0 and smtp_up.handler.envelopes == []


def test_the_office_calendar_decides_what_a_working_day_is(office, desk):
    with transactional():
        add_override(date(2026, 11, 24), False, "镇政府停电", office["admin"])
        add_override(date(2026, 11, 28), True, "集中办理日", office["admin"])
    assert run_digest().endswith("is not a working day: no reminder emails")
    assert queued() == {}
    saturday = datetime(2026, 11, 28, 8, 30, tzinfo=LOCAL_TZ)
    assert run_digest(saturday) == "3 reminder email(s) queued for 2026-11-28"


def test_on_monday_new_cases_count_from_fridays_email(office):
    make_case(office, now=at(20, 8, 0), name="周五早")  # before Friday's 08:30 email: that one had it
    make_case(office, now=at(20, 9, 0), name="周五晚")
    make_case(office, now=at(21, 15, 0), name="周六件")
    run_digest(datetime(2026, 11, 23, 8, 30, tzinfo=LOCAL_TZ))
    text = sections(queued()["clerk@example.test"].text_body)["新收未分派"]
    assert "周五晚" in text and "周六件" in text and "周五早" not in text


def test_no_email_for_users_with_nothing_to_do_or_no_address(office):
    assigned_case(office, due_end_of(date(2026, 12, 15)))  # due in three weeks: nothing to say yet
    with transactional():
        make_user("noaddress", ["clerk"], [office.township], email=None)
    make_case(office, now=at(23, 10))  # new and unassigned: the handlers of the township hear of it
    run_digest()
    assert set(queued()) == {"clerk@example.test", "clerk2@example.test", "supervisor@example.test"}
    db.session.execute(sa.delete(OutboxMessage))
    with transactional():
        for case in db.session.scalars(sa.select(Case).where(Case.assignee_id.is_(None))):
            case.assignee_id = office["clerk"].id
    assert run_digest(NOW + timedelta(days=1)) == "0 reminder email(s) queued for 2026-11-25"


def test_a_long_section_is_cut_and_says_how_many_more(app, office, monkeypatch):
    monkeypatch.setattr("caseflow.services.digests.SECTION_LIMIT", 2)
    for day in (16, 17, 18):
        assigned_case(office, due_end_of(date(2026, 11, day)))
    run_digest()
    text = queued()["clerk@example.test"].text_body
    assert text.count(f"{BASE}/cases/") == 2
    assert f"还有 1 件，请到待办查看：{BASE}/" in text


def test_users_turn_the_email_off_and_on_in_their_profile(app, office, desk):
    client = signed_in(app, "clerk")
    page = html_of(client.get("/profile"))
    assert 'name="daily_digest" value="on" checked' in page
    response = client.post("/profile/email", data={"daily_digest": "off"}, follow_redirects=True)
    assert "已关闭每日提醒邮件" in text_of(response)
    assert 'name="daily_digest" value="off" checked' in html_of(response)
    run_digest()
    assert "clerk@example.test" not in queued() and "clerk2@example.test" in queued()

    # A form that lost its value unsubscribes nobody (and subscribes nobody either).
    response = client.post("/profile/email", data={}, follow_redirects=True)
    assert "请选择是否接收每日提醒邮件" in text_of(response)
    assert db.session.get(User, office["clerk"].id).daily_digest is False
    client.post("/profile/email", data={"daily_digest": "on"})
    db.session.expire_all()
    assert db.session.get(User, office["clerk"].id).daily_digest is True
    run_digest(NOW + timedelta(days=1))
    assert "clerk@example.test" in queued()


def test_the_profile_email_form_needs_login(app, office):
    response = app.test_client().post("/profile/email", data={"daily_digest": "off"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert db.session.get(User, office["clerk"].id).daily_digest is True


def test_cases_of_another_township_never_appear(office):
    make_outside_case(office, now=at(23, 10), name="外镇件")  # new and unassigned, in the other township
    make_case(office, now=at(23, 10), name="本镇件")
    run_digest()
    assert "外镇件" in queued()["outsider@example.test"].text_body
    for address in ("clerk@example.test", "supervisor@example.test"):
        assert "外镇件" not in queued()[address].text_body and "本镇件" in queued()[address].text_body
    assert "本镇件" not in queued()["outsider@example.test"].text_body


def test_listing_a_need_to_know_case_in_an_email_is_logged_as_a_read_once(office, desk):
    from caseflow.services.audit import reads_of

    run_digest()
    run_digest(NOW + timedelta(hours=1))
    reads = {(read.user.username, read.what) for read in reads_of(reload(desk["procedure"]))}
    assert reads == {("supervisor", "digest"), ("clerk2", "digest")}
    assert len(reads_of(reload(desk["procedure"]))) == 2
    assert reads_of(reload(desk["overdue"])) == []  # other cases' reads are not logged


def test_a_handed_back_need_to_know_case_is_new_and_unassigned_only_for_those_who_may_read_it(office, desk):
    handed_back = make_procedure_case(office, by="clerk2", now=at(23, 10))
    with transactional():
        reload(handed_back).assignee = None
    run_digest()  # the clerk and the supervisor see the same villages: only the right to need-to-know differs
    supervisor = sections(queued()["supervisor@example.test"].text_body)["新收未分派"]
    clerk = sections(queued()["clerk@example.test"].text_body)["新收未分派"]
    assert f"{BASE}/cases/{handed_back.id}" in supervisor
    assert f"{BASE}/cases/{handed_back.id}" not in clerk and f"{BASE}/cases/{desk['new'].id}" in clerk
