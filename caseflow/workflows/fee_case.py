"""行政处罚 / 征收案件 — administrative fee or penalty case with full due process (WORKFLOWS.md §4).

行政处罚法 (2021) and 行政强制法. The party (当事人) is the applicant of the case: the person who owes, or for
a provider fined for illegal non-medical fetal sex determination, its responsible person. Fee types are
office configuration (``FeeType``); 社会抚养费 was abolished in 2021 and can never be opened.

Path: opened → investigating → reviewed → notice_served (告知, 5 wd to ask for a hearing) →
[hearing_scheduled → heard] → decided | no_penalty | transferred; decided → served → payment_due →
paid | instalments | postponed | overdue → demand_served (催告) → court_applied → enforced | suspended |
terminated → closed. A 复议/诉讼 (under_appeal) can interrupt any state after service and resumes where it
was (upheld, changed) or ends the case (revoked).

Guards here are pure (the case and the step's data); checks that need the database (the fee type's
configuration, the account's balance, the office calendar's overrides) are made by the hooks in
``caseflow.services.fees``.
"""
from __future__ import annotations

from datetime import date, timedelta
from enum import Enum
from typing import Any, Mapping

from caseflow.workflows.definition import (
    DeadlineRule, Document, Field, GuardRefused, PublicStatus, ReportSpec, Step, Text, Workflow,
    calendar_days, working_days,
)


class State(Enum):
    opened = Text("已立案", "Opened")
    investigating = Text("调查取证中", "Investigating")
    reviewed = Text("已审核", "Reviewed")
    notice_served = Text("已告知（陈述申辩/听证期）", "Notice served (statement / hearing window)")
    hearing_scheduled = Text("已安排听证", "Hearing scheduled")
    heard = Text("已听证", "Heard")
    decided = Text("已作出处罚决定", "Decided")
    no_penalty = Text("不予处罚", "No penalty")
    transferred = Text("已移送", "Transferred")
    served = Text("决定书已送达", "Decision served")
    payment_due = Text("待缴纳", "Payment due")
    instalments = Text("分期缴纳", "Paying by instalments")
    postponed = Text("延期缴纳", "Payment postponed")
    overdue = Text("逾期未缴", "Overdue")
    under_appeal = Text("复议/诉讼中", "Under appeal")
    demand_served = Text("已催告", "Demand served")
    court_applied = Text("已申请法院强制执行", "Court enforcement applied for")
    suspended = Text("中止执行", "Enforcement suspended")
    enforced = Text("已执行", "Enforced")
    terminated = Text("终结执行", "Enforcement terminated")
    paid = Text("已缴清", "Paid")
    revoked = Text("决定已撤销", "Decision revoked")
    closed = Text("已结案", "Closed")


OFFICE = frozenset({"clerk", "supervisor"})
HEAD = frozenset({"supervisor"})  # 负责人: the head of office reviews and decides
SCHEDULER = frozenset({"clerk", "supervisor", "system"})

# States after the decision was served, in which money is owed (payments may be recorded).
PAYABLE = ("payment_due", "instalments", "postponed", "overdue", "demand_served", "court_applied")
# States a 复议/诉讼 can interrupt, and to which it resumes when the decision stands.
APPEALABLE = ("served",) + PAYABLE + ("suspended",)

YES_NO = (("yes", Text("是", "yes")), ("no", Text("否", "no")))
SERVICE_METHODS = (
    ("in_person", Text("直接送达", "handed over in person")),
    ("left", Text("留置送达", "left at the address")),
    ("post", Text("邮寄送达", "by post")),
    ("entrusted", Text("委托送达", "through another authority")),
    ("electronic", Text("电子送达（当事人书面同意）", "electronically (with signed consent)")),
    ("public", Text("公告送达", "by public notice")),
)

# ------------------------------------------------------------------------------------------- messages

TOO_LATE = Text("已超过行政处罚追责时效（违法行为发生之日起 {years} 年，行政处罚法第三十六条），不得立案处罚。",
                "The limitation period has run ({years} years from the violation, 行政处罚法 Art. 36): "
                "no penalty case may be opened.")
