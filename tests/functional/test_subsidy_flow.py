"""The subsidy enrolment path through the real services: application checks, public notices (one notice for
several cases, objections, reposting, the scheduler ending notices), deadlines across holidays and 调休,
the 30-working-day total of 育儿补贴, annual reconfirmation, exits, and opening a case through the API."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa

from caseflow.calendar import end_of_local_day, utcnow
from caseflow.extensions import transactional
from caseflow.models import Case, PublicNotice, PublicNoticeEntry
from caseflow.services.cases import apply_transition
from caseflow.services.deadlines import recompute_open_deadlines, save_deadline_setting
from caseflow.services.errors import Conflict, Refused, ValidationFailed
from caseflow.services.subsidies import (
    advance_ended_notices, end_scheduled_exits, enrolment_of, open_annual_reconfirmations, start_public_notice,
)
from caseflow.services.users import system_user
from caseflow.workflows import latest
from tests.factories import advance_subsidy, applicant, make_subsidy_case, reload, subsidy_data
from tests.functional.test_openapi import api

SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKFLOW = latest("subsidy")


def at(day: str, hour: int = 10) -> datetime:
    """A moment in office local time (stored as UTC)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def step(case, trigger, who, now, office, reason=None, **data):
    actor = system_user(now) if who == "system" else office[who]
    with transactional():
        apply_transition(case, trigger, actor, case.version, reason=reason, data=data, now=now)
    return reload(case)


def seen(*cases):
    """The versions the start-notice page showed the cases at."""
    return {case.id: case.version for case in cases}


def reviewed(office, now, village=None, **person):
    case = make_subsidy_case(office, now=now, village=village, by="village1" if village is None else "village2",
                             **person)
    return step(case, "village_review", "village1" if village is None else "village2", now, office,
                village_opinion="符合条件")


# ------------------------------------------------------------------------------------------ application

def test_childcare_needs_the_childs_name_and_birth_date_and_a_child_under_three(office):
    with pytest.raises(ValidationFailed) as missing:
        make_subsidy_case(office, data=subsidy_data(scheme="childcare"))
    assert set(missing.value.fields) == {"child_name", "child_birth_date"}
    with pytest.raises(ValidationFailed) as too_old:
        make_subsidy_case(office, now=at("2026-11-20"),
                          data=subsidy_data(scheme="childcare", child_name="小明", child_birth_date="2023-11-19"))
    assert "three" in too_old.value.fields["child_birth_date"].en
    case = make_subsidy_case(office, now=at("2026-11-20"),
                             data=subsidy_data(scheme="childcare", child_name="小明", child_birth_date="2023-11-21"))
    enrolment = enrolment_of(case)
    assert (enrolment.scheme.code, enrolment.child_name, enrolment.child_birth_date) == \
        ("childcare", "小明", date(2023, 11, 21))


def test_an_inactive_scheme_cannot_be_applied_for(office, db):
    from caseflow.services.subsidies import scheme_by_code
    with transactional():
        scheme_by_code("tefu_died").active = False
    with pytest.raises(ValidationFailed) as error:
        make_subsidy_case(office, data=subsidy_data(scheme="tefu_died"))
    assert "scheme" in error.value.fields


def test_returned_for_documents_stops_the_clock_and_resubmission_restarts_it(office):
    case = make_subsidy_case(office, now=at("2026-11-02"))
    assert case.due_at is not None
    case = step(case, "return_for_documents", "village1", at("2026-11-03"), office, missing_items="户口簿复印件")
    assert case.due_at is None and case.paused_since is not None
    case = step(case, "resubmit", "village1", at("2026-11-10"), office, supplied_items="户口簿复印件")
    assert case.state == "applied" and case.paused_seconds == 7 * 24 * 3600 and case.due_at is not None


def test_village_review_issues_the_receipt_number(office):
    case = reviewed(office, at("2026-11-02"))
    assert case.number.startswith("BZ2026") and case.pin


# ------------------------------------------------------------------------------------------ notices

