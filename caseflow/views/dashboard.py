"""The supervisors' dashboard (统计看板) and the "why is this late" page of a case.

/dashboard: supervisors and auditors, for the villages they work in of one township (services/dashboard.py
defines every figure). Each count of open cases links to the team queue filtered to the same cases.
/cases/<id>/history: anyone who may read the case; a need-to-know case's read is logged ("history").

Charts come from the shared chart code (views/charts.py, templates/_macros/charts.html): inline SVG with
classes only, every number printed, overdue and late bars hatched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import utcnow
from caseflow.extensions import transactional
from caseflow.models import User
from caseflow.services import access
from caseflow.services import dashboard as service
from caseflow.services import reports as reports_service
from caseflow.services.audit import record_read
from caseflow.services.case_history import CaseHistory, case_history
from caseflow.services.deadlines import LIGHTS, LightBounds
from caseflow.services.errors import NotFound
from caseflow.services.ratings import LEVELS
from caseflow.views.charts import (
    LEFT, Bar, Chart, ColumnChart, LegendEntry, Series, column_chart, grouped_bar_chart, rate_bar_chart,
    stacked_bar_chart,
)
from caseflow.views.template_helpers import current_locale, duration, tr
from caseflow.workflows.definition import Text

bp = Blueprint("dashboard", __name__)

SUPPRESSED = "<5"
WITHHELD = "*"
NOTHING = "—"


def _user() -> User:
    return current_user._get_current_object()


@bp.app_template_global()
def may_see_dashboard() -> bool:
    """The header link."""
    return current_user.is_authenticated and service.may_see_dashboard(current_user)


def percent(share: float | None) -> str:
    return NOTHING if share is None else f"{share * 100:.1f}%"


def count_cell(value: int | None) -> str:
    return SUPPRESSED if value is None else str(value)


def rate_cell(row: dict[str, Any]) -> str:
    """A village's rate: withheld ("*") when a count it derives from is hidden, "—" when nothing finished."""
    if row["on_time_rate"] is not None:
        return percent(row["on_time_rate"])
    return WITHHELD if row["finished"] is None or row["finished_on_time"] is None else NOTHING


# ------------------------------------------------------------------------------------------- dashboard

@bp.route("/dashboard")
@login_required
def index():
    """One township's dashboard for a period of months (services/dashboard.py defines every figure). A bad
    period or township comes back in the form with its message, the figures shown for the defaults."""
    user = _user()
    if not service.may_see_dashboard(user):
        abort(403)
    now = utcnow()
    args = request.args
    townships = service.dashboard_townships(user)
    errors: dict[str, Text] = {}
    period, period_errors = service.parse_period(args.get("from"), args.get("to"), now)
    errors |= period_errors
    values = MultiDict({"from": args.get("from") or period.first, "to": args.get("to") or period.last,
                        "township": args.get("township", ""), "workflow": args.get("workflow", "")})
    if not townships:
        return render_template("dashboard/index.html", board=None, townships=[], values=values, errors=errors,
                               month_label=reports_service.month_label)
    township = townships[0]
    if args.get("township"):
        township = next((t for t in townships if str(t.id) == args["township"].strip()), None)
        if township is None:
            errors["township"] = service.NO_SUCH_TOWNSHIP
            township = townships[0]
    values["township"] = str(township.id)
    trend_workflow = service.workflow_named(args.get("workflow"))
    if args.get("workflow") and trend_workflow is None:
        errors["workflow"] = service.UNKNOWN_WORKFLOW
    board = service.dashboard_figures(user, township, period, now)
    return render_template(
        "dashboard/index.html", board=board, townships=townships, values=values, errors=errors,
        trend_workflow=trend_workflow, lights=LIGHTS, light_rows=_light_rows(board),
        charts=_charts(board, trend_workflow), trend_rows=_trend_rows(board, trend_workflow),
        rate_cell=rate_cell, count_cell=count_cell, percent=percent, levels=LEVELS,
        village_names={v.id: v.label(current_locale()) for v in board.villages},
        month_label=reports_service.month_label, suppressed_note=reports_service.SUPPRESSED_NOTE,
        late_sample=service.LATE_SAMPLE,
    )


@dataclass(frozen=True)
class LightRow:
    label: str
    workflow: str | None  # None: the row of all workflows
    counts: dict[str, int]


def _light_rows(board: service.Dashboard) -> list[LightRow]:
    rows = [LightRow(tr(wf.title), wf.name, board.lights.get(wf.name, dict.fromkeys((*LIGHTS, "total"), 0)))
            for wf in board.workflows]
    total = {key: sum(r.counts[key] for r in rows) for key in (*LIGHTS, "total")}
    return rows + [LightRow(_("All workflows"), None, total)]


def _trend_rows(board: service.Dashboard, workflow) -> list[tuple[service.TrendMonth, dict[str, int]]]:
    return [(month, month.figures(workflow.name if workflow else None)) for month in board.trend]


