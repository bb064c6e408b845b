"""Fee cases: the configured fee types, each case's account (amounts in fen), payments, instalment plans,
the late charge (行政处罚法 第72–73条) and the daily accrual the scheduler runs.

The account is kept in step with the case by the workflow hooks registered at the bottom of this module;
outstanding = decided + late charge − principal paid − late charge paid, always in integer fen.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm.attributes import flag_modified

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, CaseEvent, FeeAccount, FeeInstalment, FeePayment, FeeType, User
from caseflow.services import access
from caseflow.services.audit import append_event
from caseflow.services.cases import (
    WorkflowHooks, apply_transition, each_on_its_own, flush_or_conflict, register_hooks,
)
from caseflow.services.deadlines import load_calendar
from caseflow.services.errors import (
    CASE_NOT_FOUND, INVALID_DATA, STALE, Conflict, InvalidTransition, NotFound, PermissionDenied, Refused,
    ValidationFailed,
)
from caseflow.services.users import system_user
from caseflow.workflows.definition import REQUIRED, Field, Step, Text, clean_fields, format_yuan
from caseflow.workflows.fee_case import (
    DECISION_DAYS, PAYABLE, WORKFLOW, add_months, remedy_periods_ended,
)

WORKFLOW_NAME = WORKFLOW.name
# 第72条: 3 % a day of the unpaid principal, never more than the principal itself.
LATE_CHARGE_PERCENT_PER_DAY = 3
PAYMENT_DAYS = 15  # 第67条
# States in which the late charge is brought up to date by the scheduler.
ACCRUING = PAYABLE + ("under_appeal",)

NOT_DELEGATED = Text("该类事项未委托乡镇办理，本办不能立案，请移交有权机关（如县卫生健康局）。",
                     "This type is not delegated to the township: the office cannot open it. Refer it to the "
                     "competent authority (e.g. the county health bureau).")
ABOLISHED_TYPE = Text("该收费项目已废止，不能立案。", "This type has been abolished: no case can be opened.")
LEGACY_READ_ONLY = Text("此案件属于已废止的收费项目（社会抚养费已于 2021 年废止），仅供查阅，不能再办理任何步骤。",
                        "This case is of an abolished type (社会抚养费 was abolished in 2021): it is kept for the "
                        "record only and no step may be taken.")
NOT_SETTLED = Text("尚有未缴金额 {amount} 元（含加处罚款），不能确认缴清。",
                   "{amount} yuan (late charge included) is still outstanding: the case is not paid in full.")
DEMAND_WAIT = Text("催告书送达后须满 10 个工作日（当事人陈述、申辩期），才能申请法院强制执行（行政强制法第三十五、五十四条）。",
                   "Wait 10 working days after the demand was served before applying to the court "
                   "(行政强制法 Arts. 35, 54).")
HEARING_REQUEST_LATE = Text("听证要求须在告知书送达后 5 个工作日内（{day} 前）提出（行政处罚法第六十四条）；逾期的可作为陈述、申辩处理。",
                            "A hearing must be asked for within 5 working days of the notice (by {day}, 行政处罚法 "
                            "Art. 64); a later request is treated as a statement.")
MAY_NOT_PAY = Text("您的角色不能登记缴款。", "Your role may not record payments.")
NOT_PAYABLE = Text("案件当前状态下不能登记缴款。", "Payments cannot be recorded in the case's current state.")
NOT_POSITIVE = Text("金额须大于 0。", "The amount must be more than 0.")
OVERPAID = Text("缴款金额超过应缴余额 {amount} 元。", "The payment exceeds the {amount} yuan outstanding.")
PAID_BEFORE_SERVICE = Text("缴款日期不能早于决定书送达日期。", "A payment cannot predate the service of the decision.")
FEE_TYPE_ABOLISHED_NAME = Text(
    "社会抚养费（及计划外生育费、超生罚款等同类收费）已于 2021 年废止（《人口与计划生育法》2021 年修正、"
    "《社会抚养费征收管理办法》废止），不能作为收费或处罚项目。",
    "社会抚养费 (the 'social maintenance fee', and its variants such as 计划外生育费 or 超生罚款) was abolished "
    "in 2021 (Population and Family Planning Law as amended in 2021): it cannot be a fee or penalty type.")
CODE_TAKEN = Text("该代码已被使用。", "That code is already used.")
BAD_CODE = Text("代码只能包含小写字母、数字和下划线（2–32 位）。",
                "Codes use lower-case letters, digits and underscores (2–32 characters).")
ABOLISHED_IS_FIXED = Text("已废止的收费项目只保留作历史记录，不能修改。",
                          "An abolished type is kept for the record only and cannot be edited.")

# What the 2021 abolition covers, however it is spelt. Compared after removing spaces and punctuation.
ABOLISHED_PATTERNS = (
    "社会抚养费", "社会抚养", "计划外生育费", "计划外生育罚款", "超生罚款", "超生费", "超计划生育费", "多孩费",
    "计划外生育", "超生", "socialmaintenance", "socialsupportfee", "socialupbringing", "shehuifuyang",
)


def is_abolished_name(*texts: str | None) -> bool:
    """Whether any of ``texts`` names the abolished 社会抚养费 or one of its variants."""
    for text in texts:
        squeezed = re.sub(r"[\s\W_]+", "", (text or "").lower())
        if any(pattern in squeezed for pattern in ABOLISHED_PATTERNS):
            return True
    return False


# ------------------------------------------------------------------------------------------ fee types

ADMIN_ONLY = Text("只有管理员可以管理收费项目。", "Only an administrator may manage fee types.")


def _require_admin(actor: User) -> None:
    if not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)


def list_fee_types() -> list[FeeType]:
    return list(db.session.scalars(sa.select(FeeType).order_by(FeeType.id)))


def save_fee_type(actor: User, *, fee_type_id: int | None, code: str, name: str, name_en: str | None,
                  legal_basis: str, delegated_to_township: bool, active: bool,
                  now: datetime | None = None) -> FeeType:
    """Add or edit a fee type (admin only). Refuses 社会抚养费 and its variants: abolished in 2021."""
    _require_admin(actor)
    fee_type = db.session.get(FeeType, fee_type_id) if fee_type_id else None
    if fee_type_id and fee_type is None:
        raise NotFound(Text("没有这个收费项目。", "No such fee type."))
    if fee_type is not None and fee_type.abolished:
        raise ValidationFailed(ABOLISHED_IS_FIXED)
    code, name, name_en, legal_basis = (code or "").strip(), (name or "").strip(), \
        (name_en or "").strip() or None, (legal_basis or "").strip()
    errors: dict[str, Text] = {}
    if not re.fullmatch(r"[a-z0-9_]{2,32}", code):
        errors["code"] = BAD_CODE
    elif db.session.scalar(sa.select(FeeType.id).where(FeeType.code == code, FeeType.id != (fee_type_id or 0))):
        errors["code"] = CODE_TAKEN
    if not name:
        errors["name"] = REQUIRED
    elif len(name) > 100:
        errors["name"] = Text("不能超过 100 个字符。", "At most 100 characters.")
    if name_en and len(name_en) > 100:
        errors["name_en"] = Text("不能超过 100 个字符。", "At most 100 characters.")
    if not legal_basis:
        errors["legal_basis"] = REQUIRED
    if is_abolished_name(code, name, name_en):
        errors["name"] = FEE_TYPE_ABOLISHED_NAME
    if errors:
        raise ValidationFailed(FEE_TYPE_ABOLISHED_NAME if "name" in errors and errors["name"] is
                               FEE_TYPE_ABOLISHED_NAME else INVALID_DATA, errors)
    if fee_type is None:
        fee_type = FeeType(abolished=False)
        db.session.add(fee_type)
    fee_type.code, fee_type.name, fee_type.name_en, fee_type.legal_basis = code, name, name_en, legal_basis
    fee_type.delegated_to_township, fee_type.active = bool(delegated_to_township), bool(active)
    fee_type.updated_by_id, fee_type.updated_at = actor.id, now or utcnow()
    db.session.flush()
    return fee_type


def deactivate_fee_type(actor: User, fee_type_id: int, now: datetime | None = None) -> FeeType:
    """Stop offering a type for new cases; open cases of it go on."""
    _require_admin(actor)
    fee_type = db.session.get(FeeType, fee_type_id)
    if fee_type is None:
        raise NotFound(Text("没有这个收费项目。", "No such fee type."))
    fee_type.active = False
    fee_type.updated_by_id, fee_type.updated_at = actor.id, now or utcnow()
    db.session.flush()
    return fee_type


def fee_type_of(case: Case) -> FeeType | None:
    return db.session.scalar(sa.select(FeeType).where(FeeType.code == case.data.get("fee_type")))


def is_read_only(case: Case) -> bool:
    """A legacy case of an abolished type: kept for the record, no step may be taken."""
    return case.data.get("fee_type") in _abolished_codes()


def _abolished_codes() -> frozenset[str]:
    """The codes of abolished fee types, read once per web request: a team-queue page asks for each of its
    fee cases (the steps it offers), and abolishing a type is a data migration, never a page's work."""
    if has_request_context() and "abolished_fee_types" in g:
        return g.abolished_fee_types
    codes = frozenset(db.session.scalars(sa.select(FeeType.code).where(FeeType.abolished.is_(True))))
    if has_request_context():
        g.abolished_fee_types = codes
    return codes


