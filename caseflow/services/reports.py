"""The monthly meeting report (每月例会报表): generated, stored, exported and emailed.

The figures are computed by ``services/report_figures.py`` (``compute_month_report``; its docstrings and
/work/tools/REPORT_SCHEMA.md define every figure) and stored as the ``data`` of a ``Report``, one per
township and month. This module decides who may generate and read reports, turns the stored figures into
tables — the same tables for the web page, the XLSX and the CSV, so the three always agree — and emails
the report to the township's supervisors on the meeting working day.

Who: a report is about a whole township, so only township-level staff read it — active supervisors,
clerks and auditors who hold the township itself (a village officer, or a clerk of some villages only,
would otherwise see figures of villages they do not work in). Supervisors of the township (and the
scheduler's system account) generate it.

Generated once, then replaced: generating a month again computes its figures afresh and replaces the
stored ones (cases recorded late change last month's figures); ``emailed_at`` is kept, so the scheduler
emails a month's report once however often either happens.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from caseflow.calendar import OfficeCalendar, local_date, to_local, utcnow
from caseflow.extensions import db, insert_or_nothing
from caseflow.models import Jurisdiction, Report, User, UserRole, user_jurisdiction
from caseflow.services.deadlines import load_calendar
from caseflow.services.errors import (
    INVALID_DATA,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from caseflow.services.outbox import MailAttachment, queue_email
from caseflow.services.ratings import level_label
from caseflow.services.report_figures import compute_month_report, parse_month
from caseflow.services.users import system_user
from caseflow.workflows.definition import SYSTEM, Text, format_yuan

# Township-level staff who read the township's reports.
READER_ROLES = frozenset({"supervisor", "clerk", "auditor"})
GENERATOR_ROLES = frozenset({"supervisor"})

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCUMENT_TITLE = Text("每月例会报表", "Monthly meeting report")

REPORT_NOT_FOUND = Text("找不到该报表，或您无权查看。", "Report not found, or you may not see it.")
SUPERVISORS_ONLY = Text("只有本乡镇的主管可以生成报表。", "Only a supervisor of the township may generate its report.")
CHOOSE_TOWNSHIP = Text("请选择乡镇。", "Choose the township.")
MONTH_REQUIRED = Text("请选择月份。", "Choose the month.")
MONTH_NOT_ENDED = Text("{month} 尚未结束：只能为已经结束的月份生成报表（最近可选 {latest}）。",
                       "{month} has not ended yet: reports are generated for months that have ended "
                       "(the latest is {latest}).")

SUPPRESSED = "<5"
WITHHELD = "*"
SUPPRESSED_NOTE = Text(
    "“<5”：为保护个人信息，不足 5 例的数字不逐村显示；为防止由合计反推，同列中另一个数字也可能一并隐去。"
    "“*”：所依据的件数已隐去，按时办结率或用时中位数也不显示。全镇合计为实际数字。",
    "“<5”: to protect people's privacy, counts under 5 are not shown per village, and another count in the "
    "same column may be withheld too so that they cannot be worked out from the total. “*”: the on-time rate "
    "or median of a village whose counts are withheld is not shown either. Township totals are the real "
    "figures.")
# A village's rate and median are withheld with the counts they are computed from (REPORT_SCHEMA.md).
DERIVED_FROM = {"on_time_rate": ("finished", "finished_on_time"), "median_working_days": ("finished",)}
NO_RATINGS = Text("暂无评价", "No ratings yet")
NOTHING = "—"


def localized(label: Text | Mapping[str, str] | str | None, locale: str) -> str:
    """A label in ``locale``: a ``Text``, a stored {"zh": …, "en": …} dict, or a plain string."""
    if label is None:
        return ""
    if isinstance(label, str):
        return label
    if isinstance(label, Text):
        return label.get(locale)
    return (label.get("en") if locale == "en" else None) or label.get("zh") or label.get("en") or ""


def _locale(locale: str | None) -> str:
    return "en" if str(locale or "zh").startswith("en") else "zh"


# ------------------------------------------------------------------------------------------ months

def month_label(month: str, locale: str) -> str:
    """ "2026-10" as people write it: 2026年10月 / October 2026."""
    year, number = int(month[:4]), int(month[5:7])
    if _locale(locale) == "en":
        return f"{date(year, number, 1):%B} {year}"
    return f"{year}年{number}月"


def previous_month(day: date) -> str:
    """The month before the one ``day`` is in, as "YYYY-MM"."""
    return f"{day.replace(day=1) - timedelta(days=1):%Y-%m}"


def latest_ended_month(now: datetime) -> str:
    return previous_month(local_date(now))


def check_month(value: str | None, now: datetime) -> str:
    """``value`` as a "YYYY-MM" month that has ended (office local time) and is not before 2000;
    ValidationFailed with the error under "month" otherwise."""
    text = (value or "").strip()
    error = None
    if not text:
        error = MONTH_REQUIRED
    else:
        try:
            text = parse_month(text)
        except ValueError as bad:
            error = bad.args[0]
        else:
            if text > latest_ended_month(now):
                error = MONTH_NOT_ENDED.format(month=text, latest=latest_ended_month(now))
    if error is not None:
        raise ValidationFailed(INVALID_DATA, {"month": error})
    return text


def meeting_day(year: int, month: int, nth: int, calendar: OfficeCalendar) -> date:
    """The ``nth`` working day of the month on the office calendar (the last one when the month has
    fewer)."""
    day, count, last = date(year, month, 1), 0, None
    while day.month == month:
        if calendar.is_working_day(day):
            count, last = count + 1, day
            if count >= nth:
                return day
        day += timedelta(days=1)
    return last or date(year, month, 1)


# ------------------------------------------------------------------------------------------ who

def readable_townships(user: User) -> list[Jurisdiction]:
    """The townships whose reports ``user`` may read, by code.

    Those among ``access.jurisdiction_ids(user)`` that are townships: for a person that is the townships
    they hold themselves (a township is never a child of anything), read here without a query because
    the header asks on every page.
    """
    if not (user.is_active and user.has_role(*READER_ROLES)):
        return []
    return sorted((j for j in user.jurisdictions if j.kind == "township"), key=lambda j: j.code)


def generating_townships(user: User) -> list[Jurisdiction]:
    """The townships whose reports ``user`` may generate: a supervisor's own; every one for the system."""
    if user.has_role(SYSTEM):
        return list(db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.kind == "township")
                                       .order_by(Jurisdiction.code)))
    if not (user.is_active and user.has_role(*GENERATOR_ROLES)):
        return []
    return sorted((j for j in user.jurisdictions if j.kind == "township"), key=lambda j: j.code)


