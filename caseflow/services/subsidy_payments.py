"""Subsidy payments: a batch per scheme and period, one payment per eligible enrolment, each sent to the
bank as attempts (a failed attempt is followed by a new one to the corrected account).

Money rules (all integer fen, never float):
- A period pays ``annual_fen × eligible months // 12``: the division rounds DOWN to the fen, once per
  payment. (All shipped schemes are multiples of 12 fen a month, so nothing is lost for them.)
- A month is eligible when the enrolment covers its first day: ``starts_on ≤ first day < ends_on``. A child
  born on 15 March 2025 is paid April 2025 … March 2028: exactly 36 months of 300 元 (育儿补贴). A child born
  before 2025 is paid only for months from 2025-01-01 (the enrolment cannot start earlier).
- What decides a month is those dates, never the case's state when the batch is made: an enrolment that has
  since ended (death: paid to 31 December; other exits: to the next payment period; the third birthday) is
  still paid for its months of an earlier period, whenever that period's batch is created.
- Suspension: a month whose first day falls while the enrolment was suspended is not paid. The suspension
  runs from the day the ``suspend`` step was recorded (its date in the case's audit trail, which is the
  record of it) to the day of ``resume``; if the enrolment is ended from suspension, it never resumes.
  Suspended months are NOT paid in arrears on resumption: a suspension follows a failed 年审 (the person did
  not show they were still eligible for those months), and paying them would need a fresh decision, which
  is a case of its own, not a batch's arithmetic.
- Batch totals are sums of its payments, so they reconcile by construction:
  total = paid + failed + pending. A re-payment is a new attempt on the same payment (not a new payment), so
  it never adds to the total, and a paid payment takes no further attempt.

Who: a batch belongs to one township and holds every eligible enrolment of all its villages, so a period is
paid once for the whole township. Only a supervisor who holds that township itself (not just some of its
villages) creates it and exports the bank file (it carries full resident IDs and account numbers, which
the bank needs to credit the right person); clerks and supervisors record results and re-pay. Staff see
the batches of their township and, within them, the payments of the villages they work in.
Recovering an overpayment is a fee case, never a deduction here.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from openpyxl import Workbook

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.calendar import local_date
from caseflow.models import (
    Case, CaseEvent, Jurisdiction, Payment, PaymentAttempt, PaymentBatch, SubsidyEnrolment, SubsidyScheme, User,
)
from caseflow.services import access
from caseflow.services.audit import append_event
from caseflow.services.cases import flush_or_conflict
from caseflow.services.errors import INVALID_DATA, Conflict, NotFound, PermissionDenied, ValidationFailed
from caseflow.services.subsidies import BAD_ACCOUNT
from caseflow.workflows.definition import REQUIRED, TOO_LONG, Text, format_yuan

BAD_PERIOD = Text("期间格式应为：按年 2026，按季 2026Q4，按月 2026-11（与该项目的发放周期一致）。",
                  "The period must match the scheme's frequency: annual 2026, quarterly 2026Q4, monthly 2026-11.")
PERIOD_OVERLAPS = Text("该项目在本乡镇已有与此期间重叠的发放批次。",
                       "The scheme already has a batch of this township overlapping that period.")
CHOOSE_TOWNSHIP = Text("请选择乡镇。", "Choose the township.")
TOWNSHIP_SUPERVISORS_ONLY = Text("只有主管该乡镇（而非其中部分村）的主管可以生成该乡镇的发放批次。",
                                 "Only a supervisor of the township itself (not just some of its villages) "
                                 "creates its payment batches.")
BATCH_EXISTS = Text("该批次刚由他人生成，请刷新。", "Someone has just created that batch — reload.")
BATCH_NOT_FOUND = Text("没有这个发放批次，或您无权查看。", "No such payment batch, or you may not see it.")
PAYMENT_NOT_FOUND = Text("没有这笔发放，或您无权查看。", "No such payment, or you may not see it.")
SUPERVISORS_ONLY = Text("只有主管可以生成发放批次和导出银行文件。",
                        "Only supervisors create payment batches and export bank files.")
OFFICE_ONLY = Text("只有办事员或主管可以登记发放结果。", "Only clerks and supervisors record payment results.")
NOT_PENDING = Text("这笔发放已有结果，不能再次登记。", "This payment already has a result.")
NOT_FAILED = Text("只有发放失败的款项可以重新发放；已发放的款项不能再发。",
                  "Only a failed payment can be paid again; a paid one never is.")
BAD_OUTCOME = Text("请选择已发放或发放失败。", "Choose paid or failed.")
READERS = frozenset({"clerk", "supervisor", "auditor"})
# Enrolments a batch looks at: every state an enrolment can have been paid in. Whether a month is paid is
# decided by the enrolment's dates and suspensions, not by the state on the day the batch is made.
ENROLLED_STATES = ("active", "reconfirming", "suspended", "exit_scheduled", "ended")


# ------------------------------------------------------------------------------------------ arithmetic

def period_bounds(frequency: str, period: str) -> tuple[date, date]:
    """[first day, first day after) of ``period`` ("2026", "2026Q4", "2026-11") for the scheme's
    frequency; raises ValueError(BAD_PERIOD) if it does not match."""
    period = (period or "").strip().upper()
    patterns = {"annual": r"(\d{4})", "quarterly": r"(\d{4})Q([1-4])", "monthly": r"(\d{4})-(0[1-9]|1[0-2])"}
    match = re.fullmatch(patterns.get(frequency, "$^"), period)
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise ValueError(BAD_PERIOD)
    year = int(match.group(1))
    if frequency == "annual":
        return date(year, 1, 1), date(year + 1, 1, 1)
    months = 3 if frequency == "quarterly" else 1
    first = (int(match.group(2)) - 1) * months if frequency == "quarterly" else int(match.group(2)) - 1
    start = date(year, first + 1, 1)
    index = year * 12 + first + months
    return start, date(index // 12, index % 12 + 1, 1)


def eligible_months(starts_on: date | None, ends_on: date | None, period_start: date, period_end: date,
                    suspended: tuple[tuple[date, date | None], ...] = ()) -> int:
    """Months of [period_start, period_end) whose first day the enrolment [starts_on, ends_on) covers and
    that falls in none of the ``suspended`` spans [from, until) (``until`` None: never resumed)."""
    if starts_on is None:
        return 0
    count, year, month = 0, period_start.year, period_start.month
    while date(year, month, 1) < period_end:
        first = date(year, month, 1)
        if starts_on <= first and (ends_on is None or first < ends_on) \
                and not any(since <= first and (until is None or first < until) for since, until in suspended):
            count += 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return count


def suspensions(case: Case) -> tuple[tuple[date, date | None], ...]:
    """The spans [suspended on, resumed on) of a subsidy case, in office-local dates, from its audit trail
    (``suspend`` … ``resume``; a suspension never resumed stays open)."""
    spans: list[tuple[date, date | None]] = []
    since: date | None = None
    events = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.trigger.in_(("suspend", "resume"))).order_by(CaseEvent.seq))
    for event in events:
        if event.trigger == "suspend" and since is None:
            since = local_date(event.at)
        elif event.trigger == "resume" and since is not None:
            spans.append((since, local_date(event.at)))
            since = None
    if since is not None:
        spans.append((since, None))
    return tuple(spans)


def amount_for(annual_fen: int, months: int) -> int:
    """The fen a payment of ``months`` months carries: rounded down to the fen (documented above)."""
    return annual_fen * months // 12


@dataclass(frozen=True)
class BatchTotals:
    count: int
    total: int
    paid: int
    failed: int
    pending: int


def batch_totals(batch: PaymentBatch, payments: list[Payment] | None = None) -> BatchTotals:
    """Sums over the batch's payments (or the given subset a user may see) by status:
    total = paid + failed + pending, always."""
    payments = batch.payments if payments is None else payments
    sums = {"paid": 0, "failed": 0, "pending": 0}
    for payment in payments:
        sums[payment.status] += payment.amount_fen
    return BatchTotals(len(payments), sum(p.amount_fen for p in payments), **sums)


# --------------------------------------------------------------------------------------------- batches

def _require(actor: User, roles: set[str], message: Text) -> None:
    if not (actor.is_active and actor.has_role(*roles)):
        raise PermissionDenied(message)


def batch_townships(user: User) -> set[int]:
    """The townships whose batches ``user`` may see: those they hold and those of the villages they hold."""
    places = access.jurisdiction_ids(user)
    if not places:
        return set()
    parents = db.session.scalars(sa.select(Jurisdiction.parent_id).where(
        Jurisdiction.id.in_(places), Jurisdiction.parent_id.is_not(None)))
    return set(parents) | places


def visible_batches(user: User) -> sa.Select:
    """Batches whose payments the user may see: those of their township, for its staff (clerks,
    supervisors, auditors) — a township's staff never see another township's batches."""
    if not (user.is_active and user.has_role(*READERS)):
        return sa.select(PaymentBatch).where(sa.false())
    return (sa.select(PaymentBatch).where(PaymentBatch.township_id.in_(batch_townships(user)))
            .order_by(PaymentBatch.period_start.desc(), PaymentBatch.scheme_id, PaymentBatch.township_id))


def visible_payments(user: User, batch: PaymentBatch) -> list[Payment]:
    """The batch's payments of cases in the user's jurisdictions."""
    places = access.jurisdiction_ids(user)
    return [p for p in batch.payments if p.enrolment.case.jurisdiction_id in places]


def readable_batch(user: User, batch_id: int) -> tuple[PaymentBatch, list[Payment]]:
    """The batch and those of its payments in the user's jurisdictions (NotFound otherwise)."""
    batch = db.session.scalar(visible_batches(user).where(PaymentBatch.id == batch_id))
    if batch is None:
        raise NotFound(BATCH_NOT_FOUND)
    return batch, visible_payments(user, batch)