VIOLATION_IN_FUTURE = Text("违法行为日期不能晚于今天。", "The violation date cannot be in the future.")
SAME_OFFICER = Text("调查须由两名不同的执法人员进行（行政处罚法第四十二条）：两人的姓名和执法证号都不能相同。",
                    "Two different law-enforcement officers must investigate (行政处罚法 Art. 42): "
                    "their names and certificate numbers must differ.")
LEGAL_REVIEW_NEEDED = Text("重大案件须经法制审核并记录审核人员（行政处罚法第五十八条）。",
                           "A major case needs a legal review with the reviewer recorded (行政处罚法 Art. 58).")
HEARING_TOO_SOON = Text("听证日期须在听证通知送达 7 日之后（行政处罚法第六十四条）。",
                        "The hearing must be at least 7 days after the notice of hearing (行政处罚法 Art. 64).")
CHAIR_IS_INVESTIGATOR = Text("听证主持人不得是本案调查人员（行政处罚法第六十四条）。",
                             "The hearing chair may not be one of the case's investigators (行政处罚法 Art. 64).")
ABOVE_NOTIFIED = Text("决定的罚款数额 {decided} 元高于告知的 {notified} 元：不得因当事人陈述、申辩而加重处罚"
                      "（行政处罚法第四十五条）。如需更高数额，须重新告知。",
                      "The decided amount ({decided} yuan) exceeds the notified {notified} yuan: a statement or "
                      "defence may not lead to a heavier penalty (行政处罚法 Art. 45). Serve a new notice first.")
ELECTRONIC_NEEDS_CONSENT = Text("电子送达须经当事人书面同意（行政处罚法第六十一条）。",
                                "Electronic service needs the party's signed consent (行政处罚法 Art. 61).")
CHANGED_ABOVE_ORIGINAL = Text("变更后的数额不得高于原决定数额（{original} 元）。",
                              "The changed amount may not exceed the original decision ({original} yuan).")
REMEDIES_RUNNING = Text("复议、诉讼期限（送达后 6 个月）尚未届满，不能催告或申请强制执行（行政强制法第五十三条）。",
                        "The periods for reconsideration and litigation (6 months from service) have not run "
                        "out: no demand or court application yet (行政强制法 Art. 53).")
COURT_WINDOW_MISSED = Text("已超过申请法院强制执行的期限（复议、诉讼期限届满之日起 3 个月，行政强制法第五十三条）。",
                           "Too late to apply to the court (3 months after the remedy periods ran out, "
                           "行政强制法 Art. 53).")
DATE_BEFORE = Text("{later}不能早于{earlier}。", "{later_en} cannot be before {earlier_en}.")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when it is shorter (08-31 + 6 → 02-28/29)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# --------------------------------------------------------------------------------------------- opening

def limitation_years(harm_to_life_or_health: str | None) -> int:
    """行政处罚法 第36条: 2 years; 5 where the violation involves citizens' life or health and has harmful
    consequences."""
    return 5 if harm_to_life_or_health == "yes" else 2


def limitation_ends(violation_date: date, harm: str | None) -> date:
    """The last day on which a case may still be opened for a violation of ``violation_date``."""
    return add_months(violation_date, 12 * limitation_years(harm))


def check_application(data: Mapping[str, Any], today: date) -> dict[str, Text]:
    """Cross-field checks on opening: the limitation period (第36条) counted from the violation date
    (or, for a continuing violation, the day it ended)."""
    violation = _date(data.get("violation_date"))
    if violation is None:
        return {}
    if violation > today:
        return {"violation_date": VIOLATION_IN_FUTURE}
    harm = data.get("harm_to_life_or_health")
    if today > limitation_ends(violation, harm):
        return {"violation_date": TOO_LATE.format(years=limitation_years(harm))}
    return {}


# ---------------------------------------------------------------------------------------------- guards

def _data(event) -> dict[str, Any]:
    return event.kwargs.get("data") or {}


