"""The monthly meeting report (每月例会报表): who may read and generate it, generating and regenerating it in
the UI, its page, XLSX and CSV, and the scheduler job that emails it over a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import csv
import email.utils
import io
import re
import urllib.parse
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from caseflow.calendar import LOCAL_TZ, OfficeCalendar, local_date, utcnow
from caseflow.extensions import db, transactional
from caseflow.jobs import JOBS
from caseflow.models import Jurisdiction, OutboxMessage, Report
from caseflow.services import reports as service
from caseflow.services.errors import PermissionDenied, ValidationFailed
from caseflow.services.outbox import deliver_pending
from caseflow.services.report_figures import compute_month_report
from caseflow.services.users import save_jurisdiction, system_user
from tests import factories
from tests.factories import advance, make_case, make_user
from tests.functional.ui_support import (
    field_error,
    form_fields,
    html_of,
    signed_in,
    text_of,
    ui_client,
)

MONTH = "2025-10"
IN_MONTH = datetime(2025, 10, 14, 2, 0, tzinfo=UTC)  # a working day in October 2025 (10:00 local)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BASE_URL = "https://caseflow.example.cn"


def local(text: str) -> datetime:
    """An office-local time as a UTC instant: local("2025-11-04 07:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def stored_reports() -> list[Report]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Report).order_by(Report.id)))


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.key)))


def october_cases(office, in_v1: int = 6, in_v2: int = 2) -> None:
    """Birth registrations opened in October 2025: ``in_v1`` in V1 (accepted and registered within the
    month) and ``in_v2`` in V2 (left open)."""
    for index in range(in_v1):
        case = make_case(office, now=IN_MONTH + timedelta(hours=index))
        advance(case, ["accept", "register"], office, now=IN_MONTH + timedelta(days=2, hours=index))
    for index in range(in_v2):
        make_case(office, by="village2", village=office.other_village, now=IN_MONTH + timedelta(hours=index))


def generate(office, month: str = MONTH, by: str = "supervisor", now: datetime | None = None) -> Report:
    with transactional():
        report = service.generate_report(office.township, month, office[by], now or utcnow())
    return report


# ------------------------------------------------------------------------------ figures shaped by the schema

