"""My queue and the all-cases list: which cases, in which order, with which deadline light."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest

from caseflow.calendar import LOCAL_TZ, OfficeCalendar, local_date, package_has_year, to_local, utcnow
from caseflow.extensions import transactional
from caseflow.services.cases import apply_transition, assign_case
from tests.factories import birth_registration_data, make_case, reload
from tests.functional.ui_support import case_rows, make_outside_case, signed_in, text_of


def opened_due_on(day: date) -> datetime:
    """A moment to submit a case at so that its 5-working-day limit (state ``submitted``) ends on ``day``."""
    calendar, counted, start = OfficeCalendar(), 0, day
    while counted < 5:
        counted += calendar.is_working_day(start)
        start -= timedelta(days=1)
    return datetime.combine(start, time(10, 0), LOCAL_TZ)


def next_working_day(after: date) -> date:
    calendar, day = OfficeCalendar(), after + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def shown_deadline(moment: datetime) -> str:
    """How a period ending at ``moment`` (a local midnight) is written: its last day, 24:00."""
    return f"{to_local(moment - timedelta(seconds=1)):%Y-%m-%d} 24:00"


def accept(case, office, by="clerk"):
    with transactional():
        apply_transition(case, "accept", office[by], case.version)
    return reload(case)


@pytest.fixture
def queue_cases(office):
    """Cases around the clerk: overdue, due soon (assigned to the clerk), on time, accepted, someone else's,
    closed, and one in another township."""
    overdue = make_case(office, name="超期甲", now=utcnow() - timedelta(days=30))
    due_soon = make_case(office, name="临期乙", village=office.other_village, by="clerk",
                         now=opened_due_on(next_working_day(local_date(utcnow()))))
    with transactional():
        assign_case(due_soon, office["clerk"], office["supervisor"], due_soon.version)
    on_time = make_case(office, name="正常丙")
    accepted = accept(make_case(office, name="受理丁"), office)
    others = make_case(office, name="他人戊")
    with transactional():
        assign_case(others, office["clerk2"], office["supervisor"], others.version)
    closed = make_case(office, name="撤回己")
    with transactional():
        apply_transition(closed, "withdraw", office["clerk"], closed.version, reason="申请人书面撤回")
    outside = make_outside_case(office, name="外镇庚")
    cases = {"overdue": overdue, "due_soon": due_soon, "on_time": on_time, "accepted": accepted,
             "others": others, "closed": closed, "outside": outside}
    return {name: reload(case) for name, case in cases.items()}


def test_my_queue_holds_my_cases_and_unassigned_ones_most_urgent_first(app, queue_cases):
    page = signed_in(app, "clerk").get("/")
    assert page.status_code == 200
    rows = case_rows(page)
    ids = [case_id for case_id, _ in rows]
    c = queue_cases
    # Ordered by legal deadline: overdue, due soon, then the later ones.
    assert ids[:2] == [c["overdue"].id, c["due_soon"].id]
    assert set(ids) == {c["overdue"].id, c["due_soon"].id, c["on_time"].id, c["accepted"].id}
    assert ids.index(c["on_time"].id) > 1 and ids.index(c["accepted"].id) > 1
    # Someone else's case, a closed one and another township's are not in the clerk's queue.
    text = text_of(page)
    assert "他人戊" not in text and "撤回己" not in text and "外镇庚" not in text

    row = dict(rows)
    assert "已超期" in row[c["overdue"].id] and "未受理" in row[c["overdue"].id]
    assert "待分配" in row[c["overdue"].id] and "东村" in row[c["overdue"].id]
    assert "1个工作日内到期" in row[c["due_soon"].id] and "西村" in row[c["due_soon"].id]
    assert "Clerk" in row[c["due_soon"].id]  # the assignee's display name
    assert "正常" in row[c["on_time"].id]
    assert shown_deadline(c["on_time"].due_at) in row[c["on_time"].id]
    assert c["accepted"].number in row[c["accepted"].id] and "已受理" in row[c["accepted"].id]
    assert "生育登记" in row[c["accepted"].id] and "超期甲" in row[c["overdue"].id]


def test_another_clerk_sees_their_own_and_the_unassigned(app, queue_cases):
    ids = [case_id for case_id, _ in case_rows(signed_in(app, "clerk2").get("/"))]
    c = queue_cases
    assert set(ids) == {c["overdue"].id, c["on_time"].id, c["others"].id}


def test_village_officer_queue_is_their_village_only(app, queue_cases):
    ids = {case_id for case_id, _ in case_rows(signed_in(app, "village1").get("/"))}
    c = queue_cases
    assert ids == {c["overdue"].id, c["on_time"].id}  # 西村's case is not theirs; the accepted one is assigned


def test_outsider_sees_only_their_township(app, queue_cases):
    ids = {case_id for case_id, _ in case_rows(signed_in(app, "outsider").get("/"))}
    assert ids == {queue_cases["outside"].id}


def test_provisional_deadline_is_marked(app, office):
    this_year = local_date(utcnow()).year
    unpublished = next(y for y in range(this_year, 2200) if not package_has_year(y))
    published = max(y for y in range(2004, this_year + 1) if package_has_year(y))
    future = make_case(office, name="暂定甲", now=datetime(unpublished, 3, 2, 10, 0, tzinfo=LOCAL_TZ))
    firm = make_case(office, name="确定乙", now=datetime(published, 6, 1, 10, 0, tzinfo=LOCAL_TZ))
    assert future.deadline_provisional and not firm.deadline_provisional
    row = dict(case_rows(signed_in(app, "clerk").get("/")))
    assert "暂定" in row[future.id]
    assert "暂定" not in row[firm.id]


def test_paused_and_closed_cases_have_no_light(app, office):
    paused = make_case(office, name="补正甲")
    with transactional():
        apply_transition(paused, "request_supplement", office["clerk"], paused.version,
                         data={"missing_items": "户口簿复印件"})
    row = dict(case_rows(signed_in(app, "clerk").get("/")))[paused.id]
    assert "暂停计时" in row and "待补正材料" in row
    assert not any(label in row for label in ("正常", "已超期", "1个工作日内到期"))


def test_queue_is_paginated(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    cases = [make_case(office, name=f"分页{i}", now=utcnow() - timedelta(days=30 - 10 * i))
             for i in range(3)]
    client = signed_in(app, "clerk")
    first = client.get("/")
    assert [case_id for case_id, _ in case_rows(first)] == [cases[0].id, cases[1].id]
    assert "第 1 / 2 页，共 3 件" in text_of(first) and 'href="/?page=2"' in first.get_data(as_text=True)
    second = client.get("/?page=2")
    assert [case_id for case_id, _ in case_rows(second)] == [cases[2].id]
    assert "上一页" in text_of(second)


def test_queue_pages_keep_one_order_across_own_and_unassigned_cases(app, office, monkeypatch):
    """Deadline first; among cases sharing a deadline (it ends a working day), newest first; cases whose
    clock is stopped last, newest first: the clerk's own and the unassigned ones merged, page after page."""
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    day = datetime.combine(local_date(utcnow()) - timedelta(days=20), time(9, 0), LOCAL_TZ)

    def opened(name, at, *, mine=False, paused=False):
        case = make_case(office, name=name, now=at)
        with transactional():
            if mine:
                assign_case(case, office["clerk"], office["supervisor"], case.version)
                case = reload(case)
            if paused:
                apply_transition(case, "request_supplement", office["clerk"], case.version,
                                 data={"missing_items": "户口簿复印件"})
        return reload(case)

    earlier = opened("早甲", day - timedelta(days=7))
    first_of_day = opened("晨乙", day)
    last_of_day = opened("午丙", day + timedelta(hours=2), mine=True)
    middle_of_day = opened("中丁", day + timedelta(hours=1))
    stopped_old = opened("停戊", day - timedelta(days=3), paused=True)
    stopped_new = opened("停己", day - timedelta(days=2), mine=True, paused=True)
    assert first_of_day.due_at == middle_of_day.due_at == last_of_day.due_at > earlier.due_at
    assert stopped_old.due_at is None and stopped_new.due_at is None

    client = signed_in(app, "clerk")
    shown = [[case_id for case_id, _ in case_rows(client.get(f"/?page={n}"))] for n in (1, 2, 3)]
    assert shown == [[earlier.id, last_of_day.id], [middle_of_day.id, first_of_day.id],
                     [stopped_new.id, stopped_old.id]]