def two_distinct_officers(event) -> bool:
    """第42条: at least two law-enforcement officers, with their certificates; never the same one twice."""
    data = _data(event)
    names = {str(data.get("investigator_1", "")).strip(), str(data.get("investigator_2", "")).strip()}
    certs = {str(data.get("investigator_1_cert", "")).strip().upper(),
             str(data.get("investigator_2_cert", "")).strip().upper()}
    if len(names - {""}) < 2 or len(certs - {""}) < 2:
        raise GuardRefused(SAME_OFFICER)
    return True


def legal_review_where_required(event) -> bool:
    """第58条: a major case (情节复杂、重大违法) needs a 法制审核 before the decision path goes on."""
    data = _data(event)
    if data.get("major_case") == "yes" and (data.get("legal_review") != "passed"
                                            or not data.get("legal_reviewer")):
        raise GuardRefused(LEGAL_REVIEW_NEEDED)
    return True


def hearing_notice_seven_days(event) -> bool:
    """第64条(二): the party is told of the hearing's time and place 7 days before it."""
    data = _data(event)
    notice, hearing = _date(data.get("hearing_notice_date")), _date(data.get("hearing_date"))
    if notice and hearing and hearing < notice + timedelta(days=7):
        raise GuardRefused(HEARING_TOO_SOON)
    return True


def chair_not_investigator(event) -> bool:
    """第64条(四): the hearing is chaired by someone who did not investigate the case."""
    chair = str(_data(event).get("hearing_chair", "")).strip()
    investigators = {str(event.model.data.get(k, "")).strip() for k in ("investigator_1", "investigator_2")}
    if chair and chair in investigators:
        raise GuardRefused(CHAIR_IS_INVESTIGATOR)
    return True


def not_above_notified(event) -> bool:
    """第45条: the decision may not be heavier than what the party was told (a statement never raises it)."""
    decided = _data(event).get("decided_amount")
    notified = event.model.data.get("proposed_amount")
    if decided is not None and notified is not None and decided > notified:
        raise GuardRefused(ABOVE_NOTIFIED.format(decided=_yuan(decided), notified=_yuan(notified)))
    return True


def electronic_only_with_consent(event) -> bool:
    """第61条: electronic service only when the party agreed to it in writing."""
    data = _data(event)
    if data.get("decision_service_method") == "electronic" and data.get("electronic_consent") != "yes":
        raise GuardRefused(ELECTRONIC_NEEDS_CONSENT)
    return True


def changed_not_above_original(event) -> bool:
    """An appeal may lower the amount, never raise it (复议法 第63条: no heavier decision on appeal)."""
    changed = _data(event).get("changed_amount")
    original = event.model.data.get("decided_amount")
    if changed is not None and original is not None and changed > original:
        raise GuardRefused(CHANGED_ABOVE_ORIGINAL.format(original=_yuan(original)))
    return True


def remedy_periods_ended(case_data: Mapping[str, Any], today: date) -> date | None:
    """The day the party's remedies ran out (6 months after service of the decision; the 60-day
    reconsideration period ends inside it), or None when the decision was not served."""
    served = _date(case_data.get("decision_served_on"))
    return add_months(served, 6) if served else None


def remedies_expired(event) -> bool:
    """行政强制法 第53–54条: demand and court enforcement only once the party can no longer appeal."""
    today = _today(event)
    ended = remedy_periods_ended(event.model.data, today)
    if ended is None or today <= ended:
        raise GuardRefused(REMEDIES_RUNNING)
    return True


def within_court_window(event) -> bool:
    """行政强制法 第53条: the court application within 3 months of the remedy periods' end."""
    today = _today(event)
    ended = remedy_periods_ended(event.model.data, today)
    if ended is None or today <= ended:
        raise GuardRefused(REMEDIES_RUNNING)
    if today > add_months(ended, 3):
        raise GuardRefused(COURT_WINDOW_MISSED)
    return True


def _today(event) -> date:
    from caseflow.calendar import local_date

    return local_date(event.kwargs["now"])