def test_one_notice_for_several_cases_of_a_village_each_moved_by_a_transition(office, db):
    now = at("2026-11-02")
    first, second = reviewed(office, now), reviewed(office, now, name="李强")
    with transactional():
        notice = start_public_notice([first.id, second.id], office["clerk"], now, versions=seen(first, second))
    first, second = reload(first), reload(second)
    assert first.state == second.state == "public_notice"
    assert first.events[-1].data["notice_id"] == second.events[-1].data["notice_id"] == notice.id
    assert enrolment_of(first).notice_id == enrolment_of(second).notice_id == notice.id
    assert {e.case_id for e in db.session.get(PublicNotice, notice.id).entries} == {first.id, second.id}
    # 7 calendar days from 2026-11-02 (Monday) end on Monday 2026-11-09.
    assert notice.ends_at == end_of_local_day(date(2026, 11, 9))
    assert first.due_at is None  # the notice stops the office's clock


def test_a_notice_takes_cases_of_one_village_only_and_only_reviewed_ones(office, db):
    now = at("2026-11-02")
    here, there = reviewed(office, now), reviewed(office, now, village=office.other_village)
    fresh = make_subsidy_case(office, now=now)
    for ids in ([here.id, there.id], [here.id, fresh.id], []):
        with pytest.raises(ValidationFailed):
            with transactional():
                start_public_notice(ids, office["clerk"], now, versions=seen(here, there, fresh))
    assert reload(here).state == "village_reviewed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PublicNotice)) == 0


def test_starting_a_notice_needs_the_version_each_case_was_seen_at(office, db):
    now = at("2026-11-02")
    first, second = reviewed(office, now), reviewed(office, now, name="李强")
    for versions, named in ((None, first), ({first.id: first.version}, second),
                            ({first.id: first.version, second.id: second.version - 1}, second)):
        with pytest.raises(Conflict) as error:
            with transactional():
                start_public_notice([first.id, second.id], office["clerk"], now, versions=versions)
        assert named.number in error.value.message.zh and named.number in error.value.message.en
    # Nothing half-done: neither case moved, no notice, no event.
    assert (reload(first).state, reload(second).state) == ("village_reviewed", "village_reviewed")
    assert (reload(first).version, reload(second).version) == (first.version, second.version)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PublicNotice)) == 0
    with transactional():
        start_public_notice([first.id, second.id], office["clerk"], now, versions=seen(first, second))
    assert reload(second).state == "public_notice"


def test_a_single_case_can_start_its_own_notice_or_join_a_running_one(office, db):
    now = at("2026-11-02")
    first = step(reviewed(office, now), "start_notice", "clerk", now, office)
    notice_id = enrolment_of(first).notice_id
    second = step(reviewed(office, now), "start_notice", "clerk", now + timedelta(days=1), office,
                  notice_id=notice_id)
    assert enrolment_of(second).notice_id == notice_id
    other = reviewed(office, now, village=office.other_village)
    with pytest.raises(ValidationFailed) as error:
        step(other, "start_notice", "clerk", now, office, notice_id=notice_id)
    assert "notice_id" in error.value.fields
    late = reviewed(office, now)
    with pytest.raises(ValidationFailed):  # the notice is over: a new name needs a new notice
        step(late, "start_notice", "clerk", at("2026-11-20"), office, notice_id=notice_id)


def test_objection_repost_and_the_scheduler_ending_only_ended_objection_free_notices(office, db):
    start = at("2026-11-02")
    objected, quiet = reviewed(office, start), reviewed(office, start, name="李强")
    with transactional():
        notice = start_public_notice([objected.id, quiet.id], office["clerk"], start, versions=seen(objected, quiet))
    objected = step(objected, "object", "village1", at("2026-11-04"), office, objection="已有工作收入，不符合条件")
    entry = db.session.scalar(sa.select(PublicNoticeEntry).where(PublicNoticeEntry.case_id == objected.id))
    assert (entry.objector, entry.objection, objected.state) == (None, "已有工作收入，不符合条件", "objection_check")

    with transactional():
        assert advance_ended_notices(at("2026-11-09", 12)) == 0  # the notice runs to the end of 11-09
    with transactional():
        assert advance_ended_notices(at("2026-11-10")) == 1
    quiet = reload(quiet)
    assert quiet.state == "notice_ended" and quiet.events[-1].actor.username == "@system"
    assert quiet.due_at is not None  # the township review's clock runs
    with transactional():
        assert advance_ended_notices(at("2026-11-10")) == 0  # idempotent

    # Checked: the list changed, so the case goes on a new notice with a new period.
    objected = step(objected, "repost", "clerk", at("2026-11-12"), office, objection_finding="经核查，收入情况属实但不影响资格")
    reposted = db.session.get(PublicNotice, enrolment_of(objected).notice_id)
    assert reposted.id != notice.id and reposted.replaces_id == notice.id
    assert reposted.starts_at == at("2026-11-12") and reposted.ends_at == end_of_local_day(date(2026, 11, 19))
    with transactional():
        assert advance_ended_notices(at("2026-11-19", 18)) == 0
    with transactional():
        assert advance_ended_notices(at("2026-11-20")) == 1
    assert reload(objected).state == "notice_ended"