def test_all_cases_filters(app, queue_cases, office):
    c = queue_cases
    client = signed_in(app, "clerk")

    def found(query: str) -> set[int]:
        response = client.get(f"/cases?{query}")
        assert response.status_code == 200
        return {case_id for case_id, _ in case_rows(response)}

    visible = {c[name].id for name in ("overdue", "due_soon", "on_time", "accepted", "others", "closed")}
    assert found("") == visible  # closed and other people's cases too, but never another township's
    assert found("light=red") == {c["overdue"].id}
    assert found("light=yellow") == {c["due_soon"].id}
    assert found("light=none") == {c["closed"].id}
    assert found("assignee=me") == {c["due_soon"].id, c["accepted"].id}
    assert found("state=accepted") == {c["accepted"].id}
    assert found("state=withdrawn&workflow=birth_registration") == {c["closed"].id}
    assert found("open=1") == visible - {c["closed"].id}
    assert found("q=临期") == {c["due_soon"].id}
    assert found(f"q={c['accepted'].number.lower()}") == {c["accepted"].id}
    assert found(f"q={c['on_time'].applicant.resident_id}") == {c["on_time"].id}
    assert found(f"q={c['on_time'].applicant.resident_id[:10]}") == set()  # IDs match only in full
    assert found("q=外镇庚") == set()
    assert found("q=%25") == set()  # LIKE wildcards are taken literally

    page = client.get("/cases?light=red&assignee=me")
    assert '<option value="red" selected>' in page.get_data(as_text=True)
    assert '<option value="me" selected>' in page.get_data(as_text=True)


