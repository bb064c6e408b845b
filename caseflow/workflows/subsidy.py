"""奖励扶助 / 特别扶助 / 育儿补贴 — subsidy eligibility verification and enrolment (WORKFLOWS.md §3).

个人申报 → 村级初审 → 公示 → 乡级审核 → 县级审批 → 备案, then the annual loop (年审) while enrolled.
The scheme (and its yearly amount) is office configuration (``SubsidyScheme``). Only what the decision needs
is asked for: for 育儿补贴 the child's name and birth date; the bank account only at enrolment.

Public notice (公示) is a clock stop: its length is the ``public_notice`` deadline rule (7 calendar days by
default, changed on the admin 办理时限 page). When it ends with no objection the scheduler (the system
account) moves the case to ``notice_ended`` (公示期满，待乡级审核): the township's review is a person's act,
so the clock cannot take it for them.
"""
from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any, Mapping

from caseflow.workflows.definition import (
    REQUIRED, SYSTEM, DeadlineRule, Document, Field, PublicStatus, ReportSpec, Step, Text, Workflow,
    calendar_days,
    working_days,
)

CHILDCARE = "childcare"
# 育儿补贴 applies from 2025-01-01 (国务院《育儿补贴制度实施方案》, 2025).
CHILDCARE_SINCE = date(2025, 1, 1)
# 育儿补贴 管理规范: initial review plus confirmation within 30 working days in total.
CHILDCARE_TOTAL_WORKING_DAYS = 30


class State(Enum):
    applied = Text("已申报，待村级初审", "Applied — awaiting village review")
    returned = Text("退回补充材料", "Returned for documents")
    village_reviewed = Text("村级初审通过，待公示", "Village-reviewed — awaiting public notice")
    public_notice = Text("公示中", "On public notice")
    objection_check = Text("异议核查中", "Checking an objection")
    notice_ended = Text("公示期满，待乡级审核", "Notice ended — awaiting township review")
    township_reviewed = Text("乡级审核通过，待县级审批", "Township-reviewed — awaiting county decision")
    county_approved = Text("县级审批通过，待备案", "Approved by the county — awaiting enrolment")
    active = Text("享受中", "Enrolled")
    reconfirming = Text("年审中", "Annual reconfirmation")
    suspended = Text("暂停发放", "Suspended")
    exit_scheduled = Text("待退出", "Exit scheduled")
    ended = Text("已退出", "Ended")
    rejected = Text("不予确认", "Rejected")
    withdrawn = Text("已撤回", "Withdrawn")


# States before the county's decision in which the office's clock runs (the 30-wd total for 育儿补贴).
REVIEW_STATES = frozenset({"applied", "village_reviewed", "notice_ended", "township_reviewed"})
PRE_ENROLMENT = ("applied", "returned", "village_reviewed", "public_notice", "objection_check", "notice_ended",
                 "township_reviewed", "county_approved")
OFFICE = frozenset({"clerk", "supervisor"})
VILLAGE = frozenset({"village_officer"})


def check_application(data: Mapping[str, Any], today: date) -> dict[str, Text]:
    """育儿补贴 needs the child's name and birth date, and the child must be under three."""
    if data.get("scheme") != CHILDCARE:
        return {}
    errors: dict[str, Text] = {}
    for name in ("child_name", "child_birth_date"):
        if not data.get(name):
            errors[name] = REQUIRED
    born = data.get("child_birth_date")
    if born and third_birthday(date.fromisoformat(born)) <= today:
        errors["child_birth_date"] = Text("育儿补贴仅发放至孩子满三周岁。",
                                          "The childcare subsidy is paid only until the child turns three.")
    return errors


def third_birthday(born: date) -> date:
    """The day the child turns three (29 February → 1 March)."""
    try:
        return born.replace(year=born.year + 3)
    except ValueError:
        return date(born.year + 3, 3, 1)


APPLICATION_FIELDS = (
    Field("scheme", Text("申请项目", "Scheme"), "choice", choices_from="subsidy_schemes"),
    Field("hukou_address", Text("户籍地址", "Registered residence (hukou)"), max_length=200),
    Field("child_name", Text("孩子姓名（育儿补贴）", "Child's name (childcare subsidy)"), required=False,
          max_length=50),
    Field("child_birth_date", Text("孩子出生日期（育儿补贴）", "Child's date of birth (childcare subsidy)"), "date",
          required=False, past_only=True),
    Field("channel", Text("申请方式", "Applied"), "choice", choices=(
        ("on_site", Text("现场办理", "in person")),
        ("online", Text("网上办理", "online")),
    )),
)

NOTICE_FIELD = Field("notice_id", Text("公示批次编号（留空则为本案新建公示）",
                                       "Public notice number (empty: start a new notice for this case)"),
                     "integer", required=False, min_value=1)
