"""The supervisors' team queue: who sees it, each filter, sorting, keyset pages, saved filters, exports."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from caseflow.calendar import LOCAL_TZ, local_date, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import CaseRead, SavedFilter, User
from caseflow.services import queues
from caseflow.services.cases import apply_transition, assign_case
from caseflow.services.deadlines import LightBounds
from caseflow.services.leave import record_leave
from caseflow.services.users import save_jurisdiction
from tests.factories import advance, make_case, make_procedure_case, make_subsidy_case, make_user, reload
from tests.functional.ui_support import (
    case_rows, field_error, html_of, make_outside_case, options_of, signed_in, text_of,
)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [case_id for case_id, _ in case_rows(response)]


def at(day: str, hour: int = 10) -> datetime:
    """A local moment (Asia/Shanghai) on ``day``."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=LOCAL_TZ)


def accept(case, office, by="clerk"):
    with transactional():
        apply_transition(case, "accept", office[by], case.version)
    return reload(case)


def assign(case, office, to="clerk"):
    with transactional():
        assign_case(case, office[to], office["supervisor"], case.version)
    return reload(case)


@pytest.fixture
def team(office):
    """A township's cases: overdue in 东村, unassigned; accepted in 西村 for clerk2; a subsidy application
    in 东村; one withdrawn (closed) last year; and one in another township."""
    overdue = make_case(office, name="超期甲", now=utcnow() - timedelta(days=30))
    west = assign(accept(make_case(office, name="西村乙", village=office.other_village, by="village2"), office),
                  office, "clerk2")
    subsidy = make_subsidy_case(office, name="补贴丙")
    closed = make_case(office, name="撤回丁", now=at("2025-03-03"))
    with transactional():
        apply_transition(closed, "withdraw", office["clerk"], closed.version, reason="申请人书面撤回",
                         now=at("2025-03-10"))
    outside = make_outside_case(office, name="外镇戊")
    cases = {"overdue": overdue, "west": west, "subsidy": subsidy, "closed": closed, "outside": outside}
    return {name: reload(case) for name, case in cases.items()}


# ---------------------------------------------------------------------------------------------- access

def test_supervisors_and_auditors_see_the_team_queue_others_do_not(app, team):
    for username in ("supervisor", "auditor"):
        client = signed_in(app, username)
        assert set(ids(client.get("/team"))) == {team[n].id for n in ("overdue", "west", "subsidy")}
        assert 'id="nav-team"' in html_of(client.get("/"))
    for username in ("clerk", "village1", "outsider", "admin"):
        client = signed_in(app, username)
        assert client.get("/team").status_code == 403, username
        assert client.get("/team/export.csv").status_code == 403, username
        assert client.get("/team/export.xlsx").status_code == 403, username
    assert 'id="nav-team"' not in html_of(signed_in(app, "clerk").get("/"))
    assert signed_in(app, "supervisor").get("/team").headers["Content-Security-Policy"]


def test_auditors_get_no_bulk_form(app, team):
    page = html_of(signed_in(app, "auditor").get("/team"))
    assert 'id="bulk-form"' not in page and 'name="case_id"' not in page
    page = html_of(signed_in(app, "supervisor").get("/team"))
    assert 'id="bulk-form"' in page and f'id="select-{team["overdue"].id}"' in page


# --------------------------------------------------------------------------------------------- filters

