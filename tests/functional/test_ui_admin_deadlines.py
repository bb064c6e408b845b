"""Administration: the deadlines of each workflow (办理时限), changed per province and restored."""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ, end_of_local_day
from caseflow.extensions import db
from caseflow.models import DeadlineSetting
from tests.factories import advance, make_case, reload
from tests.functional.ui_support import field_error, form_fields, html_of, signed_in, text_of

ACCEPTED = "birth_registration.accepted."
MONDAY = datetime(2026, 11, 23, 10, tzinfo=LOCAL_TZ)


def settings() -> list[tuple[str, str, int, int | None]]:
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(sa.select(
        DeadlineSetting.workflow, DeadlineSetting.state, DeadlineSetting.limit_amount,
        DeadlineSetting.target_amount))]


def accepted_case(office):
    """A case accepted on Monday 2026-11-23: shipped deadlines 3 working days, target the same day."""
    case = advance(make_case(office, now=MONDAY), ["accept"], office, now=MONDAY)
    assert case.due_at == end_of_local_day(date(2026, 11, 26))
    assert case.target_at == end_of_local_day(date(2026, 11, 23))
    return case


@pytest.mark.parametrize("username", ["clerk", "supervisor", "village1", "auditor"])
def test_deadlines_page_refuses_everyone_but_admins(app, office, username):
    client = signed_in(app, username)
    assert client.get("/admin/deadlines").status_code == 403
    change = {ACCEPTED + "limit_amount": "5", ACCEPTED + "target_amount": "1"}
    assert client.post("/admin/deadlines/birth_registration/accepted", data=change).status_code == 403
    assert client.post("/admin/deadlines/birth_registration/accepted/reset").status_code == 403
    assert settings() == []


def test_deadlines_page_lists_each_state_with_its_shipped_deadline(app, office):
    client = signed_in(app, "admin")
    page = client.get("/admin/deadlines")
    assert page.status_code == 200
    text = text_of(page)
    assert "办理时限" in text and "生育登记" in text
    rows = {state: text_of(row) for state, row in
            re.findall(r'<tr id="birth_registration\.(\w+)\.">(.*?)</tr>', html_of(page), re.S)}
    assert list(rows) == ["submitted", "accepted", "verifying"]
    assert rows["submitted"].startswith("已提交 5 个工作日 1 个工作日 行政许可法 第32条")
    assert rows["accepted"].startswith("已受理 3 个工作日 0 个工作日")
    assert rows["verifying"].startswith("核查中 15 个工作日 10 个工作日")
    assert "法定时限：3 个工作日" in rows["accepted"] and "内部目标期限：0 个工作日" in rows["accepted"]
    assert "单位：工作日" in rows["accepted"] and "恢复默认值" not in text  # nothing changed yet
    fields = form_fields(page)
    assert fields[ACCEPTED + "limit_amount"] == ["3"] and fields[ACCEPTED + "target_amount"] == ["0"]
    assert fields["birth_registration.submitted.limit_amount"] == ["5"]

    client.post("/lang/en")
    english = text_of(client.get("/admin/deadlines"))
    assert "Accepted 3 working days 0 working days" in english and "Legal basis" in english


def test_admin_changes_a_deadline_and_open_cases_follow_then_restores_it(app, office):
    case = accepted_case(office)
    client = signed_in(app, "admin")
    response = client.post("/admin/deadlines/birth_registration/accepted", follow_redirects=True,
                           data={ACCEPTED + "limit_amount": "5", ACCEPTED + "target_amount": "1"})
    assert response.request.path == "/admin/deadlines"
    text = text_of(response)
    assert "“已受理”环节的办理时限已保存。" in text and "已重新计算未办结案件的期限，其中 1 件有变化。" in text
    assert "法定时限：5 个工作日" in text and "已由管理员调整" in text and "恢复默认值" in text
    assert form_fields(response)[ACCEPTED + "limit_amount"] == ["5"]
    assert settings() == [("birth_registration", "accepted", 5, 1)]
    case = reload(case)
    assert case.due_at == end_of_local_day(date(2026, 11, 30))
    assert case.target_at == end_of_local_day(date(2026, 11, 24))
    # The receipt promises the limit in force, as the case's own deadline does.
    receipt = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}/documents/receipt"))
    assert "2026年11月30日前（自受理之日起5个工作日内）" in receipt

    response = client.post("/admin/deadlines/birth_registration/accepted/reset", follow_redirects=True)
    text = text_of(response)
    assert "“已受理”环节的办理时限已恢复为默认值。" in text and "其中 1 件有变化" in text
    assert "恢复默认值" not in text and form_fields(response)[ACCEPTED + "limit_amount"] == ["3"]
    assert settings() == []
    case = reload(case)
    assert case.due_at == end_of_local_day(date(2026, 11, 26))
    assert case.target_at == end_of_local_day(date(2026, 11, 23))


def test_target_longer_than_the_limit_is_refused_and_changes_nothing(app, office):
    case = accepted_case(office)
    due, target = case.due_at, case.target_at
    client = signed_in(app, "admin")
    response = client.post("/admin/deadlines/birth_registration/accepted",
                           data={ACCEPTED + "limit_amount": "2", ACCEPTED + "target_amount": "4"})
    assert response.status_code == 422
    assert field_error(response, ACCEPTED + "target_amount") == "内部目标不能长于法定时限。"
    assert field_error(response, ACCEPTED + "limit_amount") == ""
    typed = form_fields(response)
    assert typed[ACCEPTED + "limit_amount"] == ["2"] and typed[ACCEPTED + "target_amount"] == ["4"]
    assert typed["birth_registration.submitted.limit_amount"] == ["5"]  # other rows show what is in force
    assert "请更正标出的字段。" in text_of(response)

    not_numbers = client.post("/admin/deadlines/birth_registration/accepted",
                              data={ACCEPTED + "limit_amount": "三", ACCEPTED + "target_amount": "-1"})
    assert not_numbers.status_code == 422
    assert field_error(not_numbers, ACCEPTED + "limit_amount") == "请输入 0 到 365 之间的整数。"
    assert form_fields(not_numbers)[ACCEPTED + "limit_amount"] == ["三"]
    assert settings() == []
    case = reload(case)
    assert (case.due_at, case.target_at) == (due, target)


def test_unknown_workflow_or_state_is_not_found(app, office):
    client = signed_in(app, "admin")
    data = {"x.limit_amount": "1"}
    assert client.post("/admin/deadlines/no_such_workflow/accepted", data=data).status_code == 404
    assert client.post("/admin/deadlines/birth_registration/registered", data=data).status_code == 404
    assert client.post("/admin/deadlines/birth_registration/nowhere/reset").status_code == 404
