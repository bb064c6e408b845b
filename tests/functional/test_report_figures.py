"""The monthly meeting report's figures (services/report_figures.py) against hand-counted fixtures.

Each test builds a small township through the real services, with cases opened, moved and closed at
chosen instants of office local time (Asia/Shanghai) in and around October 2026, and checks every figure
of ``compute_month_report(township, "2026-10")``. The comments give each hand count: which cases make
it and why. October 2026 in the office calendar: 1–7 October are holidays (国庆), Saturday 10 October is a
working day (调休), 25 September (中秋) is a holiday and Sunday 20 September a working day; 31 October and
1 November are a Saturday and a Sunday. The month runs from 2026-10-01 00:00 to 2026-11-01 00:00 local
time; at that end instant a deadline before it is red, and one up to the end of the next working day
(2026-11-02, so up to 2026-11-03 00:00) is yellow.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from caseflow.extensions import db as _db
from caseflow.extensions import transactional
from caseflow.models import Case, Jurisdiction, Payment, SubsidyEnrolment, User
from caseflow.services import access
from caseflow.services.cases import apply_transition, open_case, workflow_of
from caseflow.services.fees import record_payment
from caseflow.services.report_figures import compute_month_report, month_bounds
from caseflow.services.subsidies import scheme_by_code
from caseflow.services.subsidy_payments import create_payment_batch, mark_payment, repay_payment
from caseflow.services.users import save_jurisdiction, system_user
from tests.factories import (
    Office, applicant, birth_registration_data, fee_case_data, make_user, procedure_certificate_data,
    subsidy_data,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
OCTOBER = "2026-10"
ACCOUNT = "6228480012345678901"
ROW_KEYS = ["received", "accepted", "finished", "finished_on_time", "on_time_rate", "median_working_days",
            "open_at_end", "yellow_at_end", "red_at_end"]


def at(moment: str) -> datetime:
    """An instant in office local time: "2026-10-31 23:30"."""
    return datetime.fromisoformat(moment).replace(tzinfo=SHANGHAI)


def row(received, accepted, finished, on_time, rate, median, open_, yellow, red) -> dict:
    return dict(zip(ROW_KEYS, (received, accepted, finished, on_time, rate, median, open_, yellow, red)))


# ------------------------------------------------------------------------------------------- fixtures

@dataclass
class Place:
    """Both townships: T1 (示例镇, villages V1 东村 and V2 西村) and T2 (他镇, village V9), and their staff."""

    office: Office
    other_township: Jurisdiction
    other_village: Jurisdiction
    staff: dict[str, User]

    @property
    def v1(self) -> Jurisdiction:
        return self.office.village

    @property
    def v2(self) -> Jurisdiction:
        return self.office.other_village


@pytest.fixture
def place(office) -> Place:
    with transactional():
        t2 = _db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        v9 = save_jurisdiction(code="V9", name="南村", kind="village", parent_id=t2.id)
        extra = {"clerk_t2": make_user("clerk_t2", ["clerk"], [t2]),
                 "supervisor_t2": make_user("supervisor_t2", ["supervisor"], [t2]),
                 "village9": make_user("village9", ["village_officer"], [v9])}
    return Place(office, t2, v9, office.users | extra)


# What each step records, as a clerk would type it (overridden per call where a date or amount matters).
STEP_INPUT = {
    "request_supplement": {"missing_items": "户口簿复印件"},
    "return_for_documents": {"missing_items": "户口簿复印件"},
    "resubmit": {"supplied_items": "户口簿复印件"},
    "verify": {"discrepancy": "户籍地记录不一致", "other_registry": "某县公安局"},
    "refuse": {"legal_basis": "《人口与计划生育法》"},
    "village_review": {"village_opinion": "符合条件"},
    "county_approve": {"county_decision_ref": "县卫健〔2026〕1号"},
    "reject": {"legal_basis": "《奖励扶助制度管理规范》"},
    "enrol": {"bank_name": "农业银行", "bank_account": ACCOUNT},
    "investigate": {"investigator_1": "李执法", "investigator_1_cert": "ZF330100001",
                    "investigator_2": "王执法", "investigator_2_cert": "ZF330100002"},
    "review": {"findings": "重复领取补贴属实", "major_case": "no", "legal_review": "not_required"},
    "serve_notice": {"notice_reasons": "重复领取", "notice_basis": "《育儿补贴制度实施方案》",
                     "notice_service_method": "in_person", "notice_proof": "送达回证"},
    "decide": {"decision_facts": "重复领取补贴", "decision_basis": "《育儿补贴制度实施方案》", "payment_place": "财政所"},
    "serve_decision": {"decision_service_method": "in_person", "electronic_consent": "no", "decision_proof": "送达回证"},
    "appeal": {"appeal_kind": "reconsideration", "appeal_filed_on": "2026-10-01", "appeal_body": "示例县人民政府"},
    "appeal_upheld": {"appeal_decided_on": "2026-11-02"},
    "appeal_revoked": {"appeal_decided_on": "2026-10-19"},
}


def move(place: Place, case: Case, trigger: str, when: str, **data) -> Case:
    """Take ``trigger`` at local time ``when``, as the first member of staff who may (clerks first, then the
    village officers, then supervisors), or as the system account for the scheduler's steps."""
    now = at(when)
    step = workflow_of(case).step_for(trigger, case.state)
    assert step is not None, f"{trigger} not available from {case.state}"
    staff = sorted(place.staff.items(), key=lambda item: ("clerk" not in item[0], "village" not in item[0]))
    actor = next((user for name, user in staff if not name.startswith(("admin", "auditor"))
                  and user.has_role(*step.roles) and access.can_read(user, case)), None)
    actor = actor or system_user(now)
    with transactional():
        apply_transition(case, trigger, actor, case.version, reason="测试理由" if step.reason_required else None,
                         data=STEP_INPUT.get(trigger, {}) | data, now=now)
    return case