def test_each_filter(app, office, team):
    c = team
    client = signed_in(app, "supervisor")

    def found(**args) -> set[int]:
        return set(ids(client.get("/team?" + urlencode(args))))

    open_ones = {c["overdue"].id, c["west"].id, c["subsidy"].id}
    assert found() == open_ones  # open cases by default, never another township's
    assert found(status="all") == open_ones | {c["closed"].id}
    assert found(status="closed") == {c["closed"].id}
    assert found(workflow="subsidy") == {c["subsidy"].id}
    assert found(workflow="birth_registration", state="accepted") == {c["west"].id}
    assert found(state="applied") == {c["subsidy"].id}
    assert found(village=office.other_village.id) == {c["west"].id}
    assert found(village=office.village.id, status="all") == {c["overdue"].id, c["subsidy"].id, c["closed"].id}
    assert found(assignee="clerk2") == {c["west"].id}
    assert found(assignee="none") == {c["overdue"].id, c["subsidy"].id}
    assert found(light="red") == {c["overdue"].id}
    assert found(light="green") == {c["west"].id, c["subsidy"].id}
    assert found(light="none", status="all") == {c["closed"].id}
    assert found(opened_from="2025-03-03", opened_to="2025-03-03", status="all") == {c["closed"].id}
    assert found(opened_from="2025-03-04", status="all") == open_ones
    assert found(opened_from="2025-03-04") == open_ones
    assert "共 3 件" in text_of(client.get("/team?opened_from=2025-03-04"))  # counted as SQLite is told to
    assert found(closed_from="2025-03-10", closed_to="2025-03-10", status="closed") == {c["closed"].id}
    assert found(closed_from="2025-03-10", status="all") == {c["closed"].id}
    assert found(closed_from="2025-03-10", status="all", dir="desc", sort="number") == {c["closed"].id}
    assert found(closed_from="2025-03-11", status="all") == set()
    assert found(closed_to="2025-03-09", status="all") == set()

    page = html_of(client.get("/team?" + urlencode({"workflow": "subsidy", "assignee": "none", "light": "green"})))
    assert '<option value="subsidy" selected>' in page and '<option value="none" selected>' in page
    assert '<option value="green" selected>' in page


def test_the_handler_lists_escape_names_and_keep_the_choice(app, office, team):
    with transactional():
        odd = make_user("oddname", ["clerk"], [office.village])
        odd.display_name = '<b>"怪"</b>'
        office["clerk2"].active = False
    page = html_of(signed_in(app, "supervisor").get("/team?assignee=oddname"))
    escaped = "&lt;b&gt;&#34;怪&#34;&lt;/b&gt;"
    assert f'<option value="oddname" selected>{escaped}</option>' in page  # filter by
    assert f'<option value="{odd.id}">{escaped}</option>' in page  # assign to
    assert '<b>"怪"</b>' not in page
    # Someone who left is still offered to filter by (cases they left behind), never to assign to.
    assert '<option value="clerk2">Clerk2 （已停用）</option>' in page
    assert f'<option value="{office["clerk2"].id}">' not in page


def test_handlers_and_villages_changed_here_show_on_the_next_page(app, office, team):
    """The drop-downs are kept per process; a change committed in this process empties what it kept."""
    client = signed_in(app, "supervisor")
    page = html_of(client.get("/team"))
    assert "newclerk" not in page and "南村" not in page
    with transactional():
        newcomer = make_user("newclerk", ["clerk"], [office.village])
    page = html_of(client.get("/team"))
    assert '<option value="newclerk">Newclerk</option>' in options_of(page, "f-assignee")
    assert f'<option value="{newcomer.id}">Newclerk</option>' in options_of(page, "bulk-assignee")
    with transactional():
        record_leave(db.session.get(User, newcomer.id), local_date(utcnow()), local_date(utcnow()), "事假", None,
                     db.session.get(User, office["supervisor"].id))
    page = html_of(client.get("/team"))
    assert "Newclerk" in options_of(page, "f-assignee") and "Newclerk" not in options_of(page, "bulk-assignee")
    with transactional():
        south = save_jurisdiction(code="V3", name="南村", kind="village", parent_id=office.township.id)
    assert f'<option value="{south.id}" >南村</option>' in options_of(html_of(client.get("/team")), "f-village")


