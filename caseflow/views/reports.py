"""The monthly meeting report (每月例会报表): the list of stored reports, generating one for a month, the
printable page with its charts, and the XLSX and CSV downloads.

Who: township-level staff (supervisors, clerks, auditors holding the township) read; the township's
supervisors generate (see services/reports.py). A report the user may not read is not found.

Charts are inline SVG built from the stored figures with the shared chart code (views/charts.py,
templates/_macros/charts.html): no script, no style attribute (the CSP allows neither) — colours and fonts
come from classes in caseflow.css, and every bar carries its number, so a printout reads without colour.
"""
from __future__ import annotations

import urllib.parse
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import utcnow
from caseflow.extensions import transactional
from caseflow.models import Report, User
from caseflow.services import reports as service
from caseflow.services.errors import NotFound, PermissionDenied, ValidationFailed
from caseflow.views.charts import (
    LEFT, Bar, Chart, LegendEntry, grouped_bar_chart, rate_bar_chart, stacked_bar_chart,
)
from caseflow.views.template_helpers import current_locale

bp = Blueprint("reports", __name__, url_prefix="/reports")

def _user() -> User:
    return current_user._get_current_object()


@bp.app_template_global()
def may_read_reports() -> bool:
    """The header link: for township-level staff who may read (or generate) some township's reports."""
    if not current_user.is_authenticated:
        return False
    return bool(service.readable_townships(current_user) or service.generating_townships(current_user))


@bp.app_template_filter("report_cell")
def report_cell(cell: service.Cell) -> str:
    return service.cell_text(cell, current_locale())


# ------------------------------------------------------------------------------------------ pages

def _index(values: MultiDict, errors: dict[str, Any], status: int = 200):
    user = _user()
    readable = service.readable_townships(user)
    townships = service.generating_townships(user)
    if not readable and not townships:
        abort(403)
    return render_template("reports/index.html", reports=service.reports_for(user), townships=townships,
                           values=values, errors=errors, latest=service.latest_ended_month(utcnow()),
                           month_label=service.month_label), status


@bp.route("/")
@login_required
def index():
    """Stored reports, newest month first; for supervisors the form to generate one."""
    return _index(MultiDict({"month": service.latest_ended_month(utcnow())}), {})


@bp.route("/generate", methods=["POST"])
@login_required
def generate():
    """Generate (or generate again) the report of a township for a month that has ended."""
    user = _user()
    townships = service.generating_townships(user)
    if not townships:
        abort(403)
    values = request.form
    if len(townships) == 1:  # the form names no township: a supervisor of one generates that one's
        township = townships[0]
    else:
        township = next((t for t in townships if str(t.id) == values.get("township_id", "").strip()), None)
    now = utcnow()
    try:
        month = service.check_month(values.get("month"), now)
        replacing = township is not None and service.find_report(township.id, month) is not None
    except ValidationFailed:
        replacing = False  # generate_report reports every error below
    try:
        with transactional():
            report = service.generate_report(township, values.get("month"), user, now)
            report_id, month = report.id, report.month
    except PermissionDenied:
        abort(403)
    except ValidationFailed as error:
        return _index(values, error.by_field(), 422)
    label = service.month_label(month, current_locale())
    if replacing:
        flash(_("The report for %(month)s was generated again: its figures were replaced by newly computed "
                "ones.", month=label), "success")
    else:
        flash(_("The report for %(month)s was generated.", month=label), "success")
    return redirect(url_for(".show", report_id=report_id))


def _readable(report_id: int) -> Report:
    try:
        return service.readable_report(_user(), report_id)
    except NotFound:
        abort(404)


