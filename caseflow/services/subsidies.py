"""Subsidy bookkeeping: enrolments, public notices (公示), annual reconfirmation (年审) and the scheme
configuration. Payments are in ``services.subsidy_payments``.

The case's state says where the application or enrolment stands; the rows here hold what the state
cannot: which scheme, the child, the enrolment period, the payee account, which notice named the case
and what objection was raised. They are written by the workflow hooks (``register_hooks``) inside the same
``apply_transition`` call, so a refused step leaves no trace here either.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from caseflow.calendar import Deadline, OfficeCalendar, local_date, utcnow
from caseflow.extensions import db
from caseflow.models import (
    Case, CaseEvent, Jurisdiction, PublicNotice, PublicNoticeEntry, SubsidyEnrolment, SubsidyScheme, User,
)
from caseflow.services import access, users
from caseflow.services.cases import WorkflowHooks, apply_transition, each_on_its_own, register_hooks
from caseflow.services.deadlines import load_policy, register_deadline_cap
from caseflow.services.errors import (
    INVALID_DATA, Conflict, NotFound, PermissionDenied, Refused, ValidationFailed,
)
from caseflow.workflows import subsidy as wf
from caseflow.workflows.definition import REQUIRED, TOO_LONG, Field, Period, Step, Text, calendar_days

NOTICE_NOT_FOUND = Text("没有这个公示，或您无权查看。", "No such public notice, or you may not see it.")
NOTICE_ENDED = Text("该公示已结束，不能再加入案件。", "That notice has ended; no case can be added to it.")
NOTICE_OTHER_VILLAGE = Text("公示只能列入同一个村（社区）的案件。", "A notice lists the cases of one village only.")
NOTICE_NOT_OVER = Text("公示期尚未届满。", "The public notice period has not ended.")
NOTICE_HAS_OBJECTION = Text("公示期间有异议，须先核查。", "There was an objection during the notice; check it first.")
NO_CASES_CHOSEN = Text("请至少选择一个案件。", "Choose at least one case.")
NOT_READY_FOR_NOTICE = Text("所选案件须均为本村村级初审通过、待公示的案件。",
                            "Every chosen case must be a village-reviewed case of that village awaiting notice.")
MAY_NOT_START_NOTICE = Text("只有办事员或主管可以组织公示。", "Only clerks and supervisors start public notices.")
START_OUT_OF_WINDOW = Text("享受起始日期须早于孩子满三周岁之日。",
                           "The enrolment must start before the child's third birthday.")
SCHEME_CODE = Text("代码只能包含小写字母、数字和下划线。", "The code may contain lower-case letters, digits and _ only.")
SCHEME_CODE_TAKEN = Text("该代码已被使用。", "That code is already used.")
SCHEME_FREQUENCY = Text("请选择发放周期。", "Choose how often it is paid.")
BAD_ACCOUNT = Text("银行账号应为 8 到 34 位数字。", "The bank account must be 8 to 34 digits.")
CHILDCARE_AT_LEAST_QUARTERLY = Text("育儿补贴至少按季发放。", "The childcare subsidy is paid at least quarterly.")
FREQUENCIES = {"annual": Text("按年", "annual"), "quarterly": Text("按季", "quarterly"),
               "monthly": Text("按月", "monthly")}
CASE_STALE = Text("案件 {number} 已被他人修改，或提交时缺少该案件的版本，请刷新后重试。",
                  "Case {number} was changed by someone else, or the form did not say which version you saw "
                  "— reload and try again.")


# ------------------------------------------------------------------------------------------- enrolment

def enrolment_of(case: Case) -> SubsidyEnrolment | None:
    """The enrolment row of a subsidy case (None for other workflows), with its scheme.

    Kept on the session until the transaction ends: a step asks twice (its deadline cap, then its hook)."""
    known = db.session.info.setdefault(_ENROLMENTS_KEY, {})
    enrolment = known.get(case.id)
    if enrolment is None or not sa.inspect(enrolment).persistent:
        enrolment = db.session.execute(_ENROLMENT_OF, {"case_id": case.id}).scalar_one_or_none()
        if enrolment is not None:
            known[case.id] = enrolment
    return enrolment


_ENROLMENT_OF = (sa.select(SubsidyEnrolment).where(SubsidyEnrolment.case_id == sa.bindparam("case_id"))
                 .options(joinedload(SubsidyEnrolment.scheme)))
_ENROLMENTS_KEY = "caseflow.subsidies.enrolments"


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_enrolments(session: Session, _transaction: object) -> None:
    session.info.pop(_ENROLMENTS_KEY, None)


def scheme_by_code(code: str) -> SubsidyScheme | None:
    return db.session.scalar(sa.select(SubsidyScheme).where(SubsidyScheme.code == code))


def mask_account(account: str | None) -> str:
    """Bank account as the UI shows it: the last four digits only."""
    if not account:
        return ""
    return "*" * max(len(account) - 4, 0) + account[-4:]


def childcare_window(born: date) -> tuple[date, date]:
    """[first day, first day no longer paid) of the 育儿补贴 for a child born on ``born``."""
    return max(born, wf.CHILDCARE_SINCE), wf.third_birthday(born)


def next_period_start(frequency: str, day: date) -> date:
    """The first day of the payment period after the one ``day`` falls in."""
    if frequency == "annual":
        return date(day.year + 1, 1, 1)
    months = 3 if frequency == "quarterly" else 1
    index = (day.year * 12 + day.month - 1) // months * months + months
    return date(index // 12, index % 12 + 1, 1)


def _on_open(case: Case, actor: User, now: datetime) -> None:
    scheme = scheme_by_code(case.data["scheme"])
    born = case.data.get("child_birth_date")
    enrolment = SubsidyEnrolment(case=case, scheme=scheme,
                                 child_name=case.data.get("child_name") if scheme.code == wf.CHILDCARE else None,
                                 child_birth_date=date.fromisoformat(born) if born and scheme.code == wf.CHILDCARE
                                 else None)
    db.session.add(enrolment)


def _notice_for(case: Case, notice_id: int | None, actor: User, now: datetime,
                replaces: int | None = None) -> PublicNotice:
    """The notice a case is put on: the one named (open, same village), or a new one for this case."""
    if notice_id is None:
        return new_notice(case.jurisdiction, actor, now, replaces_id=replaces)
    notice = db.session.get(PublicNotice, notice_id)
    if notice is None or notice.jurisdiction_id not in access.jurisdiction_ids(actor):
        raise ValidationFailed(INVALID_DATA, {"notice_id": NOTICE_NOT_FOUND})
    if notice.jurisdiction_id != case.jurisdiction_id:
        raise ValidationFailed(INVALID_DATA, {"notice_id": NOTICE_OTHER_VILLAGE})
    if notice.ends_at <= now:
        raise ValidationFailed(INVALID_DATA, {"notice_id": NOTICE_ENDED})
    return notice


def notice_length() -> Period:
    """The public-notice period in force: the ``public_notice`` rule (7 calendar days as shipped),
    changed by an admin on the 办理时限 page."""
    rule = load_policy().rule(wf.WORKFLOW, "public_notice")
    return rule.limit if rule else calendar_days(7)


def new_notice(village: Jurisdiction, actor: User, now: datetime, replaces_id: int | None = None) -> PublicNotice:
    """A new, empty notice of ``village`` running from ``now`` for the configured period."""
    ends = notice_length().after(now, load_policy().calendar).at
    notice = PublicNotice(jurisdiction=village, starts_at=now, ends_at=ends, replaces_id=replaces_id,
                          created_by_id=actor.id, created_at=now)
    db.session.add(notice)
    db.session.flush()
    return notice


def _entry(case: Case, notice_id: int | None) -> PublicNoticeEntry | None:
    if notice_id is None:
        return None
    return db.session.scalar(sa.select(PublicNoticeEntry).where(
        PublicNoticeEntry.notice_id == notice_id, PublicNoticeEntry.case_id == case.id))


def _on_step(case: Case, step: Step, data: dict[str, Any], actor: User, now: datetime) -> dict[str, Any] | None:
    """Bookkeeping for each subsidy step (runs inside apply_transition; raising refuses the step)."""
    enrolment = enrolment_of(case)
    extra: dict[str, Any] = {}
    if step.trigger in ("start_notice", "repost"):
        notice = _notice_for(case, data.get("notice_id"), actor, now,
                             replaces=enrolment.notice_id if step.trigger == "repost" else None)
        db.session.add(PublicNoticeEntry(notice=notice, case_id=case.id))
        enrolment.notice_id = notice.id
        extra = {"notice_id": notice.id, "notice_ends": notice.ends_at.isoformat()}
    elif step.trigger == "object":
        entry = _entry(case, enrolment.notice_id)
        entry.objector, entry.objection, entry.objected_at = data.get("objector"), data["objection"], now
    elif step.trigger == "end_notice":
        notice = db.session.get(PublicNotice, enrolment.notice_id) if enrolment.notice_id else None
        if notice is None or notice.ends_at > now:
            raise Refused(NOTICE_NOT_OVER)
        entry = _entry(case, notice.id)
        if entry is not None and entry.objection:
            raise Refused(NOTICE_HAS_OBJECTION)
    elif step.trigger == "enrol":
        _enrol(enrolment, data)
    elif step.trigger == "open_reconfirmation":
        enrolment.reconfirmed_year = data["year"]
    elif step.trigger == "schedule_exit":
        enrolment.ends_on = exit_date(enrolment, data["exit_ground"], local_date(now))
        extra = {"ends_on": enrolment.ends_on.isoformat()}
    return extra


def _enrol(enrolment: SubsidyEnrolment, data: dict[str, Any]) -> None:
    start = date.fromisoformat(data["enrolment_start"])
    if enrolment.child_birth_date is not None:
        first, end = childcare_window(enrolment.child_birth_date)
        start = max(start, first)
        if start >= end:
            raise ValidationFailed(INVALID_DATA, {"enrolment_start": START_OUT_OF_WINDOW})
        enrolment.ends_on = end
    enrolment.starts_on = start
    # The first annual reconfirmation is the year after enrolment.
    enrolment.reconfirmed_year = start.year
    account = re.sub(r"[\s-]", "", data["bank_account"])
    if not re.fullmatch(r"\d{8,34}", account):
        raise ValidationFailed(INVALID_DATA, {"bank_account": BAD_ACCOUNT})
    enrolment.bank_name, enrolment.bank_account = data["bank_name"], account


def exit_date(enrolment: SubsidyEnrolment, ground: str, today: date) -> date:
    """First day no longer paid. Death keeps that year's payment (paid to 31 December); a child turning
    three ends on the third birthday; otherwise payment stops from the next payment period."""
    if ground == "death":
        end = date(today.year + 1, 1, 1)
    elif ground == "child_turned_three" and enrolment.child_birth_date is not None:
        end = wf.third_birthday(enrolment.child_birth_date)
    else:
        end = next_period_start(enrolment.scheme.frequency, today)
    if enrolment.ends_on is not None:
        end = min(end, enrolment.ends_on)
    if enrolment.starts_on is not None:
        end = max(end, enrolment.starts_on)
    return end


def childcare_total_cap(case: Case, calendar: OfficeCalendar) -> Deadline | None:
    """育儿补贴: initial review plus confirmation take at most 30 working days in all. Each state keeps its
    own deadline, but the legal deadline is pulled in to what is left of the 30 when the case entered its
    state: the working days spent in review states before then (clock-stopped time — documents, notice —
    excluded) are counted from the trail. A deadline cap (services/deadlines.py), so a recompute after a
    calendar or rule change keeps it."""
    if case.id is None or case.state not in wf.REVIEW_STATES:
        return None
    enrolment = enrolment_of(case)
    if enrolment is None or enrolment.scheme.code != wf.CHILDCARE:
        return None
    entered = case.state_entered_at
    trail = db.session.execute(sa.select(CaseEvent.to_state, CaseEvent.at).where(
        CaseEvent.case_id == case.id, CaseEvent.at < entered).order_by(CaseEvent.seq)).all()
    used = sum(calendar.working_days_between(at, following[1] if following else entered)
               for (to_state, at), following in zip(trail, trail[1:] + [None]) if to_state in wf.REVIEW_STATES)
    return calendar.add_working_days(entered, max(wf.CHILDCARE_TOTAL_WORKING_DAYS - used, 0))


register_deadline_cap("subsidy", childcare_total_cap)


register_hooks("subsidy", WorkflowHooks(on_open=_on_open, on_step=_on_step))


# ---------------------------------------------------------------------------------------------- notices

def visible_notices(user: User) -> sa.Select:
    """Notices of the villages ``user`` works in, newest first."""
    if not access.can_read_cases(user):
        return sa.select(PublicNotice).where(sa.false())
    return (sa.select(PublicNotice).where(PublicNotice.jurisdiction_id.in_(access.jurisdiction_ids(user)))
            .order_by(PublicNotice.starts_at.desc(), PublicNotice.id.desc()))


def readable_notice(user: User, notice_id: int) -> PublicNotice:
    notice = db.session.scalar(visible_notices(user).where(PublicNotice.id == notice_id))
    if notice is None:
        raise NotFound(NOTICE_NOT_FOUND)
    return notice


def cases_awaiting_notice(user: User, village_id: int | None = None) -> list[Case]:
    """Village-reviewed subsidy cases ``user`` may see, oldest first (the start-notice page)."""
    query = access.visible_cases(user).where(Case.workflow == "subsidy", Case.state == "village_reviewed")
    if village_id is not None:
        query = query.where(Case.jurisdiction_id == village_id)
    return list(db.session.scalars(query.order_by(Case.jurisdiction_id, Case.state_entered_at, Case.id)))


def start_public_notice(case_ids: list[int], actor: User, now: datetime | None = None,
                        versions: dict[int, int] | None = None) -> PublicNotice:
    """One notice for several village-reviewed cases of one village; each case moves to ``public_notice``
    through ``apply_transition`` naming the same notice. ``versions`` must give, for every case, the version
    the actor saw (the start-notice page sends them): a missing or stale one is a Conflict naming that case,
    raised before anything is written. All or nothing (the caller's transaction)."""
    now = now or utcnow()
    if not actor.has_role("clerk", "supervisor"):
        raise PermissionDenied(MAY_NOT_START_NOTICE)
    if not case_ids:
        raise ValidationFailed(INVALID_DATA, {"cases": NO_CASES_CHOSEN})
    cases = [access.readable_case(actor, case_id) for case_id in dict.fromkeys(case_ids)]
    villages = {case.jurisdiction_id for case in cases}
    if len(villages) != 1 or any(c.workflow != "subsidy" or c.state != "village_reviewed" for c in cases):
        raise ValidationFailed(INVALID_DATA, {"cases": NOT_READY_FOR_NOTICE})
    for case in cases:
        if (versions or {}).get(case.id) != case.version:
            raise Conflict(CASE_STALE.format(number=case.number or case.id))
    notice = new_notice(cases[0].jurisdiction, actor, now)
    for case in cases:
        apply_transition(case, "start_notice", actor, versions[case.id], data={"notice_id": notice.id}, now=now)
    return notice


def advance_ended_notices(now: datetime | None = None) -> int:
    """Scheduler job: every case still on a notice whose period has ended, with no objection against it,
    moves to ``notice_ended`` (awaiting the township's review), recorded as the system account.
    Idempotent: a moved case is no longer on notice. Returns how many cases moved."""
    now = now or utcnow()
    system = users.system_user(now)
    objected = sa.select(PublicNoticeEntry.id).where(
        PublicNoticeEntry.notice_id == SubsidyEnrolment.notice_id, PublicNoticeEntry.case_id == Case.id,
        PublicNoticeEntry.objection.is_not(None))
    cases = list(db.session.scalars(
        sa.select(Case).join(SubsidyEnrolment, SubsidyEnrolment.case_id == Case.id)
        .join(PublicNotice, PublicNotice.id == SubsidyEnrolment.notice_id)
        .where(Case.workflow == "subsidy", Case.state == "public_notice", PublicNotice.ends_at <= now,
               ~sa.exists(objected))
        .order_by(Case.id)
    ))
    return each_on_its_own(cases, lambda case: apply_transition(case, "end_notice", system, case.version, now=now))


def open_annual_reconfirmations(year: int, now: datetime | None = None) -> int:
    """Scheduler job: open 年审 (``reconfirming``) for every active enrolment not yet reconfirmed in
    ``year`` (enrolments that started in ``year`` count as confirmed for it). Idempotent; returns how many
    were opened."""
    now = now or utcnow()
    system = users.system_user(now)
    cases = list(db.session.scalars(
        sa.select(Case).join(SubsidyEnrolment, SubsidyEnrolment.case_id == Case.id)
        .where(Case.workflow == "subsidy", Case.state == "active",
               sa.or_(SubsidyEnrolment.reconfirmed_year.is_(None), SubsidyEnrolment.reconfirmed_year < year))
        .order_by(Case.id)
    ))
    return each_on_its_own(cases, lambda case: apply_transition(case, "open_reconfirmation", system, case.version,
                                                                data={"year": year}, now=now))


def end_scheduled_exits(now: datetime | None = None) -> int:
    """Scheduler job: enrolments whose scheduled exit date has come end (``exit_scheduled`` → ``ended``)."""
    now = now or utcnow()
    system = users.system_user(now)
    cases = list(db.session.scalars(
        sa.select(Case).join(SubsidyEnrolment, SubsidyEnrolment.case_id == Case.id)
        .where(Case.workflow == "subsidy", Case.state == "exit_scheduled",
               SubsidyEnrolment.ends_on <= local_date(now))
        .order_by(Case.id)
    ))
    return each_on_its_own(cases, lambda case: apply_transition(case, "end_enrolment", system, case.version, now=now))


# ----------------------------------------------------------------------------------------------- schemes

def list_schemes() -> list[SubsidyScheme]:
    return list(db.session.scalars(sa.select(SubsidyScheme).order_by(SubsidyScheme.id)))


# An annual amount as an admin types it: yuan, at most 100 million.
ANNUAL_AMOUNT = Field("annual_yuan", Text("每年金额（元）", "Amount per year (yuan)"), "money", max_value=10**10)


def save_scheme(*, code: str, name: str, name_en: str | None, annual_yuan: str, frequency: str,
                eligibility_notes: str, active: bool, actor: User, scheme: SubsidyScheme | None = None,
                now: datetime | None = None) -> SubsidyScheme:
    """Create or change a subsidy scheme (admin only). Amount typed in yuan, stored in fen. A scheme in
    use is never deleted: deactivating it stops new applications naming it."""
    users.require_admin(actor)
    now = now or utcnow()
    code, name, name_en = (code or "").strip(), (name or "").strip(), (name_en or "").strip() or None
    errors: dict[str, Text] = {}
    if scheme is None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", code):
            errors["code"] = SCHEME_CODE
        elif scheme_by_code(code) is not None:
            errors["code"] = SCHEME_CODE_TAKEN
    if not name:
        errors["name"] = REQUIRED
    elif len(name) > 100:
        errors["name"] = TOO_LONG.format(n=100)
    if name_en and len(name_en) > 100:
        errors["name_en"] = TOO_LONG.format(n=100)
    try:
        annual_fen = ANNUAL_AMOUNT.clean(annual_yuan, local_date(now))
    except ValueError as exc:
        errors["annual_yuan"] = exc.args[0]
    if frequency not in FREQUENCIES:
        errors["frequency"] = SCHEME_FREQUENCY
    elif (scheme.code if scheme else code) == wf.CHILDCARE and frequency == "annual":
        errors["frequency"] = CHILDCARE_AT_LEAST_QUARTERLY
    if len(eligibility_notes or "") > 2000:
        errors["eligibility_notes"] = TOO_LONG.format(n=2000)
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    if scheme is None:
        scheme = SubsidyScheme(code=code)
        db.session.add(scheme)
    scheme.name, scheme.name_en, scheme.annual_fen, scheme.frequency = name, name_en, annual_fen, frequency
    scheme.eligibility_notes, scheme.active = (eligibility_notes or "").strip(), active
    scheme.updated_by_id, scheme.updated_at = actor.id, now
    db.session.flush()
    return scheme