def may_generate(user: User, township: Jurisdiction) -> bool:
    return township.id in {j.id for j in generating_townships(user)}


def reports_for(user: User) -> list[Report]:
    """The stored reports ``user`` may read: newest month first, then by township code."""
    ids = [j.id for j in readable_townships(user)]
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Report).join(Report.township).where(Report.township_id.in_(ids))
        .order_by(Report.month.desc(), Jurisdiction.code)
    ))


def readable_report(user: User, report_id: int) -> Report:
    """A report ``user`` may read, or NotFound (never revealing that it exists)."""
    report = db.session.get(Report, report_id)
    if report is None or report.township_id not in {j.id for j in readable_townships(user)}:
        raise NotFound(REPORT_NOT_FOUND)
    return report


def find_report(township_id: int, month: str, *, for_update: bool = False) -> Report | None:
    query = sa.select(Report).where(Report.township_id == township_id, Report.month == month)
    return db.session.scalar(query.with_for_update() if for_update else query)


# ------------------------------------------------------------------------------------------ generating

def generate_report(township: Jurisdiction | None, month: str | None, actor: User,
                    now: datetime | None = None) -> Report:
    """Compute the figures of ``township`` for ``month`` ("YYYY-MM", ended) and store them (flushed).

    A report already stored for that month gets the new figures (and ``generated_at``/``generated_by``);
    whether it was emailed stays recorded. Only a supervisor of the township or the system account.
    """
    now = now or utcnow()
    if not generating_townships(actor):
        raise PermissionDenied(SUPERVISORS_ONLY)
    errors = {}
    try:
        month = check_month(month, now)
    except ValidationFailed as error:
        errors |= error.fields
    if township is None or township.kind != "township":
        errors["township_id"] = CHOOSE_TOWNSHIP
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    if not may_generate(actor, township):
        raise PermissionDenied(SUPERVISORS_ONLY)
    data = compute_month_report(township, month)
    report = find_report(township.id, month, for_update=True)
    if report is None:  # unless generated at the same moment elsewhere: that row gets these figures
        db.session.execute(insert_or_nothing(Report, "township_id", "month").values(
            township_id=township.id, month=month, data=data, generated_at=now, generated_by_id=actor.id))
        report = find_report(township.id, month, for_update=True)
    report.data = data
    report.generated_at, report.generated_by = now, actor
    db.session.flush()
    return report