def open_at(place: Place, workflow: str, village: Jurisdiction, when: str, data: dict, by: str) -> Case:
    with transactional():
        return open_case(workflow, village.id, applicant(), data, place.staff[by], now=at(when))


def birth(place: Place, village: Jurisdiction, when: str, *steps: tuple[str, str]) -> Case:
    by = {"V1": "village1", "V2": "village2", "V9": "village9"}[village.code]
    case = open_at(place, "birth_registration", village, when, birth_registration_data(), by)
    for trigger, moment in steps:
        move(place, case, trigger, moment)
    return case


def report(place: Place, township: Jurisdiction | None = None, month: str = OCTOBER) -> dict:
    _db.session.expire_all()
    data = compute_month_report(township or place.office.township, month)
    assert json.loads(json.dumps(data)) == data  # stored as JSON as it is
    return data


def section(data: dict, workflow: str) -> dict:
    return next(w for w in data["workflows"] if w["workflow"] == workflow)


def by_village(wf: dict) -> dict[int, dict]:
    return {r["village_id"]: {k: v for k, v in r.items() if k != "village_id"} for r in wf["by_village"]}


# ---------------------------------------------------------------------------------------- the envelope

def test_month_bounds_are_local_midnights_and_the_report_is_a_pure_read(place):
    october = month_bounds("2026-10")
    assert (october.start.isoformat(), october.end.isoformat()) == \
        ("2026-09-30T16:00:00+00:00", "2026-10-31T16:00:00+00:00")
    december = month_bounds("2026-12")
    assert (december.end.isoformat(), december.last_day) == ("2026-12-31T16:00:00+00:00", date(2026, 12, 31))
    for bad in ("2026-13", "2026-1", "202610", "", "2026-10-01"):
        with pytest.raises(ValueError):
            month_bounds(bad)
    with pytest.raises(ValueError):
        compute_month_report(place.v1, OCTOBER)  # a village is not a township

    birth(place, place.v1, "2026-10-12 10:00", ("accept", "2026-10-12 11:00"))
    _db.session.expire_all()
    before = _db.session.scalar(sa.select(sa.func.count()).select_from(Case))
    data = compute_month_report(place.office.township, OCTOBER)
    assert not (_db.session.new or _db.session.dirty or _db.session.deleted)
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == before
    assert list(data) == ["schema", "month", "start", "end", "township", "villages", "workflows", "subsidy",
                          "fee_case", "ratings"]
    assert (data["schema"], data["month"], data["start"], data["end"]) == \
        (1, "2026-10", "2026-09-30T16:00:00+00:00", "2026-10-31T16:00:00+00:00")
    assert data["ratings"] == {"count": 0, "by_level": {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}, "average": None,
                               "bad": 0, "follow_ups_open": 0, "follow_ups_done": 0}
    assert data["township"] == {"id": place.office.township.id, "code": "T1", "name": "示例镇", "name_en": None}
    assert [v["code"] for v in data["villages"]] == ["V1", "V2"]  # T2's V9 is not one of them
    assert [w["workflow"] for w in data["workflows"]] == \
        ["birth_registration", "procedure_certificate", "subsidy", "fee_case"]
    assert [w["title"]["zh"] for w in data["workflows"]] == ["生育登记", "孕14周以上终止妊娠证明", "扶助补贴资格确认",
                                                            "行政处罚/征收案件"]
    assert [w["suppress_small_counts"] for w in data["workflows"]] == [True, True, False, False]
    for wf in data["workflows"]:
        assert list(wf["total"]) == ROW_KEYS
        assert [r["village_id"] for r in wf["by_village"]] == [v["id"] for v in data["villages"]]
        assert all(list(r) == ["village_id"] + ROW_KEYS for r in wf["by_village"])


# ------------------------------------------------------------------------------------ birth registration