def test_neither_the_system_nor_a_supervisor_can_end_a_running_notice(office):
    case = step(reviewed(office, at("2026-11-02")), "start_notice", "clerk", at("2026-11-02"), office)
    for who in ("system", "supervisor"):
        with pytest.raises(Refused):
            step(case, "end_notice", who, at("2026-11-05"), office)
    assert reload(case).state == "public_notice"
    case = step(reload(case), "end_notice", "supervisor", at("2026-11-10"), office)  # by hand, once over
    assert case.state == "notice_ended" and case.events[-1].actor.username == "supervisor"


def test_an_objection_can_lead_to_rejection_with_reasons(office):
    case = step(reviewed(office, at("2026-11-02")), "start_notice", "clerk", at("2026-11-02"), office)
    case = step(case, "object", "clerk", at("2026-11-03"), office, objector="王五", objection="户籍已迁出")
    case = step(case, "reject", "supervisor", at("2026-11-05"), office, reason="经核查户籍已于2026年迁出本县",
                legal_basis="《奖励扶助制度实施方案》")
    assert case.state == "rejected" and case.outcome == "rejected"


def test_the_notice_length_is_the_admins_public_notice_rule(office, db):
    with transactional():
        save_deadline_setting("subsidy", "public_notice", 10, None, office["admin"])
    case = step(reviewed(office, at("2026-11-02")), "start_notice", "clerk", at("2026-11-02"), office)
    notice = db.session.get(PublicNotice, enrolment_of(case).notice_id)
    assert notice.ends_at == end_of_local_day(date(2026, 11, 12))


# ------------------------------------------------------------------------------- deadlines and holidays

def test_2026_national_day_and_its_make_up_working_days_as_the_package_has_them():
    assert chinese_calendar.is_holiday(date(2026, 10, 1)) and chinese_calendar.is_holiday(date(2026, 10, 7))
    assert chinese_calendar.is_workday(date(2026, 9, 20)) and chinese_calendar.is_workday(date(2026, 10, 10))


def test_village_review_deadline_counts_make_up_days_and_skips_mid_autumn_and_national_day(office):
    # Friday 2026-09-18 + 10 working days: 09-20 (Sunday, 调休) 21 22 23 24 | 25-27 中秋 | 28 29 30 |
    # 10-01..10-07 国庆 | 10-08 10-09 → end of Friday 2026-10-09.
    case = make_subsidy_case(office, now=at("2026-09-18"))
    assert case.due_at == end_of_local_day(date(2026, 10, 9))


def test_a_notice_ending_inside_national_day_runs_to_the_next_working_day(office, db):
    case = step(reviewed(office, at("2026-09-28")), "start_notice", "clerk", at("2026-09-28"), office)
    # 09-28 + 7 calendar days = 10-05, a National Day holiday: the period runs to the end of 10-08.
    notice = db.session.get(PublicNotice, enrolment_of(case).notice_id)
    assert notice.ends_at == end_of_local_day(date(2026, 10, 8))


def test_childcare_review_and_confirmation_take_at_most_30_working_days_in_all(office):
    data = subsidy_data(scheme="childcare", child_name="小明", child_birth_date="2026-05-01")
    case = make_subsidy_case(office, now=at("2026-08-03"), data=data)
    # 2026-08-04 … 08-31: 20 working days spent before the village review.
    case = step(case, "village_review", "village1", at("2026-08-31"), office, village_opinion="符合")
    case = step(case, "start_notice", "clerk", at("2026-08-31", 11), office)  # the notice stops the clock
    with transactional():
        assert advance_ended_notices(at("2026-09-08")) == 1
    case = step(reload(case), "township_review", "clerk", at("2026-09-10"), office)
    # 22 used (20 + 09-09, 09-10), 8 left from 09-10: 11 14 15 16 17 18 20 (Sunday, 调休) 21 → 09-21,
    # before the township_reviewed rule's own 10 working days (09-23).
    assert case.due_at == end_of_local_day(date(2026, 9, 21))


