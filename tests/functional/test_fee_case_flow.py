"""Fee cases end to end through the services: the legal guards (行政处罚法 / 行政强制法), the account's
figures, payments and instalments, appeals, the scheduler's accrual, and the printed documents."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from caseflow.extensions import transactional
from caseflow.models import Case, FeeAccount, FeeType
from caseflow.services.cases import apply_transition, available_steps, open_case
from caseflow.services.errors import PermissionDenied, Refused, ValidationFailed
from caseflow.services.fees import (
    HEARING_REQUEST_LATE, LEGACY_READ_ONLY, NOT_DELEGATED, accrue_late_charges, balance, record_payment, save_fee_type,
)
from caseflow.workflows.fee_case import (
    ABOVE_NOTIFIED, CHAIR_IS_INVESTIGATOR, HEARING_TOO_SOON, SAME_OFFICER, TOO_LATE,
)
from tests.conftest import login
from tests.factories import (
    FEE_NOW, FEE_OPENED, FEE_STEP_INPUT, advance_fee, applicant, fee_case_data, make_fee_case, reload,
)
from tests.functional.ui_support import text_of

TO_NOTICE = ("investigate", "review", "serve_notice")
TO_SERVED = TO_NOTICE + ("decide", "serve_decision")


def step(case, trigger, who, office, now=FEE_NOW, **changes):
    reason = changes.pop("reason", None)
    data = FEE_STEP_INPUT.get(trigger, {}) | changes
    with transactional():
        apply_transition(case, trigger, office[who], case.version, reason=reason, data=data, now=now)
    return reload(case)


def refused(case, trigger, who, office, message, **changes):
    before = (case.state, case.version)
    with pytest.raises(Refused) as refusal:
        step(case, trigger, who, office, **changes)
    assert refusal.value.message.zh.startswith(message.zh.split("{")[0][:12])
    case = reload(case)
    assert (case.state, case.version) == before
    return refusal.value


# -------------------------------------------------------------------------------------- opening


def open_fee(office, when, **data):
    with transactional():
        return open_case("fee_case", office.village.id, applicant(name="刘某"), fee_case_data(**data), office["clerk"],
                         now=when)


@pytest.mark.parametrize("harm, years", [("no", 2), ("yes", 5)])
def test_limitation_boundary(db, office, harm, years):
    violation = date(2020, 3, 15)
    last_day = violation.replace(year=2020 + years)
    on_last_day = datetime(last_day.year, last_day.month, last_day.day, 4, tzinfo=FEE_NOW.tzinfo)
    case = open_fee(office, on_last_day, violation_date=violation.isoformat(), harm_to_life_or_health=harm)
    assert case.state == "opened"
    with pytest.raises(ValidationFailed) as failure:
        open_fee(office, on_last_day + timedelta(days=1), violation_date=violation.isoformat(),
                 harm_to_life_or_health=harm)
    assert failure.value.fields["violation_date"] == TOO_LATE.format(years=years)


def test_non_delegated_type_cannot_be_opened(db, office):
    with transactional():
        db.session.execute(sa.update(FeeType).where(FeeType.code == "sex_determination_fine")
                           .values(delegated_to_township=False))
    with pytest.raises(ValidationFailed) as failure:
        open_fee(office, FEE_OPENED, fee_type="sex_determination_fine", party_role="provider_responsible")
    assert failure.value.fields["fee_type"] == NOT_DELEGATED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


@pytest.mark.parametrize("name", ["社会抚养费", "社会 抚养费（征收）", "计划外生育费", "超生罚款", "超生费",
                                  "Social maintenance fee"])
def test_abolished_type_cannot_be_created(db, office, name):
    with pytest.raises(ValidationFailed) as failure:
        with transactional():
            save_fee_type(office["admin"], fee_type_id=None, code="legacy_fee", name=name, name_en=None,
                          legal_basis="（无）", delegated_to_township=True, active=True)
    assert "2021" in failure.value.fields["name"].zh
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeeType)) == 2


def test_fee_types_are_admin_only(db, office):
    with pytest.raises(PermissionDenied):
        save_fee_type(office["supervisor"], fee_type_id=None, code="x_fee", name="某罚款", name_en=None,
                      legal_basis="某法", delegated_to_township=True, active=True)


def test_abolished_type_is_not_offered_and_legacy_case_is_read_only(db, office):
    with transactional():
        db.session.add(FeeType(code="legacy_shfyf", name="社会抚养费", legal_basis="已废止", delegated_to_township=True,
                               active=True, abolished=True, updated_at=FEE_OPENED))
    with pytest.raises(ValidationFailed) as failure:
        open_fee(office, FEE_OPENED, fee_type="legacy_shfyf")
    assert "fee_type" in failure.value.fields
    # A legacy record (imported as it was) can be read but no step can be taken.
    case = make_fee_case(office)
    advance_fee(case, ("investigate",), office)
    with transactional():
        case.data = case.data | {"fee_type": "legacy_shfyf"}
    case = reload(case)
    refused(case, "review", "supervisor", office, LEGACY_READ_ONLY)
    refused(case, "transfer", "supervisor", office, LEGACY_READ_ONLY, reason="x")
    assert available_steps(case, office["supervisor"]) == []  # and none is offered


# --------------------------------------------------------------------------------------- guards

def test_two_distinct_officers(db, office):
    case = make_fee_case(office)
    refused(case, "investigate", "clerk", office, SAME_OFFICER, investigator_2="李执法")
    refused(case, "investigate", "clerk", office, SAME_OFFICER, investigator_2_cert="zf330100001")
    with pytest.raises(ValidationFailed):  # only one officer given
        step(case, "investigate", "clerk", office, investigator_2="", investigator_2_cert="")
    case = step(case, "investigate", "clerk", office)
    assert case.state == "investigating" and case.number.startswith("FK")


def test_major_case_needs_legal_review(db, office):
    case = advance_fee(make_fee_case(office), ("investigate",), office)
    from caseflow.workflows.fee_case import LEGAL_REVIEW_NEEDED
    refused(case, "review", "supervisor", office, LEGAL_REVIEW_NEEDED, major_case="yes")
    case = step(case, "review", "supervisor", office, major_case="yes", legal_review="passed", legal_reviewer="赵法制")
    assert case.state == "reviewed"


def test_hearing_guards_and_clock_stop(db, office):
    case = advance_fee(make_fee_case(office), TO_NOTICE, office)
    refused(case, "schedule_hearing", "clerk", office, HEARING_TOO_SOON, hearing_date="2025-01-19")
    refused(case, "schedule_hearing", "clerk", office, CHAIR_IS_INVESTIGATOR, hearing_chair="王执法")
    # Notice served Friday 2025-01-10: the request is due by 01-17 (five working days).
    late = refused(case, "schedule_hearing", "clerk", office, HEARING_REQUEST_LATE, hearing_requested_on="2025-01-18",
                   hearing_notice_date="2025-01-18", hearing_date="2025-01-25")
    assert "2025-01-17" in late.message.zh
    case = step(case, "schedule_hearing", "clerk", office, hearing_date="2025-01-20")  # exactly 7 days
    assert case.state == "hearing_scheduled" and case.due_at is None and case.paused_since is not None
    case = step(case, "record_hearing", "clerk", office, now=FEE_NOW + timedelta(days=10))
    assert case.paused_seconds == 10 * 86400


def test_decided_amount_above_notified_refused(db, office):
    case = advance_fee(make_fee_case(office), TO_NOTICE, office)
    refusal = refused(case, "decide", "supervisor", office, ABOVE_NOTIFIED, decided_amount="3600.01")
    assert "3600.01" in refusal.message.zh and "3600.00" in refusal.message.zh and "Art. 45" in refusal.message.en
    case = step(case, "decide", "supervisor", office, decided_amount="3000")
    assert case.state == "decided" and db.session.get(FeeAccount, case.id).decided_fen == 300000


def test_electronic_service_needs_consent(db, office):
    from caseflow.workflows.fee_case import ELECTRONIC_NEEDS_CONSENT
    case = advance_fee(make_fee_case(office), TO_NOTICE + ("decide",), office)
    refused(case, "serve_decision", "clerk", office, ELECTRONIC_NEEDS_CONSENT, decision_service_method="electronic")
    case = step(case, "serve_decision", "clerk", office, decision_service_method="electronic", electronic_consent="yes")
    account = db.session.get(FeeAccount, case.id)
    assert case.state == "served" and account.payment_due_on == date(2025, 2, 8)  # 01-24 + 15 d (a Saturday 调休 workday)


def test_demand_and_court_guards(db, office):
    from caseflow.services.fees import DEMAND_WAIT
    from caseflow.workflows.fee_case import COURT_WINDOW_MISSED, REMEDIES_RUNNING
    case = advance_fee(make_fee_case(office), TO_SERVED + ("start_payment", "mark_overdue"), office)
    early = datetime(2025, 7, 24, 4, tzinfo=FEE_NOW.tzinfo)  # remedies run to 2025-07-24 inclusive
    with pytest.raises(Refused) as refusal:
        step(case, "serve_demand", "clerk", office, now=early, demand_served_on="2025-07-24")
    assert refusal.value.message == REMEDIES_RUNNING
    case = step(case, "serve_demand", "clerk", office, now=early + timedelta(days=1), demand_served_on="2025-07-25")
    # 10 working days after Friday 2025-07-25 end with 2025-08-08: the office may apply from Monday 08-11.
    with pytest.raises(Refused) as refusal:
        step(case, "apply_to_court", "supervisor", office, now=datetime(2025, 8, 8, 4, tzinfo=FEE_NOW.tzinfo),
             court_applied_on="2025-08-08")
    assert refusal.value.message == DEMAND_WAIT
    with pytest.raises(Refused) as refusal:
        step(case, "apply_to_court", "supervisor", office, now=datetime(2025, 10, 25, 4, tzinfo=FEE_NOW.tzinfo),
             court_applied_on="2025-10-25")
    assert refusal.value.message == COURT_WINDOW_MISSED
    case = step(case, "apply_to_court", "supervisor", office, now=datetime(2025, 8, 11, 4, tzinfo=FEE_NOW.tzinfo),
             court_applied_on="2025-08-11")
    assert case.state == "court_applied"


# -------------------------------------------------------------------------------- money, appeals

def served_case(office):
    return advance_fee(make_fee_case(office), TO_SERVED + ("start_payment",), office)


def test_payments_partial_then_paid_with_late_charge(db, office):
    case = served_case(office)  # 3600.00 decided, due 2025-02-08
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=100000, paid_on=date(2025, 2, 8),
                       receipt_ref="R-1", now=FEE_NOW)
    case = reload(case)
    # From 02-09 on: 3 % of 2600.00 = 78.00 a day; as of 02-10 two days.
    assert balance(case, date(2025, 2, 10)).late_charge == 15600
    with pytest.raises(ValidationFailed) as failure:
        with transactional():
            record_payment(case, office["clerk"], case.version, amount_fen=10**9, paid_on=date(2025, 2, 10),
                           receipt_ref="R-2", now=FEE_NOW)
    assert "amount" in failure.value.fields
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=260000, paid_on=date(2025, 2, 10),
                       receipt_ref="R-2", now=FEE_NOW)
    case = reload(case)
    assert case.state == "payment_due"  # the late charge is still owed
    owed = balance(case, date(2025, 9, 1))
    assert (owed.paid_principal, owed.late_charge, owed.outstanding) == (360000, 15600, 15600)
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=15600, paid_on=date(2025, 8, 30),
                       receipt_ref="R-3", now=FEE_NOW)
    case = reload(case)
    assert case.state == "paid" and case.closed_at is not None
    account = db.session.get(FeeAccount, case.id)
    assert account.decided_fen + account.late_charge_fen - account.paid_principal_fen - account.late_charge_paid_fen == 0
    assert [e.trigger for e in case.events][-2:] == ["record_payment", "settle"]


def test_stale_payment_conflicts(db, office):
    from caseflow.services.errors import Conflict
    case = served_case(office)
    seen = case.version
    with transactional():
        record_payment(case, office["clerk"], seen, amount_fen=100, paid_on=date(2025, 2, 1), receipt_ref="R-1",
                       now=FEE_NOW)
    with pytest.raises(Conflict):
        with transactional():
            record_payment(reload(case), office["clerk2"], seen, amount_fen=100, paid_on=date(2025, 2, 1),
                           receipt_ref="R-2", now=FEE_NOW)


def test_appeal_stops_late_charge_and_resumes_where_it_was(db, office):
    case = advance_fee(served_case(office), ("mark_overdue",), office,
                       now=datetime(2025, 2, 12, 2, tzinfo=FEE_NOW.tzinfo))
    # Overdue from 02-09. Appeal filed (recorded) on 02-13 local: days 02-13 .. 03-20 do not count.
    case = step(case, "appeal", "clerk", office, now=datetime(2025, 2, 13, 2, tzinfo=FEE_NOW.tzinfo),
                appeal_filed_on="2025-02-13")
    assert case.state == "under_appeal" and case.data["appeal_from"] == "overdue"
    during = balance(case, date(2025, 3, 1)).late_charge
    assert during == 4 * 10800  # 02-09..02-12 at 108.00 a day
    case = step(case, "appeal_changed", "supervisor", office, now=datetime(2025, 3, 20, 2, tzinfo=FEE_NOW.tzinfo),
                changed_amount="3000.00")
    assert case.state == "overdue"  # back where the appeal found it
    # The changed decision replaces the original: the charge is recomputed on 3000.00 (90.00 a day) for
    # the four days before the appeal, and resumes after 03-20.
    assert balance(case, date(2025, 3, 20)).late_charge == 4 * 9000
    assert balance(case, date(2025, 3, 22)).late_charge == 6 * 9000
    # Capped at the principal.
    assert balance(case, date(2026, 1, 1)).late_charge == 300000


def test_appeal_cannot_raise_and_revoked_ends(db, office):
    from caseflow.workflows.fee_case import CHANGED_ABOVE_ORIGINAL
    case = step(served_case(office), "appeal", "clerk", office)
    refused(case, "appeal_changed", "supervisor", office, CHANGED_ABOVE_ORIGINAL, changed_amount="3600.01")
    case = step(case, "appeal_revoked", "supervisor", office)
    assert case.state == "revoked" and case.closed_at and balance(case, date(2025, 9, 1)).outstanding == 0


def test_instalments_and_scheduler_accrual(db, office):
    case = step(served_case(office), "grant_instalments", "supervisor", office,
                now=datetime(2025, 2, 3, 2, tzinfo=FEE_NOW.tzinfo))
    account = db.session.get(FeeAccount, case.id)
    assert [(r.due_on, r.amount_fen) for r in account.instalments] == [
        (date(2025, 3, 1), 120000), (date(2025, 4, 1), 120000), (date(2025, 5, 1), 120000)]
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=120000, paid_on=date(2025, 3, 1),
                       receipt_ref="R-1", now=datetime(2025, 3, 2, 2, tzinfo=FEE_NOW.tzinfo))
    # The second instalment is missed: from 04-02, 3 % of 1200.00 = 36.00 a day.
    run_at = datetime(2025, 4, 4, 1, tzinfo=FEE_NOW.tzinfo)
    with transactional():
        assert accrue_late_charges(run_at) == 1
    case = reload(case)
    account = db.session.get(FeeAccount, case.id)
    assert case.state == "overdue" and case.events[-1].actor.username == "@system"
    assert (account.late_charge_fen, account.late_charge_as_of) == (3 * 3600, date(2025, 4, 4))
    with transactional():
        assert accrue_late_charges(run_at + timedelta(hours=3)) == 0  # idempotent within the day
    assert db.session.get(FeeAccount, case.id).late_charge_fen == 3 * 3600


def test_scheduler_starts_payment_period(db, office):
    case = advance_fee(make_fee_case(office), TO_SERVED, office)
    with transactional():
        assert accrue_late_charges(datetime(2025, 1, 25, 2, tzinfo=FEE_NOW.tzinfo)) == 1
    assert reload(case).state == "payment_due"


# ------------------------------------------------------------------------------------- documents

def test_documents_show_the_figures(app, db, office):
    case = advance_fee(make_fee_case(office), TO_SERVED + ("start_payment", "mark_overdue"), office)
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=160000, paid_on=date(2025, 2, 8),
                       receipt_ref="R-1", now=FEE_NOW)
    case = step(case, "serve_demand", "clerk", office)  # demand served 2025-08-01
    client = app.test_client()
    login(client, "clerk")
    notice = text_of(client.get(f"/cases/{case.id}/documents/advance_notice"))
    assert "行政处罚事先告知书" in notice and "拟责令退回人民币 3,600.00 元" in notice
    assert "2025年1月17日前" in notice  # 5 working days after Friday 01-10
    decision = text_of(client.get(f"/cases/{case.id}/documents/decision"))
    assert "人民币 3,600.00 元" in decision and "2025年2月8日前" in decision
    assert "六十日内向示例县人民政府申请行政复议" in decision.replace(app.config["CASEFLOW_COUNTY_GOVERNMENT"], "示例县人民政府")
    assert app.config["CASEFLOW_COURT"] in decision and "百分之三" in decision
    demand = text_of(client.get(f"/cases/{case.id}/documents/demand"))
    # 2000.00 unpaid from 02-09 to 08-01: 60.00 a day reaches the cap of 3600.00 after 60 days.
    assert "截至2025年8月1日" in demand and "加处罚款（每日百分之三，不超过罚款数额） 3,600.00 元" in demand
    assert "合计未缴 5,600.00 元" in demand and "2025年8月15日前" in demand


def test_backdated_payment_cannot_overpay(db, office):
    case = served_case(office)  # due 2025-02-08; by 09-01 the late charge has reached the cap
    assert balance(case, date(2025, 9, 1)).outstanding == 720000
    # Paying 7200.00 dated on the due date would leave no late charge at all: only 3600.00 was owed then.
    with pytest.raises(ValidationFailed) as failure:
        with transactional():
            record_payment(case, office["clerk"], case.version, amount_fen=720000, paid_on=date(2025, 2, 8),
                           receipt_ref="R-1", now=FEE_NOW)
    assert "3,600.00" in failure.value.fields["amount"].zh
    case = reload(case)
    assert db.session.get(FeeAccount, case.id).paid_principal_fen == 0 and case.state == "payment_due"
