"""Demo data: a township with four villages, one user per role, and cases in every state and light.

Every demo user is flagged ``is_demo`` (the UI then shows a banner on every page) and has the password
``demo-password`` — fine for a demonstration, never for real data.
"""
from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from stdnum.cn import ric

from caseflow.calendar import LOCAL_TZ, local_date, utcnow
from caseflow.models import Case, User
from caseflow.services.cases import apply_transition, open_case
from caseflow.services.users import save_jurisdiction, save_user

DEMO_PASSWORD = "demo-password"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
REGION_CODES = ("110101", "110102")  # county codes valid for every birth year used here
GIVEN = ["芳", "敏", "静", "丽", "强", "磊", "军", "洋", "艳", "勇", "杰", "娟", "涛", "明", "超", "秀英", "桂英", "建华"]

# (steps after submission, days ago it started) — a spread that yields every state and deadline light.
SCENARIOS: list[tuple[tuple[str, ...], int]] = [
    ((), 0), ((), 1), ((), 3), ((), 4), ((), 6), ((), 9), ((), 12),
    (("request_supplement",), 2), (("request_supplement",), 8),
    (("request_supplement", "resubmit"), 5), (("accept",), 0), (("accept",), 1), (("accept",), 2),
    (("accept",), 4), (("accept",), 7), (("accept", "verify"), 3), (("accept", "verify"), 12),
    (("accept", "verify"), 25), (("accept", "register"), 20), (("accept", "register"), 15),
    (("accept", "register"), 30), (("accept", "register"), 40), (("accept", "verify", "register"), 35),
    (("accept", "verify", "refuse"), 45), (("withdraw",), 10), (("accept", "withdraw"), 18),
    (("accept", "register", "void"), 50), ((), 2), (("accept",), 3), (("accept",), 5), ((), 7),
    (("accept", "verify"), 6), (("accept", "register"), 3), (("request_supplement",), 1),
]

STEP_INPUT = {
    "request_supplement": ({"missing_items": "户口簿复印件；结婚证复印件"}, None),
    "resubmit": ({"supplied_items": "已补交户口簿、结婚证复印件"}, None),
    "verify": ({"discrepancy": "户籍信息与申报不一致", "other_registry": "邻县公安局户籍科"}, None),
    "register": ({"verification_result": "经核查，户籍信息无误"}, None),
    "refuse": ({"legal_basis": "《人口与计划生育法》第十八条及本省条例"}, "经核查，申请人提交的户籍信息与户籍地记录不符，且未能补充证明。"),
    "withdraw": ({}, "申请人本人书面申请撤回"),
    "void": ({"void_ground": "error_correction"}, "登记信息录入错误，依申请人申请更正"),
}


def _resident_id(rng: random.Random) -> str:
    born = datetime(1985, 1, 1) + timedelta(days=rng.randrange(0, 4000))
    body = f"{rng.choice(REGION_CODES)}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last character