def test_the_childcare_total_holds_when_deadlines_are_recomputed(office, db):
    data = subsidy_data(scheme="childcare", child_name="小明", child_birth_date="2026-05-01")
    case = make_subsidy_case(office, now=at("2026-08-03"), data=data)
    case = step(case, "village_review", "village1", at("2026-08-31"), office, village_opinion="符合")
    case = step(case, "start_notice", "clerk", at("2026-08-31", 11), office)
    with transactional():
        advance_ended_notices(at("2026-09-08"))
    case_id = step(reload(case), "township_review", "clerk", at("2026-09-10"), office).id
    # An admin lengthens the township review (every open case's deadlines are recomputed): the 30 working
    # days in all still end on 09-21.
    with transactional():
        save_deadline_setting("subsidy", "township_reviewed", 15, None, office["admin"])
    assert db.session.get(Case, case_id).due_at == end_of_local_day(date(2026, 9, 21))
    with transactional():
        recompute_open_deadlines()
    assert db.session.get(Case, case_id).due_at == end_of_local_day(date(2026, 9, 21))
    # Shortened below what is left of the 30, the state's own rule is the earlier one: 5 working days from
    # 09-10 are 11 14 15 16 17 → 09-17.
    with transactional():
        save_deadline_setting("subsidy", "township_reviewed", 5, None, office["admin"])
    assert db.session.get(Case, case_id).due_at == end_of_local_day(date(2026, 9, 17))


def test_other_schemes_keep_each_states_own_deadline(office):
    case = make_subsidy_case(office, now=at("2026-08-03"))
    case = step(case, "village_review", "village1", at("2026-08-31"), office, village_opinion="符合")
    case = step(case, "start_notice", "clerk", at("2026-08-31", 11), office)
    with transactional():
        advance_ended_notices(at("2026-09-08"))
    case = step(reload(case), "township_review", "clerk", at("2026-09-10"), office)
    # 10 working days from 09-10, the make-up Sunday 09-20 included → 09-23.
    assert case.due_at == end_of_local_day(date(2026, 9, 23))


# ---------------------------------------------------------------------------- enrolment and annual loop

ENROL = ("village_review", "start_notice", "end_notice", "township_review", "county_approve")


def enrolled(office, starts="2026-01-01", data=None, **person):
    # Fixed dates (opened 2026-01-05, enrolled 2026-04-01) keep the child-age checks true whenever this runs.
    start = at("2026-01-05")
    case = advance_subsidy(make_subsidy_case(office, now=start, data=data, **person), ENROL, office,
                           start=start)
    return step(case, "enrol", "clerk", at("2026-04-01"), office, enrolment_start=starts,
                bank_name="农业银行", bank_account="6228 4800 1234 5678 901")


def test_enrolment_records_start_account_and_for_childcare_the_third_birthday(office):
    case = enrolled(office, starts="2026-03-01")
    enrolment = enrolment_of(case)
    assert (case.state, enrolment.starts_on, enrolment.ends_on, enrolment.bank_account, enrolment.reconfirmed_year) \
        == ("active", date(2026, 3, 1), None, "6228480012345678901", 2026)
    assert "6228480012345678901" not in str(case.events[-1].data)  # the account stays out of the audit trail
    child = enrolled(office, starts="2024-01-01",
                     data=subsidy_data(scheme="childcare", child_name="小红", child_birth_date="2024-06-15"))
    enrolment = enrolment_of(child)
    assert (enrolment.starts_on, enrolment.ends_on) == (date(2025, 1, 1), date(2027, 6, 15))


def test_a_bad_account_is_refused_at_enrolment(office):
    start = utcnow() - timedelta(days=200)
    case = advance_subsidy(make_subsidy_case(office, now=start), ENROL, office, start=start)
    with pytest.raises(ValidationFailed) as error:
        step(case, "enrol", "clerk", utcnow(), office, enrolment_start="2026-01-01", bank_name="农行",
             bank_account="not-an-account")
    assert "bank_account" in error.value.fields