EXIT_GROUND = Field("exit_ground", Text("退出原因", "Ground for ending"), "choice", choices=(
    ("death", Text("本人死亡（当年补助照发）", "death (that year's payment is kept)")),
    ("child_turned_three", Text("孩子满三周岁", "the child turned three")),
    ("hukou_moved", Text("户籍迁出", "hukou moved out")),
    ("other", Text("其他不再符合条件的情形", "otherwise no longer eligible")),
))
REJECT_FIELDS = (Field("legal_basis", Text("法律依据", "Legal basis"), max_length=300),)

STEPS = (
    Step("village_review", ("applied",), "village_reviewed", Text("村级初审通过（受理）", "Pass village review (accept)"), VILLAGE,
         issues_receipt=True,
         fields=(Field("village_opinion", Text("村级初审意见", "Village review opinion"), "textarea"),)),
    Step("return_for_documents", ("applied",), "returned", Text("退回补充材料", "Return for documents"),
         VILLAGE | OFFICE,
         fields=(Field("missing_items", Text("需补充的全部材料（一次性告知）",
                                             "Everything missing (listed once, in full)"), "textarea"),)),
    Step("resubmit", ("returned",), "applied", Text("补充材料后重新提交", "Resubmit with documents"),
         VILLAGE | OFFICE,
         fields=(Field("supplied_items", Text("已补充的材料", "Documents supplied"), "textarea"),)),
    Step("start_notice", ("village_reviewed",), "public_notice", Text("开始公示", "Start public notice"), OFFICE,
         fields=(NOTICE_FIELD,)),
    Step("object", ("public_notice",), "objection_check", Text("登记异议", "Record an objection"),
         VILLAGE | OFFICE,
         fields=(Field("objector", Text("异议人（可匿名，留空）", "Objector (may stay anonymous: leave empty)"),
                       required=False, max_length=100),
                 Field("objection", Text("异议内容", "What the objection says"), "textarea"))),
    Step("repost", ("objection_check",), "public_notice", Text("核查后重新公示", "Checked — post a new notice"),
         OFFICE,
         fields=(Field("objection_finding", Text("异议核查结果", "Finding on the objection"), "textarea"),
                 NOTICE_FIELD)),
    # Normally the scheduler's (advance_ended_notices); a supervisor may record it by hand if the scheduler
    # was down. Either way the services refuse it before the period ends or when there was an objection.
    Step("end_notice", ("public_notice",), "notice_ended", Text("公示期满无异议", "Notice ended without objection"),
         frozenset({SYSTEM, "supervisor"})),
    Step("township_review", ("notice_ended",), "township_reviewed", Text("乡级审核通过", "Pass township review"),
         OFFICE,
         fields=(Field("home_visit_note", Text("入户核查记录（可选）", "Home visit note (optional)"), "textarea",
                       required=False),)),
    Step("county_approve", ("township_reviewed",), "county_approved",
         Text("登记县级审批通过", "Record the county's approval"), frozenset({"supervisor"}),
         fields=(Field("county_decision_ref", Text("县级审批文号", "County decision reference"), max_length=100),)),
    Step("reject", ("township_reviewed", "objection_check"), "rejected", Text("不予确认", "Reject"),
         frozenset({"supervisor"}), reason_required=True,
         reason_label=Text("不予确认的事实和理由", "Facts and reasons for rejection"), fields=REJECT_FIELDS,
         danger=True),
    Step("enrol", ("county_approved",), "active", Text("备案，开始发放", "Enrol — payments start"), OFFICE,
         fields=(Field("enrolment_start", Text("享受起始日期", "Enrolment starts"), "date"),
                 Field("bank_name", Text("开户银行", "Bank"), max_length=100),
                 Field("bank_account", Text("银行账号（一卡通）", "Bank account (one-card)"), max_length=34,
                       sensitive=True))),
    Step("open_reconfirmation", ("active",), "reconfirming", Text("开始年审", "Open annual reconfirmation"),
         frozenset({SYSTEM}),
         fields=(Field("year", Text("年审年度", "Year"), "integer", min_value=2000, max_value=2100),)),
    Step("reconfirm", ("reconfirming",), "active", Text("年审通过", "Reconfirm"), OFFICE,
         fields=(Field("reconfirmation_note", Text("年审情况", "Reconfirmation note"), "textarea",
                       required=False),)),
    Step("suspend", ("reconfirming",), "suspended", Text("暂停发放", "Suspend payments"), OFFICE,
         reason_required=True, reason_label=Text("暂停原因", "Reason for suspending")),
    Step("resume", ("suspended",), "active", Text("恢复发放", "Resume payments"), OFFICE, reason_required=True,
         reason_label=Text("恢复依据", "Why payments resume")),
    Step("schedule_exit", ("active", "reconfirming", "suspended"), "exit_scheduled",
         Text("登记退出", "Schedule the exit"), OFFICE, reason_required=True,
         reason_label=Text("退出的事实", "Facts of the exit"), fields=(EXIT_GROUND,), danger=True),
    Step("end_enrolment", ("exit_scheduled",), "ended", Text("退出", "End the enrolment"),
         OFFICE | {SYSTEM}, danger=True),
    Step("withdraw", ("applied", "returned", "village_reviewed", "public_notice", "objection_check",
                      "notice_ended", "township_reviewed"), "withdrawn", Text("申请人撤回", "Applicant withdraws"),
         VILLAGE | OFFICE, reason_required=True,
         reason_label=Text("申请人撤回的说明", "Applicant's request to withdraw"), danger=True),
)