def townships_held(user: User) -> list[Jurisdiction]:
    """The townships ``user`` holds itself (not through some of its villages), by code: those whose
    batches a supervisor may create."""
    return sorted((j for j in user.jurisdictions if j.kind == "township"), key=lambda j: j.code)


def create_payment_batch(scheme: SubsidyScheme, period: str, actor: User, now: datetime | None = None, *,
                         township: Jurisdiction | None = None) -> PaymentBatch:
    """The batch of ``scheme`` for ``period`` in ``township`` (implicit when the supervisor holds one
    township): one payment per enrolment of any of its villages with eligible months in the period —
    including enrolments suspended or ended since, for their months before that (see the module notes).
    Only a supervisor holding the township itself may create it. Idempotent: the existing batch of that
    scheme, township and period is returned unchanged."""
    _require(actor, {"supervisor"}, SUPERVISORS_ONLY)
    now = now or utcnow()
    held = townships_held(actor)
    if township is None:
        if len(held) > 1:
            raise ValidationFailed(INVALID_DATA, {"township_id": CHOOSE_TOWNSHIP})
        township = held[0] if held else None
    if township is None or township.id not in {j.id for j in held}:
        raise PermissionDenied(TOWNSHIP_SUPERVISORS_ONLY)
    try:
        start, end = period_bounds(scheme.frequency, period)
    except ValueError as exc:
        raise ValidationFailed(INVALID_DATA, {"period": exc.args[0]}) from None
    key = period.strip().upper()
    existing = db.session.scalar(sa.select(PaymentBatch).where(
        PaymentBatch.scheme_id == scheme.id, PaymentBatch.township_id == township.id, PaymentBatch.period == key))
    if existing is not None:
        return existing
    overlap = db.session.scalar(sa.select(PaymentBatch.id).where(
        PaymentBatch.scheme_id == scheme.id, PaymentBatch.township_id == township.id,
        PaymentBatch.period_start < end, PaymentBatch.period_end > start))
    if overlap is not None:
        raise ValidationFailed(INVALID_DATA, {"period": PERIOD_OVERLAPS})
    batch = PaymentBatch(scheme=scheme, township=township, period=key, period_start=start, period_end=end,
                         created_by_id=actor.id, created_at=now)
    try:
        with db.session.begin_nested():  # another supervisor creating the same batch at this moment
            db.session.add(batch)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(BATCH_EXISTS) from None
    places = sa.select(Jurisdiction.id).where(sa.or_(Jurisdiction.id == township.id,
                                                     Jurisdiction.parent_id == township.id))
    enrolments = db.session.scalars(
        sa.select(SubsidyEnrolment).join(Case, Case.id == SubsidyEnrolment.case_id)
        .where(SubsidyEnrolment.scheme_id == scheme.id, Case.workflow == "subsidy",
               Case.state.in_(ENROLLED_STATES), Case.jurisdiction_id.in_(places),
               SubsidyEnrolment.starts_on.is_not(None), SubsidyEnrolment.starts_on < end,
               sa.or_(SubsidyEnrolment.ends_on.is_(None), SubsidyEnrolment.ends_on > start))
        .order_by(SubsidyEnrolment.id)
    )
    for enrolment in enrolments:
        months = eligible_months(enrolment.starts_on, enrolment.ends_on, start, end, suspensions(enrolment.case))
        if months == 0:
            continue
        payment = Payment(batch=batch, enrolment=enrolment, months=months,
                          amount_fen=amount_for(scheme.annual_fen, months), status="pending")
        db.session.add(payment)
        db.session.flush()
        _new_attempt(payment, enrolment, None, now)
    db.session.flush()
    return batch