def came_from(state: str):
    """A resume step goes back to the state the appeal interrupted (recorded by the hooks on appeal)."""
    def check(event) -> bool:
        return event.model.data.get("appeal_from") == state
    check.__name__ = f"came_from_{state}"
    return check


# ----------------------------------------------------------------------------------------------- fields

APPLICATION_FIELDS = (
    Field("fee_type", Text("案件类型（收费/处罚种类）", "Fee or penalty type"), "choice", choices_from="fee_types"),
    Field("violation_date", Text("违法行为（或多付款项）发生日期", "Date of the violation (or overpayment)"), "date",
          past_only=True, help=Text("连续或继续状态的，填写行为终了之日。",
                                    "For a continuing violation, the day it ended.")),
    Field("harm_to_life_or_health", Text("是否涉及生命健康安全且有危害后果", "Harm to life or health"), "choice",
          choices=YES_NO, help=Text("涉及的，追责时效为 5 年（行政处罚法第三十六条）；否则为 2 年。",
                                    "If so, the limitation period is 5 years (Art. 36); otherwise 2.")),
    Field("party_role", Text("当事人身份", "The party is"), "choice", choices=(
        ("person", Text("公民本人", "the person concerned")),
        ("provider_responsible", Text("机构的负责人（如实施鉴定的机构）", "the responsible person of a provider")),
    )),
    Field("provider_name", Text("机构名称（如有）", "Provider's name (if any)"), required=False, max_length=200),
    Field("case_source", Text("案件来源和基本事实", "Source of the case and basic facts"), "textarea"),
)