def _charts(board: service.Dashboard, trend_workflow) -> dict[str, Chart | ColumnChart | list[Chart]]:
    charts: dict[str, Any] = {}

    lights = []
    for row in _light_rows(board)[:-1]:
        c = row.counts
        parts = [Bar(c["green"], "bar-green", ""), Bar(c["yellow"], "bar-yellow", ""),
                 Bar(c["red"], "bar-red", "", hatched=True), Bar(c["none"], "bar-none", "")]
        lights.append((row.label, parts, _("%(open)d open · red %(red)d · yellow %(yellow)d", open=c["total"],
                                           red=c["red"], yellow=c["yellow"])))
    charts["lights"] = stacked_bar_chart(
        "dash-lights", _("Open cases by deadline light"),
        _("One bar per workflow: the cases open now, split into green, yellow, red (hatched) and no running "
          "deadline."), lights,
        [LegendEntry(LEFT, "bar-green", _("Green")), LegendEntry(LEFT + 80, "bar-yellow", _("Yellow")),
         LegendEntry(LEFT + 160, "bar-red", _("Red"), hatched=True),
         LegendEntry(LEFT + 240, "bar-none", _("No running deadline"))],
        width=840, right_room=270)

    rates = [(tr(t.workflow.title), t.total["on_time_rate"],
              _("%(rate)s (%(on_time)d of %(finished)d)", rate=percent(t.total["on_time_rate"]),
                on_time=t.total["finished_on_time"], finished=t.total["finished"]) if t.total["finished"]
              else NOTHING, False) for t in board.on_time]
    finished = sum(t.total["finished"] for t in board.on_time)
    on_time = sum(t.total["finished_on_time"] for t in board.on_time)
    share = round(on_time / finished, 4) if finished else None
    rates.append((_("All workflows"), share, _("%(rate)s (%(on_time)d of %(finished)d)", rate=percent(share),
                                               on_time=on_time, finished=finished) if finished else NOTHING, True))
    charts["on_time"] = rate_bar_chart(
        "dash-on-time", _("On-time rate by workflow"),
        _("One bar per workflow and one for all: the share of the cases finished in the period that were "
          "finished on time."), rates)

    series = [Series("received", _("Cases received"), "bar-received"),
              Series("finished", _("Cases finished"), "bar-finished"),
              Series("overdue", _("Overdue at month end"), "bar-overdue", hatched=True)]
    groups = [(month.month.month, figures) for month, figures in _trend_rows(board, trend_workflow)]
    charts["trend"] = column_chart(
        "dash-trend", _("Received, finished and overdue, by month"),
        _("Three columns a month: cases received, cases finished, and cases open and past their legal "
          "deadline at the month's end (hatched)."), series, groups)

    ratings = board.ratings
    charts["ratings"] = grouped_bar_chart(
        "dash-ratings", _("Ratings by level"),
        _("One bar per level: how many ratings applicants gave in the period."),
        [(tr(label), [Bar(ratings["by_level"][str(level)], "bar-bad" if level <= 2 else "bar-rate",
                          str(ratings["by_level"][str(level)]), hatched=level <= 2)])
         for level, label in LEVELS])

    charts["lateness"] = {
        item.workflow.name: rate_bar_chart(
            f"dash-late-{item.workflow.name}".replace("_", "-"), _("Share of lateness by state"),
            _("One bar per state: its share of all the stays past a deadline of this workflow's late cases."),
            [(tr(s.label), s.share, _("%(share)s (%(late)d)", share=percent(s.share), late=s.late), False)
             for s in item.states if s.share is not None],
            css="bar-overdue")
        for item in board.lateness if item.late_stays}
    return charts


# ------------------------------------------------------------------------------------------ case history

@bp.route("/cases/<int:case_id>/history")
@login_required
def case_history_page(case_id: int):
    """Why is this case late: the time it spent in each state, with the clock stopped or not, the deadline
    of each state and whether it was kept, and who held the case meanwhile."""
    user = _user()
    try:
        case = access.readable_case(user, case_id)
    except NotFound:
        abort(404)
    now = utcnow()
    history = case_history(case, now)
    with transactional():
        record_read(case, user, "history", now)
    return render_template("dashboard/case_history.html", case=case, workflow=history.workflow, history=history,
                           bounds=LightBounds.current(now), chart=_history_chart(history))


def _history_chart(history: CaseHistory) -> Chart | None:
    if not history.spans:
        return None
    groups = []
    for span in history.spans:
        if span.closed and span.running:
            continue  # the time since it closed is not time spent on it
        css = "bar-stopped" if span.clock_stopped else ("bar-overdue" if span.late else "bar-rate")
        text = duration(span.seconds)
        if span.late:
            text = _("%(time)s · %(over)s past the deadline", time=text, over=duration(span.overrun_seconds))
        elif span.clock_stopped:
            text = _("%(time)s · clock stopped", time=text)
        groups.append((f"{span.index}. {tr(history.workflow.state_label(span.state))}",
                       [Bar(span.seconds, css, text, hatched=span.late)]))
    return grouped_bar_chart(
        "case-history", _("Time in each state"),
        _("One bar per stay in a state, in order: its length; stays past their deadline are hatched."), groups,
        [LegendEntry(LEFT, "bar-rate", _("Clock running")), LegendEntry(LEFT + 130, "bar-stopped", _("Clock stopped")),
         LegendEntry(LEFT + 260, "bar-overdue", _("Past the deadline"), hatched=True)], width=860)
