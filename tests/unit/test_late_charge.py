"""Late-charge arithmetic (行政处罚法 第72–73条) and the working-day deadlines of fee cases across the 2026
National Day holiday and its make-up working days (chinese-calendar: 10-01..10-07 off; Sunday 09-20 and
Saturday 10-10 worked). Accounts are built through the real services."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from caseflow.calendar import LOCAL_TZ
from caseflow.extensions import transactional
from caseflow.models import FeeAccount
from caseflow.services.cases import apply_transition
from caseflow.services.errors import Refused
from caseflow.services.fees import DEMAND_WAIT, late_charge, record_payment
from caseflow.views.fees import fee_document_figures
from tests.factories import FEE_STEP_INPUT, make_fee_case, reload


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=hour), LOCAL_TZ)


def move(case, office, trigger, now, **changes):
    step_roles = {"review", "decide", "apply_to_court", "appeal_upheld", "appeal_changed", "grant_instalments"}
    who = office["supervisor"] if trigger in step_roles else office["clerk"]
    with transactional():
        apply_transition(case, trigger, who, case.version, data=FEE_STEP_INPUT.get(trigger, {}) | changes, now=now)
    return reload(case)


def served_2026(office, served_on="2026-09-17", amount="1000.00"):
    """A case decided at ``amount`` and served on ``served_on`` (steps in the weeks before)."""
    base = date.fromisoformat(served_on) - timedelta(days=40)
    day = lambda n: (base + timedelta(days=n)).isoformat()  # noqa: E731
    case = make_fee_case(office, now=at(day(0)), violation_date=day(-30))
    case = move(case, office, "investigate", at(day(1)))
    case = move(case, office, "review", at(day(2)))
    case = move(case, office, "serve_notice", at(day(3)), proposed_amount=amount, notice_served_on=day(3))
    case = move(case, office, "decide", at(day(20)), decided_amount=amount)
    case = move(case, office, "serve_decision", at(served_on), decision_served_on=served_on)
    return move(case, office, "start_payment", at(served_on))


def test_payment_period_ending_in_the_holiday_runs_to_the_next_working_day(db, office):
    case = served_2026(office)  # 09-17 + 15 days = 10-02, a National Day holiday
    account = db.session.get(FeeAccount, case.id)
    assert account.payment_due_on == date(2026, 10, 8)
    assert late_charge(case, date(2026, 10, 8)) == 0
    assert late_charge(case, date(2026, 10, 9)) == 3000  # 3 % of 1000.00
    assert late_charge(case, date(2026, 10, 12)) == 4 * 3000


def test_cap_at_the_principal(db, office):
    case = served_2026(office)
    # 3 % a day reaches 100 % after 33⅓ days: capped from the 34th day on.
    assert late_charge(case, date(2026, 11, 10)) == 33 * 3000
    assert late_charge(case, date(2026, 11, 11)) == 100000
    assert late_charge(case, date(2027, 6, 1)) == 100000


def test_partial_payments_reduce_the_daily_charge(db, office):
    case = served_2026(office, amount="333.33")
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=13333, paid_on=date(2026, 10, 10),
                       receipt_ref="R-1", now=at("2026-10-20"))
    # 10-09, 10-10: 3 % of 333.33 (9.9999 yuan) a day; from 10-11: 3 % of 200.00 = 6.00; rounded down once.
    assert late_charge(case, date(2026, 10, 10)) == 1999  # 19.9998 yuan
    assert late_charge(case, date(2026, 10, 12)) == (2 * 33333 * 3 + 2 * 20000 * 3) // 100


def test_no_accrual_under_appeal_and_resumes_after(db, office):
    case = served_2026(office)
    case = move(case, office, "appeal", at("2026-10-12"), appeal_filed_on="2026-10-12")
    assert late_charge(case, date(2026, 10, 30)) == 3 * 3000  # 10-09, 10-10, 10-11 only
    case = move(case, office, "appeal_upheld", at("2026-11-02"), appeal_decided_on="2026-11-02")
    assert case.state == "payment_due"
    assert late_charge(case, date(2026, 11, 2)) == 3 * 3000
    assert late_charge(case, date(2026, 11, 4)) == 5 * 3000  # resumes on 11-03


def test_hearing_request_deadline_counts_working_days_over_national_day(app, db, office):
    case = make_fee_case(office, now=at("2026-09-01"), violation_date="2026-08-01")
    case = move(case, office, "investigate", at("2026-09-02"))
    case = move(case, office, "review", at("2026-09-03"))
    case = move(case, office, "serve_notice", at("2026-09-30"), notice_served_on="2026-09-30")
    # 5 working days after Wed 09-30: 10-08, 10-09, 10-10 (make-up Saturday), 10-12, 10-13.
    assert case.due_at == at("2026-10-14", 0).astimezone(timezone.utc)  # the end of 10-13
    with app.test_request_context():
        assert fee_document_figures(case)["hearing_request_by"] == date(2026, 10, 13)


def test_demand_waits_ten_working_days_over_national_day(app, db, office):
    case = served_2026(office, served_on="2026-03-10")  # remedies run out 09-10; court window to 12-10
    case = move(case, office, "mark_overdue", at("2026-04-01"))
    case = move(case, office, "serve_demand", at("2026-09-29"), demand_served_on="2026-09-29")
    # 09-30, 10-08, 10-09, 10-10 (make-up), 10-12 … 10-16, 10-19: the 10th working day is 10-19.
    with app.test_request_context():
        assert fee_document_figures(case)["demand_reply_by"] == date(2026, 10, 19)
    with pytest.raises(Refused) as refusal:
        move(case, office, "apply_to_court", at("2026-10-19"), court_applied_on="2026-10-19")
    assert refusal.value.message == DEMAND_WAIT
    case = move(case, office, "apply_to_court", at("2026-10-20"), court_applied_on="2026-10-20")
    assert case.state == "court_applied"