def test_a_change_from_another_process_shows_when_the_kept_list_expires(app, office, team, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_DIRECTORY_CACHE_SECONDS", 2)
    client = signed_in(app, "supervisor")
    assert ">Clerk2</option>" in options_of(html_of(client.get("/team")), "f-assignee")

    def rename_elsewhere(name: str) -> None:
        """Another worker renames clerk2: a write this process's sessions never see."""
        with db.engine.begin() as conn:
            conn.execute(sa.update(User.__table__).where(User.__table__.c.id == office["clerk2"].id)
                         .values(display_name=name))

    rename_elsewhere("王二")
    handlers = options_of(html_of(client.get("/team")), "f-assignee")
    assert ">Clerk2</option>" in handlers and "王二" not in handlers  # the kept list, for two seconds
    time.sleep(2.05)
    assert ">王二</option>" in options_of(html_of(client.get("/team")), "f-assignee")
    monkeypatch.setitem(app.config, "CASEFLOW_DIRECTORY_CACHE_SECONDS", 0)  # nothing kept: read every time
    rename_elsewhere("王小二")
    assert ">王小二</option>" in options_of(html_of(client.get("/team")), "f-assignee")


def test_local_dates_bound_the_ranges(app, office):
    """A case opened at 00:30 Beijing time on 3 March is on 3 March, though it is still 2 March in UTC."""
    early = make_case(office, name="凌晨", now=at("2025-03-03", hour=0).replace(minute=30))
    client = signed_in(app, "supervisor")
    assert ids(client.get("/team?opened_from=2025-03-03&opened_to=2025-03-03")) == [early.id]
    assert ids(client.get("/team?opened_to=2025-03-02")) == []


def test_invalid_filters_get_a_message_and_the_others_still_apply(app, office, team):
    client = signed_in(app, "supervisor")
    response = client.get("/team?" + urlencode({"workflow": "subsidy", "state": "accepted", "light": "purple",
                                                  "opened_from": "2025-13-01", "sort": "colour", "dir": "up"}))
    assert set(ids(response)) == {team["subsidy"].id}  # the workflow filter still applies
    assert field_error(response, "state") == "所选事项没有这个状态。"
    assert field_error(response, "opened_from") == "请输入有效日期（如 2026-01-31）。"
    assert field_error(response, "light") == field_error(response, "sort") == "请从列表中选择。"
    assert 'value="2025-13-01"' in html_of(response)  # what was typed stays in the field

    response = client.get("/team?" + urlencode({"opened_from": "2025-05-01", "opened_to": "2025-04-01"}))
    assert field_error(response, "opened_to") == "开始日期晚于结束日期。"
    response = client.get("/team?" + urlencode({"closed_from": "2025-01-01"}))
    assert "办结日期只适用于已办结的案件" in field_error(response, "closed_from")
    response = client.get("/team?" + urlencode({"assignee": "outsider", "workflow": "nope", "village": "x"}))
    assert set(ids(response)) == {team[n].id for n in ("overdue", "west", "subsidy")}
    assert field_error(response, "assignee") == "本辖区没有这位承办人。"
    assert field_error(response, "workflow") == "没有这类事项。"
    assert field_error(response, "village") == "该村（社区）不在您的辖区内。"

    client.post("/lang/en", data={"next": "/team"})
    response = client.get("/team?light=purple")
    assert response.status_code == 200 and field_error(response, "light") == "Choose one of the listed options."


def test_a_village_supervisor_sees_and_filters_only_their_village(app, office, team):
    with transactional():
        make_user("westboss", ["supervisor"], [office.other_village])
    client = signed_in(app, "westboss")
    assert ids(client.get("/team")) == [team["west"].id]
    response = client.get(f"/team?village={office.village.id}")
    assert ids(response) == [team["west"].id] and field_error(response, "village")
    # Filter by any handler of their jurisdictions: clerks of the township work in their village too.
    assert ids(client.get("/team?assignee=clerk2")) == [team["west"].id]


def test_need_to_know_cases_are_listed_for_supervisors_and_auditors(app, office):
    certificate = make_procedure_case(office, name="保密甲")
    for username in ("supervisor", "auditor"):
        assert ids(signed_in(app, username).get("/team?workflow=procedure_certificate")) == [certificate.id]


# ------------------------------------------------------------------------------------- sorting and paging

def test_sorting(app, office):
    first = make_case(office, name="一", now=at("2025-01-06"))
    second = accept(make_case(office, name="二", now=at("2025-02-03")), office)
    third = accept(make_case(office, name="三", now=at("2025-03-03")), office)
    client = signed_in(app, "supervisor")
    assert ids(client.get("/team?sort=opened")) == [first.id, second.id, third.id]
    assert ids(client.get("/team?sort=opened&dir=desc")) == [third.id, second.id, first.id]
    # Receipt numbers: the cases without one come last in either direction.
    assert ids(client.get("/team?sort=number")) == [second.id, third.id, first.id]
    assert ids(client.get("/team?sort=number&dir=desc")) == [third.id, second.id, first.id]
    assert ids(client.get("/team?sort=state_entered&dir=desc"))[0] in {second.id, third.id}
    assert ids(client.get("/team"))[0] == first.id  # the most urgent deadline first


def walk_pages(client, url: str):
    """Follow "next" from ``url`` to the last page, then "previous" back to the first: (the case ids of
    each page forward, those of each page backward from the last, the last response)."""
    pages, response = [], client.get(url)
    while True:
        pages.append(ids(response))
        link = re.search(r'<a href="([^"]+)" rel="next"', html_of(response))
        if not link:
            break
        response = client.get(link.group(1).replace("&amp;", "&"))
    back = [pages[-1]]
    while link := re.search(r'<a href="([^"]+)" rel="prev"', html_of(response)):
        response = client.get(link.group(1).replace("&amp;", "&"))
        back.append(ids(response))
    return pages, back, response


@contextmanager
def statements_run():
    """The SQL statements run inside the block, double quotes dropped (PostgreSQL quotes ``case``)."""
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.replace('"', ""))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)


