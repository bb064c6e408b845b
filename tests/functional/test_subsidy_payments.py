"""Payment batches through the real services: a batch per township, who is paid for a period and how much
(also after an exit or a suspension), idempotence, results, re-payment after a failure (never doubling),
totals that reconcile, and the bank file read back."""
from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from caseflow.calendar import utcnow
from caseflow.extensions import transactional
from caseflow.extensions import db as _db
from caseflow.models import Jurisdiction, Payment, PaymentAttempt, PaymentBatch
from caseflow.services.audit import verify_chain
from caseflow.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseflow.services.subsidies import end_scheduled_exits, enrolment_of, scheme_by_code
from caseflow.services.subsidy_payments import (
    batch_totals, create_payment_batch, export_batch_xlsx, mark_payment, readable_batch, repay_payment,
    visible_batches,
)
from caseflow.services.users import save_jurisdiction
from tests.factories import Office, make_user, subsidy_data
from tests.functional.test_subsidy_flow import at, enrolled, step

ACCOUNT = "6228480012345678901"


def batch_of(office, code, period, who="supervisor", now="2026-11-20", township=None):
    actor = who if not isinstance(who, str) else office[who]
    with transactional():
        return create_payment_batch(scheme_by_code(code), period, actor, at(now), township=township)


def in_other_village(office):
    """The same office seen from 西村: cases opened and reviewed there by its village officer."""
    return Office(office.township, office.other_village, office.village,
                  office.users | {"village1": office["village2"]})


def second_township(office):
    """Township T2 (他镇) with its own village, officer, clerk and supervisor."""
    with transactional():
        township = _db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        village = save_jurisdiction(code="V3", name="南村", kind="village", parent_id=township.id)
        users = {"village1": make_user("village3", ["village_officer"], [village]),
                 "clerk": make_user("clerk_t2", ["clerk"], [township]),
                 "supervisor": make_user("supervisor_t2", ["supervisor"], [township])}
    return Office(township, village, village, users)


def by_name(batch):
    return {p.enrolment.case.applicant.name: p for p in batch.payments}


def test_a_batch_pays_each_enrolment_for_its_eligible_months(office, db):
    enrolled(office, starts="2025-01-01", name="全年")
    enrolled(office, starts="2026-11-24", name="年中")  # only December counts in 2026
    suspended = enrolled(office, starts="2025-01-01", name="暂停")
    suspended = step(suspended, "open_reconfirmation", "system", at("2026-10-05"), office, year=2026)
    step(suspended, "suspend", "clerk", at("2026-10-15"), office, reason="年审未到")
    reconfirming = enrolled(office, starts="2025-01-01", name="年审中")
    step(reconfirming, "open_reconfirmation", "system", at("2026-10-05"), office, year=2026)
    ended = enrolled(office, starts="2025-01-01", name="已退出")
    ended = step(ended, "schedule_exit", "clerk", at("2026-10-05"), office, reason="户籍迁出",
                 exit_ground="hukou_moved")
    step(ended, "end_enrolment", "clerk", at("2026-10-15"), office)
    enrolled(office, starts="2025-01-01", name="特扶", data=subsidy_data(scheme="tefu_died"))

    batch = batch_of(office, "jiangfu", "2026")
    payments = by_name(batch)
    assert set(payments) == {"全年", "年中", "暂停", "年审中", "已退出"}  # other schemes apart
    assert (payments["全年"].months, payments["全年"].amount_fen) == (12, 96000)
    assert (payments["年中"].months, payments["年中"].amount_fen) == (1, 8000)
    # Suspended on 15 October: January to October (1 October came before the suspension).
    assert (payments["暂停"].months, payments["暂停"].amount_fen) == (10, 80000)
    # Hukou moved out in October: paid to the end of the annual period the exit falls in.
    assert (payments["已退出"].months, payments["已退出"].amount_fen) == (12, 96000)
    assert all(p.status == "pending" and len(p.attempts) == 1 for p in batch.payments)
    assert payments["全年"].attempts[0].bank_account == ACCOUNT