def test_birth_registration_figures(place):
    v1, v2 = place.v1, place.v2
    # 东村 (V1)
    birth(place, v1, "2026-09-21 10:00", ("accept", "2026-09-22 10:00"),  # B0: done in September (3 wd)
          ("register", "2026-09-24 10:00"))
    birth(place, v1, "2026-09-21 10:00")  # B13: submitted, due 2026-09-30 00:00 (5 wd) → red at the end
    birth(place, v1, "2026-09-28 10:00", ("accept", "2026-09-29 10:00"),  # B1: accepted in September
          ("register", "2026-10-09 10:00"))  # in time (due end of 10-09); 4 wd: 9-29, 9-30, 10-08, 10-09
    birth(place, v1, "2026-10-12 10:00", ("accept", "2026-10-12 11:00"),  # B2: due end of 10-15 (3 wd)
          ("register", "2026-10-20 10:00"))  # late; 6 wd: 10-13 … 10-16, 10-19, 10-20
    birth(place, v1, "2026-10-14 10:00", ("accept", "2026-10-14 10:30"),  # B3: same day, 0 wd
          ("register", "2026-10-14 15:00"))
    birth(place, v1, "2026-10-15 10:00", ("accept", "2026-10-16 10:00"))  # B4: due end of 10-21 → red
    # B6: accepted 10-28, due 3 wd later at 2026-11-03 00:00 (yellow at the end); registered after the end,
    # so its state at the end comes from the audit trail and its deadline is recomputed.
    birth(place, v1, "2026-10-27 10:00", ("accept", "2026-10-28 10:00"), ("register", "2026-11-02 10:00"))
    birth(place, v1, "2026-10-31 23:30")  # B7: the last half hour of October; due 2026-11-07 → green
    birth(place, v1, "2026-11-01 00:10")  # B8: November's
    birth(place, v1, "2026-09-30 23:50",  # B9: September's; waiting for documents (clock stopped) at the end
          ("request_supplement", "2026-10-09 10:00"))
    # 西村 (V2)
    birth(place, v2, "2026-10-08 09:00", ("accept", "2026-10-08 10:00"),  # B10: refused, 11 wd:
          ("verify", "2026-10-09 10:00"), ("refuse", "2026-10-22 10:00"))  # 10-09, 10-10, 10-12 … 10-22
    birth(place, v2, "2026-10-20 10:00", ("request_supplement", "2026-10-21 10:00"),  # B11: stopped at the
          ("resubmit", "2026-11-03 10:00"))  # end, resubmitted after it
    birth(place, v2, "2026-10-30 10:00", ("withdraw", "2026-10-31 23:30"))  # B12: withdrawn on Saturday, 0 wd
    # 他镇 (T2): never in T1's figures
    birth(place, place.other_village, "2026-10-12 10:00", ("accept", "2026-10-12 11:00"),
          ("register", "2026-10-13 10:00"))

    wf = section(report(place), "birth_registration")
    # received: V1 B2 B3 B4 B6 B7 = 5; V2 B10 B11 B12 = 3.  accepted: V1 B2 B3 B4 B6 = 4; V2 B10 = 1.
    # finished: V1 B1 B2 B3 = 3 (on time B1 B3, days 4 6 0 → median 4); V2 B10 B12 = 2 (days 11 0 → 5.5).
    # open at the end: V1 B4 (red) B6 (yellow) B7 B9 (stopped) B13 (red) = 5; V2 B11 (stopped) = 1.
    # Total: 8 received, 5 accepted, 5 finished, 4 on time (0.8), days 0 0 4 6 11 → median 4.
    assert wf["total"] == row(8, 5, 5, 4, 0.8, 4, 6, 1, 2)
    # Suppressed (0 < n < 5): V1 accepted 4, finished 3, on time 2, yellow 1, red 2; V2 received 3,
    # accepted 1, finished 2, on time 2, open 1. Complements: received and open_at_end each had one hidden
    # cell (V2's), so V1's (5 and 5) are hidden too. Yellow and red: V1's cell is hidden but V2 has no
    # other non-zero cell to hide. Rates and medians go with the finished counts; zeros are shown.
    assert wf["by_village"] == [
        {"village_id": v1.id} | row(None, None, None, None, None, None, None, None, None),
        {"village_id": v2.id} | row(None, None, None, None, None, None, None, 0, 0),
    ]
    assert wf["suppressed"] == [[v1.id, key] for key in ("received", "accepted", "finished", "finished_on_time",
                                                        "open_at_end", "yellow_at_end", "red_at_end")] + \
        [[v2.id, key] for key in ("received", "accepted", "finished", "finished_on_time", "open_at_end")]
    assert wf["supplement_requests"] == 2  # B9 on 10-09, B11 on 10-21
    assert wf["refusals"] == [{"reason": "refuse", "label": {"zh": "不予登记", "en": "Refuse"}, "count": 1}]  # B10
    assert wf["appeals"] == 0

    # September, from the same cases: received B0 B13 B1 B9 = 4 (B9 opened at 23:50 on the 30th);
    # accepted B0 B1 = 2; finished B0 = 1 (on time, 3 wd); open at the end of September B13 (submitted,
    # red), B1 (accepted 09-29, due the end of 10-09: green) and B9 (submitted, due the end of 10-13), the
    # last two from the audit trail.
    september = section(report(place, month="2026-09"), "birth_registration")
    assert september["total"] == row(4, 2, 1, 1, 1.0, 3, 3, 0, 1)
    # November so far: B8 received; B6 finished (2026-10-27 → 11-02: 28 29 30, 11-02 = 4 wd).
    november = section(report(place, month="2026-11"), "birth_registration")
    assert (november["total"]["received"], november["total"]["finished"],
            november["total"]["median_working_days"]) == (1, 1, 4)
    # T2's report sees its own case, and only it.
    t2 = section(report(place, place.other_township), "birth_registration")
    assert t2["total"] == row(1, 1, 1, 1, 1.0, 1, 0, 0, 0)