def test_data_in_lists_is_escaped(app, office):
    case = make_case(office, name="<script>x</script>", data=birth_registration_data())
    html = signed_in(app, "clerk").get("/").get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html

    with transactional():
        office["clerk2"].display_name = "<b>二号</b>"
        assign_case(case, office["clerk2"], office["supervisor"], case.version)
    html = signed_in(app, "supervisor").get("/team").get_data(as_text=True)
    row = re.search(rf'<tr class="case-row" data-case-id="{case.id}">(.*?)</tr>', html, re.S).group(1)
    # The applicant in the row and in its checkbox's label (a case without a receipt number is named by
    # its applicant), and the assignee.
    assert "<script>" not in row and row.count("&lt;script&gt;x&lt;/script&gt;") == 2
    assert "<b>" not in row and "&lt;b&gt;二号&lt;/b&gt;" in row


def test_the_demo_banner_shows_once_the_instance_holds_demo_data(app, office):
    """The layout reads the demo flag with the header's badges, in one statement, on every page."""
    from caseflow.services.users import save_user
    from tests.factories import PASSWORD

    client = signed_in(app, "supervisor")
    assert 'class="demo-banner"' not in client.get("/team").get_data(as_text=True)
    with transactional():
        save_user(username="demo1", display_name="Demo", roles=["clerk"], jurisdiction_ids=[], password=PASSWORD,
                  is_demo=True)
    page = client.get("/team")
    assert 'class="demo-banner"' in page.get_data(as_text=True)
    assert "提醒 (0)" in text_of(page) and "差评回访（0）" in text_of(page)
    assert 'class="demo-banner"' in app.test_client().get("/login").get_data(as_text=True)


def test_the_reminders_badge_stops_at_99(app, office):
    """The header counts unread reminders on every page: up to 99, then "99+" (it stops counting there)."""
    from caseflow.extensions import db
    from caseflow.models import Reminder

    case = make_case(office, name="提醒数")
    now = utcnow()

    def remind(minutes: range) -> None:  # one reminder per deadline (they are unique by deadline)
        with transactional():
            for minute in minutes:
                db.session.add(Reminder(user_id=office["clerk"].id, case_id=case.id, kind="red",
                                        due_at=now + timedelta(minutes=minute), created_at=now))

    client = signed_in(app, "clerk")
    remind(range(99))
    assert "提醒 (99)" in text_of(client.get("/"))
    remind(range(99, 100))
    page = text_of(client.get("/"))
    assert "提醒 (99+)" in page and "提醒 (100)" not in page