# What the applicant's progress page says in each state (services/progress.py). Once enrolled the
# eligibility check is done, so the applicant may rate it although the enrolment stays open for years.
PUBLIC_STATUS = {
    "applied": PublicStatus(Text("已申报，等待村级初审", "Applied: waiting for the village review")),
    "returned": PublicStatus(
        Text("材料需要补充", "Documents are missing"),
        Text("请补充以下材料后重新提交（补充期间办理期限暂停计算）：",
             "Please supply the following and submit again (the time limit is paused meanwhile):"),
        items_field="missing_items"),
    "village_reviewed": PublicStatus(Text("村级初审已通过，等待公示", "Village review passed: public notice next")),
    "public_notice": PublicStatus(
        Text("正在公示", "On public notice"),
        Text("公示期间办理期限暂停计算；公示期满无异议的，转入乡级审核。",
             "The time limit is paused during the notice; if nobody objects, the township reviews it next.")),
    "objection_check": PublicStatus(Text("公示期间有异议，正在核查",
                                         "Someone objected during the notice: it is being checked")),
    "notice_ended": PublicStatus(Text("公示期满，等待乡级审核", "Notice ended: waiting for the township review")),
    "township_reviewed": PublicStatus(Text("乡级审核已通过，等待县级审批",
                                           "Township review passed: waiting for the county")),
    "county_approved": PublicStatus(Text("县级已审批通过，等待备案发放", "Approved by the county: enrolment next")),
    "active": PublicStatus(Text("资格已确认，按期发放", "Eligible: payments are made each period"),
                           Text("无需您提供材料；每年进行一次年审。",
                                "Nothing is needed from you; eligibility is rechecked yearly."),
                           rateable=True),
    "reconfirming": PublicStatus(Text("正在年审", "Annual reconfirmation under way")),
    "suspended": PublicStatus(Text("暂停发放", "Payments suspended"),
                              Text("请联系办理机关了解恢复发放的条件。",
                                   "Please ask the office what is needed to resume payments.")),
    "exit_scheduled": PublicStatus(Text("已登记退出，自下一发放期起停止发放",
                                        "Exit recorded: payments stop from the next period")),
    "ended": PublicStatus(Text("已退出", "Ended")),
    "rejected": PublicStatus(Text("不予确认，理由和救济途径见决定书",
                                  "Rejected: the written decision gives the reasons and how to appeal")),
    "withdrawn": PublicStatus(Text("申请已撤回", "The application was withdrawn")),
}

WORKFLOW = Workflow(
    name="subsidy",
    version=1,
    title=Text("扶助补贴资格确认", "Subsidy eligibility"),
    states=State,
    initial="applied",
    steps=STEPS,
    deadlines={
        "applied": DeadlineRule(limit=working_days(10), target=working_days(5), basis="村级初审"),
        "village_reviewed": DeadlineRule(limit=working_days(5), target=working_days(2), basis="组织公示"),
        # The notice length, not a deadline of the office: the state stops the clock. Changing this
        # number on the 办理时限 page changes the length of notices started afterwards.
        "public_notice": DeadlineRule(limit=calendar_days(7), basis="公示期（日历日，停止计时）"),
        "notice_ended": DeadlineRule(limit=working_days(5), target=working_days(3), basis="乡级审核"),
        "township_reviewed": DeadlineRule(limit=working_days(10), basis="县级审批"),
        "county_approved": DeadlineRule(limit=working_days(5), basis="备案"),
        "reconfirming": DeadlineRule(limit=working_days(20), basis="年审"),
    },
    clock_stopped=frozenset({"returned", "public_notice"}),
    closed=frozenset({"ended", "rejected", "withdrawn"}),
    application_fields=APPLICATION_FIELDS,
    opened_by=frozenset({"village_officer", "clerk", "supervisor"}),
    receipt_prefix="BZ",
    public_status=PUBLIC_STATUS,
    # The village review is the acceptance (it issues the receipt); a rejection, after an objection or by
    # the county, is one step with its reasons in free text.
    report=ReportSpec(accept_triggers=("village_review",), supplement_triggers=("return_for_documents",),
                      refusal_triggers=("reject",)),
    check_application=check_application,
    documents=(
        Document("receipt", Text("受理回执", "Acceptance receipt"), lambda case: case.number is not None),
        Document("rejection_decision", Text("不予确认决定书", "Decision of rejection"),
                 lambda case: case.state == "rejected"),
    ),
)