def test_childcare_quarters_are_pro_rated_and_stop_at_the_third_birthday(office):
    data = subsidy_data(scheme="childcare", child_name="小红", child_birth_date="2024-06-15")
    enrolled(office, starts="2024-06-15", data=data, name="早生")
    enrolled(office, starts="2025-12-20", name="新生",
             data=subsidy_data(scheme="childcare", child_name="小刚", child_birth_date="2025-12-20"))
    q4 = by_name(batch_of(office, "childcare", "2026Q4"))
    assert {n: (p.months, p.amount_fen) for n, p in q4.items()} == {"早生": (3, 90000), "新生": (3, 90000)}
    q2 = by_name(batch_of(office, "childcare", "2027Q2"))
    assert (q2["早生"].months, q2["早生"].amount_fen) == (3, 90000)  # 1 June 2027: still under three
    q3 = by_name(batch_of(office, "childcare", "2027Q3"))
    assert "早生" not in q3 and q3["新生"].amount_fen == 90000


def test_a_batch_is_created_once_per_scheme_township_and_period(office, db):
    enrolled(office, starts="2025-01-01")
    first = batch_of(office, "jiangfu", "2026")
    again = batch_of(office, "jiangfu", "2026")
    assert again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
    with pytest.raises(sa.exc.IntegrityError):  # the database refuses a duplicate even past the service
        with transactional():
            db.session.add(PaymentBatch(scheme_id=first.scheme_id, township_id=office.township.id, period="2026",
                                        period_start=date(2026, 1, 1), period_end=date(2027, 1, 1),
                                        created_at=utcnow()))


# ------------------------------------------------------------------------------------- one per township

def test_a_batch_holds_every_village_of_the_township_whoever_of_its_supervisors_creates_it(office, db):
    enrolled(office, starts="2025-01-01", name="东村人")
    enrolled(in_other_village(office), starts="2025-01-01", name="西村人")
    other = second_township(office)
    enrolled(other, starts="2025-01-01", name="他镇人")
    with transactional():
        village_supervisor = make_user("supervisor_v1", ["supervisor"], [office.village])
    # A supervisor of one village only cannot create the township's batch (it would leave 西村 unpaid).
    with pytest.raises(PermissionDenied):
        batch_of(office, "jiangfu", "2026", who=village_supervisor)
    # The other township's batch for the same scheme and period, made first, takes nothing from this one
    # and does not block it.
    theirs = batch_of(other, "jiangfu", "2026")
    assert (theirs.township_id, set(by_name(theirs))) == (other.township.id, {"他镇人"})
    ours = batch_of(office, "jiangfu", "2026")
    assert ours.id != theirs.id and ours.township_id == office.township.id
    assert set(by_name(ours)) == {"东村人", "西村人"}


def test_a_supervisor_of_several_townships_names_the_one_the_batch_is_for(office, db):
    enrolled(office, starts="2025-01-01", name="东村人")
    other = second_township(office)
    with transactional():
        both = make_user("supervisor_both", ["supervisor"], [office.township, other.township])
    with pytest.raises(ValidationFailed) as error:
        batch_of(office, "jiangfu", "2026", who=both)
    assert "township_id" in error.value.fields
    with pytest.raises(PermissionDenied):  # a township the supervisor does not hold
        batch_of(office, "jiangfu", "2026", township=other.township)
    batch = batch_of(office, "jiangfu", "2026", who=both, township=office.township)
    assert batch.township_id == office.township.id and set(by_name(batch)) == {"东村人"}
    assert batch_of(office, "jiangfu", "2026").id == batch.id  # the township's own supervisor finds it


def test_overlapping_periods_are_checked_per_township(office, db):
    other = second_township(office)
    batch_of(office, "childcare", "2026Q4")
    with transactional():
        scheme_by_code("childcare").frequency = "monthly"
    assert batch_of(other, "childcare", "2026-11").township_id == other.township.id
    with pytest.raises(ValidationFailed):
        batch_of(office, "childcare", "2026-11")


def test_only_the_townships_staff_see_its_batches_and_village_staff_only_their_villages_payments(office, db):
    enrolled(office, starts="2025-01-01", name="东村人")
    enrolled(in_other_village(office), starts="2025-01-01", name="西村人")
    batch = batch_of(office, "jiangfu", "2026")
    with transactional():
        village_clerk = make_user("clerk_v1", ["clerk"], [office.village])
    for user in (office["outsider"], office["village1"]):
        assert batch.id not in set(db.session.scalars(visible_batches(user).with_only_columns(PaymentBatch.id)))
        with pytest.raises(NotFound):
            readable_batch(user, batch.id)
    _, payments = readable_batch(village_clerk, batch.id)
    assert {p.enrolment.case.applicant.name for p in payments} == {"东村人"}
    with transactional():
        village_supervisor = make_user("supervisor_v1", ["supervisor"], [office.village])
    with pytest.raises(PermissionDenied):  # a bank file of some villages only would be a partial instruction
        export_batch_xlsx(batch, village_supervisor)
    _, payments = readable_batch(office["auditor"], batch.id)
    assert {p.enrolment.case.applicant.name for p in payments} == {"东村人", "西村人"}