# -------------------------------------------------------------------------------------------- accounts

def account_of(case: Case) -> FeeAccount | None:
    return db.session.get(FeeAccount, case.id) if case.id else None


def _appeal_days(case: Case) -> list[tuple[date, date | None]]:
    """(first, last) local days of each period the case spent under appeal; last None while it lasts."""
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    return _appeal_periods(events)


def appeal_days_of(case_ids: list[int]) -> dict[int, list[tuple[date, date | None]]]:
    """``_appeal_days`` of many cases in one query (for ``late_charge(..., appeal_days=...)`` over many
    accounts): only events into or out of ``under_appeal`` matter, so only those are read."""
    events: dict[int, list[Any]] = {case_id: [] for case_id in case_ids}
    for row in db.session.execute(
            sa.select(CaseEvent.case_id, CaseEvent.at, CaseEvent.from_state, CaseEvent.to_state)
            .where(CaseEvent.case_id.in_(case_ids),
                   sa.or_(CaseEvent.to_state == "under_appeal", CaseEvent.from_state == "under_appeal"))
            .order_by(CaseEvent.case_id, CaseEvent.seq)):
        events[row.case_id].append(row)
    return {case_id: _appeal_periods(rows) for case_id, rows in events.items()}


def _appeal_periods(events: Any) -> list[tuple[date, date | None]]:
    periods: list[tuple[date, date | None]] = []
    for event in events:
        if event.to_state == "under_appeal" and event.from_state != "under_appeal":
            periods.append((local_date(event.at), None))
        elif event.from_state == "under_appeal" and event.to_state != "under_appeal" and periods:
            periods[-1] = (periods[-1][0], local_date(event.at))
    return periods


