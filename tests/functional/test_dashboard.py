"""The supervisors' dashboard (services/dashboard.py, /dashboard) against hand-counted fixtures: open cases by
light and workflow (each number linking to the same cases in the team queue), on-time rates by workflow and
village with the report's small-count suppression, the month-by-month trend, ratings, the per-workflow
"why late" table; who may see it and what they may count; charts as SVG without style attributes."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ
from caseflow.extensions import db, transactional
from caseflow.models import Jurisdiction
from caseflow.services import dashboard as service
from caseflow.services.cases import apply_transition, workflow_of
from caseflow.services.deadlines import LightBounds, load_policy
from caseflow.services.ratings import close_follow_up, follow_up_of, rate_case
from caseflow.services.users import save_jurisdiction
from caseflow.views.charts import Bar, grouped_bar_chart
from caseflow.workflows import all_workflows, latest
from tests.factories import advance, make_case, make_procedure_case, make_subsidy_case, make_user, reload
from tests.functional.ui_support import case_rows, form_fields, html_of, make_outside_case, signed_in, text_of

PERIOD = "?from=2025-10&to=2025-12"
HOUR, DAY = 3600, 86400


def local(text: str) -> datetime:
    """An office-local time as a UTC instant: local("2025-11-03 10:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def step(case, trigger: str, actor, at: str, **data):
    """Take one step at a local time, with a reason where the step asks for one; committed."""
    needs_reason = workflow_of(case).step_for(trigger, case.state).reason_required
    with transactional():
        apply_transition(case, trigger, actor, case.version, reason="测试理由" if needs_reason else None,
                         data=data, now=local(at))
    return case


def finished(office, opened: str, *, late: bool = False, village=None, by: str = "village1"):
    """A birth registration opened at ``opened`` and registered: within the hour, or (``late``) accepted
    ten days later, after its 5-working-day deadline."""
    case = make_case(office, now=local(opened), by=by, village=village)
    accepted = local(opened) + timedelta(days=10 if late else 0, hours=1)
    advance(case, ["accept"], office, now=accepted)
    advance(case, ["register"], office, now=accepted + timedelta(hours=1))
    assert (reload(case).late_steps > 0) == late
    return case


def dashboard(app, username: str = "supervisor", query: str = PERIOD):
    return signed_in(app, username).get(f"/dashboard{query}")


def section(response, name: str) -> str:
    html = html_of(response)
    match = re.search(rf'<section class="report-section" id="{name}".*?(?=<section class="report-section"|</main>)',
                      html, re.DOTALL)
    assert match, name
    return match.group(0)


def cells(row_html: str, attribute: str = "data-key") -> dict[str, str]:
    return {key: text_of(value) for key, value in
            re.findall(rf'<td[^>]*{attribute}="(\w+)"[^>]*>(.*?)</td>', row_html, re.DOTALL)}


def row_of(html: str, attribute: str, value: str) -> str:
    match = re.search(rf'<tr[^>]*{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.DOTALL)
    assert match, (attribute, value)
    return match.group(1)


# ------------------------------------------------------------------------------------------------ access

def test_only_supervisors_and_auditors_see_the_dashboard(app, office):
    for username in ("clerk", "village1", "admin", "outsider"):
        assert dashboard(app, username).status_code == 403, username
        assert 'id="nav-dashboard"' not in html_of(signed_in(app, username).get("/profile/"))
    for username in ("supervisor", "auditor"):
        page = dashboard(app, username)
        assert page.status_code == 200, username
        assert 'id="nav-dashboard"' in html_of(page) and "统计看板" in text_of(page)
    assert app.test_client().get("/dashboard").status_code == 302  # to the sign-in page


def test_a_supervisor_of_another_township_counts_only_their_own(app, office):
    make_case(office)  # in T1
    outside = make_outside_case(office)  # in T2's village
    with transactional():
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        make_user("supervisor_t2", ["supervisor"], [elsewhere])
    page = dashboard(app, "supervisor_t2", "")
    assert page.status_code == 200 and "他镇" in text_of(page)
    lights = section(page, "lights")
    assert cells(row_of(lights, "data-workflow", "birth_registration"), "data-light") == {
        "green": "1", "yellow": "0", "red": "0", "none": "0", "total": "1"}
    assert reload(outside).jurisdiction.code == "T2-V1"
    # A supervisor who holds no village at all sees an empty page, not an error.
    with transactional():
        make_user("supervisor_none", ["supervisor"], [])
    assert "暂无可显示的数据" in text_of(dashboard(app, "supervisor_none", ""))


def test_a_supervisor_of_two_townships_chooses_one(app, office):
    make_case(office)
    outside = make_outside_case(office)
    make_case(office, by="outsider", village=outside.jurisdiction)
    with transactional():
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        make_user("supervisor_both", ["supervisor"], [office.township, elsewhere])

    def opened(page) -> str:
        return cells(row_of(section(page, "lights"), "data-workflow", "birth_registration"), "data-light")["total"]

    first = dashboard(app, "supervisor_both", "")
    assert form_fields(first)["township"] == [str(office.township.id)] and opened(first) == "1"
    second = dashboard(app, "supervisor_both", f"?township={elsewhere.id}")
    assert "他镇" in text_of(second) and opened(second) == "2"
    wrong = dashboard(app, "supervisor_both", "?township=999999")
    assert "您的辖区中没有这个乡镇" in text_of(wrong) and opened(wrong) == "1"


# ---------------------------------------------------------------------------------------- lights × workflow

def lights_fixture(office) -> dict[str, object]:
    """Open now: birth registrations — 2 green in V1, 1 green in V2, 1 red, 1 waiting for documents (no
    light); one registered (closed, not counted). Procedure certificates — 1 yellow (due at the end of
    today), 1 red. A case of another township (never counted)."""
    now = datetime.now(UTC)
    green = [make_case(office), make_case(office),
             make_case(office, by="village2", village=office.other_village)]
    red = make_case(office, now=now - timedelta(days=30))
    waiting = make_case(office)
    with transactional():
        apply_transition(waiting, "request_supplement", office["clerk"], waiting.version,
                         data={"missing_items": "户口簿"})
    advance(make_case(office), ["accept", "register"], office)
    pc_yellow = make_procedure_case(office)
    pc_red = make_procedure_case(office, now=now - timedelta(days=3))
    make_outside_case(office)
    return {"green": green, "red": red, "waiting": waiting, "pc_yellow": pc_yellow, "pc_red": pc_red}


def test_open_cases_by_light_and_workflow_each_number_linking_to_the_team_queue(app, office):
    cases = lights_fixture(office)
    page = dashboard(app, "supervisor", "")
    lights = section(page, "lights")
    assert cells(row_of(lights, "data-workflow", "birth_registration"), "data-light") == {
        "green": "3", "yellow": "0", "red": "1", "none": "1", "total": "5"}
    assert cells(row_of(lights, "data-workflow", "procedure_certificate"), "data-light") == {
        "green": "0", "yellow": "1", "red": "1", "none": "0", "total": "2"}
    for name in ("subsidy", "fee_case"):
        assert set(cells(row_of(lights, "data-workflow", name), "data-light").values()) == {"0"}
    assert cells(row_of(lights, "data-workflow", "all"), "data-light") == {
        "green": "3", "yellow": "1", "red": "2", "none": "1", "total": "7"}

    links = {(light, unescape(href)) for light, href in re.findall(
        r'data-light="(\w+)"><a href="([^"]+)"', row_of(lights, "data-workflow", "birth_registration"))}
    assert ("red", "/team?workflow=birth_registration&light=red") in links
    assert ("total", "/team?workflow=birth_registration") in links
    supervisor = signed_in(app, "supervisor")
    expected = {
        "/team?workflow=birth_registration&light=red": {cases["red"].id},
        "/team?workflow=birth_registration&light=none": {cases["waiting"].id},
        "/team?workflow=birth_registration&light=green": {c.id for c in cases["green"]},
        "/team?workflow=procedure_certificate&light=yellow": {cases["pc_yellow"].id},
        "/team?light=red": {cases["red"].id, cases["pc_red"].id},
    }
    for href, ids in expected.items():
        assert href in {h for _l, h in re.findall(r'data-light="(\w+)"><a href="([^"]+)"', unescape(lights))}
        assert {case_id for case_id, _text in case_rows(supervisor.get(href))} == ids, href
    # The chart beside the table: one bar per workflow, red hatched.
    assert 'fill="url(#dash-lights-hatch)"' in lights
    assert "在办 5 · 红灯 1 · 黄灯 0" in text_of(lights)


def test_need_to_know_cases_are_counted_only_where_the_viewer_may_read_them(app, office):
    make_procedure_case(office)  # V1, held by the clerk who entered it
    make_procedure_case(office, village=office.other_village)  # V2
    with transactional():
        make_user("supervisor_v1", ["supervisor"], [office.village])

    def total(page) -> str:
        return cells(row_of(section(page, "lights"), "data-workflow", "procedure_certificate"), "data-light")["total"]

    assert total(dashboard(app, "supervisor", "")) == "2"
    assert total(dashboard(app, "auditor", "")) == "2"
    assert total(dashboard(app, "supervisor_v1", "")) == "1"
    # Underneath, every figure is counted on the viewer's visible cases: a clerk would count the
    # certificates they hold and no other (clerks do not get the page itself).
    bounds = LightBounds.current()
    village_ids = [office.village.id, office.other_village.id]
    assert service.open_by_light(office["clerk"], village_ids, bounds)["procedure_certificate"]["total"] == 2
    assert "procedure_certificate" not in service.open_by_light(office["clerk2"], village_ids, bounds)
    assert service.open_by_light(office["village1"], village_ids, bounds) == {}


# ------------------------------------------------------------------------------------- on time by village

def test_on_time_rate_by_workflow_and_village_with_small_counts_suppressed(app, office):
    with transactional():
        v3 = save_jurisdiction(code="V3", name="南村", kind="village", parent_id=office.township.id)
    # Birth registrations finished in October–December 2025: V1 7 (one late), V2 2, V3 5.
    for i in range(6):
        finished(office, f"2025-10-{14 + i} 10:00")
    finished(office, "2025-11-03 10:00", late=True)
    for i in range(2):
        finished(office, f"2025-11-{4 + i:02d} 10:00", village=office.other_village, by="village2")
    for i in range(5):
        finished(office, f"2025-12-0{1 + i} 10:00", village=v3, by="clerk")
    finished(office, "2025-09-15 10:00")  # finished in September: outside the period
    finished(office, "2026-01-05 10:00")  # and in January
    # A subsidy application withdrawn in V2 (small counts of subsidies are shown).
    subsidy = make_subsidy_case(office, by="village2", village=office.other_village, now=local("2025-11-10 10:00"))
    step(subsidy, "withdraw", office["clerk"], "2025-11-11 10:00")
    # A procedure certificate issued the same day in V1: the only one, shown "<5" by village.
    certificate = make_procedure_case(office, now=local("2025-12-02 09:00"))
    step(certificate, "issue", office["clerk"], "2025-12-02 15:00")

    on_time = section(dashboard(app), "on-time")
    by_village = {code: cells(row_of(on_time, "data-village", code)) for code in ("V1", "V2", "V3", "total")}

    def figures(code: str, workflow: str) -> tuple[str, str, str]:
        row = row_of(on_time, "data-village", code)
        found = dict(re.findall(rf'data-workflow="{workflow}" data-key="(\w+)">(.*?)</td>', row))
        return found["finished"], found["finished_on_time"], found["on_time_rate"]

    # V2's 2 are hidden, and so is the smallest other count of each column (V3's 5), so that V2's cannot be
    # worked out from the total; their rates are withheld. V1 (7, 6) stays.
    assert figures("V1", "birth_registration") == ("7", "6", "85.7%")
    assert figures("V2", "birth_registration") == ("&lt;5", "&lt;5", "*")
    assert figures("V3", "birth_registration") == ("&lt;5", "&lt;5", "*")
    assert figures("total", "birth_registration") == ("14", "13", "92.9%")
    assert figures("V1", "procedure_certificate") == ("&lt;5", "&lt;5", "*")
    assert figures("V2", "procedure_certificate") == ("0", "0", "—")
    assert figures("total", "procedure_certificate") == ("1", "1", "100.0%")
    assert figures("V2", "subsidy") == ("1", "1", "100.0%")  # not a suppressed workflow
    assert figures("V1", "subsidy") == ("0", "0", "—")
    assert figures("total", "fee_case") == ("0", "0", "—")
    assert len(by_village) == 4
    assert "不足 5 例" in text_of(on_time)
    # The chart: the township's rate per workflow and for all (16 finished, 15 on time).
    assert "92.9%（14 件中 13 件）" in text_of(on_time) and "93.8%（16 件中 15 件）" in text_of(on_time)

    tables = {t.workflow.name: t for t in service.on_time_by_village(
        office["supervisor"], [office.village, office.other_village, v3], all_workflows(),
        service.period_of("2025-10", "2025-12"))}
    assert sorted(map(tuple, tables["birth_registration"].suppressed)) == sorted([
        (office.other_village.id, "finished"), (v3.id, "finished"),
        (office.other_village.id, "finished_on_time"), (v3.id, "finished_on_time")])


# ------------------------------------------------------------------------------------------------ trend

def trend_fixture(office):
    """Cases of October–December 2025 (hand-counted in the test):

    A  BR opened Oct 14, registered Oct 16 (on time)
    B  BR opened Oct 20, left in "submitted" (due Oct 27) until accepted Nov 20 and registered Nov 21:
       red at the end of October although it has moved on since (state at the end from the trail)
    C  BR opened Nov 3 and left untouched: red at the end of November and of December
    D  BR opened Nov 24, waiting for documents from Nov 25: no light (clock stopped)
    E  procedure certificate opened Dec 1, issued Dec 3 (its same-day deadline missed)
    G  BR opened Sep 22, accepted Sep 23, registered Oct 17 (late): finished in October, received before
    """
    a = make_case(office, now=local("2025-10-14 10:00"))
    advance(a, ["accept"], office, now=local("2025-10-15 10:00"))
    advance(a, ["register"], office, now=local("2025-10-16 10:00"))
    b = make_case(office, now=local("2025-10-20 10:00"))
    advance(b, ["accept"], office, now=local("2025-11-20 10:00"))
    advance(b, ["register"], office, now=local("2025-11-21 10:00"))
    make_case(office, now=local("2025-11-03 10:00"))
    d = make_case(office, now=local("2025-11-24 10:00"))
    step(d, "request_supplement", office["clerk"], "2025-11-25 10:00", missing_items="户口簿")
    e = make_procedure_case(office, now=local("2025-12-01 10:00"))
    step(e, "issue", office["clerk"], "2025-12-03 10:00")
    g = make_case(office, now=local("2025-09-22 10:00"))
    advance(g, ["accept"], office, now=local("2025-09-23 10:00"))
    advance(g, ["register"], office, now=local("2025-10-17 10:00"))


def test_trend_of_received_finished_and_overdue_month_by_month(app, office):
    trend_fixture(office)
    page = dashboard(app)
    trend = section(page, "trend")
    rows = {month: cells(row_of(trend, "data-month", month)) for month in ("2025-10", "2025-11", "2025-12")}
    assert rows == {
        "2025-10": {"received": "2", "finished": "2", "finished_late": "1", "overdue": "1"},
        "2025-11": {"received": "2", "finished": "1", "finished_late": "1", "overdue": "1"},
        "2025-12": {"received": "1", "finished": "1", "finished_late": "1", "overdue": "1"},
    }
    # The chart prints the same numbers above its columns: received, finished, overdue (hatched).
    svg = re.search(r'<svg.*?</svg>', trend, re.DOTALL).group(0)
    assert re.findall(r'class="chart-column-value">(\d+)</text>', svg) == ["2", "2", "1", "2", "1", "1", "1", "1", "1"]
    assert 'fill="url(#dash-trend-hatch)"' in svg
    assert "月末仍在办理、且当时已超过法定期限" in text_of(trend)  # what "overdue" means, on the page

    # One workflow's trend.
    births = section(dashboard(app, query=PERIOD + "&workflow=birth_registration"), "trend")
    assert cells(row_of(births, "data-month", "2025-12")) == {
        "received": "0", "finished": "0", "finished_late": "0", "overdue": "1"}
    assert form_fields(dashboard(app, query=PERIOD + "&workflow=birth_registration"))["workflow"] == [
        "birth_registration"]

    # Counted on what the viewer may read: the certificate (E) is the clerk's, not clerk2's.
    period = service.period_of("2025-10", "2025-12")
    ids = [office.village.id, office.other_village.id]

    def december(user):
        months = service.monthly_trend(user, ids, period, load_policy(), datetime.now(UTC))
        return months[2].figures()

    assert december(office["clerk"]) == {"received": 1, "finished": 1, "finished_late": 1, "overdue": 1}
    assert december(office["clerk2"]) == {"received": 0, "finished": 0, "finished_late": 0, "overdue": 1}


def test_the_current_month_counts_to_now(app, office):
    make_case(office, now=datetime.now(UTC) - timedelta(days=40))  # red now
    page = dashboard(app, query="")
    this_month = service.current_month(datetime.now(UTC))
    row = row_of(section(page, "trend"), "data-month", this_month)
    assert cells(row)["overdue"] == "1" and "截至目前" in text_of(row)
    assert len(re.findall(r'<tr data-month="', section(page, "trend"))) == 12


# ---------------------------------------------------------------------------------------------- ratings

def test_ratings_of_the_period_on_the_dashboard(app, office):
    def rated(level: int, at: str, village=None, by: str = "village1"):
        case = finished(office, "2025-09-01 10:00", village=village, by=by)
        with transactional():
            rating = rate_case(reload(case), level, "评价" if level <= 2 else None, now=local(at))
        return rating

    rated(5, "2025-10-20 10:00")
    rated(4, "2025-11-05 10:00", village=office.other_village, by="village2")
    rated(1, "2025-12-10 10:00")
    bad = rated(2, "2025-12-12 10:00")
    rated(3, "2025-09-20 10:00")  # before the period
    with transactional():
        close_follow_up(follow_up_of(bad), office["supervisor"], "已回访，解释了办理流程", now=local("2025-12-15 10:00"))

    ratings = section(dashboard(app), "ratings")
    facts = dict(re.findall(r'<dd data-key="(\w+)">(.*?)</dd>', ratings))
    assert facts == {"count": "4", "average": "3.00", "bad": "2", "follow_ups_open": "1", "follow_ups_done": "1"}
    assert "<svg" in ratings and 'fill="url(#dash-ratings-hatch)"' in ratings

    with transactional():
        make_user("supervisor_v1", ["supervisor"], [office.village])
    facts = dict(re.findall(r'<dd data-key="(\w+)">(.*?)</dd>', section(dashboard(app, "supervisor_v1"), "ratings")))
    assert facts == {"count": "3", "average": "2.67", "bad": "2", "follow_ups_open": "1", "follow_ups_done": "1"}
    assert "该期间暂无评价" in text_of(section(dashboard(app, query="?from=2025-01&to=2025-08"), "ratings"))


# -------------------------------------------------------------------------------------------- why late

def lateness_fixture(office):
    """Birth registrations finished late in October–December 2025 (no public holidays on these days):

    L1  submitted Oct 14 10:00 → accepted Oct 28 10:00 (due Oct 21 24:00: 6 d 10 h late; 14 d, 10 wd)
        → registered Oct 28 11:00 (1 h in accepted)
    L2  submitted Nov 3 10:00 → accepted 11:00 (1 h) → registered Nov 17 10:00 (due Nov 6 24:00:
        10 d 10 h late; 13 d 23 h, 10 wd in accepted)
    L3  submitted Nov 3 10:00 → documents requested Nov 4 10:00 (1 d, 1 wd) → resubmitted Nov 14 10:00
        (10 d, 8 wd, clock stopped) → accepted Dec 1 10:00 (due Nov 21 24:00: 9 d 10 h late; 17 d, 11 wd)
        → registered 11:00
    and one finished on time (not a late case).
    """
    l1 = make_case(office, now=local("2025-10-14 10:00"))
    advance(l1, ["accept"], office, now=local("2025-10-28 10:00"))
    advance(l1, ["register"], office, now=local("2025-10-28 11:00"))
    l2 = make_case(office, now=local("2025-11-03 10:00"))
    advance(l2, ["accept"], office, now=local("2025-11-03 11:00"))
    advance(l2, ["register"], office, now=local("2025-11-17 10:00"))
    l3 = make_case(office, now=local("2025-11-03 10:00"))
    step(l3, "request_supplement", office["clerk"], "2025-11-04 10:00", missing_items="结婚证")
    step(l3, "resubmit", office["village1"], "2025-11-14 10:00", supplied_items="结婚证")
    advance(l3, ["accept"], office, now=local("2025-12-01 10:00"))
    advance(l3, ["register"], office, now=local("2025-12-01 11:00"))
    finished(office, "2025-10-15 10:00")
    return l1, l2, l3


def test_why_late_table_shows_the_bottleneck_state(app, office):
    lateness_fixture(office)
    page = dashboard(app)
    late = section(page, "why-late")
    births = re.search(r'id="late-birth_registration".*?</section>', late, re.DOTALL).group(0)
    assert "该期间超期办结 3 件；当前超期在办 0 件。" in text_of(births)
    assert "瓶颈环节： 已提交 — 占超期次数的 66.7%（3 次中的 2 次）" in text_of(births)
    assert "每件超期案件平均暂停计时：3天8小时" in text_of(births)
    assert cells(row_of(births, "data-state", "submitted")) == {
        "cases": "3", "mean_time": "10天16小时", "median_working_days": "10", "clock": "计时中", "late": "2",
        "share": "66.7%", "mean_overrun": "7天22小时"}
    assert cells(row_of(births, "data-state", "needs_supplement")) == {
        "cases": "1", "mean_time": "10天0小时", "median_working_days": "8", "clock": "暂停", "late": "0",
        "share": "0.0%", "mean_overrun": "—"}
    assert cells(row_of(births, "data-state", "accepted")) == {
        "cases": "3", "mean_time": "4天16小时", "median_working_days": "0", "clock": "计时中", "late": "1",
        "share": "33.3%", "mean_overrun": "10天10小时"}
    assert 'data-state="registered"' not in births  # closed states are not time the office spent
    assert "以下数字依据" not in text_of(births)
    assert "<svg" in births and "66.7%（2 次）" in text_of(births)
    for name in ("procedure_certificate", "subsidy", "fee_case"):
        other = re.search(rf'id="late-{name}".*?</section>', late, re.DOTALL).group(0)
        assert "该期间没有超期案件" in text_of(other)

    figures = service.lateness_by_state(
        office["supervisor"], [office.village.id], latest("birth_registration"),
        service.period_of("2025-10", "2025-12"), load_policy(), datetime.now(UTC))
    by_state = {s.state: s for s in figures.states}
    assert figures.bottleneck == "submitted" and figures.late_stays == 3 and not figures.capped
    assert by_state["submitted"].mean_seconds == (14 * DAY + HOUR + 18 * DAY) / 3
    assert by_state["submitted"].mean_overrun_seconds == ((6 * DAY + 10 * HOUR) + (9 * DAY + 10 * HOUR)) / 2
    assert figures.mean_stopped_seconds == 10 * DAY / 3


def test_why_late_examines_at_most_a_capped_number_and_says_so(app, office, monkeypatch):
    lateness_fixture(office)
    monkeypatch.setattr(service, "LATE_SAMPLE", 2)
    births = re.search(r'id="late-birth_registration".*?</section>', section(dashboard(app), "why-late"),
                       re.DOTALL).group(0)
    # The two most recently finished (L3 on Dec 1, L2 on Nov 17) are examined.
    assert "以下数字依据已分析的 2 件（共 3 件）" in text_of(births)
    assert cells(row_of(births, "data-state", "submitted"))["late"] == "1"
    assert cells(row_of(births, "data-state", "accepted"))["late"] == "1"
    assert cells(row_of(births, "data-state", "needs_supplement"))["cases"] == "1"


def test_open_cases_past_their_deadline_count_as_late_when_the_period_runs_to_now(app, office):
    make_case(office, now=datetime.now(UTC) - timedelta(days=30))
    births = re.search(r'id="late-birth_registration".*?</section>',
                       section(dashboard(app, query=""), "why-late"), re.DOTALL).group(0)
    assert "当前超期在办 1 件" in text_of(births)
    assert cells(row_of(births, "data-state", "submitted"))["late"] == "1"
    assert 'href="/team?workflow=birth_registration&amp;light=red"' in births
    # A period that has ended does not look at today's open cases.
    ended = re.search(r'id="late-birth_registration".*?</section>', section(dashboard(app), "why-late"),
                      re.DOTALL).group(0)
    assert "该期间没有超期案件" in text_of(ended)


# ------------------------------------------------------------------------------------ period and charts

def test_a_bad_period_comes_back_with_its_message_and_what_was_typed(app, office):
    for query, field, message in (
            ("?from=2025-13&to=2025-12", "from", "请按“年-月”填写月份"),
            ("?from=2025-12&to=2025-10", "to", "起始月份晚于截止月份"),
            ("?from=2020-01&to=2025-12", "from", "最多可选 24 个月"),
            ("?from=2025-01&to=2099-01", "to", "2099-01 尚未开始"),
    ):
        page = dashboard(app, query=query)
        assert page.status_code == 200
        assert message in text_of(page), query
        assert re.search(rf'<p class="field-error" id="f-{field}-error">', html_of(page)), query
        typed = dict(re.findall(r"(\w+)=([\w-]+)", query))
        assert form_fields(page)["from"] == [typed["from"]] and form_fields(page)["to"] == [typed["to"]]
        # The figures shown are the default period's, and the page says which.
        default = service.default_period(datetime.now(UTC))
        assert str(int(default.last[5:])) + "月" in text_of(section(page, "trend"))


def test_charts_are_svg_with_classes_only_and_the_page_prints_its_scope(app, office):
    trend_fixture(office)
    lateness_fixture(office)
    page = dashboard(app)
    html = html_of(page)
    assert "style=" not in html and "<style" not in html and "<script" not in html
    # Lights, on-time, trend, and the share-of-lateness charts of birth registrations and of procedure
    # certificates (the one issued late); no ratings here.
    assert html.count("<svg") == 5
    assert 'id="chart-dash-trend"' in html and 'id="chart-dash-late-birth-registration"' in html
    assert 'id="chart-dash-late-procedure-certificate"' in html
    assert "示例镇 · 2025年10月至2025年12月" in text_of(page)
    english = signed_in(app, "supervisor")
    english.post("/lang/en", data={"next": "/"})
    text = text_of(english.get(f"/dashboard{PERIOD}"))
    assert "Dashboard" in text and "Overdue at month end" in text and "October 2025 to December 2025" in text


def test_grouped_bars_are_drawn_to_scale_with_the_label_by_the_middle_of_the_group(app):
    chart = grouped_bar_chart("k", "t", "d", [("甲", [Bar(4, "bar-received", "4"), Bar(2, "bar-finished", "2")])])
    assert [row.label_y for row in chart.rows] == [12 + 17 + 4, None]
    assert chart.rows[0].segments[0].width == 720 - 220 - 150 and chart.rows[1].segments[0].width == 175
