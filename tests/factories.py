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
                     email=f"{username}@example.test", **extra)


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