def _schedule(account: FeeAccount) -> list[tuple[date, int]]:
    """(due date, amount) of what the decision asks: one payment, or the instalments."""
    if account.instalments:
        return [(row.due_on, row.amount_fen) for row in account.instalments]
    if account.payment_due_on is None or not account.decided_fen:
        return []
    return [(account.payment_due_on, account.decided_fen)]


def late_charge(case_or_account: Case | FeeAccount, as_of: date, *,
                appeal_days: list[tuple[date, date | None]] | None = None) -> int:
    """The late charge (加处罚款, 行政处罚法 第72条) in fen owed as of the end of ``as_of``.

    Each day after a sum fell due, 3 % of the principal then due and still unpaid (payments dated before
    that day count; a payment on a day stops the charge from the next day). Days on which the case was
    under appeal do not count (第73条). The total never exceeds the decided principal. ``appeal_days``:
    the case's appeal periods when already read (``appeal_days_of``, for many accounts at once).
    """
    account = case_or_account if isinstance(case_or_account, FeeAccount) else account_of(case_or_account)
    if account is None or not account.decided_fen:
        return 0
    case = db.session.get(Case, account.case_id)
    schedule = _schedule(account)
    if not schedule or case.state == "revoked":
        return 0
    principal = account.decided_fen
    day = min(due for due, _ in schedule) + timedelta(days=1)
    if day > as_of:  # nothing has fallen due yet (a decision just made or served): no need for the history
        return 0
    appeals = _appeal_days(case) if appeal_days is None else appeal_days
    payments = sorted((p.paid_on, p.principal_fen) for p in account.payments)
    hundredths = 0  # fen × 100, summed before rounding down once, so daily rounding never adds up
    while day <= as_of:
        if not any(first <= day and (last is None or day <= last) for first, last in appeals):
            due = min(principal, sum(amount for due_on, amount in schedule if due_on < day))
            paid = sum(amount for paid_on, amount in payments if paid_on < day)
            unpaid = max(0, due - paid)
            if unpaid == 0 and paid >= principal:
                break
            hundredths += unpaid * LATE_CHARGE_PERCENT_PER_DAY
            if hundredths // 100 >= principal:
                break
        day += timedelta(days=1)
    return min(hundredths // 100, principal)


@dataclass(frozen=True)
class Balance:
    """An account's figures as of one day, in fen."""

    notified: int | None
    decided: int | None
    paid_principal: int
    late_charge: int
    late_charge_paid: int
    as_of: date

    @property
    def paid(self) -> int:
        return self.paid_principal + self.late_charge_paid

    @property
    def principal_outstanding(self) -> int:
        return max(0, (self.decided or 0) - self.paid_principal)

    @property
    def outstanding(self) -> int:
        """decided + late charge − paid."""
        return max(0, (self.decided or 0) + self.late_charge - self.paid)


def balance(case: Case, as_of: date) -> Balance | None:
    """The account of ``case`` as of ``as_of`` (late charge computed for that day)."""
    account = account_of(case)
    if account is None:
        return None
    revoked = case.state == "revoked"
    return Balance(account.notified_fen, None if revoked else account.decided_fen, account.paid_principal_fen,
                   0 if revoked else late_charge(account, as_of), account.late_charge_paid_fen, as_of)


# A payment as typed (form or API): yuan, a date, the receipt's reference.
PAYMENT_FIELDS = (
    Field("amount", Text("金额（元）", "Amount (yuan)"), "money", min_value=1),
    Field("paid_on", Text("缴款日期", "Paid on"), "date"),
    Field("receipt_ref", Text("收据编号", "Receipt reference"), max_length=64),
)


def record_typed_payment(case: Case, actor: User, expected_version: int, raw: dict[str, Any],
                         now: datetime | None = None) -> FeePayment:
    """``record_payment`` from input as typed in a form or sent to the API (``PAYMENT_FIELDS``): who may
    pay is checked before the input, and every problem with the input is reported at once."""
    now = now or utcnow()
    _check_may_pay(case, actor, expected_version)
    clean, errors = clean_fields(PAYMENT_FIELDS, raw, local_date(now))
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    return record_payment(case, actor, expected_version, amount_fen=clean["amount"],
                          paid_on=date.fromisoformat(clean["paid_on"]), receipt_ref=clean["receipt_ref"], now=now)


def _check_may_pay(case: Case, actor: User, expected_version: int) -> None:
    if not access.can_read(actor, case) or case.workflow != WORKFLOW_NAME:
        raise NotFound(CASE_NOT_FOUND)
    if not actor.has_role("clerk", "supervisor"):
        raise PermissionDenied(MAY_NOT_PAY)
    if expected_version != case.version:
        raise Conflict(STALE)
    if is_read_only(case):
        raise Refused(LEGACY_READ_ONLY)
    if case.state not in PAYABLE:
        raise InvalidTransition(NOT_PAYABLE)


def record_payment(case: Case, actor: User, expected_version: int, *, amount_fen: int, paid_on: date,
                   receipt_ref: str, now: datetime | None = None) -> FeePayment:
    """Record a payment (partial payments allowed): principal first, then the late charge. When nothing is
    left outstanding the case moves to ``paid``. Audited; bumps the case version (optimistic lock)."""
    now = now or utcnow()
    _check_may_pay(case, actor, expected_version)
    account = account_of(case)
    today = local_date(now)
    errors: dict[str, Text] = {}
    receipt_ref = (receipt_ref or "").strip()
    if not receipt_ref:
        errors["receipt_ref"] = REQUIRED
    elif len(receipt_ref) > 64:
        errors["receipt_ref"] = Text("不能超过 64 个字符。", "At most 64 characters.")
    if paid_on > today:
        errors["paid_on"] = Text("日期不能晚于今天。", "The date cannot be in the future.")
    served = case.data.get("decision_served_on")
    if served and paid_on < date.fromisoformat(served):
        errors["paid_on"] = PAID_BEFORE_SERVICE
    if amount_fen <= 0:
        errors["amount"] = NOT_POSITIVE
    if not errors:
        owed = balance(case, max(paid_on, today))
        if amount_fen > owed.outstanding:
            errors["amount"] = OVERPAID.format(amount=format_yuan(owed.outstanding))
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)

    to_principal = min(amount_fen, account.decided_fen - account.paid_principal_fen)
    payment = FeePayment(case_id=case.id, paid_on=paid_on, amount_fen=amount_fen, principal_fen=to_principal,
                         late_charge_fen=amount_fen - to_principal, receipt_ref=receipt_ref,
                         recorded_by_id=actor.id, recorded_at=now)
    account.payments.append(payment)
    account.paid_principal_fen += payment.principal_fen
    account.late_charge_paid_fen += payment.late_charge_fen
    with db.session.no_autoflush:
        append_event(case, actor, "record_payment", case.state, case.state, now, data={
            "amount_fen": amount_fen, "paid_on": paid_on.isoformat(), "receipt_ref": receipt_ref,
            "principal_fen": payment.principal_fen, "late_charge_fen": payment.late_charge_fen})
        flag_modified(case, "data")  # the case row is written, so its version moves: concurrent payments conflict
    flush_or_conflict()
    store_late_charge(account, today)
    # A payment dated back can lower the late charge it is measured against: never more than is owed.
    left = (account.decided_fen + account.late_charge_fen - account.paid_principal_fen
            - account.late_charge_paid_fen)
    if left < 0:
        raise ValidationFailed(INVALID_DATA, {"amount": OVERPAID.format(amount=format_yuan(amount_fen + left))})
    if balance(case, today).outstanding == 0:
        apply_transition(case, "settle", actor, case.version, now=now)
    return payment