def schema_figures(office) -> dict:
    """A report as compute_month_report shapes it (REPORT_SCHEMA.md), with suppressed cells, nulls,
    refusals and money: for testing the rendering of cases the real data of a test seldom has."""
    v1, v2 = office.village, office.other_village
    row = {"received": 12, "accepted": 11, "finished": 8, "finished_on_time": 6, "on_time_rate": 0.75,
           "median_working_days": 4.5, "open_at_end": 9, "yellow_at_end": 2, "red_at_end": 1}
    empty = {k: 0 for k in row} | {"on_time_rate": None, "median_working_days": None}
    return {
        "schema": 1, "month": MONTH,
        "start": "2025-09-30T16:00:00+00:00", "end": "2025-10-31T16:00:00+00:00",
        "township": {"id": office.township.id, "code": "T1", "name": "示例镇", "name_en": None},
        "villages": [{"id": v1.id, "code": "V1", "name": "东村", "name_en": "East Village"},
                     {"id": v2.id, "code": "V2", "name": "西村", "name_en": None}],
        "workflows": [
            {"workflow": "birth_registration", "title": {"zh": "生育登记", "en": "Birth registration"},
             "suppress_small_counts": True, "total": row,
             "by_village": [
                 {"village_id": v1.id, "received": 9, "accepted": 8, "finished": 6, "finished_on_time": None,
                  "on_time_rate": None, "median_working_days": 4, "open_at_end": 7, "yellow_at_end": None,
                  "red_at_end": None},
                 {"village_id": v2.id, "received": None, "accepted": None, "finished": None,
                  "finished_on_time": None, "on_time_rate": None, "median_working_days": None,
                  "open_at_end": None, "yellow_at_end": None, "red_at_end": None}],
             "suppressed": [[v1.id, "finished_on_time"], [v1.id, "yellow_at_end"], [v1.id, "red_at_end"],
                            [v2.id, "received"], [v2.id, "accepted"], [v2.id, "finished"],
                            [v2.id, "finished_on_time"], [v2.id, "open_at_end"], [v2.id, "yellow_at_end"],
                            [v2.id, "red_at_end"]],
             "supplement_requests": 3,
             "refusals": [{"reason": "identity_mismatch", "label": {"zh": "身份不符", "en": "Identity mismatch"},
                           "count": 1}],
             "appeals": 0},
            {"workflow": "fee_case", "title": {"zh": "行政处罚/征收案件", "en": "Fee or penalty case"},
             "suppress_small_counts": False, "total": empty,
             "by_village": [{"village_id": v1.id} | empty, {"village_id": v2.id} | empty],
             "suppressed": [], "supplement_requests": 0, "refusals": [], "appeals": 0},
        ],
        "subsidy": {
            "by_scheme": [{"scheme": "jiangfu", "label": {"zh": "奖励扶助", "en": "Reward support"}, "applied": 4,
                           "approved": 3, "enrolled": 3, "paid_fen": 123450, "failed_payments": 1}],
            "total": {"applied": 4, "approved": 3, "enrolled": 3, "paid_fen": 123450, "failed_payments": 1},
            "reconfirmation": {"year": 2025, "opened": 10, "reconfirmed": 7, "suspended": 1, "exits": 1,
                               "pending": 1},
        },
        "fee_case": {"decided": 2, "decided_fen": 720000, "collected_fen": 360005, "outstanding_fen": 359995,
                     "under_appeal": 1},
        "ratings": None,
    }


def store(office, data: dict) -> Report:
    with transactional():
        report = Report(township_id=office.township.id, month=data["month"], data=data, generated_at=utcnow(),
                        generated_by_id=office["supervisor"].id)
        db.session.add(report)
    return report


def sheet_rows(sheet) -> list[tuple]:
    return [tuple(c for c in row) for row in sheet.iter_rows(values_only=True)]


def table_in(sheet, caption: str) -> dict[str, dict[str, object]]:
    """A table of a report sheet by its caption: {row label: {column heading: cell value}}."""
    rows = sheet_rows(sheet)
    start = next(i for i, row in enumerate(rows) if row[0] == caption)
    header = rows[start + 1]
    table = {}
    for row in rows[start + 2:]:
        if row[0] is None:
            break
        table[row[0]] = {heading: value for heading, value in zip(header[1:], row[1:]) if heading is not None}
    return table


