"""The scheduler's own account: it records steps that follow from the clock, and nobody can use it."""
import pytest
import sqlalchemy as sa

from caseflow.extensions import transactional
from caseflow.models import FeeType, SubsidyScheme, User
from caseflow.services.access import can_read, visible_cases
from caseflow.services.errors import PermissionDenied
from caseflow.services.users import SYSTEM_USERNAME, authenticate, list_users, save_user, system_user
from tests.factories import make_case
from tests.functional.ui_support import signed_in, ui_client


def test_the_system_account_is_created_once_and_reads_every_jurisdiction(db, office):
    with transactional():
        first = system_user()
    with transactional():
        assert system_user().id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).where(User.username == SYSTEM_USERNAME)) == 1
    here, there = make_case(office), make_case(office, by="village2", village=office.other_village)
    assert can_read(first, here) and can_read(first, there)
    assert {c.id for c in db.session.scalars(visible_cases(first))} == {here.id, there.id}


def test_nobody_can_sign_in_as_or_edit_the_system_account(app, db, office):
    with transactional():
        account = system_user()
    assert authenticate(SYSTEM_USERNAME, "") is None and authenticate(SYSTEM_USERNAME, "!") is None
    response = ui_client(app).post("/login", data={"username": SYSTEM_USERNAME, "password": "!"})
    assert response.status_code == 200 and "/login" not in response.headers.get("Location", "")
    assert account not in list_users()
    with pytest.raises(PermissionDenied):
        save_user(username="hijack", display_name="x", roles=["admin"], jurisdiction_ids=[],
                  password="a-long-password", user=account, actor=office["admin"])
    admin = signed_in(app, "admin")
    assert admin.get(f"/admin/users/{account.id}").status_code == 404
    assert admin.post(f"/admin/users/{account.id}", data={"username": "x", "roles": "admin"}).status_code == 404


def test_the_migrations_ship_the_subsidy_schemes_and_fee_types_of_workflows_md(db):
    schemes = {s.code: (s.annual_fen, s.frequency) for s in db.session.scalars(sa.select(SubsidyScheme))}
    assert schemes == {"jiangfu": (96000, "annual"), "tefu_disabled": (600000, "quarterly"),
                       "tefu_died": (840000, "quarterly"), "childcare": (360000, "quarterly")}
    fee_types = list(db.session.scalars(sa.select(FeeType)))
    assert {t.code for t in fee_types} == {"subsidy_recovery", "sex_determination_fine"}
    assert not any("社会抚养费" in t.name for t in fee_types)  # abolished in 2021
