"""Smoke test of bench.queues at tiny scale: the real app under gunicorn, a clerk and a supervisor signed in
through the login form, paging through My queue and the team queue; the figures say what each page showed."""
from __future__ import annotations

from bench.queues import run
from caseflow.extensions import transactional
from tests import factories
from tests.factories import make_case

PAGE_SIZE = 2


def test_queue_benchmark_pages_through_both_queues(app, office):
    for i in range(5):  # unassigned, in the township's village: in both clerks' queues and the team queue
        make_case(office, name=f"分页{i}")
    with transactional():
        office["outsider"].active = False  # the one clerk elsewhere, with an empty queue: not picked

    figures = run(app.config["SQLALCHEMY_DATABASE_URI"], users=2, requests=30, seed=3,
                  password=factories.PASSWORD, page_size=PAGE_SIZE)

    assert figures["requests"] == 30 and figures["unmatched_server_times"] == 0
    assert figures["database"] == {"cases": 5, "open_cases": 5}
    assert sorted(person["role"] for person in figures["people"]) == ["clerk", "supervisor"]
    kinds = figures["kinds"]
    assert sum(group["requests"] for group in kinds.values()) == 30
    for kind, group in kinds.items():
        assert group["statuses"] == {"200": group["requests"]}, kind
        assert group["server"]["count"] == group["requests"] and group["server"]["p95_ms"] > 0, kind
    pages = figures["pages"]
    assert pages["my_queue"]["requests"] + pages["team_queue"]["requests"] == 30
    # My queue: 5 cases in pages of 2, 2, 1, reached through each page's Next link.
    assert kinds["my_first"]["rows_per_page"] == PAGE_SIZE
    assert kinds["my_next"]["requests"] > 0 and 1 <= kinds["my_next"]["rows_per_page"] <= PAGE_SIZE
    assert len([kind for kind in kinds if kind.startswith("team_") and kind != "team_next"]) >= 3
    # Team queue: nothing is closed, nothing is red; the open cases fill the first pages.
    for kind in ("team_first", "team_sort_opened", "team_sort_number", "team_sort_state", "team_unassigned"):
        if kind in kinds:
            assert kinds[kind]["rows_per_page"] == PAGE_SIZE, kind
    for kind in ("team_closed", "team_red"):
        if kind in kinds:
            assert kinds[kind]["rows_per_page"] == 0, kind