def test_rendering_of_suppressed_cells_nulls_rates_and_money(app, office):
    report = store(office, schema_figures(office))
    book = load_workbook(io.BytesIO(service.report_xlsx(report, "zh")))
    assert book.sheetnames == ["概况", "生育登记", "行政处罚·征收案件", "扶助补贴", "处罚·征收金额", "服务评价"]
    sheet = book["生育登记"]
    assert sheet["A1"].value == "每月例会报表 示例镇 2025年10月 · 生育登记" and sheet["A1"].font.bold
    villages = table_in(sheet, "各村（社区）情况")
    assert villages["东村"]["收件"] == 9 and villages["东村"]["按时办结"] == "<5"
    # A rate computed from a suppressed count is withheld ("*"); a village with nothing finished has "—".
    assert villages["东村"]["按时办结率"] == "*" and villages["东村"]["办理用时中位数（工作日）"] == 4
    assert set(villages["西村"].values()) == {"<5", "*"}
    assert villages["全镇合计"]["按时办结率"] == 0.75 and villages["全镇合计"]["办理用时中位数（工作日）"] == 4.5
    rate_cell = next(c for row in sheet.iter_rows() for c in row if c.value == 0.75)
    assert rate_cell.number_format == "0.0%"
    header_row = next(row for row in sheet.iter_rows() if row[0].value == "村（社区）")
    assert all(c.font.bold for c in header_row if c.value)
    assert "不足 5 例" in " ".join(str(r[0]) for r in sheet_rows(sheet) if r[0])
    assert table_in(sheet, "不予受理/不予批准（按理由）") == {"身份不符": {"件数": 1}}

    money = book["扶助补贴"]
    schemes = table_in(money, "按类别")
    assert schemes["奖励扶助"]["发放金额（元）"] == 1234.5 and schemes["合计"]["发放失败笔数"] == 1
    paid = next(c for row in money.iter_rows() for c in row if c.value == 1234.5)
    assert paid.number_format == "#,##0.00"
    fees = table_in(book["处罚·征收金额"], "处罚/征收金额")
    assert fees["已收缴（元）"]["数值"] == 3600.05 and fees["作出决定"]["数值"] == 2
    assert book["服务评价"]["A3"].value == "暂无评价"

    english = load_workbook(io.BytesIO(service.report_xlsx(report, "en")))
    assert english.sheetnames[:2] == ["Overview", "Birth registration"]
    assert "East Village" in table_in(english["Birth registration"], "By village")
    # A village without an English name keeps its Chinese one.
    assert table_in(english["Birth registration"], "By village")["西村"]["Received"] == "<5"

    text = service.report_csv(report, "zh")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["部分", "行", "编码", "指标", "数值"]
    assert ["生育登记", "西村", "V2", "收件", "<5"] in rows
    assert ["生育登记", "东村", "V1", "按时办结率", "*"] in rows
    assert ["生育登记", "全镇合计", "", "按时办结率", "75.0%"] in rows
    assert ["生育登记", "", "identity_mismatch", "不予受理/不予批准：身份不符", "1"] in rows
    assert ["扶助补贴", "奖励扶助", "jiangfu", "发放金额（元）", "1234.50"] in rows
    assert ["处罚/征收金额", "", "", "已收缴（元）", "3600.05"] in rows
    assert ["服务评价", "", "", "", "暂无评价"] in rows

    page = signed_in(app, "clerk").get(f"/reports/{report.id}")
    html = html_of(page)
    assert page.status_code == 200
    assert 'data-key="finished_on_time">&lt;5</td>' in html and "不足 5 例" in text_of(page)
    assert "75.0%" in html and "1,234.50" in html and "3,600.05" in html and "暂无评价" in html
    assert html.count("<svg") == 4  # two overview charts, an on-time chart per workflow
    assert "style=" not in html and "<style" not in html and "<script" not in html


def test_ratings_are_shown_by_level_with_their_follow_ups(app, office):
    data = schema_figures(office) | {"ratings": {"count": 3, "by_level": {"5": 1, "4": 1, "3": 0, "2": 0, "1": 1},
                                                 "average": 3.33, "bad": 1, "follow_ups_open": 1,
                                                 "follow_ups_done": 0}}
    report = store(office, data)
    ratings = table_in(load_workbook(io.BytesIO(service.report_xlsx(report, "zh")))["服务评价"], "服务评价")
    assert ratings["评价件数"]["数值"] == 3 and ratings["非常满意"]["数值"] == 1 and ratings["基本满意"]["数值"] == 0
    assert ratings["非常不满意"]["数值"] == 1 and ratings["平均分（满分 5 分）"]["数值"] == 3.33
    assert ratings["差评（不满意、非常不满意）"]["数值"] == 1 and ratings["差评回访：处理中"]["数值"] == 1
    rows = list(csv.reader(io.StringIO(service.report_csv(report, "en")[1:])))
    assert ["Service ratings", "", "", "Very dissatisfied", "1"] in rows
    page = text_of(signed_in(app, "clerk").get(f"/reports/{report.id}"))
    assert "暂无评价" not in page and "非常满意 1" in page