def store_late_charge(account: FeeAccount, today: date) -> bool:
    """Store ``account``'s late charge as of ``today`` (no permission check: bookkeeping for the callers
    above and for loading data); whether the stored figures changed."""
    charge = late_charge(account, today)
    changed = (account.late_charge_fen, account.late_charge_as_of) != (charge, today)
    account.late_charge_fen, account.late_charge_as_of = charge, today
    return changed


def _past_due(account: FeeAccount, today: date) -> bool:
    """Whether some sum that fell due before ``today`` is still unpaid."""
    due = sum(amount for due_on, amount in _schedule(account) if due_on < today)
    return account.paid_principal_fen < min(due, account.decided_fen or 0)


ACCRUAL_CHUNK = 500


def accrue_late_charges(now: datetime | None = None) -> int:
    """The scheduler's daily run over open fee cases, as the system account: a served decision starts
    its payment period, a missed payment date makes the case overdue, and each account's late charge is
    brought up to ``now``'s day. Idempotent per day; returns how many accounts were brought up to date."""
    now = now or utcnow()
    today = local_date(now)
    system = system_user(now)
    case_ids = list(db.session.scalars(
        sa.select(Case.id).where(Case.workflow == WORKFLOW_NAME, Case.closed_at.is_(None),
                                 Case.state.in_(("served",) + ACCRUING)).order_by(Case.id)))

    def bring_up_to_date(case: Case) -> None:
        account = account_of(case)
        if case.state == "served":
            apply_transition(case, "start_payment", system, case.version, now=now)
        if case.state in ("payment_due", "instalments", "postponed") and _past_due(account, today):
            apply_transition(case, "mark_overdue", system, case.version, now=now)
        store_late_charge(account, today)
        db.session.flush()

    done = 0
    # A chunk of cases at a time, so that the run holds one chunk's objects however many cases are open
    # (the session forgets a flushed object nothing refers to any more).
    for start in range(0, len(case_ids), ACCRUAL_CHUNK):
        cases = db.session.scalars(sa.select(Case).where(Case.id.in_(case_ids[start:start + ACCRUAL_CHUNK]))
                                   .order_by(Case.id)).all()
        due = [case for case in cases if not is_read_only(case) and account_of(case) is not None
               and account_of(case).late_charge_as_of != today]
        done += each_on_its_own(due, bring_up_to_date)
    return done


