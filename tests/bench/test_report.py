"""Smoke test of bench.report at tiny scale on generated data: the report and the dashboard it times count
what the generated database holds, and timing them leaves the database as it was (no report stored)."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from bench.generate import PASSWORD, generate
from bench.report import run, time_page
from caseflow.extensions import db
from caseflow.models import Case, Jurisdiction, Report
from caseflow.services.report_figures import month_bounds

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)  # a fixed clock: the same data whatever the day


def _count(township_id: int, *where) -> dict[str, int]:
    villages = sa.select(Jurisdiction.id).where(Jurisdiction.parent_id == township_id)
    return dict(db.session.execute(
        sa.select(Case.workflow, sa.func.count()).where(Case.jurisdiction_id.in_(villages), *where)
        .group_by(Case.workflow)).all())


def test_report_benchmark_counts_what_the_database_holds(app, db):
    generate(app, cases=300, open_share=0.2, seed=5, users=20, now=NOW, analyze=False)

    figures = run(repeat=1)

    month = month_bounds(figures["month"])
    assert figures["month"] == "2026-10"  # the latest full month before the data's now
    township = figures["township"]["id"]
    assert figures["scale"]["cases"] == 300
    assert figures["scale"]["township_cases"] == sum(_count(township).values())
    opened = _count(township, Case.opened_at >= month.start, Case.opened_at < month.end)
    closed = _count(township, Case.closed_at >= month.start, Case.closed_at < month.end)
    report = figures["report"]["workflows"]
    assert sum(opened.values()) > 0  # the generator puts recent cases near its now: the month is not empty
    for name, totals in report.items():
        assert totals["received"] == opened.get(name, 0), name
        assert totals["finished"] == closed.get(name, 0), name
        assert 0 <= totals["finished_on_time"] <= totals["finished"], name
        assert totals["red_at_end"] + totals["yellow_at_end"] <= totals["open_at_end"], name
    # The dashboard's trend counts the same month's openings and closings.
    trend = {row["month"]: row for row in figures["dashboard_trend"]}
    assert len(trend) == 12 and list(trend)[-1] == "2026-11"
    assert trend["2026-10"]["received"] == sum(opened.values())
    assert trend["2026-10"]["finished"] == sum(closed.values())
    assert trend["2026-10"]["overdue"] == sum(totals["red_at_end"] for totals in report.values())

    for key in ("compute_month_report", "dashboard"):
        assert figures[key]["first_s"] > 0 and len(figures[key]["runs_s"]) == 1, key
    assert figures["generate_report"]["median_s"] > 0
    assert figures["report_xlsx"]["bytes"] > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0  # generated, then undone

    page = time_page(app, township, figures["supervisor"], PASSWORD, repeat=1)
    assert page["statuses"] == [200] and page["path"] == f"/dashboard?township={township}"