# ----------------------------------------------------------------------------- procedure certificates

def certificate(place: Place, village: Jurisdiction, when: str, *steps: tuple[str, str, dict]) -> Case:
    case = open_at(place, "procedure_certificate", village, when, procedure_certificate_data(), "clerk")
    for trigger, moment, data in steps:
        move(place, case, trigger, moment, **data)
    return case


ISSUE = ("issue", "2026-10-12 15:00", {})
IDENTITY = {"refusal_ground": "identity_mismatch"}


def test_small_counts_are_suppressed_with_their_complements(place):
    with transactional():
        v3 = save_jurisdiction(code="V3", name="北村", kind="village", parent_id=place.office.township.id)
    v1, v2 = place.v1, place.v2
    # V1: 7 applications on 10-12, accepted on receipt: 3 issued the same day, one refused that day for
    # identity, one refused as incomplete after the one notice of what was missing (2 wd: 10-13, 10-14),
    # two still submitted at the end (due the end of 10-12: red).
    for _ in range(3):
        certificate(place, v1, "2026-10-12 10:00", ISSUE)
    certificate(place, v1, "2026-10-12 10:00", ("refuse", "2026-10-12 16:00", IDENTITY))
    certificate(place, v1, "2026-10-12 10:00", ("request_supplement", "2026-10-12 11:00", {}),
                ("resubmit", "2026-10-14 10:00", {}),
                ("refuse", "2026-10-14 15:00", {"refusal_ground": "incomplete_application"}))
    for _ in range(2):
        certificate(place, v1, "2026-10-12 10:00")
    # V2: 3 applications, all open and red at the end; one refused after the end (its state at the end,
    # submitted, comes from the trail), which is no refusal of October.
    certificate(place, v2, "2026-10-20 10:00")
    certificate(place, v2, "2026-10-20 10:00")
    certificate(place, v2, "2026-10-20 10:00", ("refuse", "2026-11-02 10:00", IDENTITY))
    # V3: 6 applications: 5 issued the same day, one refused the next day — after its same-day deadline.
    for _ in range(5):
        certificate(place, v3, "2026-10-12 10:00", ISSUE)
    certificate(place, v3, "2026-10-12 10:00", ("refuse", "2026-10-13 10:00", IDENTITY))
    # Not October's: refused in September; and one of T2.
    certificate(place, v1, "2026-09-29 10:00", ("refuse", "2026-09-29 16:00", IDENTITY))
    open_at(place, "procedure_certificate", place.other_village, "2026-10-12 10:00", procedure_certificate_data(),
            "clerk_t2")

    data = report(place)
    assert [v["code"] for v in data["villages"]] == ["V1", "V2", "V3"]
    wf = section(data, "procedure_certificate")
    # Raw: received = accepted: V1 7, V2 3, V3 6; finished V1 5 (on time 5; days 0 0 0 0 2), V2 0,
    # V3 6 (on time 5; days 0 0 0 0 0 1); open = red: V1 2, V2 3, V3 0.
    # Total: 16 received and accepted, 11 finished, 10 on time (10/11 = 0.9091), median 0, 5 open, all red.
    assert wf["total"] == row(16, 16, 11, 10, 0.9091, 0, 5, 0, 5)
    # received and accepted: only V2's 3 is small, so the smallest other non-zero cell, V3's 6, is hidden
    # too (V1's 7 stays). open/red: V1's 2 and V2's 3 are both small: two hidden cells, no complement.
    # finished: no small cell (V2's 0 is shown), so rates and medians show.
    assert by_village(wf) == {
        v1.id: row(7, 7, 5, 5, 1.0, 0, None, 0, None),
        v2.id: row(None, None, 0, 0, None, None, None, 0, None),
        v3.id: row(None, None, 6, 5, 0.8333, 0, 0, 0, 0),
    }
    assert wf["suppressed"] == [[v1.id, "open_at_end"], [v1.id, "red_at_end"],
                                [v2.id, "received"], [v2.id, "accepted"], [v2.id, "open_at_end"],
                                [v2.id, "red_at_end"], [v3.id, "received"], [v3.id, "accepted"]]
    assert wf["supplement_requests"] == 1
    # By ground, in the order the workflow lists them, with the ground's own label.
    assert wf["refusals"] == [
        {"reason": "identity_mismatch", "label": {"zh": "申请人身份与所提交的身份证件不符",
                                                  "en": "identity does not match the ID presented"}, "count": 2},
        {"reason": "incomplete_application", "label": {"zh": "申请材料不齐全，经一次性告知补正后仍未补齐",
                                                       "en": "application incomplete after the notice of missing "
                                                             "documents"}, "count": 1},
    ]
    assert wf["appeals"] == 0