STEPS = (
    Step("investigate", ("opened",), "investigating", Text("立案调查", "Open the investigation"), OFFICE,
         issues_receipt=True, guards=(two_distinct_officers,), fields=(
             Field("investigator_1", Text("执法人员一", "First officer"), max_length=50),
             Field("investigator_1_cert", Text("执法人员一 执法证号", "First officer's certificate no."), max_length=40),
             Field("investigator_2", Text("执法人员二", "Second officer"), max_length=50),
             Field("investigator_2_cert", Text("执法人员二 执法证号", "Second officer's certificate no."), max_length=40),
         )),
    Step("review", ("investigating",), "reviewed", Text("负责人审核", "Review (head of office)"), HEAD,
         guards=(legal_review_where_required,), fields=(
             Field("findings", Text("调查认定的事实", "Facts found"), "textarea"),
             Field("major_case", Text("是否重大、复杂案件", "Major or complex case"), "choice", choices=YES_NO),
             Field("legal_review", Text("法制审核", "Legal review (法制审核)"), "choice", choices=(
                 ("not_required", Text("不需要", "not required")),
                 ("passed", Text("已通过", "passed")),
             )),
             Field("legal_reviewer", Text("法制审核人员", "Legal reviewer"), required=False, max_length=50),
         )),
    Step("serve_notice", ("reviewed",), "notice_served",
         Text("送达行政处罚事先告知书", "Serve the advance notice (告知书)"), OFFICE, fields=(
             Field("proposed_amount", Text("拟处罚/征收金额（元）", "Proposed amount (yuan)"), "money", min_value=1),
             Field("notice_reasons", Text("处罚理由", "Reasons"), "textarea"),
             Field("notice_basis", Text("法律依据", "Legal basis"), max_length=300),
             Field("notice_service_method", Text("送达方式", "Service method"), "choice", choices=SERVICE_METHODS),
             Field("notice_served_on", Text("送达日期", "Served on"), "date", past_only=True),
             Field("notice_proof", Text("送达回证（文书编号）", "Proof of service (document no.)"), max_length=100),
         )),
    Step("schedule_hearing", ("notice_served",), "hearing_scheduled", Text("安排听证", "Schedule the hearing"),
         OFFICE, guards=(hearing_notice_seven_days, chair_not_investigator), fields=(
             Field("hearing_requested_on", Text("当事人要求听证日期", "Hearing requested on"), "date", past_only=True),
             Field("hearing_notice_date", Text("听证通知送达日期", "Notice of hearing served on"), "date"),
             Field("hearing_date", Text("听证日期", "Hearing date"), "date"),
             Field("hearing_place", Text("听证地点", "Place"), max_length=200),
             Field("hearing_chair", Text("听证主持人", "Chair"), max_length=50),
         )),
    Step("record_hearing", ("hearing_scheduled",), "heard", Text("记录听证", "Record the hearing"), OFFICE,
         fields=(
             Field("hearing_held_on", Text("听证举行日期", "Held on"), "date", past_only=True),
             Field("hearing_record", Text("听证笔录要点", "Summary of the hearing record"), "textarea"),
         )),
    Step("decide", ("notice_served", "heard"), "decided", Text("作出处罚决定", "Decide the penalty"), HEAD,
         guards=(not_above_notified,), fields=(
             Field("decided_amount", Text("决定金额（元）", "Decided amount (yuan)"), "money", min_value=1),
             Field("decision_facts", Text("认定的事实和证据", "Facts and evidence"), "textarea"),
             Field("decision_basis", Text("处罚依据", "Legal basis"), max_length=300),
             Field("statement_summary", Text("当事人陈述、申辩及采纳情况", "Party's statement and how it was weighed"),
                   "textarea", required=False),
             Field("payment_place", Text("缴款地点/账户", "Where to pay"), max_length=200),
         )),
    Step("no_penalty", ("notice_served", "heard"), "no_penalty", Text("不予处罚", "No penalty"), HEAD,
         reason_required=True, reason_label=Text("不予处罚的理由", "Reasons for no penalty"), danger=True),
    Step("transfer", ("investigating", "reviewed", "notice_served", "heard"), "transferred",
         Text("移送有关机关", "Transfer to another authority"), HEAD, reason_required=True,
         reason_label=Text("移送理由（如涉嫌犯罪，行政处罚法第二十七条）", "Reason (e.g. suspected crime, Art. 27)"),
         fields=(Field("transferred_to", Text("移送机关", "Transferred to"), max_length=100),), danger=True),
    Step("serve_decision", ("decided",), "served", Text("送达处罚决定书", "Serve the decision"), OFFICE,
         guards=(electronic_only_with_consent,), fields=(
             Field("decision_service_method", Text("送达方式", "Service method"), "choice", choices=SERVICE_METHODS),
             Field("electronic_consent", Text("当事人已书面同意电子送达", "Signed consent to electronic service"),
                   "choice", choices=YES_NO),
             Field("decision_served_on", Text("送达日期", "Served on"), "date", past_only=True),
             Field("decision_proof", Text("送达回证（文书编号）", "Proof of service (document no.)"), max_length=100),
         )),
    Step("start_payment", ("served",), "payment_due", Text("进入缴款期", "Start the payment period"), SCHEDULER),
    Step("grant_instalments", ("payment_due", "overdue"), "instalments",
         Text("批准分期缴纳", "Allow payment by instalments"), HEAD, fields=(
             Field("instalment_applied_on", Text("当事人申请日期", "Party applied on"), "date", past_only=True),
             Field("instalment_count", Text("分期数", "Number of instalments"), "integer", min_value=2, max_value=12),
             Field("first_instalment_due", Text("首期缴款日期", "First instalment due"), "date"),
         )),
    Step("grant_postponement", ("payment_due", "overdue"), "postponed",
         Text("批准延期缴纳", "Allow postponement"), HEAD, fields=(
             Field("postponement_applied_on", Text("当事人申请日期", "Party applied on"), "date", past_only=True),
             Field("postponed_until", Text("延期至", "Postponed until"), "date"),
         )),
    Step("mark_overdue", ("payment_due", "instalments", "postponed"), "overdue",
         Text("确认逾期未缴", "Record as overdue"), SCHEDULER),
    Step("settle", PAYABLE, "paid", Text("确认缴清", "Confirm paid in full"), SCHEDULER),
    Step("appeal", APPEALABLE, "under_appeal", Text("登记复议/诉讼", "Record an appeal"), OFFICE, fields=(
        Field("appeal_kind", Text("救济途径", "Remedy"), "choice", choices=(
            ("reconsideration", Text("行政复议", "administrative reconsideration")),
            ("litigation", Text("行政诉讼", "administrative litigation")),
        )),
        Field("appeal_filed_on", Text("提起日期", "Filed on"), "date", past_only=True),
        Field("appeal_body", Text("受理机关", "Heard by"), max_length=100),
    )),
    # Resume steps: one button each; the machine picks the transition back to the interrupted state
    # (see _add_resume_transitions below). ``dest`` names the usual case.
    Step("appeal_upheld", ("under_appeal",), "payment_due", Text("复议/诉讼维持原决定", "Appeal: decision upheld"),
         HEAD, guards=(came_from("payment_due"),), fields=(
             Field("appeal_decided_on", Text("复议/判决日期", "Appeal decided on"), "date", past_only=True),
         )),
    Step("appeal_changed", ("under_appeal",), "payment_due",
         Text("复议/诉讼变更决定", "Appeal: decision changed"), HEAD,
         guards=(changed_not_above_original, came_from("payment_due")), fields=(
             Field("appeal_decided_on", Text("复议/判决日期", "Appeal decided on"), "date", past_only=True),
             Field("changed_amount", Text("变更后的金额（元）", "Changed amount (yuan)"), "money", min_value=1),
         )),
    Step("appeal_revoked", ("under_appeal",), "revoked", Text("复议/诉讼撤销决定", "Appeal: decision revoked"),
         HEAD, danger=True, fields=(
             Field("appeal_decided_on", Text("复议/判决日期", "Appeal decided on"), "date", past_only=True),
         )),
    Step("serve_demand", ("overdue",), "demand_served", Text("送达催告书", "Serve the demand (催告书)"), OFFICE,
         guards=(remedies_expired,), fields=(
             Field("demand_service_method", Text("送达方式", "Service method"), "choice", choices=SERVICE_METHODS),
             Field("demand_served_on", Text("送达日期", "Served on"), "date", past_only=True),
             Field("demand_proof", Text("送达回证（文书编号）", "Proof of service (document no.)"), max_length=100),
         )),
    Step("apply_to_court", ("demand_served",), "court_applied",
         Text("申请法院强制执行", "Apply to the court for enforcement"), HEAD, guards=(within_court_window,),
         fields=(
             Field("court_applied_on", Text("申请日期", "Applied on"), "date", past_only=True),
             Field("court_reference", Text("法院案号", "Court reference"), required=False, max_length=100),
         )),
    Step("court_enforced", ("court_applied",), "enforced", Text("法院已执行", "Court enforced"), OFFICE),
    Step("court_suspended", ("court_applied",), "suspended", Text("法院中止执行", "Court suspended enforcement"),
         OFFICE, reason_required=True),
    Step("court_resumed", ("suspended",), "court_applied", Text("恢复执行", "Enforcement resumed"), OFFICE),
    Step("court_terminated", ("court_applied", "suspended"), "terminated",
         Text("法院终结执行", "Court terminated enforcement"), OFFICE, reason_required=True),
    Step("close", ("enforced", "terminated"), "closed", Text("结案", "Close the case"), HEAD),
)