@pytest.mark.parametrize("sort,descending", [("due", False), ("due", True), ("number", False),
                                              ("opened", True), ("state_entered", False)])
def test_keyset_pages_walk_every_row_once_both_ways(app, office, monkeypatch, sort, descending):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 3)
    moment = utcnow() - timedelta(days=2)
    # Eight cases opened at the same instant share their deadline (ties), four of them accepted (a number);
    # two have their clock stopped (no deadline at all), so the walk crosses into the empty values.
    cases = [make_case(office, name=f"同时{i}", now=moment) for i in range(8)]
    for case in cases[:4]:
        accept(case, office)
    for case in cases[6:]:
        with transactional():
            apply_transition(case, "request_supplement", office["clerk"], case.version,
                             data={"missing_items": "户口簿"})
    client = signed_in(app, "supervisor")
    args = {"sort": sort} | ({"dir": "desc"} if descending else {})
    everything = [reload(case) for case in cases]
    column = queues.SORTS[sort].key

    def key(case):
        value = getattr(case, column)
        return (value is None, value if value is not None else 0, case.id)

    expected = sorted(everything, key=key, reverse=False)
    if descending:
        with_value = sorted([c for c in everything if getattr(c, column) is not None], key=key, reverse=True)
        without = sorted([c for c in everything if getattr(c, column) is None], key=lambda c: c.id, reverse=True)
        expected = with_value + without
    expected = [case.id for case in expected]

    pages, back, response = walk_pages(client, "/team?" + urlencode(args))
    assert [case_id for page in pages for case_id in page] == expected
    assert [len(page) for page in pages] == [3, 3, 2]
    assert back == list(reversed(pages))  # "previous" from the last page: the same pages in reverse
    assert 'id="page-first"' not in html_of(response)


@pytest.mark.parametrize("descending", [False, True])
def test_open_and_closed_cases_page_merged_in_one_order(app, office, monkeypatch, descending):
    """With "open or closed: all", open and closed cases are read in two walks and merged on every page."""
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    cases = [make_case(office, name=f"混合{day}", now=at(f"2025-03-{day:02d}")) for day in range(1, 8)]
    for case in cases[1::2]:  # the 2nd, 4th and 6th opened are closed, the others open
        with transactional():
            apply_transition(case, "withdraw", office["clerk"], case.version, reason="申请人书面撤回",
                             now=at("2025-03-20"))
    expected = [case.id for case in (reversed(cases) if descending else cases)]
    client = signed_in(app, "supervisor")
    pages, back, _ = walk_pages(client, "/team?" + urlencode({"sort": "opened", "status": "all"}
                                                              | ({"dir": "desc"} if descending else {})))
    assert [case_id for page in pages for case_id in page] == expected
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert back == pages[::-1]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("wide", [False, True])
def test_a_range_of_opening_dates_pages_by_deadline_then_the_rest(app, office, monkeypatch, descending, wide):
    """Opening dates with "all", by deadline: the open cases with a deadline, then the paused and closed ones
    by id, and nothing opened outside the dates. A range holding more cases than the count counts (``wide``)
    walks the deadline index, told on SQLite that the dates hold most cases (queues.team_query)."""
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    if wide:
        monkeypatch.setattr(queues, "COUNT_CAP", 5)  # the range holds 6
    inside = [make_case(office, name=f"期内{day}", now=at(f"2025-03-{day:02d}")) for day in range(2, 8)]
    outside = [make_case(office, name=f"期外{day}", now=at(f"2025-03-{day:02d}")) for day in (1, 9)]
    with transactional():
        apply_transition(inside[1], "request_supplement", office["clerk"], inside[1].version,
                         data={"missing_items": "户口簿"})
    for case in (inside[3], inside[5], outside[1]):
        with transactional():
            apply_transition(case, "withdraw", office["clerk"], case.version, reason="申请人书面撤回",
                             now=at("2025-03-20"))
    with_deadline = [inside[0], inside[2], inside[4]]  # opened one after another: their deadlines in that order
    without = [inside[1], inside[3], inside[5]]  # paused, closed, closed: in id order
    expected = [case.id for case in with_deadline] + [case.id for case in without]
    if descending:
        expected = expected[2::-1] + expected[:2:-1]
    client = signed_in(app, "supervisor")
    with statements_run() as statements:
        pages, back, _ = walk_pages(client, "/team?" + urlencode(
            {"opened_from": "2025-03-02", "opened_to": "2025-03-07", "status": "all"}
            | ({"dir": "desc"} if descending else {})))
    assert [case_id for page in pages for case_id in page] == expected
    assert [len(page) for page in pages] == [2, 2, 2]
    assert back == pages[::-1]
    # Only the walk by deadline has its dates loosened: walking the closed cases by id instead of gathering
    # a range's would pass every case opened before it.
    walks = [s for s in statements if "ORDER BY" in s and "FROM case" in s and "case.opened_at >=" in s]
    loosened = [s for s in walks if "likelihood(case.opened_at >=" in s]
    assert all("case.due_at IS NOT NULL" in s or "(case.due_at, case.id)" in s for s in loosened)
    assert bool(loosened) == (wide and db.engine.dialect.name == "sqlite")