def test_a_finished_count_hidden_hides_the_rate_and_the_median(place):
    # V1 finishes 6 (one late), V2 finishes 2: V2's finished and on-time cells are small, and V1's are the
    # complements; the rates and medians of both go with them.
    for _ in range(5):
        certificate(place, place.v1, "2026-10-12 10:00", ISSUE)
    certificate(place, place.v1, "2026-10-12 10:00", ("issue", "2026-10-13 10:00", {}))
    for _ in range(2):
        certificate(place, place.v2, "2026-10-12 10:00", ISSUE)
    wf = section(report(place), "procedure_certificate")
    assert wf["total"] == row(8, 8, 8, 7, 0.875, 0, 0, 0, 0)
    assert by_village(wf) == {
        place.v1.id: row(None, None, None, None, None, None, 0, 0, 0),
        place.v2.id: row(None, None, None, None, None, None, 0, 0, 0),
    }
    assert wf["suppressed"] == [[v, key] for v in (place.v1.id, place.v2.id)
                                for key in ("received", "accepted", "finished", "finished_on_time")]


# ---------------------------------------------------------------------------------------------- subsidy

def subsidy_case(place: Place, village: Jurisdiction, when: str, scheme: str = "jiangfu") -> Case:
    by = {"V1": "village1", "V2": "village2", "V9": "village9"}[village.code]
    return open_at(place, "subsidy", village, when, subsidy_data(scheme=scheme), by)


def enrolled(place: Place, village: Jurisdiction, scheme: str = "jiangfu", year: int = 2025,
             starts: str = "2025-01-01") -> Case:
    """A subsidy case through the whole procedure in January of ``year``, enrolled from ``starts``."""
    case = subsidy_case(place, village, f"{year}-01-06 10:00", scheme)
    for trigger, day in (("village_review", "07"), ("start_notice", "08"), ("end_notice", "20"),
                         ("township_review", "21"), ("county_approve", "22")):
        move(place, case, trigger, f"{year}-01-{day} 10:00")
    return move(place, case, "enrol", f"{year}-01-23 10:00", enrolment_start=starts)


def payment_of(case: Case) -> Payment:
    return _db.session.scalar(sa.select(Payment).join(SubsidyEnrolment).where(SubsidyEnrolment.case_id == case.id))


def mark(place: Place, case: Case, outcome: str, when: str, who: str = "clerk") -> None:
    with transactional():
        mark_payment(payment_of(case), outcome, "账户已销户" if outcome == "failed" else None, place.staff[who],
                     now=at(when))


def repay(place: Place, case: Case, when: str) -> None:
    with transactional():
        repay_payment(payment_of(case), "农业银行", ACCOUNT, place.staff["clerk"], now=at(when))


