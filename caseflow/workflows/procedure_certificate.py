"""孕14周以上终止妊娠 证明 — the township's certificate for a termination at 14+ weeks (WORKFLOWS.md §2).

The rule against non-medical, sex-selective termination (人口与计划生育法 第39–40条) is aimed at providers;
this certificate is something the pregnant woman herself asks the township for. The township is never a
gate on medical care: the hospital decides medical grounds (母婴保健法 第18–19条) and in an emergency acts
at once, certificate or not. So the application holds the minimum: no spouse (her own decision, no
signature of anyone else), never the fetal sex, nothing that would monitor contraception or pregnancy.
Reproductive-health data is sensitive (个人信息保护法 第28、34条): need-to-know access, every read logged,
and the medical details purged after a retention period (services/retention.py).
"""
from __future__ import annotations

from enum import Enum
from typing import Any

from caseflow.workflows.definition import (
    SAME_CALENDAR_DAY, DeadlineRule, Document, Field, GuardRefused, PublicStatus, ReportSpec, Step, Text,
    Workflow,
)


class State(Enum):
    submitted = Text("已提交", "Submitted")
    needs_supplement = Text("待补正材料", "Awaiting documents")
    issued = Text("已出具证明", "Certificate issued")
    refused = Text("不予出具", "Refused")
    withdrawn = Text("已撤回", "Withdrawn")


OPEN = ("submitted", "needs_supplement")
# Entered and handled by the office only: village officers never see these cases (need-to-know).
OFFICE = frozenset({"clerk", "supervisor"})

APPLICATION_FIELDS = (
    # Whole weeks as stated by the woman or her medical record; only used to confirm the 14-week rule
    # applies. Purged with the rest of the medical details after the retention period.
    Field("gestation_weeks", Text("孕周（整周）", "Weeks of pregnancy (whole weeks)"), "integer",
          min_value=14, max_value=40, sensitive=True),
    Field("institution", Text("拟就诊的医疗机构", "Medical institution she intends to go to"),
          max_length=100, sensitive=True),
    Field("declaration", Text("本人声明", "Her own declaration"), "choice", choices=(
        ("confirmed", Text("本人确认：申请终止妊娠不是为了非医学需要的选择性别",
                           "I confirm the termination is not sought for non-medical sex selection")),
    ), help=Text("由申请人本人确认；不询问、不记录胎儿性别。",
                 "Confirmed by the applicant herself; the fetal sex is never asked or recorded.")),
)

# A refusal is only ever about the application itself, never about her reasons or medical grounds.
REFUSAL_GROUNDS = (
    ("identity_mismatch", Text("申请人身份与所提交的身份证件不符", "identity does not match the ID presented")),
    ("incomplete_application", Text("申请材料不齐全，经一次性告知补正后仍未补齐",
                                    "application incomplete after the notice of missing documents")),
)
NOT_NOTIFIED = Text("以材料不齐全为由不予出具前，须先一次性告知需补正的全部材料。",
                    "Before refusing for incomplete documents, the applicant must first be told, in one "
                    "notice, everything that is missing.")
NO_MEDICAL_DETAIL = Text("只写材料名称，不写病情等医疗细节。", "Name the documents only; no medical details.")


def _notified_before_incomplete_refusal(event: Any) -> bool:
    """Refusing for an incomplete application is only fair after the one notice of what is missing
    (行政许可法 第32条) has been given."""
    if event.kwargs.get("data", {}).get("refusal_ground") != "incomplete_application":
        return True
    if any(e.trigger == "request_supplement" for e in event.model.events):
        return True
    raise GuardRefused(NOT_NOTIFIED)