# ------------------------------------------------------------------------------------------ tables

MEASURES: dict[str, Text] = {
    "received": Text("收件", "Received"),
    "accepted": Text("受理", "Accepted"),
    "finished": Text("办结", "Finished"),
    "finished_on_time": Text("按时办结", "Finished on time"),
    "on_time_rate": Text("按时办结率", "On-time rate"),
    "median_working_days": Text("办理用时中位数（工作日）", "Median working days"),
    "open_at_end": Text("月末在办", "Open at month end"),
    "yellow_at_end": Text("月末黄灯", "Yellow at month end"),
    "red_at_end": Text("月末红灯", "Red at month end"),
    "supplement_requests": Text("补正材料通知", "Requests for missing documents"),
    "refusals": Text("不予受理/不予批准", "Refusals"),
    "appeals": Text("复议/诉讼", "Appeals (reconsideration, litigation)"),
    "applied": Text("申请", "Applied"),
    "approved": Text("批准", "Approved"),
    "enrolled": Text("纳入发放", "Enrolled"),
    "paid_fen": Text("发放金额（元）", "Paid (yuan)"),
    "failed_payments": Text("发放失败笔数", "Failed payments"),
    "opened": Text("已启动年审", "Opened"),
    "reconfirmed": Text("已确认", "Reconfirmed"),
    "suspended": Text("暂停发放", "Suspended"),
    "exits": Text("退出", "Exits"),
    "pending": Text("待确认", "Pending"),
    "decided": Text("作出决定", "Decided"),
    "decided_fen": Text("决定金额（元）", "Amount decided (yuan)"),
    "collected_fen": Text("已收缴（元）", "Collected (yuan)"),
    "outstanding_fen": Text("未缴（元）", "Outstanding (yuan)"),
    "under_appeal": Text("复议/诉讼中", "Under appeal"),
}
ROW_KEYS = ("received", "accepted", "finished", "finished_on_time", "on_time_rate", "median_working_days",
            "open_at_end", "yellow_at_end", "red_at_end")
SCHEME_KEYS = ("applied", "approved", "enrolled", "paid_fen", "failed_payments")
RECONFIRMATION_KEYS = ("opened", "reconfirmed", "suspended", "exits", "pending")
FEE_KEYS = ("decided", "decided_fen", "collected_fen", "outstanding_fen", "under_appeal")
# How each measure is a number: a count unless listed here.
KINDS = {"on_time_rate": "rate", "median_working_days": "days"} | {
    k: "money" for k in MEASURES if k.endswith("_fen")}

