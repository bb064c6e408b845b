"""生育登记 / 生育服务证 — birth registration (WORKFLOWS.md §1).

Applied for by either parent, an agent with a power of attorney, or a village officer on their behalf.
Under the three-child policy (人口与计划生育法 第18条) no limit is checked: the voucher is a service, not
a judgment on the birth. The application holds identity, marriage, residence and existing children —
nothing about pregnancy or how one ends.
"""
from __future__ import annotations

from enum import Enum

from caseflow.workflows.definition import (
    DeadlineRule, Document, Field, PublicStatus, ReportSpec, Step, Text, Workflow, took_step, working_days,
)


class State(Enum):
    submitted = Text("已提交", "Submitted")
    needs_supplement = Text("待补正材料", "Awaiting documents")
    accepted = Text("已受理", "Accepted")
    verifying = Text("核查中", "Verifying records")
    registered = Text("已登记", "Registered")
    refused = Text("不予登记", "Refused")
    withdrawn = Text("已撤回", "Withdrawn")
    voided = Text("已作废", "Voided")


OPEN = ("submitted", "needs_supplement", "accepted", "verifying")
OFFICE = frozenset({"clerk", "supervisor"})

APPLICATION_FIELDS = (
    Field("applicant_relation", Text("申请人身份", "Applicant is"), "choice", choices=(
        ("mother", Text("母亲", "the mother")),
        ("father", Text("父亲", "the father")),
        ("agent", Text("受委托人（附委托书）", "an agent (with power of attorney)")),
    )),
    Field("other_parent_name", Text("另一方姓名", "Other parent's name"), required=False, max_length=50),
    Field("other_parent_resident_id", Text("另一方居民身份证号", "Other parent's resident ID"),
          "resident_id", required=False),
    Field("marital_status", Text("婚姻状况", "Marital status"), "choice", choices=(
        ("married", Text("已婚", "married")),
        ("unmarried", Text("未婚", "not married")),
        ("other", Text("其他", "other")),
    )),
    Field("marriage_date", Text("结婚登记日期", "Date of marriage"), "date", required=False, past_only=True),
    Field("hukou_address", Text("户籍地址", "Registered residence (hukou)"), max_length=200),
    Field("residence_address", Text("现居住地址", "Current address"), required=False, max_length=200),
    Field("existing_children", Text("现有子女数", "Children already in the family"), "integer",
          min_value=0, max_value=20),
    Field("channel", Text("申请方式", "Applied"), "choice", choices=(
        ("on_site", Text("现场办理", "in person")),
        ("online", Text("网上办理", "online")),
    )),
)

STEPS = (
    Step("accept", ("submitted",), "accepted", Text("受理", "Accept"), OFFICE, issues_receipt=True),
    Step("request_supplement", ("submitted",), "needs_supplement",
         Text("一次性告知补正", "Request missing documents"), OFFICE, issues_number=True,
         fields=(Field("missing_items", Text("需补正的全部材料（一次性告知）",
                                             "Everything missing (listed once, in full)"), "textarea"),)),
    Step("resubmit", ("needs_supplement",), "submitted", Text("补正后重新提交", "Resubmit with documents"),
         OFFICE | {"village_officer"},
         fields=(Field("supplied_items", Text("已补正的材料", "Documents supplied"), "textarea"),)),
    Step("register", ("accepted",), "registered", Text("登记并出具凭证", "Register and issue voucher"),
         OFFICE),
    Step("verify", ("accepted",), "verifying", Text("转核查", "Send to verification"), OFFICE,
         fields=(
             Field("discrepancy", Text("不一致之处", "What disagrees"), "textarea"),
             Field("other_registry", Text("需核查的户籍地", "Registry to check with"), max_length=100),
         )),
    Step("register", ("verifying",), "registered", Text("核查无误，登记", "Verified — register"), OFFICE,
         fields=(Field("verification_result", Text("核查结果", "Verification result"), "textarea"),)),
    Step("refuse", ("verifying",), "refused", Text("不予登记", "Refuse"), frozenset({"supervisor"}),
         reason_required=True, reason_label=Text("不予登记的事实和理由", "Facts and reasons for refusal"),
         fields=(Field("legal_basis", Text("法律依据", "Legal basis"), max_length=300),), danger=True),
    Step("withdraw", OPEN, "withdrawn", Text("申请人撤回", "Applicant withdraws"),
         OFFICE | {"village_officer"}, reason_required=True,
         reason_label=Text("申请人撤回的说明", "Applicant's request to withdraw"), danger=True),
    Step("void", ("registered",), "voided", Text("作废登记", "Void the registration"),
         frozenset({"supervisor"}), reason_required=True,
         reason_label=Text("作废理由", "Reason for voiding"),
         fields=(Field("void_ground", Text("作废依据", "Ground"), "choice", choices=(
             ("applicant_request", Text("申请人申请", "the applicant asked")),
             ("error_correction", Text("更正错误", "correcting an error")),
         )),), danger=True),
)