# --------------------------------------------------------------------------------- months already past

def test_a_death_recorded_in_november_keeps_the_years_payment_when_the_batch_comes_after_the_end(office, db):
    case = enrolled(office, starts="2025-01-01", name="已故")
    step(case, "schedule_exit", "clerk", at("2026-11-10"), office, reason="本人死亡", exit_ground="death")
    with transactional():
        assert end_scheduled_exits(at("2027-01-02")) == 1  # the scheduler ends it on 2 January
    assert enrolment_of(case).ends_on == date(2027, 1, 1)
    payment = by_name(batch_of(office, "jiangfu", "2026", now="2027-01-05"))["已故"]
    assert (payment.months, payment.amount_fen) == (12, 96000)
    assert "已故" not in by_name(batch_of(office, "jiangfu", "2027", now="2027-01-05"))


def test_a_child_who_turned_three_mid_quarter_is_paid_the_months_before_in_a_later_batch(office, db):
    data = subsidy_data(scheme="childcare", child_name="小红", child_birth_date="2024-05-15")
    case = enrolled(office, starts="2024-05-15", data=data, name="满三岁")
    step(case, "schedule_exit", "clerk", at("2027-05-16"), office, reason="孩子满三周岁",
         exit_ground="child_turned_three")
    with transactional():
        assert end_scheduled_exits(at("2027-05-17")) == 1
    payment = by_name(batch_of(office, "childcare", "2027Q2", now="2027-07-03"))["满三岁"]
    assert (payment.months, payment.amount_fen) == (2, 60000)  # April and May (1 May < 15 May)


def test_suspended_months_are_not_paid_even_after_resuming(office, db):
    case = enrolled(office, starts="2025-01-01", name="暂停")
    case = step(case, "open_reconfirmation", "system", at("2026-12-20"), office, year=2027)
    case = step(case, "suspend", "clerk", at("2026-12-28"), office, reason="年审未到")
    step(case, "resume", "clerk", at("2027-02-10"), office, reason="已补办年审")
    payments = by_name(batch_of(office, "jiangfu", "2026", now="2027-03-01"))
    assert payments["暂停"].months == 12  # suspended on 28 December: December had begun before
    payment = by_name(batch_of(office, "jiangfu", "2027", now="2027-03-01"))["暂停"]
    assert (payment.months, payment.amount_fen) == (10, 80000)  # January and February not paid


def test_a_wrong_or_overlapping_period_is_refused_with_a_message(office, db):
    with pytest.raises(ValidationFailed) as wrong:
        batch_of(office, "jiangfu", "2026Q4")
    assert "2026Q4" in wrong.value.fields["period"].en or "annual" in wrong.value.fields["period"].en
    batch_of(office, "childcare", "2026Q4")
    with transactional():
        scheme_by_code("childcare").frequency = "monthly"
    with pytest.raises(ValidationFailed) as overlap:
        batch_of(office, "childcare", "2026-11")
    assert overlap.value.fields["period"].zh.startswith("该项目在本乡镇已有")


def test_only_supervisors_create_batches_and_export(office):
    enrolled(office, starts="2025-01-01")
    for who in ("clerk", "village1", "auditor", "admin"):
        with pytest.raises(PermissionDenied):
            batch_of(office, "jiangfu", "2026", who=who)
    batch = batch_of(office, "jiangfu", "2026")
    with pytest.raises(PermissionDenied):
        export_batch_xlsx(batch, office["clerk"])


def totals_reconcile(batch):
    totals = batch_totals(batch)
    assert totals.total == sum(p.amount_fen for p in batch.payments) == totals.paid + totals.failed + totals.pending
    return totals


