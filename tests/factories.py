"""Builders for test data, going through the real services so the data is what users would create."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stdnum.cn import ric

from caseflow.extensions import db, transactional
from caseflow.models import Case, Jurisdiction, User
from caseflow.services.cases import open_case
from caseflow.services.choices import configured_choices
from caseflow.services.users import save_jurisdiction, save_user

PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)


def resident_id(born: str = "19900101") -> str:
    """A valid, unique 18-digit resident ID (Beijing Dongcheng district code)."""
    body = f"110101{born}{next(_serial) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def applicant(**overrides: Any) -> dict[str, Any]:
    return {"name": "张敏", "resident_id": resident_id(), "phone": "13812345678"} | overrides


def birth_registration_data(**overrides: Any) -> dict[str, Any]:
    return {
        "applicant_relation": "mother", "marital_status": "married", "marriage_date": "2020-05-01",
        "hukou_address": "示例镇东村 8 号", "existing_children": 1, "channel": "on_site",
    } | overrides


@dataclass
class Office:
    township: Jurisdiction
    village: Jurisdiction
    other_village: Jurisdiction
    users: dict[str, User]

    def __getitem__(self, username: str) -> User:
        return self.users[username]


def make_user(username: str, roles: list[str], places: list[Jurisdiction], **extra: Any) -> User:
    return save_user(username=username, display_name=username.title(), roles=roles,
                     jurisdiction_ids=[p.id for p in places], password=PASSWORD,
                     **({"email": f"{username}@example.test"} | extra))


def make_office() -> Office:
    """Township T with villages V1 and V2. Users: admin, supervisor, clerk, clerk2 (township), village1
    (V1), village2 (V2), auditor (township), and outsider (a clerk of another township)."""
    with transactional():
        township = save_jurisdiction(code="T1", name="示例镇", kind="township", parent_id=None)
        village = save_jurisdiction(code="V1", name="东村", kind="village", parent_id=township.id)
        other_village = save_jurisdiction(code="V2", name="西村", kind="village", parent_id=township.id)
        elsewhere = save_jurisdiction(code="T2", name="他镇", kind="township", parent_id=None)
        users = {
            "admin": make_user("admin", ["admin"], [township]),
            "supervisor": make_user("supervisor", ["supervisor"], [township]),
            "clerk": make_user("clerk", ["clerk"], [township]),
            "clerk2": make_user("clerk2", ["clerk"], [township]),
            "village1": make_user("village1", ["village_officer"], [village]),
            "village2": make_user("village2", ["village_officer"], [other_village]),
            "auditor": make_user("auditor", ["auditor"], [township]),
            "outsider": make_user("outsider", ["clerk"], [elsewhere]),
        }
    return Office(township, village, other_village, users)


def make_case(office: Office, *, by: str = "village1", village: Jurisdiction | None = None,
              now: datetime | None = None, data: dict[str, Any] | None = None, **applicant_fields: Any) -> Case:
    """A committed birth-registration case in state ``submitted``."""
    with transactional():
        case = open_case("birth_registration", (village or office.village).id, applicant(**applicant_fields),
                         data or birth_registration_data(), office[by], now=now)
    return case


def reload(case: Case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def valid_input(fields) -> dict[str, Any]:
    """A valid value for each field of a step or form, derived from the field's kind."""
    by_kind = {
        "text": lambda f: "测试",
        "textarea": lambda f: "测试说明",
        "date": lambda f: "2020-01-01",
        "integer": lambda f: f.min_value if f.min_value is not None else 1,
        "choice": lambda f: configured_choices()[f.choices_from][0][0] if f.choices_from else f.choices[0][0],
        "money": lambda f: "100.00",
        "resident_id": lambda f: resident_id(),
        "phone": lambda f: "13812345678",
    }
    return {f.name: by_kind[f.kind](f) for f in fields}


def advance(case: Case, triggers: list[str] | tuple[str, ...], office: Office, now: datetime | None = None) -> Case:
    """Fire ``triggers`` in order, each by the first office user whose role allows it; committed."""
    from caseflow.services.cases import apply_transition, workflow_of

    for trigger in triggers:
        step = workflow_of(case).step_for(trigger, case.state)
        assert step is not None, f"{trigger} not available from {case.state}"
        actor = next(office[name] for name in ("clerk", "village1", "supervisor") if office[name].has_role(*step.roles))
        with transactional():
            apply_transition(case, trigger, actor, case.version, reason="测试理由" if step.reason_required else None,
                             data=valid_input(step.fields), now=now)
    return case