@pytest.mark.parametrize("descending", [False, True])
def test_one_states_cases_without_a_deadline_page_in_id_order(app, office, monkeypatch, descending):
    """A state whose clock is stopped has no deadlines: its pages are the empty-value segment alone, in id
    order. On PostgreSQL they are read through the filters' indexes and sorted (ordered by ``id + 0``,
    which no index gives: walking the primary key instead passed most of a million cases, queues._walk)."""
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 3)
    waiting = [make_case(office, name=f"补正{i}") for i in range(7)]
    for case in waiting:
        with transactional():
            apply_transition(case, "request_supplement", office["clerk"], case.version,
                             data={"missing_items": "户口簿"})
    make_case(office, name="未补正")  # another state: not listed
    expected = sorted((case.id for case in waiting), reverse=descending)
    client = signed_in(app, "supervisor")
    with statements_run() as statements:
        query = urlencode({"workflow": "birth_registration", "state": "needs_supplement"}
                          | ({"dir": "desc"} if descending else {}))
        pages, back, _ = walk_pages(client, "/team?" + query)
    assert [case_id for page in pages for case_id in page] == expected
    assert [len(page) for page in pages] == [3, 3, 1]
    assert back == list(reversed(pages))
    empty_walks = [s for s in statements if "case.due_at IS NULL" in s and "ORDER BY" in s and "FROM case" in s]
    fenced = db.engine.dialect.name == "postgresql"
    assert empty_walks and all(bool(re.search(r"ORDER BY case\.id \+ ", s)) == fenced for s in empty_walks)


def test_the_cursor_is_opaque_and_a_bad_one_shows_the_first_page(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 1)
    cases = [make_case(office, name=f"游标{i}", now=utcnow() - timedelta(days=i)) for i in range(3)]
    client = signed_in(app, "supervisor")
    link = re.search(r'href="([^"]+)" rel="next"', html_of(client.get("/team"))).group(1).replace("&amp;", "&")
    cursor = parse_qs(urlsplit(link).query)["after"][0]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    too_big = queues.Cursor("due", utcnow(), 2**40).encode()  # no such id: not a database error either
    for bad in ("garbage", cursor[:-3], "W10", too_big):
        response = client.get(f"/team?after={bad}")
        assert ids(response) == [cases[2].id] and "已显示第一页" in text_of(response)
    # A cursor of another order does not fit this one.
    response = client.get(f"/team?sort=opened&after={cursor}")
    assert "已显示第一页" in text_of(response)