def test_failure_then_repayment_never_pays_a_period_twice(office, db):
    for name in ("甲", "乙", "丙"):
        enrolled(office, starts="2025-01-01", name=name)
    batch = batch_of(office, "jiangfu", "2026")
    payments = by_name(batch)
    assert totals_reconcile(batch).pending == 3 * 96000

    with transactional():
        mark_payment(payments["甲"], "paid", None, office["clerk"])
        mark_payment(payments["乙"], "failed", "账号已销户", office["clerk"])
    totals = totals_reconcile(batch)
    assert (totals.paid, totals.failed, totals.pending) == (96000, 96000, 96000)

    with pytest.raises(ValidationFailed):  # a failure needs its reason
        with transactional():
            mark_payment(payments["丙"], "failed", " ", office["clerk"])
    with pytest.raises(Conflict):  # a result is recorded once
        with transactional():
            mark_payment(payments["甲"], "failed", "误操作", office["clerk"])
    with pytest.raises(Conflict):  # a paid payment is never sent again
        with transactional():
            repay_payment(payments["甲"], "农业银行", "6228480099998888777", office["clerk"])
    with pytest.raises(ValidationFailed):
        with transactional():
            repay_payment(payments["乙"], "农业银行", "123", office["clerk"])

    with transactional():
        attempt = repay_payment(payments["乙"], "工商银行", "6222 0202 0011 2233 445", office["clerk"])
    failed = payments["乙"].attempts[0]
    assert (attempt.seq, attempt.retry_of_id, attempt.bank_account) == (2, failed.id, "6222020200112233445")
    assert enrolment_of(payments["乙"].enrolment.case).bank_account == "6222020200112233445"
    assert (failed.status, failed.failure_reason) == ("failed", "账号已销户")
    totals = totals_reconcile(batch)
    assert (totals.count, totals.total, totals.pending) == (3, 3 * 96000, 2 * 96000)  # no second payment
    with pytest.raises(Conflict):  # still pending: no third attempt
        with transactional():
            repay_payment(payments["乙"], "工商银行", "6222020200112233445", office["clerk"])
    with transactional():
        mark_payment(payments["乙"], "paid", None, office["supervisor"])
        mark_payment(payments["丙"], "paid", None, office["clerk"])
    totals = totals_reconcile(batch)
    assert (totals.paid, totals.failed, totals.pending) == (3 * 96000, 0, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)) == 4
    # Running the batch again changes nothing.
    assert batch_of(office, "jiangfu", "2026").id == batch.id and len(batch.payments) == 3
    # Each result is in the person's audit trail, the chain intact, the account number nowhere in it.
    case = payments["乙"].enrolment.case
    trail = [(e.trigger, e.reason, e.data) for e in case.events if e.trigger.startswith("payment_")]
    assert trail == [("payment_failed", "账号已销户", {"period": "2026", "amount_fen": 96000}),
                     ("payment_retried", None, {"period": "2026", "amount_fen": 96000}),
                     ("payment_paid", None, {"period": "2026", "amount_fen": 96000})]
    assert verify_chain(case) is None


def test_the_bank_file_lists_what_the_bank_must_pay_with_a_totals_row(office, db):
    first = enrolled(office, starts="2025-01-01", name="甲")
    enrolled(office, starts="2026-11-24", name="乙")
    enrolled(office, starts="2025-01-01", name="丙")
    batch = batch_of(office, "jiangfu", "2026")
    payments = by_name(batch)
    with transactional():
        mark_payment(payments["丙"], "paid", None, office["clerk"])  # already paid: not asked again
    data = export_batch_xlsx(batch, office["supervisor"])
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows[0] == ("序号", "姓名", "居民身份证号", "开户银行", "银行账号", "金额（元）", "业务参考号")
    body = rows[1:-1]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in body] == [
        (1, "甲", first.applicant.resident_id, ACCOUNT, "960.00"),
        (2, "乙", payments["乙"].enrolment.case.applicant.resident_id, ACCOUNT, "80.00"),
    ]
    assert body[0][6] == payments["甲"].attempts[-1].reference
    assert rows[-1][0] == "合计" and rows[-1][1] == "2 笔" and rows[-1][5] == "1040.00"


def test_two_clerks_recording_a_result_at_once_cannot_both_win(office, db):
    enrolled(office, starts="2025-01-01")
    payment = batch_of(office, "jiangfu", "2026").payments[0]
    assert payment.status == "pending"
    with db.engine.begin() as other:  # another clerk's request committed first
        other.execute(sa.update(Payment).where(Payment.id == payment.id)
                      .values(status="paid", version=Payment.version + 1))
    with pytest.raises(Conflict):
        with transactional():
            mark_payment(payment, "failed", "户名不符", office["clerk"])
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "paid"