# What the applicant's progress page says in each state (services/progress.py).
PUBLIC_STATUS = {
    "submitted": PublicStatus(Text("已收到您的申请，正在审查材料", "Your application has arrived and is being checked")),
    "needs_supplement": PublicStatus(
        Text("材料需要补正", "Documents are missing"),
        Text("请补齐以下材料后重新提交（补正期间办理期限暂停计算）：",
             "Please supply the following and submit again (the time limit is paused meanwhile):"),
        items_field="missing_items"),
    "accepted": PublicStatus(Text("已受理，正在办理登记", "Accepted: the registration is being prepared")),
    "verifying": PublicStatus(Text("正在向其他户籍地核实信息", "Your details are being checked with another registry")),
    "registered": PublicStatus(Text("已登记，请领取生育登记服务凭证", "Registered: your voucher is ready")),
    "refused": PublicStatus(Text("不予登记，理由和救济途径见不予登记决定书",
                                 "Refused: the written decision gives the reasons and how to appeal")),
    "withdrawn": PublicStatus(Text("申请已撤回", "The application was withdrawn")),
    "voided": PublicStatus(Text("登记已作废", "The registration was voided")),
}

WORKFLOW = Workflow(
    name="birth_registration",
    version=1,
    title=Text("生育登记", "Birth registration"),
    states=State,
    initial="submitted",
    steps=STEPS,
    deadlines={
        # 行政许可法 第32条: missing documents must be listed in one notice within 5 days.
        "submitted": DeadlineRule(limit=working_days(5), target=working_days(1),
                                  basis="行政许可法 第32条"),
        # Office target: same day on site; the published limit for online applications is 3 working days.
        "accepted": DeadlineRule(limit=working_days(3), target=working_days(0)),
        "verifying": DeadlineRule(limit=working_days(15), target=working_days(10)),
    },
    clock_stopped=frozenset({"needs_supplement"}),
    closed=frozenset({"registered", "refused", "withdrawn", "voided"}),
    application_fields=APPLICATION_FIELDS,
    opened_by=frozenset({"village_officer", "clerk", "supervisor"}),
    receipt_prefix="SY",
    public_status=PUBLIC_STATUS,
    # Refusals are grouped by step: the refusal step has no closed list of grounds (facts and reasons are
    # free text). Registrations are counted per village only at 5 and over (birth data is personal).
    report=ReportSpec(accept_triggers=("accept",), supplement_triggers=("request_supplement",),
                      refusal_triggers=("refuse",), suppress_small_counts=True),
    documents=(
        Document("receipt", Text("受理回执", "Acceptance receipt"), took_step("accept")),
        Document("supplement_notice", Text("补正材料通知书", "Notice of missing documents"),
                 lambda case: case.state == "needs_supplement"),
        Document("voucher", Text("生育登记服务凭证", "Birth registration voucher"),
                 lambda case: case.state == "registered"),
        Document("refusal_decision", Text("不予登记决定书", "Decision to refuse registration"),
                 lambda case: case.state == "refused"),
    ),
)