# ----------------------------------------------------------------------------------------------- hooks

def _on_open(case: Case, actor: User, now: datetime) -> None:
    """The account is opened with the case; a type the township may not pursue is refused here."""
    fee_type = fee_type_of(case)
    if fee_type is None or fee_type.abolished:
        raise ValidationFailed(INVALID_DATA, {"fee_type": ABOLISHED_TYPE})
    if not fee_type.delegated_to_township:
        raise ValidationFailed(NOT_DELEGATED, {"fee_type": NOT_DELEGATED})
    db.session.flush()  # the case's id, for the account's key
    db.session.add(FeeAccount(case_id=case.id, fee_type_id=fee_type.id, last_state=case.state))


def _instalment_plan(account: FeeAccount, count: int, first_due: date) -> list[FeeInstalment]:
    """``count`` monthly instalments of what is left of the principal; the first ones carry the odd fen."""
    left = (account.decided_fen or 0) - account.paid_principal_fen
    base, extra = divmod(left, count)
    return [FeeInstalment(seq=i + 1, due_on=add_months(first_due, i), amount_fen=base + (1 if i < extra else 0))
            for i in range(count) if base + (1 if i < extra else 0) > 0]


def _on_step(case: Case, step: Step, data: dict[str, Any], actor: User, now: datetime) -> dict[str, Any] | None:
    """Keep the account in step with the case, and make the checks that need the database."""
    if is_read_only(case):
        raise Refused(LEGACY_READ_ONLY)
    account = account_of(case)
    if account is None:  # a case from before accounts existed: nothing can be checked, so nothing is allowed
        raise Refused(LEGACY_READ_ONLY)
    today = local_date(now)
    extra: dict[str, Any] = {}
    state, trigger = case.state, step.trigger
    if trigger == "serve_notice":
        account.notified_fen = data["proposed_amount"]
    elif trigger == "decide":
        account.decided_fen = data["decided_amount"]
    elif trigger == "serve_decision":
        served = date.fromisoformat(data["decision_served_on"])
        start = datetime.combine(served, datetime.min.time(), tzinfo=now.tzinfo)
        # A deadline's instant is the end of its last day (midnight after it): step back inside that day.
        account.payment_due_on = local_date(load_calendar().add_calendar_days(start, PAYMENT_DAYS).at
                                            - timedelta(microseconds=1))
        extra["payment_due_on"] = account.payment_due_on.isoformat()
    elif trigger == "grant_instalments":
        account.instalments = _instalment_plan(account, data["instalment_count"],
                                               date.fromisoformat(data["first_instalment_due"]))
        account.payment_due_on = account.instalments[-1].due_on if account.instalments else account.payment_due_on
        extra["instalments"] = [[row.due_on.isoformat(), row.amount_fen] for row in account.instalments]
    elif trigger == "grant_postponement":
        account.instalments = []
        account.payment_due_on = date.fromisoformat(data["postponed_until"])
    elif trigger == "appeal":
        case.data = case.data | {"appeal_from": account.last_state}
    elif trigger == "settle":
        left = balance(case, today).outstanding
        if left:
            raise Refused(NOT_SETTLED.format(amount=format_yuan(left)))
    elif trigger == "schedule_hearing":
        # 第64条(一): a hearing is asked for within 5 (working) days of the notice; a later request is a
        # statement, not a right to a hearing.
        noticed = date.fromisoformat(case.data["notice_served_on"])
        start = datetime.combine(noticed, datetime.min.time(), tzinfo=now.tzinfo)
        last = local_date(load_calendar().add_working_days(start, 5).at - timedelta(microseconds=1))
        if date.fromisoformat(data["hearing_requested_on"]) > last:
            raise Refused(HEARING_REQUEST_LATE.format(day=last.isoformat()))
    elif trigger == "apply_to_court":
        served = date.fromisoformat(case.data["demand_served_on"])
        start = datetime.combine(served, datetime.min.time(), tzinfo=now.tzinfo)
        # The ten working days must have run out in full before the office may apply.
        if now < load_calendar().add_working_days(start, 10).at:
            raise Refused(DEMAND_WAIT)
    if trigger == "appeal_changed":
        account.decided_fen = data["changed_amount"]
        extra["decided_fen"] = account.decided_fen
    account.last_state = state
    if account.decided_fen:
        store_late_charge(account, today)
    return extra


register_hooks(WORKFLOW_NAME, WorkflowHooks(on_open=_on_open, on_step=_on_step, read_only=is_read_only))


# ---------------------------------------------------------------------------------------- case page

@dataclass(frozen=True)
class DecisionClock:
    """第60条: a decision within 90 days of opening; time on a stopped clock (the hearing) is added."""

    due_on: date
    days_left: int
    decided_on: date | None


def decision_clock(case: Case, now: datetime) -> DecisionClock:
    paused = case.paused_seconds + ((now - case.paused_since).total_seconds() if case.paused_since else 0)
    due = local_date(case.opened_at) + timedelta(days=DECISION_DAYS + int(-(-paused // 86400)))
    decided = next((local_date(e.at) for e in case.events
                    if e.to_state in ("decided", "no_penalty", "transferred")), None)
    return DecisionClock(due, (due - local_date(now)).days, decided)


def court_window(case: Case) -> tuple[date, date] | None:
    """(first, last) day on which the court may be applied to (行政强制法 第53条)."""
    ended = remedy_periods_ended(case.data, date.today())
    return (ended + timedelta(days=1), add_months(ended, 3)) if ended else None