LABELS = {
    "overview": Text("概况", "Overview"),
    "workflow": Text("业务", "Workflow"),
    "village": Text("村（社区）", "Village"),
    "township_total": Text("全镇合计", "Township total"),
    "month_figures": Text("本月程序情况", "Procedure in the month"),
    "measure": Text("指标", "Measure"),
    "value": Text("数值", "Value"),
    "reason": Text("理由", "Reason"),
    "count": Text("件数", "Cases"),
    "refusals_by_reason": Text("不予受理/不予批准（按理由）", "Refusals by reason"),
    "no_refusals": Text("本月无", "None this month"),
    "by_village": Text("各村（社区）情况", "By village"),
    "subsidy": Text("扶助补贴", "Subsidies"),
    "scheme": Text("类别", "Scheme"),
    "by_scheme": Text("按类别", "By scheme"),
    "total": Text("合计", "Total"),
    "reconfirmation": Text("年审进度", "Annual reconfirmation"),
    "year": Text("年度", "Year"),
    "fee_case": Text("处罚/征收金额", "Fee and penalty amounts"),
    "ratings": Text("服务评价", "Service ratings"),
    "section": Text("部分", "Section"),
    "row": Text("行", "Row"),
    "code": Text("编码", "Code"),
    "township": Text("乡镇", "Township"),
    "month": Text("月份", "Month"),
    "period": Text("统计期间", "Period"),
    "generated_at": Text("生成时间", "Generated"),
    "generated_by": Text("生成人", "Generated by"),
    "system": Text("系统自动生成", "The system (scheduled)"),
}


@dataclass(frozen=True)
class Cell:
    """One figure: ``kind`` is count, rate (0–1), days, money (fen), text, suppressed ("<5"), withheld ("*":
    computed from a suppressed count) or none (no figure)."""

    key: str
    value: Any
    kind: str


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Cell]
    code: str = ""  # the village code on per-village rows
    total: bool = False


@dataclass(frozen=True)
class Table:
    key: str
    caption: str
    header: list[str]  # the row-label column first
    rows: list[Row]


@dataclass(frozen=True)
class Section:
    key: str  # "overview", "workflow:<name>", "subsidy", "fee_case", "ratings"
    title: str
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    workflow: dict[str, Any] | None = None  # the workflow's stored figures (charts use them)


def _cell(key: str, value: Any, suppressed: bool = False) -> Cell:
    if suppressed:
        return Cell(key, None, "suppressed")
    if value is None:
        return Cell(key, None, "none")
    return Cell(key, value, KINDS.get(key, "count"))


def _village_cell(key: str, figures: Mapping[str, Any], hidden: set[tuple[int, str]]) -> Cell:
    """A figure of a village row: "<5" where suppressed, "*" where computed from a suppressed count."""
    village_id, value = figures["village_id"], figures.get(key)
    if value is None and any((village_id, base) in hidden for base in DERIVED_FROM.get(key, ())):
        return Cell(key, None, "withheld")
    return _cell(key, value, (village_id, key) in hidden)