def procedure_certificate_data(**overrides: Any) -> dict[str, Any]:
    """A valid 孕14周以上终止妊娠证明 application: the minimum, nothing about a spouse or the fetus."""
    return {"gestation_weeks": 16, "institution": "示例县人民医院", "declaration": "confirmed"} | overrides


def make_procedure_case(office: Office, *, by: str = "clerk", village: Jurisdiction | None = None,
                        now: datetime | None = None, data: dict[str, Any] | None = None,
                        **applicant_fields: Any) -> Case:
    """A committed procedure certificate case in state ``submitted``, assigned to ``by`` (who entered it)."""
    with transactional():
        case = open_case("procedure_certificate", (village or office.village).id,
                         applicant(**({"name": "李芳"} | applicant_fields)),
                         data or procedure_certificate_data(), office[by], now=now)
    return case


# ----------------------------------------------------------------------------- attachments (files on cases)

def tiny_png(extra: bytes = b"") -> bytes:
    """A valid 1×1 PNG; ``extra`` (in a private ancillary chunk) makes distinct content."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + (chunk(b"teSt", extra) if extra else b"")
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def tiny_pdf(text: str = "caseflow") -> bytes:
    """A small valid one-page PDF."""
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
            + f"% {text}\n".encode() + b"trailer<</Root 1 0 R>>\n%%EOF\n")


def multipart(fields: dict[str, Any]) -> dict[str, Any]:
    """A multipart/form-data body, pre-encoded so it can be sent (and re-read) as is: ``fields`` maps names
    to strings or (bytes, filename). Returns keyword arguments for a test client call."""
    from io import BytesIO

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    values = {name: FileStorage(BytesIO(value[0]), filename=value[1]) if isinstance(value, tuple) else value
              for name, value in fields.items()}
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


# ------------------------------------------------------------------------------------------ subsidy

def subsidy_data(**overrides: Any) -> dict[str, Any]:
    return {"scheme": "jiangfu", "hukou_address": "示例镇东村 8 号", "channel": "on_site"} | overrides


def make_subsidy_case(office: Office, *, by: str = "village1", village: Jurisdiction | None = None,
                      now: datetime | None = None, data: dict[str, Any] | None = None,
                      **applicant_fields: Any) -> Case:
    """A committed subsidy case in state ``applied`` (奖扶 unless ``data`` says otherwise)."""
    with transactional():
        case = open_case("subsidy", (village or office.village).id, applicant(**applicant_fields),
                         data or subsidy_data(), office[by], now=now)
    return case


def subsidy_step_input(step) -> dict[str, Any]:
    """Valid data for a subsidy step (the bank account must be digits; a new notice for the case)."""
    values = {k: v for k, v in valid_input(step.fields).items() if k != "notice_id"}
    if step.trigger == "enrol":
        values |= {"enrolment_start": "2025-01-01", "bank_account": "6222020200112233445"}
    if step.trigger == "open_reconfirmation":
        values["year"] = 2099
    return values


def advance_subsidy(case: Case, triggers: list[str] | tuple[str, ...], office: Office,
                    start: datetime | None = None) -> Case:
    """Fire subsidy ``triggers`` in order, ten days apart from ``start`` (so notices end), each by the
    first office user whose role allows it, or by the system account for clock-driven steps; committed."""
    from datetime import timedelta

    from caseflow.calendar import utcnow
    from caseflow.services.cases import apply_transition, workflow_of
    from caseflow.services.users import system_user

    moment = start or (utcnow() - timedelta(days=10 * (len(triggers) + 1)))
    for trigger in triggers:
        moment += timedelta(days=10)
        step = workflow_of(case).step_for(trigger, case.state)
        assert step is not None, f"{trigger} not available from {case.state}"
        with transactional():
            names = ("clerk", "village1", "supervisor")
            actor = next((office[n] for n in names if office[n].has_role(*step.roles)), None) or system_user(moment)
            apply_transition(case, trigger, actor, case.version,
                             reason="测试理由" if step.reason_required else None,
                             data=subsidy_step_input(step), now=moment)
    return case


# ------------------------------------------------------------------------------------------- fee cases

# Fee cases in the tests run on a fixed clock, so that limitation periods, remedy periods and the court
# window line up: opened at FEE_OPENED, every later step at FEE_NOW unless a test says otherwise.
FEE_OPENED = datetime.fromisoformat("2025-01-06T02:00:00+00:00")
FEE_NOW = datetime.fromisoformat("2025-09-01T02:00:00+00:00")


def fee_case_data(**overrides: Any) -> dict[str, Any]:
    return {"fee_type": "subsidy_recovery", "violation_date": "2024-12-01", "harm_to_life_or_health": "no",
            "party_role": "person", "case_source": "年审发现重复领取育儿补贴 3600 元"} | overrides


FEE_STEP_INPUT: dict[str, dict[str, Any]] = {
    "investigate": {"investigator_1": "李执法", "investigator_1_cert": "ZF330100001",
                    "investigator_2": "王执法", "investigator_2_cert": "ZF330100002"},
    "review": {"findings": "重复领取育儿补贴 3600 元属实", "major_case": "no", "legal_review": "not_required"},
    "serve_notice": {"proposed_amount": "3600.00", "notice_reasons": "重复领取", "notice_basis": "《育儿补贴制度实施方案》",
                     "notice_service_method": "in_person", "notice_served_on": "2025-01-10",
                     "notice_proof": "送达回证 2025-001"},
    "schedule_hearing": {"hearing_requested_on": "2025-01-12", "hearing_notice_date": "2025-01-13",
                         "hearing_date": "2025-01-20", "hearing_place": "镇政府会议室", "hearing_chair": "赵法制"},
    "record_hearing": {"hearing_held_on": "2025-01-20", "hearing_record": "当事人承认事实，请求分期"},
    "decide": {"decided_amount": "3600.00", "decision_facts": "重复领取育儿补贴", "decision_basis": "《育儿补贴制度实施方案》",
               "payment_place": "示例镇财政所（农商银行代收）"},
    "transfer": {"transferred_to": "县公安局"},
    "serve_decision": {"decision_service_method": "in_person", "electronic_consent": "no",
                       "decision_served_on": "2025-01-24", "decision_proof": "送达回证 2025-002"},
    "grant_instalments": {"instalment_applied_on": "2025-02-01", "instalment_count": "3",
                          "first_instalment_due": "2025-03-01"},
    "grant_postponement": {"postponement_applied_on": "2025-02-01", "postponed_until": "2025-03-31"},
    "appeal": {"appeal_kind": "reconsideration", "appeal_filed_on": "2025-02-01", "appeal_body": "示例县人民政府"},
    "appeal_upheld": {"appeal_decided_on": "2025-03-20"},
    "appeal_changed": {"appeal_decided_on": "2025-03-20", "changed_amount": "3000.00"},
    "appeal_revoked": {"appeal_decided_on": "2025-03-20"},
    "serve_demand": {"demand_service_method": "in_person", "demand_served_on": "2025-08-01",
                     "demand_proof": "送达回证 2025-003"},
    "apply_to_court": {"court_applied_on": "2025-08-25", "court_reference": "(2025)示执 1 号"},
}


def make_fee_case(office: Office, *, by: str = "clerk", now: datetime | None = None,
                  **data: Any) -> Case:
    """A committed fee case in state ``opened`` (the party is the applicant)."""
    with transactional():
        case = open_case("fee_case", office.village.id, applicant(name="刘某"), fee_case_data(**data), office[by],
                         now=now or FEE_OPENED)
    return case


def advance_fee(case: Case, triggers: list[str] | tuple[str, ...], office: Office,
                now: datetime | None = None) -> Case:
    """Fire fee-case ``triggers`` in order with FEE_STEP_INPUT, each by the clerk where allowed, else the
    supervisor; committed."""
    from caseflow.services.cases import apply_transition, workflow_of

    for trigger in triggers:
        step = workflow_of(case).step_for(trigger, case.state)
        assert step is not None, f"{trigger} not available from {case.state}"
        actor = office["clerk"] if office["clerk"].has_role(*step.roles) else office["supervisor"]
        with transactional():
            apply_transition(case, trigger, actor, case.version, reason="测试理由" if step.reason_required else None,
                             data=FEE_STEP_INPUT.get(trigger, {}), now=now or FEE_NOW)
    return case