# ------------------------------------------------------------------------------------------------ access

def test_only_township_staff_read_reports(app, office):
    october_cases(office)
    report = generate(office)
    with transactional():
        make_user("vclerk", ["clerk"], [office.village])
        make_user("vsupervisor", ["supervisor"], [office.village])
    paths = [f"/reports/{report.id}", f"/reports/{report.id}.xlsx", f"/reports/{report.id}.csv"]

    for username in ("supervisor", "clerk", "auditor"):
        client = signed_in(app, username)
        listing = client.get("/reports/")
        assert listing.status_code == 200 and f'data-report-id="{report.id}"' in html_of(listing)
        assert 'href="/reports/"' in html_of(listing)  # the header link
        assert [client.get(path).status_code for path in paths] == [200, 200, 200], username

    for username in ("village1", "vclerk", "vsupervisor", "admin", "outsider"):
        client = signed_in(app, username)
        listing = client.get("/reports/")
        assert f'data-report-id="{report.id}"' not in html_of(listing), username
        assert [client.get(path).status_code for path in paths] == [404, 404, 404], username
        assert client.get("/reports/99999999999999999999").status_code == 404
    # Without any township there is no report page and no header link at all.
    for username in ("village1", "vclerk", "admin"):
        client = signed_in(app, username)
        assert client.get("/reports/").status_code == 403
        assert 'href="/reports/"' not in html_of(client.get("/cases/search"))
    # The outsider holds another township: the page, and only that township's reports (none yet).
    outsider = signed_in(app, "outsider").get("/reports/")
    assert outsider.status_code == 200 and "data-report-id" not in html_of(outsider)

    assert ui_client(app).get(paths[0]).status_code == 302  # signed out: to the login page


def test_only_supervisors_of_the_township_generate(app, office):
    with transactional():
        make_user("vsupervisor", ["supervisor"], [office.village])
    for username in ("clerk", "auditor", "village1", "vsupervisor", "admin", "outsider"):
        client = signed_in(app, username)
        refused = client.post("/reports/generate", data={"month": MONTH, "township_id": office.township.id})
        assert refused.status_code == 403, username
        assert "name=\"month\"" not in html_of(client.get("/reports/"))  # no form offered either
    assert stored_reports() == []
    for username in ("clerk", "outsider"):
        with pytest.raises(PermissionDenied), transactional():
            service.generate_report(office.township, MONTH, office[username], utcnow())
    elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
    with pytest.raises(PermissionDenied), transactional():
        service.generate_report(elsewhere, MONTH, office["supervisor"], utcnow())
    assert stored_reports() == []


# ------------------------------------------------------------------------------------------ generating