def _new_attempt(payment: Payment, enrolment: SubsidyEnrolment, retry_of: PaymentAttempt | None,
                 now: datetime) -> PaymentAttempt:
    seq = len(payment.attempts) + 1
    attempt = PaymentAttempt(payment=payment, seq=seq, reference=f"BZ{payment.batch_id:05d}-{payment.id:07d}-{seq}",
                             bank_name=enrolment.bank_name, bank_account=enrolment.bank_account or "",
                             status="pending", retry_of_id=retry_of.id if retry_of else None, created_at=now)
    db.session.add(attempt)
    return attempt


def readable_payment(user: User, payment_id: int) -> Payment:
    payment = db.session.get(Payment, payment_id)
    if payment is None or not (user.is_active and user.has_role(*READERS)) \
            or payment.enrolment.case.jurisdiction_id not in access.jurisdiction_ids(user):
        raise NotFound(PAYMENT_NOT_FOUND)
    return payment


def mark_payment(payment: Payment, outcome: str, reason: str | None, actor: User,
                 now: datetime | None = None) -> Payment:
    """Record the bank's answer for the payment's pending attempt: ``paid`` or ``failed`` (with reason)."""
    _require(actor, {"clerk", "supervisor"}, OFFICE_ONLY)
    readable_payment(actor, payment.id)
    now = now or utcnow()
    reason = (reason or "").strip() or None
    if outcome not in ("paid", "failed"):
        raise ValidationFailed(INVALID_DATA, {"outcome": BAD_OUTCOME})
    if outcome == "failed" and not reason:
        raise ValidationFailed(INVALID_DATA, {"reason": REQUIRED})
    if reason and len(reason) > 300:
        raise ValidationFailed(INVALID_DATA, {"reason": TOO_LONG.format(n=300)})
    if payment.status != "pending":
        raise Conflict(NOT_PENDING)
    attempt = payment.attempts[-1]
    attempt.status, attempt.failure_reason = outcome, reason if outcome == "failed" else None
    attempt.marked_at, attempt.marked_by_id = now, actor.id
    payment.status = outcome
    _record_on_case(payment, actor, f"payment_{outcome}", now, reason=reason if outcome == "failed" else None)
    flush_or_conflict()
    return payment