def test_subsidy_figures(place):
    v1, v2 = place.v1, place.v2
    # S1 (V1): approved by the county on 10-09 and enrolled on 10-12; active (no deadline) at the end.
    s1 = subsidy_case(place, v1, "2026-09-14 10:00")
    for trigger, when in (("village_review", "2026-09-15 10:00"), ("start_notice", "2026-09-16 10:00"),
                          ("end_notice", "2026-09-24 10:00"), ("township_review", "2026-09-28 10:00"),
                          ("county_approve", "2026-10-09 10:00")):
        move(place, s1, trigger, when)
    move(place, s1, "enrol", "2026-10-12 10:00", enrolment_start="2026-11-01")
    # S2 (V1): applied and accepted (village review) in October; village-reviewed since 10-13, due the end
    # of 10-20 (5 wd): red at the end.
    s2 = subsidy_case(place, v1, "2026-10-12 10:00")
    move(place, s2, "village_review", "2026-10-13 10:00")
    # S3 (V2, 特扶·死亡): applied 10-20, returned for documents 10-21: clock stopped at the end.
    s3 = subsidy_case(place, v2, "2026-10-20 10:00", "tefu_died")
    move(place, s3, "return_for_documents", "2026-10-21 10:00")
    # S4 (V2): applied 10-26, due 2026-11-10 (10 wd): green.
    subsidy_case(place, v2, "2026-10-26 10:00")
    # S5 (V2): applied 10-08, withdrawn 10-09: finished on time, 1 wd.
    s5 = subsidy_case(place, v2, "2026-10-08 09:00")
    move(place, s5, "withdraw", "2026-10-09 10:00")
    # S6 (V1): township review on 10-12, after its deadline (end of 09-29), then rejected on 10-13:
    # finished late; 26 wd from 2026-09-01 (Sept 2–4, 7–11, 14–18, 20–24, 28–30, Oct 8–10, 12–13).
    s6 = subsidy_case(place, v1, "2026-09-01 10:00")
    for trigger, when in (("village_review", "2026-09-10 10:00"), ("start_notice", "2026-09-11 10:00"),
                          ("end_notice", "2026-09-21 10:00"), ("township_review", "2026-10-12 10:00"),
                          ("reject", "2026-10-13 10:00")):
        move(place, s6, trigger, when)
    # Enrolled in January 2025 (奖扶 unless said), each with its 2026 annual reconfirmation (年审):
    s7 = enrolled(place, v1)  # S7: reconfirmed
    s8 = enrolled(place, v2)  # S8: suspended on 10-15
    s9 = enrolled(place, v1, "tefu_died")  # S9: still reconfirming at the end (red); reconfirmed in November
    s10 = enrolled(place, v2)  # S10: exit scheduled
    for case in (s7, s8, s9, s10):
        move(place, case, "open_reconfirmation", "2026-03-02 10:00", year=2026)
    move(place, s7, "reconfirm", "2026-03-10 10:00")
    move(place, s10, "schedule_exit", "2026-04-01 10:00", exit_ground="hukou_moved")
    # S11 (V1): enrolled in 2024, its 2025 round done in 2025, its 2026 round opened only in November.
    s11 = enrolled(place, v1, year=2024, starts="2024-02-01")
    move(place, s11, "open_reconfirmation", "2025-03-03 10:00", year=2025)
    move(place, s11, "reconfirm", "2025-03-05 10:00")
    # The 2026 奖扶 batch (made 09-28: S7, S8, S10, S11, 12 months × 80 元 = 960 元 each).
    with transactional():
        create_payment_batch(scheme_by_code("jiangfu"), "2026", place.staff["supervisor"], at("2026-09-28 10:00"))
    move(place, s8, "suspend", "2026-10-15 10:00")
    mark(place, s10, "paid", "2026-09-30 23:50")  # September's
    mark(place, s7, "paid", "2026-10-20 10:00")  # 96000 fen
    mark(place, s8, "failed", "2026-10-20 10:00")  # failed once …
    repay(place, s8, "2026-10-22 10:00")
    mark(place, s8, "failed", "2026-10-23 10:00")  # … twice …
    repay(place, s8, "2026-10-26 10:00")
    mark(place, s8, "paid", "2026-11-05 10:00")  # … and paid in November
    mark(place, s11, "paid", "2026-10-31 23:30")  # 96000 fen, in the last half hour of October
    move(place, s9, "reconfirm", "2026-11-03 10:00")
    move(place, s11, "open_reconfirmation", "2026-11-02 10:00", year=2026)
    # 特扶·伤残 is withdrawn from use with no data: not listed; 特扶·死亡 too, but it has an application.
    with transactional():
        scheme_by_code("tefu_disabled").active = False
        scheme_by_code("tefu_died").active = False
    # T2: an application, and an enrolment paid in October from T2's own batch.
    subsidy_case(place, place.other_village, "2026-10-12 10:00")
    t2_enrolled = enrolled(place, place.other_village)
    with transactional():
        create_payment_batch(scheme_by_code("jiangfu"), "2026", place.staff["supervisor_t2"], at("2026-09-28 10:00"))
    mark(place, t2_enrolled, "paid", "2026-10-20 10:00", who="clerk_t2")

    data = report(place)
    wf = section(data, "subsidy")
    # V1 (S1 S2 S6 S7 S9 S11): received S2; accepted S2; finished S6 (late, 26 wd); open S1 S2 (red)
    # S7 S9 (reconfirming at the end, due in March: red) S11 (active at the end) = 5.
    # V2 (S3 S4 S5 S8 S10): received S3 S4 S5; finished S5 (on time, 1 wd); open S3 (stopped) S4 (green)
    # S8 (suspended) S10 (exit scheduled) = 4, none yellow or red (no deadline in those states).
    assert by_village(wf) == {v1.id: row(1, 1, 1, 0, 0.0, 26, 5, 0, 2), v2.id: row(3, 0, 1, 1, 1.0, 1, 4, 0, 0)}
    assert wf["total"] == row(4, 1, 2, 1, 0.5, 13.5, 9, 0, 2)
    assert wf["suppressed"] == []
    assert wf["supplement_requests"] == 1  # S3
    assert wf["refusals"] == [{"reason": "reject", "label": {"zh": "不予确认", "en": "Reject"}, "count": 1}]  # S6
    assert wf["appeals"] == 0

    subsidy = data["subsidy"]
    zero = {"applied": 0, "approved": 0, "enrolled": 0, "paid_fen": 0, "failed_payments": 0}
    assert subsidy["by_scheme"] == [
        # applied S2 S4 S5; approved and enrolled S1; paid S7 and S11 (S10's was September's, S8's
        # November's); failed S8 twice.
        {"scheme": "jiangfu", "label": {"zh": "农村部分计划生育家庭奖励扶助", "en": "Reward and assistance (奖扶)"},
         "applied": 3, "approved": 1, "enrolled": 1, "paid_fen": 192000, "failed_payments": 2},
        {"scheme": "tefu_died", "label": {"zh": "计划生育家庭特别扶助（独生子女死亡）",
                                          "en": "Special assistance, only child died (特扶·死亡)"}}
        | zero | {"applied": 1},
        {"scheme": "childcare", "label": {"zh": "育儿补贴", "en": "Childcare subsidy (育儿补贴)"}} | zero,
    ]
    assert subsidy["total"] == {"applied": 4, "approved": 1, "enrolled": 1, "paid_fen": 192000, "failed_payments": 2}
    # 2026 rounds opened before the end: S7 (reconfirmed), S8 (suspended), S9 (pending at the end),
    # S10 (exit); S11's 2026 round was opened in November and its 2025 round is another year's.
    assert subsidy["reconfirmation"] == {"year": 2026, "opened": 4, "reconfirmed": 1, "suspended": 1, "exits": 1,
                                         "pending": 1}

    # T2 sees its own application and payment only.
    t2 = report(place, place.other_township)
    assert section(t2, "subsidy")["total"]["received"] == 1
    assert t2["subsidy"]["total"] == {"applied": 1, "approved": 0, "enrolled": 0, "paid_fen": 96000,
                                      "failed_payments": 0}
    assert t2["subsidy"]["reconfirmation"]["opened"] == 0
    # In November S9's round is reconfirmed, S8's still suspended, and S11's 2026 round is pending.
    november = report(place, month="2026-11")["subsidy"]
    assert november["reconfirmation"] == {"year": 2026, "opened": 5, "reconfirmed": 2, "suspended": 1, "exits": 1,
                                          "pending": 1}
    assert (november["total"]["paid_fen"], november["total"]["failed_payments"]) == (96000, 0)