@bp.route("/<int:report_id>")
@login_required
def show(report_id: int):
    """The report as a printable page: facts, charts, and each section's tables."""
    report = _readable(report_id)
    locale = current_locale()
    sections = service.report_tables(report.data, locale)
    return render_template(
        "reports/show.html", report=report, sections=sections, facts=service.facts(report, locale),
        title=service.report_title(report, locale), month=service.month_label(report.month, locale),
        overview_charts=overview_charts(report.data, locale),
        village_charts={s.key: on_time_chart(s, locale) for s in sections if s.workflow},
        may_generate=service.may_generate(_user(), report.township),
    )


def _download(report: Report, data: bytes, extension: str, mimetype: str) -> Response:
    readable, fallback = service.report_filename(report, extension, current_locale())
    # filename* (RFC 6266/5987) carries the Chinese name; browsers that lack it use the ASCII one.
    encoded = urllib.parse.quote(readable, safe="")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": disposition})


@bp.route("/<int:report_id>.xlsx")
@login_required
def xlsx(report_id: int):
    report = _readable(report_id)
    return _download(report, service.report_xlsx(report, current_locale()), "xlsx", service.XLSX_TYPE)


@bp.route("/<int:report_id>.csv")
@login_required
def csv(report_id: int):
    report = _readable(report_id)
    data = service.report_csv(report, current_locale()).encode("utf-8")
    return _download(report, data, "csv", "text/csv; charset=utf-8")


# ------------------------------------------------------------------------------------------ charts

def overview_charts(data: dict[str, Any], locale: str) -> list[Chart]:
    """Received and finished per workflow (grouped bars); open cases at month end by light (stacked)."""
    workflows = data.get("workflows", [])
    totals = [(service.localized(wf["title"], locale), wf["total"]) for wf in workflows]

    def measure(key: str) -> str:
        return service.localized(service.MEASURES[key], locale)

    groups = []
    for label, total in totals:
        # The measure goes with the number, so a black-and-white printout needs no legend.
        groups.append((label, [Bar(total.get(key) or 0, css, f"{measure(key)} {total.get(key) or 0}")
                               for key, css in (("received", "bar-received"), ("finished", "bar-finished"))]))
    received_finished = grouped_bar_chart(
        "received-finished", _("Received and finished, by workflow"),
        _("Bars for each workflow: cases received and cases finished in the month, whole township."), groups,
        [LegendEntry(LEFT, "bar-received", measure("received")),
         LegendEntry(LEFT + 120, "bar-finished", measure("finished"))])

    rows = []
    for label, total in totals:
        opened, yellow, red = (total.get(k) or 0 for k in ("open_at_end", "yellow_at_end", "red_at_end"))
        parts = [Bar(max(opened - yellow - red, 0), "bar-green", ""), Bar(yellow, "bar-yellow", ""),
                 Bar(red, "bar-red", "")]
        rows.append((label, parts, _("%(open)d (yellow %(yellow)d · red %(red)d)", open=opened, yellow=yellow,
                                     red=red)))
    lights = stacked_bar_chart(
        "lights", _("Open at month end, by deadline light"),
        _("One bar per workflow: cases open at the end of the month, split into green or paused, yellow "
          "and red."), rows,
        [LegendEntry(LEFT, "bar-green", _("Green or paused")), LegendEntry(LEFT + 150, "bar-yellow", _("Yellow")),
         LegendEntry(LEFT + 240, "bar-red", _("Red"))])
    return [received_finished, lights]


def on_time_chart(section: service.Section, locale: str) -> Chart | None:
    """On-time rate per village and for the township (0–100 %); "<5" or "—" where there is no rate."""
    table = next((t for t in section.tables if t.key == "by_village"), None)
    if table is None:
        return None
    index = service.ROW_KEYS.index("on_time_rate")
    rows = []
    for row in table.rows:
        cell = row.cells[index]
        rows.append((row.label, cell.value if cell.kind == "rate" else None, service.cell_text(cell, locale),
                     row.total))
    return rate_bar_chart(f"on-time-{section.key.partition(':')[2]}", _("On-time rate by village"),
                          _("One bar per village and one for the township: the share of cases finished in the "
                            "month that were finished on time."), rows)
