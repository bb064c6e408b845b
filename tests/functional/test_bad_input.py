"""Input no row or calendar can match is an answer (404, or the form again with a message), never a 500:
ids beyond 32 bits, digits that are not ASCII, dates in year 1 or 9999, page numbers past any list."""
from __future__ import annotations

import pytest

from tests.factories import make_case
from tests.functional.ui_support import signed_in, text_of

HUGE = "99999999999999999999"
BEYOND_32_BITS = "3000000000"


@pytest.fixture
def strict_app(app, monkeypatch):
    """The app answering as in production: an exception is a 500 page, not a traceback in the test."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    return app


@pytest.mark.parametrize("number", [HUGE, BEYOND_32_BITS])
@pytest.mark.parametrize("method, path", [
    ("GET", "/cases/{n}"), ("GET", "/cases/{n}/history"), ("GET", "/reports/{n}"), ("GET", "/reports/{n}.csv"),
    ("GET", "/follow-ups/{n}"), ("POST", "/follow-ups/{n}/take"), ("POST", "/team/filters/{n}/delete"),
    ("POST", "/workload/leave/{n}/cancel"), ("GET", "/workload/leave/{n}/reassign"),
    ("GET", "/workload/handlers/{n}"), ("GET", "/subsidies/batches/{n}"),
])
def test_ids_no_row_can_have_are_not_found(strict_app, office, method, path, number):
    response = signed_in(strict_app, "supervisor").open(path.format(n=number), method=method)
    assert response.status_code == 404


@pytest.mark.parametrize("value", [HUGE, BEYOND_32_BITS, "²", "-1", "0"])
def test_ids_in_forms_that_no_row_can_have_are_refused_with_a_message(strict_app, office, value):
    supervisor = signed_in(strict_app, "supervisor")
    leave = supervisor.post("/workload/leave", data={"user": value, "delegate": value, "starts_on": "2026-12-01",
                                                     "ends_on": "2026-12-02", "reason": "年休假"})
    assert leave.status_code == 422
    case = make_case(office)
    assign = supervisor.post(f"/cases/{case.id}/assign", data={"assignee": value, "version": case.version})
    assert assign.status_code == 302
    assert supervisor.post("/team/bulk", data={"action": "assign", "case_id": value, "reason": "调整"}).status_code == 400


@pytest.mark.parametrize("query", ["opened_from=0001-01-01", "opened_to=9999-12-31",
                                   "status=all&closed_to=9999-12-31"])
def test_dates_far_outside_any_case_are_a_message_on_the_team_queue(strict_app, office, query):
    supervisor = signed_in(strict_app, "supervisor")
    page = supervisor.get(f"/team?{query}")
    assert page.status_code == 200 and "请输入有效日期" in text_of(page)
    export = supervisor.get(f"/team/export.csv?{query}")  # never a file of more than the filter asked for
    assert export.status_code == 302 and export.headers["Location"].startswith("/team?")


def test_a_month_far_in_the_future_is_refused_with_a_message(strict_app, office):
    response = signed_in(strict_app, "supervisor").post("/reports/generate", data={
        "township": office.township.id, "month": "9999-12"})
    assert response.status_code == 422 and "尚未结束" in text_of(response)


@pytest.mark.parametrize("page", [HUGE, "²", "-5"])
def test_page_numbers_past_any_list_show_a_page(strict_app, office, page):
    supervisor = signed_in(strict_app, "supervisor")
    assert supervisor.get(f"/cases?page={page}").status_code == 200
    assert supervisor.get(f"/workload/handlers/{office['clerk'].id}?page={page}").status_code == 200