STEPS = (
    Step("issue", ("submitted",), "issued", Text("出具证明（免费）", "Issue the certificate (free of charge)"),
         OFFICE),
    Step("request_supplement", ("submitted",), "needs_supplement",
         Text("一次性告知补正", "Request missing documents"), OFFICE,
         fields=(Field("missing_items", Text("需补正的全部材料（一次性告知）",
                                             "Everything missing (listed once, in full)"), "textarea",
                       max_length=1000, help=NO_MEDICAL_DETAIL),)),
    Step("resubmit", ("needs_supplement",), "submitted", Text("补正后重新提交", "Resubmit with documents"),
         OFFICE,
         fields=(Field("supplied_items", Text("已补正的材料", "Documents supplied"), "textarea",
                       max_length=1000, help=NO_MEDICAL_DETAIL),)),
    # A second pair of eyes on every refusal: supervisors only, on a closed list of grounds.
    Step("refuse", ("submitted",), "refused", Text("不予出具", "Refuse"), frozenset({"supervisor"}),
         reason_required=True, reason_label=Text("不予出具的事实和理由", "Facts and reasons for refusal"),
         fields=(Field("refusal_ground", Text("不予出具的依据", "Ground for refusal"), "choice",
                       choices=REFUSAL_GROUNDS),),
         guards=(_notified_before_incomplete_refusal,), danger=True),
    Step("withdraw", OPEN, "withdrawn", Text("申请人撤回", "Applicant withdraws"), OFFICE,
         reason_required=True, reason_label=Text("申请人撤回的说明", "Applicant's request to withdraw"),
         danger=True),
)

# What the applicant's progress page says in each state (services/progress.py): the state and the date
# only. No field of these cases is ever shown there, not even the list of missing documents.
PUBLIC_STATUS = {
    "submitted": PublicStatus(Text("已受理，当日办结", "Received: it is decided today")),
    "needs_supplement": PublicStatus(
        Text("材料需要补正", "Documents are missing"),
        Text("请按补正材料通知书补齐所列材料后重新提交。",
             "Please supply what the notice of missing documents lists, then submit again.")),
    "issued": PublicStatus(Text("证明已出具", "The certificate has been issued")),
    "refused": PublicStatus(Text("不予出具，理由和救济途径见决定书",
                                 "Refused: the written decision gives the reasons and how to appeal")),
    "withdrawn": PublicStatus(Text("申请已撤回", "The application was withdrawn")),
}

WORKFLOW = Workflow(
    name="procedure_certificate",
    version=1,
    title=Text("孕14周以上终止妊娠证明", "Certificate for termination of pregnancy at 14+ weeks"),
    states=State,
    initial="submitted",
    steps=STEPS,
    deadlines={
        # Medical care must never wait for the township: decided the day it is asked for, weekends and
        # public holidays included. Not configurable (services.deadlines.save_deadline_setting).
        "submitted": DeadlineRule(limit=SAME_CALENDAR_DAY,
                                  basis="当日办结（不得因证明延误医疗；人口与计划生育法 第39–40条，母婴保健法 第18–19条）"),
    },
    clock_stopped=frozenset({"needs_supplement"}),
    closed=frozenset({"issued", "refused", "withdrawn"}),
    application_fields=APPLICATION_FIELDS,
    opened_by=OFFICE,
    # The application is taken in person by the clerk who handles it: receiving it is accepting it, so
    # the receipt number is issued on submission (services/procedure_certificates.py).
    receipt_prefix="ZZ",
    public_status=PUBLIC_STATUS,
    # Accepted on submission (above); refusals by their ground; small village counts hidden, as these are
    # reproductive-health cases (个人信息保护法 第28条).
    report=ReportSpec(accepted_on_open=True, supplement_triggers=("request_supplement",),
                      refusal_triggers=("refuse",), refusal_reason_field="refusal_ground",
                      suppress_small_counts=True),
    need_to_know=True,
    documents=(
        Document("receipt", Text("受理回执", "Acceptance receipt"), lambda case: case.number is not None),
        Document("supplement_notice", Text("补正材料通知书", "Notice of missing documents"),
                 lambda case: case.state == "needs_supplement"),
        Document("certificate", Text("证明", "Certificate"), lambda case: case.state == "issued"),
        Document("refusal_decision", Text("不予出具证明决定书", "Decision to refuse the certificate"),
                 lambda case: case.state == "refused"),
    ),
)