def report_tables(data: Mapping[str, Any], locale: str) -> list[Section]:
    """The stored figures as titled tables in ``locale``: what the page, the XLSX and the CSV show."""
    locale = _locale(locale)

    def t(label: Any) -> str:
        return localized(label, locale)

    def header(first: str, keys: tuple[str, ...]) -> list[str]:
        return [t(LABELS[first])] + [t(MEASURES[k]) for k in keys]

    measure_value = [t(LABELS["measure"]), t(LABELS["value"])]
    villages = {v["id"]: v for v in data.get("villages", [])}
    workflows = data.get("workflows", [])
    overview = [Row(t(wf["title"]), [_cell(k, wf["total"].get(k)) for k in ROW_KEYS], code=wf["workflow"])
                for wf in workflows]
    sections = [Section("overview", t(LABELS["overview"]), [
        Table("overview", t(LABELS["township_total"]), header("workflow", ROW_KEYS), overview)])]
    for wf in workflows:
        hidden = {(village_id, key) for village_id, key in wf.get("suppressed", [])}
        rows = []
        for figures in wf.get("by_village", []):
            village = villages.get(figures["village_id"], {})
            label = t({"zh": village.get("name", ""), "en": village.get("name_en")})
            rows.append(Row(label, [_village_cell(k, figures, hidden) for k in ROW_KEYS],
                            code=village.get("code", "")))
        totals = [_cell(k, wf["total"].get(k)) for k in ROW_KEYS]
        rows.append(Row(t(LABELS["township_total"]), totals, total=True))
        tables = [Table("by_village", t(LABELS["by_village"]), header("village", ROW_KEYS), rows)]
        refusals = wf.get("refusals", [])
        month_counts = {"supplement_requests": wf.get("supplement_requests"),
                        "refusals": sum(r["count"] for r in refusals), "appeals": wf.get("appeals")}
        month_rows = [Row(t(MEASURES[k]), [_cell(k, value)]) for k, value in month_counts.items()]
        tables.append(Table("month_figures", t(LABELS["month_figures"]),
                            [t(LABELS["measure"]), t(LABELS["count"])], month_rows))
        if refusals:
            by_reason = [Row(t(r["label"]), [_cell("refusals", r["count"])], code=r["reason"])
                         for r in refusals]
            tables.append(Table("refusals", t(LABELS["refusals_by_reason"]),
                                [t(LABELS["reason"]), t(LABELS["count"])], by_reason))
        notes = [t(SUPPRESSED_NOTE)] if hidden else []
        sections.append(Section(f"workflow:{wf['workflow']}", t(wf["title"]), tables, notes, workflow=wf))
    subsidy = data.get("subsidy")
    if subsidy is not None:
        rows = [Row(t(s["label"]), [_cell(k, s.get(k)) for k in SCHEME_KEYS], code=s["scheme"])
                for s in subsidy.get("by_scheme", [])]
        totals = [_cell(k, subsidy["total"].get(k)) for k in SCHEME_KEYS]
        rows.append(Row(t(LABELS["total"]), totals, total=True))
        tables = [Table("by_scheme", t(LABELS["by_scheme"]), header("scheme", SCHEME_KEYS), rows)]
        reconfirmation = subsidy.get("reconfirmation")
        if reconfirmation:
            progress = Row(str(reconfirmation.get("year", "")),
                           [_cell(k, reconfirmation.get(k)) for k in RECONFIRMATION_KEYS])
            tables.append(Table("reconfirmation", t(LABELS["reconfirmation"]),
                                header("year", RECONFIRMATION_KEYS), [progress]))
        sections.append(Section("subsidy", t(LABELS["subsidy"]), tables))
    fee = data.get("fee_case")
    if fee is not None:
        rows = [Row(t(MEASURES[k]), [_cell(k, fee.get(k))]) for k in FEE_KEYS]
        sections.append(Section("fee_case", t(LABELS["fee_case"]),
                                [Table("fee_case", t(LABELS["fee_case"]), measure_value, rows)]))
    sections.append(_ratings_section(data.get("ratings"), locale))
    return sections


RATING_MEASURES = {
    "count": Text("评价件数", "Ratings"),
    "average": Text("平均分（满分 5 分）", "Average (out of 5)"),
    "bad": Text("差评（不满意、非常不满意）", "Bad ratings (dissatisfied or worse)"),
    "follow_ups_open": Text("差评回访：处理中", "Follow-ups open"),
    "follow_ups_done": Text("差评回访：已办结", "Follow-ups done"),
}


def _ratings_section(ratings: Mapping[str, Any] | None, locale: str) -> Section:
    """The month's 好差评 ratings, for the township as a whole (see services.ratings.rating_figures)."""
    title = localized(LABELS["ratings"], locale)
    if not ratings or not ratings.get("count"):
        return Section("ratings", title, [], [localized(NO_RATINGS, locale)])
    header = [localized(LABELS["measure"], locale), localized(LABELS["value"], locale)]
    rows = [Row(localized(RATING_MEASURES["count"], locale), [Cell("count", ratings["count"], "count")])]
    rows += [Row(localized(level_label(int(level)), locale), [Cell(f"level_{level}", n, "count")])
             for level, n in sorted(ratings["by_level"].items(), reverse=True)]
    rows += [Row(localized(RATING_MEASURES[key], locale),
                 [Cell(key, ratings[key], "text" if key == "average" else "count")])
             for key in ("average", "bad", "follow_ups_open", "follow_ups_done")]
    return Section("ratings", title, [Table("ratings", title, header, rows)])


def cell_text(cell: Cell, locale: str = "zh") -> str:
    """A figure as text: counts as they are, rates as percentages, money in yuan, "<5", "*", or "—"."""
    if cell.kind == "suppressed":
        return SUPPRESSED
    if cell.kind == "withheld":
        return WITHHELD
    if cell.kind == "none":
        return NOTHING
    if cell.kind == "rate":
        return f"{cell.value * 100:.1f}%"
    if cell.kind == "money":
        return format_yuan(int(cell.value))
    if cell.kind == "days":
        return f"{cell.value:g}"
    return str(cell.value)