def test_the_count_is_capped(app, office, monkeypatch):
    for i in range(4):
        make_case(office, name=f"计数{i}")
    client = signed_in(app, "supervisor")
    assert "共 4 件" in text_of(client.get("/team"))
    monkeypatch.setattr(queues, "COUNT_CAP", 3)
    assert "共 3+ 件" in text_of(client.get("/team"))
    query = queues.team_query(office["supervisor"], queues.TeamFilter(), LightBounds.current())
    assert queues.capped_count(query, 2) == 3 and queues.capped_count(query, 10) == 4


def test_the_first_page_counts_and_the_pages_after_it_carry_its_count(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 2)
    for i in range(3):
        make_case(office, name=f"带数{i}")
    client = signed_in(app, "supervisor")
    first = client.get("/team")
    assert "共 3 件" in text_of(first)
    make_case(office, name="后来的")  # counted by a first page from now on, not by the pages already linked
    link = re.search(r'href="([^"]+)" rel="next"', html_of(first)).group(1).replace("&amp;", "&")
    with statements_run() as statements:
        following = client.get(link)
    assert "共 3 件" in text_of(following) and len(ids(following)) == 2
    assert not [s for s in statements if s.lower().startswith("select count(")]  # the list's own count
    back = re.search(r'href="([^"]+)" rel="prev"', html_of(following)).group(1).replace("&amp;", "&")
    assert "共 3 件" in text_of(client.get(back))
    assert "共 4 件" in text_of(client.get("/team"))
    # A cursor of an older link (no count in it) still works, and counts; a forged count is no cursor.
    older = queues.Cursor("due", utcnow() + timedelta(days=400), 1)
    raw = json.dumps([older.sort, older.value.isoformat(), older.id]).encode()
    response = client.get("/team?after=" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert "共 4 件" in text_of(response) and "已显示第一页" not in text_of(response)
    for count in (-1, queues.COUNT_CAP + 2, "7", True):
        raw = json.dumps([older.sort, older.value.isoformat(), older.id, count]).encode()
        response = client.get("/team?after=" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
        assert "已显示第一页" in text_of(response) and "共 4 件" in text_of(response)


def test_team_queries_walk_an_index(app, office):
    """The page queries are range walks along (due_at, id), then the id: no skipping by OFFSET, nothing
    counted past the cap. (The planner picks the index; this checks the SQL has the index-friendly shape.)"""
    make_case(office, name="索引")
    statements = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement.replace('"', ""), parameters))

    client = signed_in(app, "supervisor")
    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        client.get("/team?after=" + queues.Cursor("due", utcnow(), 1).encode())
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    listing = [(s, p) for s, p in statements if "ORDER BY" in s and "case.due_at" in s and "FROM case" in s]
    assert len(listing) == 2
    walk, empty_ones = listing
    assert "(case.due_at, case.id) > (" in walk[0] and "ORDER BY case.due_at ASC, case.id ASC" in walk[0]
    # (SQLite's condition carries a likelihood: queues._no_value)
    assert re.search(r"case\.due_at IS NULL(, 0\.25\))? ORDER BY case\.id ASC", empty_ones[0])
    for statement, parameters in listing:  # SQLite writes "OFFSET ?" with 0; PostgreSQL none at all
        assert "OFFSET" not in statement or list(parameters)[-1] == 0
    counts = [s for s, _ in statements if "count(" in s.lower() and "FROM case" in s and "LIMIT" in s]
    assert counts


# ------------------------------------------------------------------------------------------ saved filters

def test_save_open_update_and_delete_a_filter(app, office, team):
    client = signed_in(app, "supervisor")
    response = client.post("/team/filters", data={
        "name": "西村已受理", "query": urlencode({"village": office.other_village.id, "state": "accepted",
                                                  "after": "abc", "junk": "1"})})
    assert response.status_code == 302
    row = db.session.scalar(sa.select(SavedFilter))
    assert row.name == "西村已受理" and row.user_id == office["supervisor"].id
    assert parse_qs(row.query) == {"state": ["accepted"], "village": [str(office.other_village.id)]}
    page = client.get("/team")
    assert "西村已受理" in text_of(page)
    opened = client.get(f"/team?{row.query}")
    assert ids(opened) == [team["west"].id]

    # The same name again updates it.
    client.post("/team/filters", data={"name": "西村已受理", "query": "light=red"})
    db.session.expire_all()
    assert [r.query for r in db.session.scalars(sa.select(SavedFilter))] == ["light=red"]

    # A name is required.
    response = client.post("/team/filters", data={"name": " ", "query": "light=red"}, follow_redirects=True)
    assert "此项为必填项。" in text_of(response)

    # Only one's own can be deleted.
    with transactional():
        make_user("boss2", ["supervisor"], [office.township])
    assert signed_in(app, "boss2").post(f"/team/filters/{row.id}/delete").status_code == 404
    assert client.post(f"/team/filters/{row.id}/delete").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SavedFilter)) == 0