# -------------------------------------------------------------------------------------------- fee cases

def fee(place: Place, village: Jurisdiction, when: str, *steps: tuple[str, str, dict], by: str = "clerk") -> Case:
    case = open_at(place, "fee_case", village, when, fee_case_data(violation_date="2026-06-01"), by)
    for trigger, moment, data in steps:
        move(place, case, trigger, moment, **data)
    return case


def up_to_payment(decided: str, notice_on: str, decide_on: str, served_on: str, start_on: str):
    """The steps from investigation to the payment period, amounts in yuan, dates local."""
    return (("investigate", "2026-09-02 10:00", {}), ("review", "2026-09-03 10:00", {}),
            ("serve_notice", f"{notice_on} 10:00", {"proposed_amount": decided, "notice_served_on": notice_on}),
            ("decide", f"{decide_on} 10:00", {"decided_amount": decided}),
            ("serve_decision", f"{served_on} 10:00", {"decision_served_on": served_on}),
            ("start_payment", f"{start_on} 10:00", {}))


def pay(place: Place, case: Case, fen: int, paid_on: str, when: str) -> None:
    with transactional():
        record_payment(case, place.staff["clerk"], case.version, amount_fen=fen, paid_on=date.fromisoformat(paid_on),
                       receipt_ref=f"R-{case.id}-{paid_on}", now=at(when))