def _record_on_case(payment: Payment, actor: User, trigger: str, now: datetime, reason: str | None = None) -> None:
    """Money paid to a person belongs in their case's audit trail (the account number never does)."""
    case = payment.enrolment.case
    with db.session.no_autoflush:  # the payment's versioned UPDATE is flushed once, by flush_or_conflict
        append_event(case, actor, trigger, case.state, case.state, now, reason=reason,
                     data={"period": payment.batch.period, "amount_fen": payment.amount_fen})


def repay_payment(payment: Payment, bank_name: str, bank_account: str, actor: User,
                  now: datetime | None = None) -> PaymentAttempt:
    """After a failure: correct the payee account (kept on the enrolment) and send a new attempt linked to
    the failed one. Refused for a payment that is paid or still pending, so a period is never paid twice."""
    _require(actor, {"clerk", "supervisor"}, OFFICE_ONLY)
    readable_payment(actor, payment.id)
    now = now or utcnow()
    account = re.sub(r"[\s-]", "", bank_account or "")
    errors: dict[str, Text] = {}
    if not re.fullmatch(r"\d{8,34}", account):
        errors["bank_account"] = BAD_ACCOUNT
    if not (bank_name or "").strip():
        errors["bank_name"] = REQUIRED
    elif len(bank_name.strip()) > 100:
        errors["bank_name"] = TOO_LONG.format(n=100)
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    if payment.status != "failed":
        raise Conflict(NOT_FAILED)
    enrolment = payment.enrolment
    enrolment.bank_name, enrolment.bank_account = bank_name.strip(), account
    attempt = _new_attempt(payment, enrolment, payment.attempts[-1], now)
    payment.status = "pending"
    _record_on_case(payment, actor, "payment_retried", now)
    flush_or_conflict()
    return attempt