def test_a_shared_filter_shows_each_supervisor_only_their_cases(app, office, team):
    client = signed_in(app, "supervisor")
    client.post("/team/filters", data={"name": "东村", "query": f"village={office.village.id}&status=all"})
    link = db.session.scalar(sa.select(SavedFilter.query))
    assert set(ids(client.get(f"/team?{link}"))) == {team[n].id for n in ("overdue", "subsidy", "closed")}

    # A supervisor of the other township opens the same link: their own cases only, and word that the
    # village is not theirs.
    with transactional():
        elsewhere = save_jurisdiction(code="T2-V9", name="远村", kind="village",
                                      parent_id=team["outside"].jurisdiction.parent_id)
        make_user("farboss", ["supervisor"], [team["outside"].jurisdiction.parent])
    far_case = make_case(office, name="远村己", by="outsider", village=elsewhere)
    response = signed_in(app, "farboss").get(f"/team?{link}")
    assert set(ids(response)) == {team["outside"].id, far_case.id}
    assert field_error(response, "village") == "该村（社区）不在您的辖区内。"
    # Nor does the saved filter itself show on their page.
    assert "东村" not in text_of(response.get_data(as_text=True).split('id="saved-filters-title"')[1][:500])


# --------------------------------------------------------------------------------------------- exports

def read_csv(response) -> list[list[str]]:
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def read_xlsx(response) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    return [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(values_only=True)]