# What the party's progress page says where the party has something to do (services/progress.py); the
# other states speak for themselves through their labels. Never an amount: the documents served state it.
PUBLIC_STATUS = {
    "notice_served": PublicStatus(
        Text("已送达事先告知书", "The advance notice has been served"),
        Text("您可以在告知书载明的期限内陈述、申辩或要求听证。",
             "You may make a statement or ask for a hearing within the period the notice gives.")),
    "hearing_scheduled": PublicStatus(
        Text("已安排听证", "A hearing is scheduled"),
        Text("请按听证通知书载明的时间、地点参加听证。", "Please attend the hearing at the time and place the notice gives.")),
    "payment_due": PublicStatus(Text("待缴纳", "Payment due"),
                                Text("请在决定书载明的期限内缴纳。", "Please pay within the period the decision gives.")),
    "instalments": PublicStatus(Text("分期缴纳中", "Paying by instalments"),
                                Text("请按批准的分期计划缴纳。", "Please pay each instalment as approved.")),
    "postponed": PublicStatus(Text("已批准延期缴纳", "Payment postponed"),
                              Text("请在批准的延期期限内缴纳。", "Please pay by the approved date.")),
    "overdue": PublicStatus(Text("逾期未缴纳", "Payment overdue"),
                            Text("请尽快缴纳；逾期将依法加处罚款。",
                                 "Please pay as soon as possible; a late charge accrues by law.")),
    "demand_served": PublicStatus(Text("已送达催告书", "A demand to pay has been served"),
                                  Text("请在催告书载明的期限内履行。", "Please pay within the period the demand gives.")),
}