def headline(data: Mapping[str, Any], locale: str) -> list[tuple[str, str]]:
    """The few figures an email states: per workflow received, finished, on time, red at month end;
    subsidies paid; fees collected."""
    locale = _locale(locale)
    lines = []
    for wf in data.get("workflows", []):
        total = wf["total"]
        parts = [f"{localized(MEASURES[k], locale)} {cell_text(_cell(k, total.get(k)), locale)}"
                 for k in ("received", "finished", "on_time_rate", "open_at_end", "red_at_end")]
        lines.append((localized(wf["title"], locale), ("，" if locale == "zh" else ", ").join(parts)))
    subsidy = data.get("subsidy")
    if subsidy is not None:
        total = subsidy["total"]
        lines.append((localized(LABELS["subsidy"], locale),
                      ("，" if locale == "zh" else ", ").join(
                          f"{localized(MEASURES[k], locale)} {cell_text(_cell(k, total.get(k)), locale)}"
                          for k in ("approved", "paid_fen", "failed_payments"))))
    fee = data.get("fee_case")
    if fee is not None:
        lines.append((localized(LABELS["fee_case"], locale),
                      ("，" if locale == "zh" else ", ").join(
                          f"{localized(MEASURES[k], locale)} {cell_text(_cell(k, fee.get(k)), locale)}"
                          for k in ("decided", "collected_fen", "outstanding_fen"))))
    return lines


def facts(report: Report, locale: str) -> list[tuple[str, str]]:
    """What the report is: township, month, period, when and by whom it was generated."""
    locale = _locale(locale)
    by = report.generated_by
    who = localized(LABELS["system"], locale) if by is None or by.has_role(SYSTEM) else by.display_name
    start = datetime.fromisoformat(report.data["start"]) if report.data.get("start") else None
    end = datetime.fromisoformat(report.data["end"]) if report.data.get("end") else None
    period = (f"{to_local(start):%Y-%m-%d} – {to_local(end).date() - timedelta(days=1):%Y-%m-%d}"
              if start and end else "")
    return [
        (localized(LABELS["township"], locale), report.township.label(locale)),
        (localized(LABELS["month"], locale), month_label(report.month, locale)),
        (localized(LABELS["period"], locale), period),
        (localized(LABELS["generated_at"], locale), f"{to_local(report.generated_at):%Y-%m-%d %H:%M}"),
        (localized(LABELS["generated_by"], locale), who),
    ]


def report_title(report: Report, locale: str) -> str:
    locale = _locale(locale)
    separator = " · " if locale == "en" else " "
    return separator.join((localized(DOCUMENT_TITLE, locale), report.township.label(locale),
                           month_label(report.month, locale)))


def report_filename(report: Report, extension: str, locale: str) -> tuple[str, str]:
    """(readable file name in ``locale``, ASCII fallback) for a download or an attachment."""
    title, township = localized(DOCUMENT_TITLE, locale), report.township.label(_locale(locale))
    readable = f"{title}-{township}-{report.month}.{extension}"
    readable = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", readable)
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", report.township.code).strip("-") or str(report.township_id)
    return readable, f"monthly-report-{code}-{report.month}.{extension}"


# ------------------------------------------------------------------------------------------ files

_BOLD = Font(bold=True)
_FORMATS = {"rate": "0.0%", "money": "#,##0.00", "count": "0"}  # days: General (4, or 4.5)


def _width(text: str) -> int:
    # CJK characters are about two Latin characters wide in a spreadsheet cell.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _sheet_title(text: str, taken: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "·", text)[:31] or "Sheet"
    base, number = title, 2
    while title in taken:
        suffix = f" ({number})"
        title, number = base[:31 - len(suffix)] + suffix, number + 1
    taken.add(title)
    return title