def test_export_csv_and_xlsx_of_the_current_filter(app, office, team, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_PAGE_SIZE", 1)  # the export holds every page, not one
    client = signed_in(app, "supervisor")
    response = client.get("/team/export.csv?status=all&sort=opened")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and ".csv" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["办件编号", "事项", "状态", "村（社区）", "申请人", "居民身份证号（部分隐藏）", "承办人", "申请时间",
                       "法定期限", "期限预警", "办结时间"]
    assert [row[4] for row in rows[1:]] == ["撤回丁", "超期甲", "西村乙", "补贴丙"]  # opened order
    closed, overdue, west, subsidy = rows[1:]
    assert closed[2] == "已撤回" and closed[9] == "已办结" and closed[10] == "2025-03-10 10:00"
    assert closed[7] == "2025-03-03 10:00" and closed[8] == ""
    assert overdue[9] == "已超期" and overdue[6] == "" and overdue[1] == "生育登记"
    assert west[0] == team["west"].number and west[3] == "西村" and west[6] == "Clerk2"
    resident_id = team["west"].applicant.resident_id
    assert west[5] == resident_id[:6] + "********" + resident_id[-4:]
    assert resident_id not in response.get_data(as_text=True)
    assert west[8].endswith("24:00")

    xlsx = client.get("/team/export.xlsx?status=all&sort=opened")
    assert xlsx.status_code == 200 and xlsx.mimetype == queues.XLSX_TYPE
    assert read_xlsx(xlsx) == rows

    # The filter applies; English on request.
    client.post("/lang/en", data={"next": "/team"})
    rows = read_csv(client.get(f"/team/export.csv?village={office.other_village.id}"))
    assert rows[0][0] == "Receipt number" and [row[4] for row in rows[1:]] == ["西村乙"]
    assert rows[1][2] == "Accepted"
    assert rows[1][1] == "Birth registration"


def test_exports_never_run_formulas(app, office):
    make_case(office, name="=1+2")
    client = signed_in(app, "supervisor")
    rows = read_csv(client.get("/team/export.csv"))
    assert rows[1][4] == "'=1+2"
    sheet = load_workbook(io.BytesIO(client.get("/team/export.xlsx").get_data())).active
    cell = sheet.cell(row=2, column=5)
    assert cell.value == "=1+2" and cell.data_type == "s"


def test_an_export_above_the_limit_is_refused_with_a_message(app, office, monkeypatch):
    for i in range(3):
        make_case(office, name=f"上限{i}")
    monkeypatch.setattr(queues, "EXPORT_LIMIT", 2)
    client = signed_in(app, "supervisor")
    response = client.get("/team/export.csv?light=green")
    assert response.status_code == 302 and response.headers["Location"].endswith("/team?light=green")
    assert "无法一次导出" in text_of(client.get(response.headers["Location"]))
    assert client.get("/team/export.xlsx?village=%d" % office.other_village.id).status_code == 200


def test_need_to_know_cases_are_exported_only_to_those_allowed_and_logged(app, office):
    certificate = make_procedure_case(office, name="保密甲", by="clerk")  # assigned to clerk
    make_case(office, name="普通乙")

    def exported(username: str, url: str) -> list[str]:
        response = signed_in(app, username).get(url)
        assert response.status_code == 200, (username, url)
        return [row[4] for row in read_csv(response)[1:]]

    def reads() -> list[tuple[str, str]]:
        db.session.expire_all()
        return [(r.user.username, r.what) for r in db.session.scalars(sa.select(CaseRead).order_by(CaseRead.id))]

    assert set(exported("supervisor", "/team/export.csv")) == {"保密甲", "普通乙"}
    assert reads() == [("supervisor", "export")]
    assert set(exported("auditor", "/team/export.csv?workflow=procedure_certificate")) == {"保密甲"}
    assert reads()[-1] == ("auditor", "export")
    exported("supervisor", "/team/export.csv?workflow=birth_registration")
    assert len(reads()) == 2  # no need-to-know case in that file: nothing to log

    # The all-cases list exports through the same code: the clerk who handles it gets it (logged), another
    # clerk and the village officer do not.
    assert set(exported("clerk", "/cases/export.csv")) == {"保密甲", "普通乙"}
    assert reads()[-1] == ("clerk", "export")
    assert exported("clerk2", "/cases/export.csv") == ["普通乙"]
    assert exported("village1", "/cases/export.xlsx".replace("xlsx", "csv")) == ["普通乙"]
    assert exported("outsider", "/cases/export.csv") == []
    assert len(reads()) == 3
    assert certificate.id in {r.case_id for r in db.session.scalars(sa.select(CaseRead))}


def test_the_all_cases_list_exports_its_filter(app, office):
    make_case(office, name="导出甲")
    make_case(office, name="其他乙")
    client = signed_in(app, "village1")
    page = html_of(client.get("/cases?q=导出甲&page=1"))
    link = re.search(r'id="export-csv" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "page=" not in link
    assert [row[4] for row in read_csv(client.get(link))[1:]] == ["导出甲"]
    xlsx_link = re.search(r'id="export-xlsx" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert [row[4] for row in read_xlsx(client.get(xlsx_link))[1:]] == ["导出甲"]
    assert client.get("/cases/export.pdf").status_code == 404
    assert signed_in(app, "admin").get("/cases/export.csv").status_code == 403


def test_my_queue_exports_what_it_lists(app, office):
    mine = advance(make_case(office, name="我的件"), ["accept"], office)  # accepted by the clerk: theirs
    make_case(office, name="待分派")  # unassigned, in the clerk's township: in their queue too
    others = advance(make_case(office, name="别人的"), ["accept"], office)
    with transactional():
        assign_case(reload(others), office["clerk2"], office["supervisor"], reload(others).version)
    advance(make_case(office, name="已办结"), ["accept", "register"], office)
    client = signed_in(app, "clerk")
    page = html_of(client.get("/"))
    link = re.search(r'id="export-csv" href="([^"]+)"', page).group(1)
    names = sorted(row[4] for row in read_csv(client.get(link))[1:])
    assert names == ["待分派", "我的件"] and mine.number in str(read_csv(client.get(link)))
    assert sorted(row[4] for row in read_xlsx(client.get("/export.xlsx"))[1:]) == ["待分派", "我的件"]
    assert signed_in(app, "admin").get("/export.csv").status_code == 403


def test_open_page_lists_stay_in_local_time(app, office):
    case = make_case(office, name="时间", now=at("2025-06-02", hour=9))
    row = dict(case_rows(signed_in(app, "supervisor").get("/team")))[case.id]
    assert "2025-06-02 09:00" in row
    assert local_date(case.opened_at) == datetime(2025, 6, 2).date()