def seed_demo(now: datetime | None = None) -> str:
    """Create the demo township, users and cases (the caller commits)."""
    now = now or utcnow()
    rng = random.Random(2026)
    township = save_jurisdiction(code="330100001", name="示例镇", name_en="Shili Township", kind="township",
                                 parent_id=None)
    villages = [
        save_jurisdiction(code=f"33010000{i + 1}01", name=name, name_en=name_en, kind="village",
                          parent_id=township.id)
        for i, (name, name_en) in enumerate([("东村", "East Village"), ("西村", "West Village"),
                                             ("南村", "South Village"), ("北村", "North Village")])
    ]
    people = {
        "admin": ("管理员", ["admin"], [township.id]),
        "supervisor": ("陈主任", ["supervisor"], [township.id]),
        "clerk": ("李办事员", ["clerk"], [township.id]),
        "clerk2": ("王办事员", ["clerk"], [township.id]),
        "village1": ("东村专干", ["village_officer"], [villages[0].id]),
        "village2": ("西村专干", ["village_officer"], [villages[1].id]),
        "auditor": ("审计员", ["auditor"], [township.id]),
    }
    users: dict[str, User] = {
        username: save_user(username=username, display_name=name, roles=roles, jurisdiction_ids=places,
                            email=f"{username}@caseflow.example", password=DEMO_PASSWORD, is_demo=True, now=now)
        for username, (name, roles, places) in people.items()
    }
    cases: list[Case] = []
    for index, (steps, days_ago) in enumerate(SCENARIOS):
        village = villages[index % 2] if index % 3 else villages[2 + index % 2]
        submitter = users["village1"] if village is villages[0] else (
            users["village2"] if village is villages[1] else users["clerk"])
        started = datetime.combine(local_date(now) - timedelta(days=days_ago), time(9, 30), LOCAL_TZ)
        started = min(started, now)
        case = open_case(
            "birth_registration", village.id,
            {"name": rng.choice(SURNAMES) + rng.choice(GIVEN), "resident_id": _resident_id(rng),
             "phone": f"138{rng.randrange(10**7, 10**8)}"},
            {"applicant_relation": rng.choice(["mother", "father"]), "marital_status": "married",
             "marriage_date": f"{rng.randrange(2010, 2024)}-0{rng.randrange(1, 10)}-1{rng.randrange(0, 9)}",
             "hukou_address": f"示例镇{village.name}{rng.randrange(1, 200)}号",
             "existing_children": rng.choice([0, 0, 1, 1, 2]), "channel": rng.choice(["on_site", "online"])},
            submitter, now=started)
        moment = started
        for step in steps:
            moment = min(moment + timedelta(hours=rng.choice([2, 20, 44])), now)
            actor = users["supervisor"] if step in {"refuse", "void"} else (
                users["clerk2"] if index % 4 == 0 else users["clerk"])
            data, reason = STEP_INPUT.get(step, ({}, None))
            apply_transition(case, step, actor, case.version, reason=reason, data=data, now=moment)
        cases.append(case)
    cases += seed_procedure_certificates(users, villages, rng, now)
    cases += seed_fee_cases(users, villages, rng, now)
    cases += seed_subsidies(users, villages, rng, now)
    return f"1 township, {len(villages)} villages, {len(users)} users, {len(cases)} cases"


# 孕14周以上终止妊娠证明: (steps after submission, hours ago it was submitted). Same-day deadlines, so the
# open ones are a few hours old (one overdue from yesterday); closed ones spread over the year, some past
# the retention period so the purge job has something to do.
PROCEDURE_SCENARIOS: list[tuple[tuple[str, ...], int]] = [
    ((), 1), ((), 3), ((), 30),
    (("request_supplement",), 2), (("request_supplement",), 50), (("request_supplement",), 5),
    (("issue",), 4), (("issue",), 26), (("issue",), 24 * 40), (("issue",), 24 * 200),
    (("request_supplement", "resubmit", "issue"), 24 * 3),
    (("refuse",), 24 * 10), (("request_supplement", "resubmit", "refuse"), 24 * 20), (("refuse",), 24 * 190),
    (("withdraw",), 24 * 6), (("request_supplement", "withdraw"), 24 * 15), (("withdraw",), 24 * 250),
]
PROCEDURE_STEP_INPUT = {
    "request_supplement": ({"missing_items": "居民身份证原件"}, None),
    "resubmit": ({"supplied_items": "已提供居民身份证原件"}, None),
    "withdraw": ({}, "申请人本人申请撤回"),
}
PROCEDURE_INSTITUTIONS = ("示例县人民医院", "示例县妇幼保健院", "市第一人民医院")


