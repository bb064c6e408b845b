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
    return f"1 township, {len(villages)} villages, {len(users)} users, {len(cases)} cases"