WORKFLOW = Workflow(
    name="fee_case",
    version=1,
    title=Text("行政处罚/征收案件", "Fee or penalty case"),
    states=State,
    initial="opened",
    steps=STEPS,
    deadlines={
        "opened": DeadlineRule(limit=working_days(15), target=working_days(5),
                               basis="立案审查期限（各地规定不一，可调整）"),
        "notice_served": DeadlineRule(limit=working_days(5),
                                      basis="行政处罚法第六十三、六十四条：告知后五日内提出听证要求"),
        "decided": DeadlineRule(limit=calendar_days(7), target=calendar_days(2),
                                basis="行政处罚法第六十一条：七日内送达决定书"),
        "served": DeadlineRule(limit=working_days(1), basis="送达后进入缴款期"),
        "payment_due": DeadlineRule(limit=calendar_days(15), basis="行政处罚法第六十七条：十五日内缴纳罚款"),
        "demand_served": DeadlineRule(limit=working_days(10),
                                      basis="行政强制法第三十五、五十四条：催告书送达十日后仍未履行的，可申请强制执行"),
    },
    # 行政许可法 第45条 / 行政处罚法: the time of the hearing does not count against the office.
    clock_stopped=frozenset({"hearing_scheduled"}),
    closed=frozenset({"no_penalty", "transferred", "paid", "revoked", "closed"}),
    application_fields=APPLICATION_FIELDS,
    opened_by=frozenset({"clerk", "supervisor"}),
    receipt_prefix="FK",
    public_status=PUBLIC_STATUS,
    # 立案调查 issues the case number; nobody applies, so nothing is refused or sent back for documents.
    # An appeal is the party's 复议/诉讼 against the decision.
    report=ReportSpec(accept_triggers=("investigate",), appeal_triggers=("appeal",)),
    check_application=check_application,
    documents=(
        Document("advance_notice", Text("行政处罚事先告知书", "Advance notice of penalty"),
                 lambda case: case.data.get("proposed_amount") is not None),
        Document("decision", Text("行政处罚决定书", "Penalty decision"),
                 lambda case: case.data.get("decided_amount") is not None and case.state != "revoked"),
        Document("demand", Text("催告书", "Demand to pay"),
                 lambda case: case.state in ("overdue", "demand_served", "court_applied", "suspended")),
    ),
)

# 90 calendar days from opening to the decision (行政处罚法 第60条); the hearing does not count.
DECISION_DAYS = 90
DECISION_BASIS = "行政处罚法第六十条"
LATE_CHARGE_BASIS = "行政处罚法第七十二条"


def _add_resume_transitions(workflow: Workflow) -> None:
    """After an appeal that leaves the decision standing, the case resumes in the state the appeal
    interrupted: one extra transition per appealable state, tried in order, each guarded by came_from.
    Built once, at import, on the workflow's one machine."""
    for trigger, extra in (("appeal_upheld", ()), ("appeal_changed", (changed_not_above_original,))):
        for state in APPEALABLE:
            if state != "payment_due":
                workflow.machine.add_transition(trigger, "under_appeal", state,
                                                conditions=[*extra, came_from(state)])


_add_resume_transitions(WORKFLOW)