def test_opening_annual_reconfirmations_is_idempotent_and_skips_this_years_enrolments(office, db):
    old, recent = enrolled(office, starts="2025-03-01"), enrolled(office, starts="2026-02-01", name="李强")
    now = at("2026-12-01")
    with transactional():
        assert open_annual_reconfirmations(2026, now) == 1
    with transactional():
        assert open_annual_reconfirmations(2026, now) == 0
    assert (reload(old).state, reload(recent).state) == ("reconfirming", "active")
    assert enrolment_of(old).reconfirmed_year == 2026
    old = step(reload(old), "reconfirm", "clerk", at("2026-12-05"), office, reconfirmation_note="本人健在，户籍未变")
    with transactional():
        assert open_annual_reconfirmations(2026, at("2026-12-06")) == 0
    with transactional():
        assert open_annual_reconfirmations(2027, at("2027-12-01")) == 2


def test_suspension_and_exit_rules(office):
    died = enrolled(office, starts="2025-03-01")
    died = step(died, "schedule_exit", "clerk", at("2026-05-10"), office, reason="本人于2026年5月死亡",
                exit_ground="death")
    assert enrolment_of(died).ends_on == date(2027, 1, 1)  # that year's payment is kept
    moved = enrolled(office, starts="2025-03-01", name="李强")  # 奖扶 is paid yearly
    moved = step(moved, "schedule_exit", "clerk", at("2026-05-10"), office, reason="户籍迁出", exit_ground="hukou_moved")
    assert enrolment_of(moved).ends_on == date(2027, 1, 1)
    child = enrolled(office, starts="2025-01-01", name="王芳",
                     data=subsidy_data(scheme="childcare", child_name="小红", child_birth_date="2024-06-15"))
    child = step(child, "schedule_exit", "clerk", at("2026-05-10"), office, reason="户籍迁出", exit_ground="hukou_moved")
    assert enrolment_of(child).ends_on == date(2026, 7, 1)  # quarterly: from the next quarter
    with transactional():
        assert end_scheduled_exits(at("2026-06-30")) == 0
    with transactional():
        assert end_scheduled_exits(at("2026-07-01")) == 1
    assert reload(child).state == "ended" and reload(died).state == "exit_scheduled"


# -------------------------------------------------------------------------------------------------- API

def test_a_subsidy_case_is_opened_through_the_api(app, client, office, db):
    response = api(app, client, "village1").post("/cases", {
        "workflow": "subsidy", "jurisdiction": "V1", "applicant": applicant(),
        "data": subsidy_data(scheme="childcare", child_name="小明", child_birth_date="2026-05-01")})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    case = db.session.get(Case, body["id"])
    assert (case.workflow, case.state, body["state"]) == ("subsidy", "applied", "applied")
    assert enrolment_of(case).child_birth_date == date(2026, 5, 1)
    assert "village_review" in body["available_transitions"]
    bad = api(app, client, "village1", language="en").post("/cases", {
        "workflow": "subsidy", "jurisdiction": "V1", "applicant": applicant(),
        "data": subsidy_data(scheme="childcare")})
    assert bad.status_code == 422
    moved = api(app, client, "village1").post(f"/cases/{case.id}/transitions", {
        "trigger": "village_review", "version": case.version, "data": {"village_opinion": "符合"}})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["state"] == "village_reviewed"


# ------------------------------------------------------------------------------------------------- demo

def test_the_demo_has_subsidy_cases_in_many_states_a_notice_and_a_batch_with_a_failure(db):
    from caseflow.models import Payment, PaymentBatch
    from caseflow.services.demo import seed_demo

    with transactional():
        seed_demo(at("2026-11-24"))
    states = set(db.session.scalars(sa.select(Case.state).where(Case.workflow == "subsidy")))
    assert {"applied", "returned", "village_reviewed", "public_notice", "notice_ended", "township_reviewed",
            "county_approved", "active", "rejected"} <= states
    notice = db.session.scalar(sa.select(PublicNotice).where(PublicNotice.ends_at > at("2026-11-24")))
    assert len(notice.entries) == 2
    batch = db.session.scalar(sa.select(PaymentBatch))
    assert (batch.scheme.code, batch.period) == ("jiangfu", "2026")
    assert sorted(p.status for p in db.session.scalars(sa.select(Payment))) == ["failed", "paid"]