def seed_procedure_certificates(users: dict[str, User], villages: list, rng: random.Random,
                                now: datetime) -> list[Case]:
    """Demo 孕14周以上终止妊娠证明 cases in every state, each entered by (and so assigned to) a clerk."""
    cases: list[Case] = []
    for index, (steps, hours_ago) in enumerate(PROCEDURE_SCENARIOS):
        clerk = users["clerk"] if index % 2 else users["clerk2"]
        started = now - timedelta(hours=hours_ago)
        village = villages[index % len(villages)]
        case = open_case(
            "procedure_certificate", village.id,
            {"name": rng.choice(SURNAMES) + rng.choice(["芳", "敏", "静", "丽", "艳", "娟", "秀英", "桂英"]),
             "resident_id": _resident_id(rng), "phone": f"139{rng.randrange(10**7, 10**8)}"},
            {"gestation_weeks": rng.randrange(14, 28), "institution": rng.choice(PROCEDURE_INSTITUTIONS),
             "declaration": "confirmed"},
            clerk, now=started)
        moment = started
        for step in steps:
            moment = min(moment + timedelta(minutes=rng.choice([20, 45, 90])), now)
            if step == "refuse":
                ground = "incomplete_application" if "resubmit" in steps else "identity_mismatch"
                reason = ("经一次性告知后，申请人仍未提供居民身份证原件。" if ground == "incomplete_application"
                          else "申请人所持居民身份证与本人不符。")
                apply_transition(case, step, users["supervisor"], case.version, reason=reason,
                                 data={"refusal_ground": ground}, now=moment)
                continue
            data, reason = PROCEDURE_STEP_INPUT.get(step, ({}, None))
            apply_transition(case, step, clerk, case.version, reason=reason, data=data, now=moment)
        cases.append(case)
    return cases


# Fee cases: (days since opening, steps as (trigger, days after opening), payments as (days after opening,
# yuan)). Dates on the forms are the day each step was taken.
FEE_SCENARIOS = [
    ("subsidy_recovery", 12, [("investigate", 1)], []),
    ("sex_determination_fine", 30, [("investigate", 1), ("review", 6), ("serve_notice", 8),
                                    ("schedule_hearing", 11)], []),
    ("subsidy_recovery", 40, [("investigate", 1), ("review", 4), ("serve_notice", 6), ("decide", 20),
                              ("serve_decision", 22), ("start_payment", 23)], []),
    # Overdue with a late charge: served 75 days ago, a part paid after the deadline.
    ("subsidy_recovery", 110, [("investigate", 1), ("review", 4), ("serve_notice", 6), ("decide", 30),
                               ("serve_decision", 35), ("start_payment", 36), ("mark_overdue", 51)],
     [(55, "1000.00")]),
    # Under appeal (行政复议) since ten days ago.
    ("sex_determination_fine", 80, [("investigate", 1), ("review", 5), ("serve_notice", 7), ("decide", 40),
                                    ("serve_decision", 45), ("start_payment", 46), ("appeal", 70)], []),
    ("subsidy_recovery", 70, [("investigate", 1), ("review", 3), ("serve_notice", 5), ("decide", 20),
                              ("serve_decision", 22), ("start_payment", 23)], [(30, "2400.00")]),
]
FEE_AMOUNTS = {"subsidy_recovery": "2400.00", "sex_determination_fine": "20000.00"}


def _fee_step_data(trigger: str, day: str, fee_type: str) -> dict:
    amount = FEE_AMOUNTS[fee_type]
    return {
        "investigate": {"investigator_1": "李办事员", "investigator_1_cert": "ZF33010001",
                        "investigator_2": "王办事员", "investigator_2_cert": "ZF33010002"},
        "review": {"findings": "经调查，事实清楚，证据确凿。", "major_case": "no", "legal_review": "not_required"},
        "serve_notice": {"proposed_amount": amount, "notice_reasons": "违反相关规定，应予处理。",
                         "notice_basis": "《中华人民共和国行政处罚法》及相关规定", "notice_service_method": "in_person",
                         "notice_served_on": day, "notice_proof": f"送达回证 {day}"},
        "schedule_hearing": {"hearing_requested_on": day, "hearing_notice_date": day,
                             "hearing_date": (datetime.fromisoformat(day) + timedelta(days=10)).date().isoformat(),
                             "hearing_place": "示例镇政府二楼会议室", "hearing_chair": "陈主任"},
        "decide": {"decided_amount": amount, "decision_facts": "经调查，事实清楚，证据确凿。",
                   "decision_basis": "《中华人民共和国行政处罚法》及相关规定", "payment_place": "示例镇财政所（农商银行代收）"},
        "serve_decision": {"decision_service_method": "in_person", "electronic_consent": "no",
                           "decision_served_on": day, "decision_proof": f"送达回证 {day}"},
        "appeal": {"appeal_kind": "reconsideration", "appeal_filed_on": day, "appeal_body": "示例县人民政府"},
    }.get(trigger, {})