def _xlsx_value(cell: Cell) -> Any:
    if cell.kind == "money":
        return Decimal(int(cell.value)) / 100  # exact yuan: no float arithmetic on fen
    if cell.kind in ("count", "rate", "days", "text"):
        return cell.value
    return cell_text(cell)


class _SheetWriter:
    """Writes cells into one sheet and remembers how wide each column must be."""

    def __init__(self, sheet: Any):
        self.sheet = sheet
        self.widths: dict[int, int] = {}

    def put(self, row: int, column: int, value: Any, *, bold: bool = False, number_format: str | None = None,
            right: bool = False, spans: bool = False) -> None:
        cell = self.sheet.cell(row=row, column=column, value=value)
        if bold:
            cell.font = _BOLD
        if number_format:
            cell.number_format = number_format
        if right:
            cell.alignment = Alignment(horizontal="right")
        if not spans:  # a title or note runs across columns: it does not widen its own
            shown = value if isinstance(value, str) else "0" * 10
            self.widths[column] = max(self.widths.get(column, 0), _width(shown))

    def set_widths(self) -> None:
        for column, width in self.widths.items():
            self.sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 10), 40)


def report_xlsx(report: Report, locale: str) -> bytes:
    """The report as a workbook: a sheet per section, numbers as numbers (money in yuan with two decimals,
    rates as percentages), "<5" for suppressed cells, bold headers."""
    locale = _locale(locale)
    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for index, section in enumerate(report_tables(report.data, locale)):
        out = _SheetWriter(book.create_sheet(_sheet_title(section.title, taken)))
        title = report_title(report, locale)
        out.put(1, 1, f"{title} · {section.title}" if index else title, spans=True)
        out.sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
        line = 3
        if index == 0:
            for label, value in facts(report, locale):
                out.put(line, 1, label, bold=True)
                out.put(line, 2, value)
                line += 1
            line += 1
        for table in section.tables:
            out.put(line, 1, table.caption, bold=True, spans=True)
            line += 1
            for column, text in enumerate(table.header, start=1):
                out.put(line, column, text, bold=True)
            line += 1
            for row in table.rows:
                out.put(line, 1, row.label, bold=row.total)
                for column, cell in enumerate(row.cells, start=2):
                    out.put(line, column, _xlsx_value(cell), bold=row.total,
                            number_format=_FORMATS.get(cell.kind),
                            right=cell.kind in ("suppressed", "withheld", "none"))
                line += 1
            line += 1
        for note in section.notes:
            out.put(line, 1, note, spans=True)
            line += 1
        out.set_widths()
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv_value(cell: Cell) -> str:
    if cell.kind == "money":
        return format_yuan(int(cell.value)).replace(",", "")
    if cell.kind == "none":
        return ""
    return cell_text(cell)


def report_csv(report: Report, locale: str) -> str:
    """The report as one long table (section, row, code, measure, value), with a UTF-8 byte order mark so
    that Excel opens the Chinese correctly. Money in yuan ("1234.50"), rates as "75.0%", "<5" where
    suppressed, "*" where withheld, empty where there is no figure."""
    locale = _locale(locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([localized(LABELS[k], locale) for k in ("section", "row", "code", "measure", "value")])
    for section in report_tables(report.data, locale):
        if section.key == "overview":
            continue  # the totals are in each workflow's section too
        for table in section.tables:
            for row in table.rows:
                for heading, cell in zip(table.header[1:], row.cells):
                    measure = heading if len(table.header) > 2 else row.label
                    if table.key == "refusals":
                        colon = "：" if locale == "zh" else ": "
                        measure = f"{localized(MEASURES['refusals'], locale)}{colon}{row.label}"
                    label = row.label if len(table.header) > 2 else ""
                    writer.writerow([section.title, label, row.code, measure, _csv_value(cell)])
        for note in section.notes:
            if section.key == "ratings":
                writer.writerow([section.title, "", "", "", note])
    return "\ufeff" + out.getvalue()


# ------------------------------------------------------------------------------------------ email

EMAIL_SUBJECT = Text("每月例会报表：{township} {month}", "Monthly meeting report: {township}, {month}")
EMAIL_GREETING = Text("{name}，您好：", "Dear {name},")
EMAIL_INTRO = Text("{township} {month}的每月例会报表已生成，主要数字如下。完整报表见附件（Excel），"
                   "也可在系统中查看、打印和下载。",
                   "The monthly meeting report of {township} for {month} is ready. The main figures are "
                   "below; the full report is attached (Excel) and can be viewed, printed and downloaded in "
                   "caseflow.")
EMAIL_LINK = Text("在系统中查看", "View it in caseflow")
EMAIL_SIGNATURE = Text("此邮件由系统自动发送。", "This email was sent automatically.")


def report_path(report: Report) -> str:
    """Where the report's page is (the blueprint ``reports`` serves it there)."""
    return f"/reports/{report.id}"


def township_supervisors(township: Jurisdiction) -> list[User]:
    """Active supervisors who hold ``township`` itself, by name."""
    holds = sa.select(user_jurisdiction.c.user_id).where(user_jurisdiction.c.jurisdiction_id == township.id)
    supervises = sa.select(UserRole.user_id).where(UserRole.role == "supervisor")
    return list(db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.id.in_(holds), User.id.in_(supervises))
        .order_by(User.display_name, User.username)))