def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_generate_and_generate_again_in_the_ui(csrf_app, office):
    october_cases(office, in_v1=6, in_v2=0)
    client = ui_client(csrf_app)
    token = _csrf_token(html_of(client.get("/login")))
    assert client.post("/login", data={"username": "supervisor", "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 302
    page = client.get("/reports/")
    fields = form_fields(page)
    assert set(fields) >= {"csrf_token", "month"}
    assert fields["month"] == [service.latest_ended_month(utcnow())]
    assert 'type="month"' in html_of(page)

    forged = client.post("/reports/generate", data={"month": MONTH})
    assert forged.status_code == 400 and stored_reports() == []

    token = fields["csrf_token"][0]
    done = client.post("/reports/generate", data={"month": MONTH, "csrf_token": token})
    assert done.status_code == 302
    [report] = stored_reports()
    assert done.headers["Location"] == f"/reports/{report.id}"
    shown = client.get(done.headers["Location"])
    assert "2025年10月的报表已生成" in text_of(shown)
    assert report.month == MONTH and report.generated_by.username == "supervisor"
    assert report.emailed_at is None
    assert report.data == compute_month_report(report.township, MONTH)
    [birth] = [w for w in report.data["workflows"] if w["workflow"] == "birth_registration"]
    assert birth["total"]["received"] == 6 and birth["total"]["finished"] == 6

    # Another case of October recorded late: generating again replaces the figures of the same report.
    make_case(office, now=IN_MONTH)
    again_form = form_fields(shown)
    assert again_form["month"] == [MONTH]  # the page's "generate again" form
    again = client.post("/reports/generate", data={"month": MONTH, "township_id": str(report.township_id),
                                                   "csrf_token": again_form["csrf_token"][0]})
    assert again.status_code == 302 and again.headers["Location"] == f"/reports/{report.id}"
    assert "重新生成" in text_of(client.get(again.headers["Location"]))
    [replaced] = stored_reports()
    assert replaced.id == report.id and replaced.generated_at >= report.generated_at
    [birth] = [w for w in replaced.data["workflows"] if w["workflow"] == "birth_registration"]
    assert birth["total"]["received"] == 7


@pytest.mark.parametrize(("month", "message_zh", "message_en"), [
    ("2025/10", "请按“年-月”填写月份", "Enter the month as year-month"),
    ("2025-13", "请按“年-月”填写月份", "Enter the month as year-month"),
    ("", "请选择月份", "Choose the month"),
    ("1999-12", "不能早于 2000 年 1 月", "cannot be before January 2000"),
    ("2099-01", "尚未结束", "has not ended yet"),
    ("CURRENT", "尚未结束", "has not ended yet"),
])
def test_bad_month_is_refused_with_the_form_kept(app, office, month, message_zh, message_en):
    month = f"{local_date(utcnow()):%Y-%m}" if month == "CURRENT" else month
    client = signed_in(app, "supervisor")
    refused = client.post("/reports/generate", data={"month": month})
    assert refused.status_code == 422
    assert message_zh in field_error(refused, "month")
    assert form_fields(refused)["month"] == [month]
    assert stored_reports() == []
    client.post("/lang/en", data={"next": "/reports/"})
    english = client.post("/reports/generate", data={"month": month})
    assert english.status_code == 422 and message_en in field_error(english, "month")


def test_service_refuses_bad_months_and_villages(app, office):
    now = local("2025-11-01 00:00")  # October has just ended
    with transactional():
        report = service.generate_report(office.township, "2025-10", office["supervisor"], now)
    assert report.month == "2025-10"
    for month in ("2025-11", "2025-1x", None):
        with pytest.raises(ValidationFailed) as refused, transactional():
            service.generate_report(office.township, month, office["supervisor"], now)
        assert set(refused.value.fields) == {"month"}
    with pytest.raises(ValidationFailed) as refused, transactional():
        service.generate_report(office.village, "2025-10", office["supervisor"], now)
    assert set(refused.value.fields) == {"township_id"}
    with transactional():  # "2025-9" means September
        september = service.generate_report(office.township, "2025-9", office["supervisor"], now)
    assert september.month == "2025-09"


# --------------------------------------------------------------------------------------------- files

def test_xlsx_csv_and_page_show_the_stored_figures(app, office):
    october_cases(office)
    report = generate(office)
    data = report.data
    client = signed_in(app, "clerk")

    response = client.get(f"/reports/{report.id}.xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="monthly-report-T1-2025-10.xlsx"')
    readable = urllib.parse.unquote(disposition.split("filename*=UTF-8''")[1])
    assert readable == "每月例会报表-示例镇-2025-10.xlsx"
    book = load_workbook(io.BytesIO(response.data))
    names = {v["id"]: v["name"] for v in data["villages"]}

    csv_response = client.get(f"/reports/{report.id}.csv")
    assert csv_response.mimetype == "text/csv" and csv_response.data.startswith("\ufeff".encode())
    assert "每月例会报表-示例镇-2025-10.csv" in urllib.parse.unquote(csv_response.headers["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(csv_response.data.decode("utf-8-sig"))))

    checked = 0
    for wf in data["workflows"]:
        sheet = book[wf["title"]["zh"].replace("/", "·")[:31]]
        table = table_in(sheet, "各村（社区）情况")
        hidden = {tuple(pair) for pair in wf["suppressed"]}
        for figures in wf["by_village"] + [wf["total"] | {"village_id": None}]:
            village = figures["village_id"]
            label = names.get(village, "全镇合计")
            finished_hidden = (village, "finished") in hidden
            for key in service.ROW_KEYS:
                heading = service.MEASURES[key].zh
                value = figures[key]
                if (village, key) in hidden:
                    expected = "<5"
                elif value is None and (finished_hidden or (key == "on_time_rate" and
                                                            (village, "finished_on_time") in hidden)):
                    expected = "*"
                else:
                    expected = "—" if value is None else value
                assert table[label][heading] == expected, (wf["workflow"], label, key)
                in_csv = [r[4] for r in rows if (r[0], r[1], r[3]) == (wf["title"]["zh"], label, heading)]
                csv_expected = {"<5": "<5", "*": "*", "—": ""}[expected] if isinstance(expected, str) else (
                    f"{value * 100:.1f}%" if key == "on_time_rate" else f"{value:g}")
                assert in_csv == [csv_expected], (wf["workflow"], label, key)
                checked += 1
    assert checked == len(data["workflows"]) * 3 * len(service.ROW_KEYS)
    birth = next(w for w in data["workflows"] if w["workflow"] == "birth_registration")
    by_code = {v["code"]: f for v, f in zip(data["villages"], birth["by_village"])}
    # V2's 2 cases are "<5"; V1's 6 are withheld too, else they could be worked out from the total of 8.
    assert by_code["V1"]["received"] is None and by_code["V2"]["received"] is None
    assert birth["total"]["received"] == 8
    assert [birth["by_village"][0]["village_id"], "received"] in birth["suppressed"]
    subsidy = table_in(book["扶助补贴"], "按类别")["合计"]
    assert subsidy["发放金额（元）"] == data["subsidy"]["total"]["paid_fen"] / 100

    page = client.get(f"/reports/{report.id}")
    html = html_of(page)
    assert page.status_code == 200 and "每月例会报表" in text_of(page) and "<svg" in html
    assert "style=" not in html and "<style" not in html
    assert f'href="/reports/{report.id}.xlsx"' in html and f'href="/reports/{report.id}.csv"' in html
    assert "name=\"month\"" not in html  # the clerk gets no "generate again" form

    client.post("/lang/en", data={"next": "/reports/"})
    english = client.get(f"/reports/{report.id}.xlsx")
    assert "Monthly%20meeting%20report" in english.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(english.data)).sheetnames[0] == "Overview"
    assert "Monthly meeting report" in text_of(client.get(f"/reports/{report.id}"))


# ------------------------------------------------------------------------------------------ the job

@pytest.fixture
def smtp(smtp_up, app, monkeypatch):
    """The real SMTP server (conftest's ``smtp_up``), started; links in emails point to BASE_URL."""
    monkeypatch.setitem(app.config, "CASEFLOW_BASE_URL", BASE_URL)
    return smtp_up


@pytest.fixture
def recipients(office):
    """Besides the office's supervisor (zh): an English-speaking supervisor of T1, one without email, an
    inactive one, and the supervisor of another township."""
    with transactional():
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        save_jurisdiction(code="T2-V1", name="他村", kind="village", parent_id=elsewhere.id)
        make_user("supervisor_en", ["supervisor"], [office.township], locale="en")
        make_user("no_mail", ["supervisor"], [office.township]).email = None
        make_user("gone", ["supervisor"], [office.township], active=False)
        make_user("sup_t2", ["supervisor"], [elsewhere])
    return office


def run_job(app, when: datetime) -> str:
    result = app.test_cli_runner().invoke(args=["jobs", "run", "monthly_report", "--now", when.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def delivered(smtp) -> dict[str, email.message.EmailMessage]:
    deliver_pending(utcnow())
    return {email.utils.parseaddr(m["To"])[1]: m for m in smtp.handler.messages()}


def test_job_emails_each_supervisor_once_from_the_meeting_working_day(app, recipients, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_MEETING_WORKING_DAY", 2)
    october_cases(recipients)
    # 3 November 2025 is the first working day (1 and 2 November are a weekend): not the meeting day yet.
    assert "not before 2025-11-04" in run_job(app, local("2025-11-03 07:00"))
    assert stored_reports() == [] and outbox() == []

    output = run_job(app, local("2025-11-04 07:00"))
    assert "2 township report(s) generated, 3 email(s) queued" in output
    reports = {r.township.code: r for r in stored_reports()}
    assert set(reports) == {"T1", "T2"} and all(r.month == "2025-10" for r in reports.values())
    t1 = reports["T1"]
    assert t1.emailed_at == local("2025-11-04 07:00") and t1.generated_by.username == "@system"
    assert t1.data == compute_month_report(t1.township, "2025-10")
    users = {u.username: u.id for u in db.session.scalars(sa.select(factories.User))}
    assert [m.key for m in outbox()] == sorted([
        f"report:{t1.township_id}:2025-10:user:{users['supervisor']}",
        f"report:{t1.township_id}:2025-10:user:{users['supervisor_en']}",
        f"report:{reports['T2'].township_id}:2025-10:user:{users['sup_t2']}"])

    mail = delivered(smtp)
    assert set(mail) == {"supervisor@example.test", "supervisor_en@example.test", "sup_t2@example.test"}
    chinese, english = mail["supervisor@example.test"], mail["supervisor_en@example.test"]
    assert chinese["Subject"] == "每月例会报表：示例镇 2025年10月"
    assert english["Subject"] == "Monthly meeting report: 示例镇, October 2025"
    for message, words in ((chinese, ("您好", "生育登记", "收件 8", "办结 6")),
                           (english, ("Dear", "Birth registration", "Received 8", "Finished 6"))):
        body = message.get_body(("plain",)).get_content()
        assert all(word in body for word in words), body
        assert f"{BASE_URL}/reports/{t1.id}" in body
        assert f'href="{BASE_URL}/reports/{t1.id}"' in message.get_body(("html",)).get_content()
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == XLSX
        book = load_workbook(io.BytesIO(attachment.get_content()))
        assert book.sheetnames[0] == ("概况" if message is chinese else "Overview")
    assert next(chinese.iter_attachments()).get_filename() == "每月例会报表-示例镇-2025-10.xlsx"
    assert next(english.iter_attachments()).get_filename() == "Monthly meeting report-示例镇-2025-10.xlsx"
    overview = table_in(load_workbook(io.BytesIO(next(chinese.iter_attachments()).get_content()))["概况"],
                        "全镇合计")
    assert overview["生育登记"]["收件"] == 8

    # Run again the same day and the days after: no new report version, no new email.
    before = [(r.id, r.generated_at, r.data) for r in stored_reports()]
    for when in ("2025-11-04 07:00", "2025-11-05 07:00", "2025-11-28 07:00"):
        assert "0 township report(s) generated, 0 email(s) queued" in run_job(app, local(when))
    assert [(r.id, r.generated_at, r.data) for r in stored_reports()] == before
    assert len(outbox()) == 3
    assert deliver_pending(utcnow()).sent == 0 and len(smtp.handler.envelopes) == 3


def test_a_missed_meeting_day_is_made_up_once(app, recipients, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_MEETING_WORKING_DAY", 1)
    october_cases(recipients, in_v1=1, in_v2=0)
    # Generated on demand before the meeting day: not emailed then.
    early = generate(recipients, now=local("2025-11-01 10:00"))
    assert early.emailed_at is None
    # The scheduler was down on 3 November (the first working day); it runs again on the 6th.
    output = run_job(app, local("2025-11-06 07:00"))
    assert "2 township report(s) generated, 3 email(s) queued" in output
    reports = {r.township.code: r for r in stored_reports()}
    assert reports["T1"].id == early.id and reports["T1"].emailed_at == local("2025-11-06 07:00")
    assert len(delivered(smtp)) == 3
    run_job(app, local("2025-11-07 07:00"))
    assert len(outbox()) == 3 and deliver_pending(utcnow()).sent == 0 and len(smtp.handler.envelopes) == 3


def test_meeting_day_follows_the_office_calendar(app, office, monkeypatch):
    """October 2025: 1–8 October are the National Day holidays, so the first working day is the 9th."""
    monkeypatch.setitem(app.config, "CASEFLOW_MEETING_WORKING_DAY", 1)
    job = JOBS["monthly_report"]
    assert job.cron == {"hour": "7", "minute": "0"}
    assert "not before 2025-10-09" in job.run(local("2025-10-08 07:00"))
    assert stored_reports() == []
    summary = job.run(local("2025-10-09 07:00"))
    assert summary == "report of 2025-09: 2 township report(s) generated, 1 email(s) queued"
    [message] = outbox()
    assert message.to_address == "supervisor@example.test"


def test_meeting_day_counts_working_days():
    calendar = OfficeCalendar()
    assert service.meeting_day(2025, 11, 1, calendar) == date(2025, 11, 3)
    assert service.meeting_day(2025, 11, 2, calendar) == date(2025, 11, 4)
    assert service.meeting_day(2025, 10, 1, calendar) == date(2025, 10, 9)
    assert service.meeting_day(2025, 11, 40, calendar) == date(2025, 11, 28)  # the last working day
    closed = OfficeCalendar({date(2025, 11, 3): False})
    assert service.meeting_day(2025, 11, 1, closed) == date(2025, 11, 4)


def test_system_account_generates_any_township(app, office):
    with transactional():
        report = service.generate_report(office.township, MONTH, system_user(), utcnow())
    assert report.generated_by.username == "@system"
    page = signed_in(app, "auditor").get(f"/reports/{report.id}")
    assert "系统自动生成" in text_of(page)


def test_a_supervisor_of_two_townships_chooses_one(app, office):
    with transactional():
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        make_user("both", ["supervisor"], [office.township, elsewhere])
    client = signed_in(app, "both")
    page = client.get("/reports/")
    assert form_fields(page)["township_id"] == [] and "他镇" in text_of(page)
    refused = client.post("/reports/generate", data={"month": MONTH})
    assert refused.status_code == 422 and "请选择乡镇" in field_error(refused, "township_id")
    assert form_fields(refused)["month"] == [MONTH] and stored_reports() == []
    forged = client.post("/reports/generate", data={"month": MONTH, "township_id": office.village.id})
    assert forged.status_code == 422 and stored_reports() == []
    done = client.post("/reports/generate", data={"month": MONTH, "township_id": elsewhere.id})
    assert done.status_code == 302
    [report] = stored_reports()
    assert report.township_id == elsewhere.id and report.data["township"]["code"] == "T2"


def test_a_report_generated_in_a_unit_of_work_that_fails_is_not_stored(app, office):
    class Later(Exception):
        pass

    with pytest.raises(Later), transactional():
        service.generate_report(office.township, MONTH, office["supervisor"], utcnow())
        raise Later  # anything after it in the same request or job
    assert stored_reports() == []


def test_generating_again_keeps_the_emailed_mark(app, office):
    first = generate(office)
    with transactional():
        db.session.get(Report, first.id).emailed_at = local("2025-11-03 07:00")
    again = generate(office)
    assert again.id == first.id and again.emailed_at == local("2025-11-03 07:00")
    assert len(stored_reports()) == 1