def seed_fee_cases(users: dict[str, User], villages: list, rng: random.Random, now: datetime) -> list[Case]:
    """Demo fee cases along the due-process path: investigating, a hearing scheduled, payment due, one
    overdue with its late charge, one under appeal, one paid. The party is the applicant (for a
    sex-determination fine, the provider's responsible person)."""
    from caseflow.services.fees import account_of, record_payment, store_late_charge

    cases: list[Case] = []
    for index, (fee_type, days_ago, steps, payments) in enumerate(FEE_SCENARIOS):
        opened = datetime.combine(local_date(now) - timedelta(days=days_ago), time(9, 0), LOCAL_TZ)
        provider = fee_type == "sex_determination_fine"
        case = open_case(
            "fee_case", villages[index % len(villages)].id,
            {"name": rng.choice(SURNAMES) + rng.choice(GIVEN), "resident_id": _resident_id(rng),
             "phone": f"137{rng.randrange(10**7, 10**8)}"},
            {"fee_type": fee_type, "violation_date": (opened - timedelta(days=20)).date().isoformat(),
             "harm_to_life_or_health": "no", "party_role": "provider_responsible" if provider else "person",
             "provider_name": "某某诊所" if provider else "",
             "case_source": "群众举报：某某诊所为孕妇进行非医学需要的胎儿性别鉴定。" if provider
             else "年度资格复核发现不符合条件期间仍领取补贴。"},
            users["clerk"], now=opened)
        events = sorted([(day, "step", trigger) for trigger, day in steps]
                        + [(day, "pay", amount) for day, amount in payments])
        for offset, kind, what in events:
            moment = min(opened + timedelta(days=offset, hours=1), now)
            day = local_date(moment).isoformat()
            if kind == "pay":
                fen = int(what.replace(".", ""))
                record_payment(case, users["clerk"], case.version, amount_fen=fen,
                               paid_on=local_date(moment), receipt_ref=f"NS{day.replace('-', '')}{index}", now=moment)
                continue
            head = what in {"review", "decide"}
            apply_transition(case, what, users["supervisor"] if head else users["clerk"], case.version,
                             data=_fee_step_data(what, day, fee_type), now=moment)
        store_late_charge(account_of(case), local_date(now))  # as the scheduler's daily run would have
        cases.append(case)
    return cases


# 扶助补贴: (scheme, steps after application). Steps run ten days apart from 150 days ago, so every notice
# has ended unless the case is still on one; "NOTICE" cases share one notice started three days ago.
SUBSIDY_REVIEW = ("village_review", "start_notice", "end_notice", "township_review")
SUBSIDY_SCENARIOS: list[tuple[str, tuple[str, ...]]] = [
    ("jiangfu", ()), ("childcare", ()), ("jiangfu", ("return_for_documents",)),
    ("jiangfu", ("village_review",)), ("childcare", ("village_review",)),
    ("jiangfu", ("village_review", "NOTICE")), ("tefu_disabled", ("village_review", "NOTICE")),
    ("jiangfu", SUBSIDY_REVIEW[:3]), ("childcare", SUBSIDY_REVIEW),
    ("tefu_died", SUBSIDY_REVIEW + ("county_approve",)),
    ("jiangfu", SUBSIDY_REVIEW + ("county_approve", "enrol")),
    ("jiangfu", SUBSIDY_REVIEW + ("county_approve", "enrol")),
    ("tefu_died", SUBSIDY_REVIEW + ("county_approve", "enrol")),
    ("childcare", SUBSIDY_REVIEW + ("county_approve", "enrol")),
    ("jiangfu", SUBSIDY_REVIEW + ("reject",)),
]