def email_report(report: Report, now: datetime) -> int:
    """Queue the report to each active supervisor of its township with an email address, in their
    language, with the XLSX attached; returns how many were queued (a key per report and user, so a
    repeated call queues nothing new)."""
    link = current_app.config["CASEFLOW_BASE_URL"].rstrip("/") + report_path(report)
    attachments: dict[str, MailAttachment] = {}
    queued = 0
    for user in township_supervisors(report.township):
        if not user.email:
            continue
        locale = _locale(user.locale)
        if locale not in attachments:
            name, _ascii = report_filename(report, "xlsx", locale)
            attachments[locale] = MailAttachment(name, XLSX_TYPE, report_xlsx(report, locale))
        township, month = report.township.label(locale), month_label(report.month, locale)
        with force_locale(locale):
            values = {
                "greeting": localized(EMAIL_GREETING, locale).format(name=user.display_name),
                "intro": localized(EMAIL_INTRO, locale).format(township=township, month=month),
                "headline": headline(report.data, locale), "link": link,
                "link_text": localized(EMAIL_LINK, locale), "signature": localized(EMAIL_SIGNATURE, locale),
                "title": report_title(report, locale), "lang": "en" if locale == "en" else "zh-CN",
                "colon": ": " if locale == "en" else "：",
            }
            text = render_template("email/report.txt", **values)
            html = render_template("email/report.html", **values)
        queue_email(f"report:{report.township_id}:{report.month}:user:{user.id}", user.email,
                    localized(EMAIL_SUBJECT, locale).format(township=township, month=month), text, html,
                    [attachments[locale]], now=now)
        queued += 1
    return queued


def send_monthly_reports(now: datetime) -> str:
    """Scheduler job: on or after the meeting working day (CASEFLOW_MEETING_WORKING_DAY of the office
    calendar), generate last month's report of every township not yet emailed, as the system account,
    and email it to the township's supervisors.

    "On or after" makes up a day the scheduler missed, once: ``emailed_at`` is set when the emails are
    queued (in the same transaction), so later runs change nothing.
    """
    today = local_date(now)
    nth = max(1, int(current_app.config.get("CASEFLOW_MEETING_WORKING_DAY", 1)))
    day = meeting_day(today.year, today.month, nth, load_calendar())
    month = previous_month(today)
    if today < day:
        return f"report of {month}: not before {day.isoformat()} (working day {nth} of the month)"
    generated = emails = 0
    townships = list(db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.kind == "township")
                                        .order_by(Jurisdiction.code)))
    system = None
    for township in townships:
        stored = find_report(township.id, month, for_update=True)
        if stored is not None and stored.emailed_at is not None:
            continue
        system = system or system_user(now)
        report = generate_report(township, month, system, now)
        emails += email_report(report, now)
        report.emailed_at = now
        generated += 1
    db.session.flush()
    return f"report of {month}: {generated} township report(s) generated, {emails} email(s) queued"