def payments_of(enrolment: SubsidyEnrolment) -> list[Payment]:
    """An enrolment's payments, newest period first (the case page panel)."""
    return list(db.session.scalars(
        sa.select(Payment).join(PaymentBatch).where(Payment.enrolment_id == enrolment.id)
        .order_by(PaymentBatch.period_start.desc())
    ))


# ---------------------------------------------------------------------------------------------- export

EXPORT_HEADER = ("序号", "姓名", "居民身份证号", "开户银行", "银行账号", "金额（元）", "业务参考号")


def export_batch_xlsx(batch: PaymentBatch, actor: User) -> bytes:
    """The bank / one-card file: one row per pending attempt (what the bank is asked to pay now) with the
    payee's name, full resident ID and account (the bank matches both before crediting), the amount in
    yuan with two decimals (text, so no float rounding), the reference to report results against, and a
    totals row. Only a supervisor of the batch's township (a file of some villages' payments would be a
    partial instruction to the bank); nothing else about the case is in it."""
    _require(actor, {"supervisor"}, SUPERVISORS_ONLY)
    _, payments = readable_batch(actor, batch.id)
    if batch.township_id not in {j.id for j in townships_held(actor)}:
        raise PermissionDenied(TOWNSHIP_SUPERVISORS_ONLY)
    book = Workbook()
    sheet = book.active
    sheet.title = f"{batch.scheme.code}-{batch.period}"[:31]
    sheet.append(EXPORT_HEADER)
    total, count = 0, 0
    for payment in payments:
        attempt = payment.attempts[-1]
        if attempt.status != "pending":
            continue
        count += 1
        total += payment.amount_fen
        person = payment.enrolment.case.applicant
        sheet.append((count, person.name, person.resident_id, attempt.bank_name or "", attempt.bank_account,
                      format_yuan(payment.amount_fen).replace(",", ""), attempt.reference))
    sheet.append(("合计", f"{count} 笔", "", "", "", format_yuan(total).replace(",", ""), ""))
    for column, width in zip("ABCDEFG", (6, 12, 22, 20, 26, 14, 24)):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