def test_fee_case_figures(place):
    v1, v2 = place.v1, place.v2
    # F1 (V1): 3600 元 decided 10-09 (late for its notice period), served 10-12, due 10-27; payment period
    # from 10-13, due the end of 10-28: red at the end. Paid 1000 元 on 10-20 and 100 元 on 10-31 (both
    # October's), 500 元 on 11-01 (November's).
    f1 = fee(place, v1, "2026-09-01 10:00",
             *up_to_payment("3600.00", "2026-09-11", "2026-10-09", "2026-10-12", "2026-10-13"))
    pay(place, f1, 100000, "2026-10-20", "2026-10-20 10:00")
    pay(place, f1, 10000, "2026-10-31", "2026-10-31 12:00")
    pay(place, f1, 50000, "2026-11-01", "2026-11-02 10:00")
    # F2 (V1): 1000 元 decided 10-14, paid in full 10-16 → paid (finished on time, 29 wd from 09-01).
    f2 = fee(place, v1, "2026-09-01 10:00",
             *up_to_payment("1000.00", "2026-10-09", "2026-10-14", "2026-10-15", "2026-10-16"))
    pay(place, f2, 100000, "2026-10-16", "2026-10-16 11:00")
    assert f2.state == "paid"
    # F3 (V2): 2000 元 decided 09-15, served 09-16, due 10-08 (10-01 falls in the holiday); 500 元 paid
    # 09-30; appealed 10-20: under appeal at the end.
    f3 = fee(place, v2, "2026-09-01 10:00",
             *up_to_payment("2000.00", "2026-09-08", "2026-09-15", "2026-09-16", "2026-09-17"))
    pay(place, f3, 50000, "2026-09-30", "2026-09-30 10:00")
    move(place, f3, "appeal", "2026-10-20 10:00")
    # F4 (V2): 1500 元 decided 09-15, due 10-08; appealed 10-21, upheld 11-03: under appeal at the end
    # (from the audit trail).
    f4 = fee(place, v2, "2026-09-01 10:00",
             *up_to_payment("1500.00", "2026-09-08", "2026-09-15", "2026-09-16", "2026-09-17"))
    move(place, f4, "appeal", "2026-10-21 10:00")
    move(place, f4, "appeal_upheld", "2026-11-03 10:00")
    # F5 (V1): 1000 元 decided 09-15; appealed 10-12 (after the payment deadline, end of 10-08: a late
    # step), revoked 10-19: finished, not on time, 30 wd from 09-01. Owes nothing.
    f5 = fee(place, v1, "2026-09-01 10:00",
             *up_to_payment("1000.00", "2026-09-08", "2026-09-15", "2026-09-16", "2026-09-17"))
    move(place, f5, "appeal", "2026-10-12 10:00")
    move(place, f5, "appeal_revoked", "2026-10-19 10:00")
    # F6 (V1): opened 10-09 and accepted (立案调查) 10-12; notice served 10-26, due 5 wd later at
    # 2026-11-03 00:00 (yellow at the end); decided only on 11-02.
    fee(place, v1, "2026-10-09 10:00", ("investigate", "2026-10-12 10:00", {}), ("review", "2026-10-20 10:00", {}),
        ("serve_notice", "2026-10-26 10:00", {"proposed_amount": "800.00", "notice_served_on": "2026-10-26"}),
        ("decide", "2026-11-02 10:00", {"decided_amount": "800.00"}))
    # T2: a case opened and accepted in October.
    fee(place, place.other_village, "2026-10-09 10:00", ("investigate", "2026-10-12 10:00", {}), by="clerk_t2")

    data = report(place)
    wf = section(data, "fee_case")
    # V1 (F1 F2 F5 F6): received F6; accepted F6; finished F2 (on time, 29 wd) F5 (late, 30 wd);
    # open F1 (red) F6 (yellow). V2 (F3 F4): open, under appeal (no deadline).
    assert by_village(wf) == {v1.id: row(1, 1, 2, 1, 0.5, 29.5, 2, 1, 1),
                              v2.id: row(0, 0, 0, 0, None, None, 2, 0, 0)}
    assert wf["total"] == row(1, 1, 2, 1, 0.5, 29.5, 4, 1, 1)
    assert (wf["supplement_requests"], wf["refusals"], wf["suppressed"]) == (0, [], [])
    assert wf["appeals"] == 3  # F3 10-20, F4 10-21, F5 10-12

    # decided: F1 (360000 fen) and F2 (100000). collected: F1 100000 + 10000, F2 100000.
    # outstanding at the end (late charge 3 %/day of the unpaid principal as of 10-31):
    #   F1: 360000 + 4 days (10-28 … 10-31) × 3 % × 260000 = 31200 − paid 110000          = 281200
    #   F3: 200000 + 11 days (10-09 … 10-19; under appeal from 10-20) × 3 % × 150000 = 49500
    #       − paid 50000                                                                   = 199500
    #   F4: 150000 + 12 days (10-09 … 10-20; under appeal from 10-21) × 3 % × 150000 = 54000 = 204000
    #   F2 paid, F5 revoked, F6 not decided: nothing.                              total      684700
    assert data["fee_case"] == {"decided": 2, "decided_fen": 460000, "collected_fen": 210000,
                                "outstanding_fen": 684700, "under_appeal": 2}
    # November: F6 decided (80000); F1's 11-01 payment collected; F4 no longer under appeal.
    november = report(place, month="2026-11")["fee_case"]
    assert (november["decided"], november["decided_fen"], november["collected_fen"], november["under_appeal"]) \
        == (1, 80000, 50000, 1)
    # T2's case is T2's.
    assert section(report(place, place.other_township), "fee_case")["total"]["received"] == 1


def test_ratings_given_in_the_month_on_the_townships_cases(place):
    from caseflow.services.ratings import close_follow_up, follow_up_of, rate_case, rating_of

    done = [birth(place, place.v1 if n % 2 else place.v2, "2026-10-05 10:00", ("accept", "2026-10-08 10:00"),
                  ("register", "2026-10-08 11:00")) for n in range(5)]
    elsewhere = birth(place, place.other_village, "2026-10-05 10:00", ("accept", "2026-10-08 10:00"),
                      ("register", "2026-10-08 11:00"))
    with transactional():
        rate_case(done[0], 5, None, now=at("2026-10-09 09:00"))
        rate_case(done[1], 4, "办得快", now=at("2026-10-20 09:00"))
        rate_case(done[2], 1, "等了很久", now=at("2026-10-31 23:30"))  # still October, office time
        rate_case(done[3], 2, None, now=at("2026-11-01 00:10"))          # November
        rate_case(elsewhere, 1, None, now=at("2026-10-09 09:00"))        # another township
    ratings = report(place)["ratings"]
    # October, T1: levels 5, 4 and 1 → 3 ratings, average (5 + 4 + 1) / 3 = 3.33, one bad, its follow-up open.
    assert ratings == {"count": 3, "by_level": {"5": 1, "4": 1, "3": 0, "2": 0, "1": 1}, "average": 3.33,
                       "bad": 1, "follow_ups_open": 1, "follow_ups_done": 0}
    with transactional():
        close_follow_up(follow_up_of(rating_of(done[2])), place.staff["supervisor"], "已电话回访并致歉",
                        now=at("2026-11-02 10:00"))
    assert report(place)["ratings"]["follow_ups_done"] == 1  # follow-ups are counted by their status now