def seed_subsidies(users: dict[str, User], villages: list, rng: random.Random, now: datetime) -> list[Case]:
    """Subsidy cases in most states (in 东村, whose officer reviews them), one running public notice of two
    cases, active enrolments, and a paid-out 奖扶 batch for this year with one failed payment. Ended notices
are confirmed by the supervisor, so the demo creates no system account (the scheduler does, on first run)."""
    from caseflow.services import subsidies, subsidy_payments

    village = villages[0]
    today = local_date(now)
    step_input = {
        "village_review": ({"village_opinion": "经入户核实，符合申报条件"}, None),
        "return_for_documents": ({"missing_items": "户口簿复印件；独生子女父母光荣证"}, None),
        "township_review": ({"home_visit_note": "已入户核查，情况属实"}, None),
        "county_approve": ({"county_decision_ref": f"县卫健〔{today.year}〕{rng.randrange(10, 99)}号"}, None),
        "enrol": ({"enrolment_start": f"{today.year}-01-01", "bank_name": "示例县农村商业银行"}, None),
        "reject": ({"legal_basis": "《全国农村部分计划生育家庭奖励扶助制度管理规范》"}, "经核查，申请人不符合年龄条件"),
    }
    on_notice: list[Case] = []
    cases: list[Case] = []
    for scheme, steps in SUBSIDY_SCENARIOS:
        data = {"scheme": scheme, "hukou_address": f"示例镇{village.name}{rng.randrange(1, 200)}号",
                "channel": rng.choice(["on_site", "online"])}
        if scheme == "childcare":
            born = today - timedelta(days=rng.randrange(200, 700))
            data |= {"child_name": rng.choice(SURNAMES) + rng.choice(GIVEN), "child_birth_date": born.isoformat()}
        # Steps ten days apart, ending in the last few days: open cases are recent, as in a live office.
        start = now - timedelta(days=10 * len(steps) + rng.randrange(1, 6))
        case = open_case("subsidy", village.id,
                         {"name": rng.choice(SURNAMES) + rng.choice(GIVEN), "resident_id": _resident_id(rng),
                          "phone": f"139{rng.randrange(10**7, 10**8)}"}, data, users["village1"], now=start)
        moment = start
        for step in steps:
            moment += timedelta(days=10)
            if step == "NOTICE":
                on_notice.append(case)
                continue
            actor = {"village_review": users["village1"], "return_for_documents": users["village1"],
                     "county_approve": users["supervisor"], "reject": users["supervisor"],
                     "end_notice": users["supervisor"]}.get(step, users["clerk"])
            payload, reason = step_input.get(step, ({}, None))
            if step == "enrol":
                payload = payload | {"bank_account": f"6228{rng.randrange(10**14, 10**15)}"}
                if scheme == "childcare":
                    payload = payload | {"enrolment_start": data["child_birth_date"]}
            apply_transition(case, step, actor, case.version, reason=reason, data=payload, now=moment)
        cases.append(case)
    subsidies.start_public_notice([c.id for c in on_notice], users["clerk"], now - timedelta(days=3),
                                  versions={c.id: c.version for c in on_notice})
    batch = subsidy_payments.create_payment_batch(subsidies.scheme_by_code("jiangfu"), str(today.year),
                                                  users["supervisor"], now)
    for index, payment in enumerate(batch.payments):
        subsidy_payments.mark_payment(payment, "failed" if index == 0 else "paid",
                                      "账号已销户" if index == 0 else None, users["clerk"], now)
    return cases
