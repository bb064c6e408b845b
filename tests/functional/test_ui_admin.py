"""Administration pages: users, townships and villages, and the office calendar's local exceptions."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import to_local
from caseflow.extensions import db
from caseflow.models import CalendarOverride, Jurisdiction, User
from tests import factories
from tests.factories import make_case, reload
from tests.functional.ui_support import field_error, form_fields, html_of, signed_in, text_of, ui_client

ADMIN_PAGES = ["/admin/", "/admin/users", "/admin/users/new", "/admin/users/1", "/admin/jurisdictions",
               "/admin/jurisdictions/new", "/admin/jurisdictions/1", "/admin/calendar", "/admin/deadlines"]


def user_named(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


@pytest.mark.parametrize("username", ["clerk", "supervisor", "village1", "auditor"])
def test_admin_pages_refuse_everyone_else(app, office, username):
    client = signed_in(app, username)
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "您无权访问此页面" in text_of(response)
    sneaky = {"username": "sneaky", "display_name": "S", "roles": "admin", "password": "long-enough-pw",
              "active": "1"}
    refused = client.post("/admin/users/new", data=sneaky)
    assert refused.status_code == 403 and user_named("sneaky") is None
    closure = {"day": "2026-12-01", "kind": "closed", "note": "x"}
    assert client.post("/admin/calendar", data=closure).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(CalendarOverride.id))) == 0
    assert "系统管理" not in text_of(client.get("/"))  # no menu entry either


def test_admin_pages_need_login(app, office):
    response = ui_client(app).get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_admin_lists_users(app, office):
    client = signed_in(app, "admin")
    page = client.get("/admin/users")
    assert page.status_code == 200
    text = text_of(page)
    assert "系统管理" in text and "Village1" in text and "村级专干" in text and "示例镇" in text and "东村" in text


def test_admin_creates_a_user_who_can_then_sign_in(app, office):
    client = signed_in(app, "admin")
    form = client.get("/admin/users/new")
    assert form_fields(form)["active"] == ["1"]  # new accounts start active
    response = client.post("/admin/users/new", follow_redirects=True, data={
        "username": "zhou.min", "display_name": "周敏", "email": "zhou@example.test", "locale": "zh",
        "roles": ["clerk", "supervisor"], "jurisdictions": [str(office.township.id)], "active": "1",
        "password": "a-long-new-password",
    })
    assert "用户 zhou.min 已保存。" in text_of(response) and "周敏" in text_of(response)
    user = user_named("zhou.min")
    assert user.display_name == "周敏" and user.roles == {"clerk", "supervisor"} and user.active
    assert [j.code for j in user.jurisdictions] == ["T1"] and user.email == "zhou@example.test"
    assert user.password_hash != "a-long-new-password" and user.check_password("a-long-new-password")

    new_user = ui_client(app)
    signing_in = new_user.post("/login", data={"username": "zhou.min", "password": "a-long-new-password"})
    assert signing_in.status_code == 302
    assert "周敏" in text_of(new_user.get("/"))


def test_admin_user_form_errors_keep_input_but_not_the_password(app, office):
    client = signed_in(app, "admin")
    response = client.post("/admin/users/new", data={
        "username": "clerk", "display_name": "重名", "roles": ["clerk"],
        "jurisdictions": [str(office.village.id)], "password": "short", "active": "1",
    })
    assert response.status_code == 422
    assert field_error(response, "username") == "该用户名已被使用。"
    assert field_error(response, "password") == "密码至少 10 个字符。"
    kept = form_fields(response)
    assert kept["display_name"] == ["重名"] and kept["roles"] == ["clerk"]
    assert kept["jurisdictions"] == [str(office.village.id)]
    assert kept["password"] == [""] and "short" not in html_of(response)
    assert user_named("clerk").display_name == "Clerk"


def test_admin_edits_a_user_and_keeps_the_password_when_left_empty(app, office):
    client = signed_in(app, "admin")
    clerk = office["clerk"]
    form = client.get(f"/admin/users/{clerk.id}")
    values = form_fields(form)
    assert values["username"] == ["clerk"] and values["roles"] == ["clerk"]
    assert values["jurisdictions"] == [str(office.township.id)] and values["active"] == ["1"]

    response = client.post(f"/admin/users/{clerk.id}", data={
        "username": "clerk", "display_name": "李办事员", "email": "", "locale": "en", "roles": ["clerk"],
        "jurisdictions": [str(office.village.id), str(office.other_village.id)], "password": "",
    })
    assert response.status_code == 302
    user = user_named("clerk")
    assert user.display_name == "李办事员" and user.locale == "en" and not user.active and user.email is None
    assert sorted(j.code for j in user.jurisdictions) == ["V1", "V2"]
    assert user.check_password(factories.PASSWORD)
    # Disabled: the old password no longer signs in.
    old_login = ui_client(app).post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    assert old_login.status_code == 200 and "用户名或密码错误。" in text_of(old_login)


def test_admin_cannot_lock_themselves_out(app, office):
    client = signed_in(app, "admin")
    admin = office["admin"]
    response = client.post(f"/admin/users/{admin.id}", data={
        "username": "admin", "display_name": "Admin", "roles": ["clerk"], "active": "1",
        "jurisdictions": [str(office.township.id)],
    })
    assert response.status_code == 422
    assert field_error(response, "roles") == "不能取消自己的系统管理员角色，也不能停用自己的账号。"
    assert user_named("admin").roles == {"admin"}


def test_admin_creates_and_renames_a_village(app, office):
    client = signed_in(app, "admin")
    form = client.get(f"/admin/jurisdictions/new?parent={office.township.id}")
    assert form_fields(form)["parent_id"] == [str(office.township.id)]
    assert form_fields(form)["kind"] == ["village"]
    response = client.post("/admin/jurisdictions/new", follow_redirects=True, data={
        "kind": "village", "parent_id": str(office.township.id), "code": "V3", "name": "南村",
        "name_en": "South",
    })
    assert "南村 已保存。" in text_of(response) and "南村" in text_of(response)
    village = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "V3"))
    assert village.kind == "village" and village.parent_id == office.township.id
    assert village.name_en == "South"

    client.post(f"/admin/jurisdictions/{village.id}", data={
        "kind": "village", "parent_id": str(office.township.id), "code": "V3", "name": "南村社区", "name_en": ""})
    db.session.expire_all()
    assert db.session.get(Jurisdiction, village.id).name == "南村社区"
    # The new village is offered to the township's clerks at once.
    assert f'value="{village.id}"' in html_of(signed_in(app, "clerk").get("/cases/new/birth_registration"))


def test_village_needs_a_township(app, office):
    client = signed_in(app, "admin")
    response = client.post("/admin/jurisdictions/new",
                           data={"kind": "village", "parent_id": "", "code": "V9", "name": "无主村"})
    assert response.status_code == 422
    assert field_error(response, "parent_id") == "村（社区）必须属于一个乡镇。"
    assert form_fields(response)["name"] == ["无主村"]
    assert db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "V9")) is None
    tampered = client.post("/admin/jurisdictions/new", data={"kind": "county", "code": "C1", "name": "县"})
    assert tampered.status_code == 422 and field_error(tampered, "kind") == "请选择乡镇或村（社区）。"


def test_calendar_override_recomputes_open_deadlines(app, office):
    case = make_case(office)
    due_before = case.due_at
    last_day = to_local(due_before - timedelta(seconds=1)).date()
    client = signed_in(app, "admin")
    page = client.get("/admin/calendar")
    assert page.status_code == 200 and "暂无本地例外安排。" in text_of(page)

    response = client.post("/admin/calendar", follow_redirects=True,
                           data={"day": last_day.isoformat(), "kind": "closed", "note": "镇政府统一安排闭馆"})
    text = text_of(response)
    assert f"{last_day.isoformat()} 的例外安排已保存。" in text
    assert "已重新计算未办结案件的期限，其中 1 件有变化。" in text
    assert "镇政府统一安排闭馆" in text and "不办公" in text
    override = db.session.scalar(sa.select(CalendarOverride))
    assert override.day == last_day and not override.is_working_day
    assert override.created_by_id == office["admin"].id
    assert reload(case).due_at > due_before  # the office is closed on the last day: the period runs on

    response = client.post(f"/admin/calendar/{override.id}/delete", follow_redirects=True)
    assert "例外安排已删除。" in text_of(response) and "其中 1 件有变化" in text_of(response)
    assert reload(case).due_at == due_before
    assert db.session.scalar(sa.select(sa.func.count(CalendarOverride.id))) == 0


def test_calendar_override_form_errors(app, office):
    client = signed_in(app, "admin")
    response = client.post("/admin/calendar", data={"day": "2026-02-30", "kind": "working", "note": "补班"})
    assert response.status_code == 422
    assert field_error(response, "day") == "请输入有效日期（如 2026-01-31）。"
    assert form_fields(response)["note"] == ["补班"] and form_fields(response)["kind"] == ["working"]

    client.post("/admin/calendar", data={"day": "2026-12-01", "kind": "working", "note": "补班"})
    duplicate = client.post("/admin/calendar", data={"day": "2026-12-01", "kind": "closed", "note": "再加一次"})
    assert duplicate.status_code == 422 and field_error(duplicate, "day") == "这一天已有例外设置。"
    no_note = client.post("/admin/calendar", data={"day": "2026-12-02", "kind": "closed", "note": " "})
    assert no_note.status_code == 422 and field_error(no_note, "note") == "请说明原因。"
    assert db.session.scalar(sa.select(sa.func.count(CalendarOverride.id))) == 1
