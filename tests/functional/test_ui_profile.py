"""My profile (个人设置): what the account may do, changing one's own password, and the UI language."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseflow.extensions import db as _db
from caseflow.extensions import transactional
from caseflow.models import User
from caseflow.services.users import save_user
from tests.factories import PASSWORD
from tests.functional.ui_support import field_error, form_fields, html_of, signed_in, text_of, ui_client

NEW_PASSWORD = "a-brand-new-secret"
PASSWORD_FIELDS = ("current_password", "new_password", "repeat_password")


def user_named(username: str) -> User:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(User).where(User.username == username))


def password_form(current: str, new: str, repeat: str) -> dict[str, str]:
    return {"current_password": current, "new_password": new, "repeat_password": repeat}


def signs_in(app, username: str, password: str) -> bool:
    """Whether a real POST /login from a fresh browser accepts these credentials."""
    response = ui_client(app).post("/login", data={"username": username, "password": password})
    return response.status_code == 302


@pytest.mark.parametrize("method, path", [("GET", "/profile"), ("POST", "/profile"),
                                          ("POST", "/profile/language")])
def test_profile_needs_login(app, office, method, path):
    before = user_named("clerk").password_hash
    response = ui_client(app).open(path, method=method, data={
        **password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD), "locale": "en"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert user_named("clerk").password_hash == before


def test_header_name_links_to_the_profile(app, office):
    page = signed_in(app, "clerk").get("/")
    assert re.search(r'<a class="who" href="/profile"[^>]*>\s*Clerk\s*</a>', html_of(page))


def test_profile_shows_the_account_roles_and_jurisdictions(app, office):
    with transactional():
        save_user(username="zhou", display_name="周敏", roles=["supervisor", "clerk"],
                  jurisdiction_ids=[office.other_village.id, office.village.id], password=PASSWORD)
    page = signed_in(app, "zhou").get("/profile")
    assert page.status_code == 200
    text = text_of(page)
    assert "个人设置" in text and "zhou" in text and "周敏" in text
    assert "角色 办事员、主管" in text  # every role, in the usual order
    assert "辖区 东村、西村" in text
    assert "修改密码" in text and "界面语言" in text
    fields = form_fields(page)
    assert all(fields[name] == [""] for name in PASSWORD_FIELDS)
    assert fields["locale"] == ["zh"]
    # Read-only: nothing on the page edits roles, jurisdictions or names.
    assert not {"roles", "jurisdictions", "username", "display_name"} & set(fields)


def test_changing_the_password(app, office):
    client = signed_in(app, "clerk")
    response = client.post("/profile", data=password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    page = client.get("/profile")
    assert "密码已修改。" in text_of(page)
    assert all(value == [""] for name, value in form_fields(page).items() if name in PASSWORD_FIELDS)

    assert not signs_in(app, "clerk", PASSWORD)
    assert signs_in(app, "clerk", NEW_PASSWORD)
    assert client.get("/").status_code == 200  # this session goes on


@pytest.mark.parametrize("current, new, repeat, errors", [
    pytest.param("wrong-password-1", NEW_PASSWORD, NEW_PASSWORD,
                 {"current_password": "当前密码不正确。"}, id="wrong-current"),
    pytest.param("", NEW_PASSWORD, NEW_PASSWORD, {"current_password": "当前密码不正确。"}, id="no-current"),
    pytest.param(PASSWORD, "short-pw", "short-pw", {"new_password": "密码至少 10 个字符。"}, id="short"),
    pytest.param(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x",
                 {"repeat_password": "两次输入的新密码不一致。"}, id="repeat-differs"),
    pytest.param(PASSWORD, PASSWORD, PASSWORD, {"new_password": "新密码不能与当前密码相同。"}, id="same"),
    pytest.param("wrong-password-1", "short", "other", {
        "current_password": "当前密码不正确。", "new_password": "密码至少 10 个字符。",
        "repeat_password": "两次输入的新密码不一致。"}, id="all-at-once"),
    # With a wrong current password, "same as the current one" would tell whether the new one is right.
    pytest.param("wrong-password-1", PASSWORD, PASSWORD, {"current_password": "当前密码不正确。"},
                 id="no-hint-about-the-real-password"),
])
def test_a_refused_password_change(app, office, current, new, repeat, errors):
    before = user_named("clerk").password_hash
    client = signed_in(app, "clerk")
    response = client.post("/profile", data=password_form(current, new, repeat))
    assert response.status_code == 422
    assert "请更正标出的字段。" in text_of(response)
    for name in PASSWORD_FIELDS:
        assert field_error(response, name) == errors.get(name, ""), name
    fields = form_fields(response)
    assert [fields[name] for name in PASSWORD_FIELDS] == [[""]] * 3  # nothing typed comes back
    html = html_of(response)
    for typed in {current, new, repeat} - {""}:
        assert typed not in html
    assert user_named("clerk").password_hash == before
    assert signs_in(app, "clerk", PASSWORD)


def test_password_errors_speak_english_on_request(app, office):
    client = signed_in(app, "clerk")
    client.post("/lang/en", data={"next": "/profile"})
    response = client.post("/profile", data=password_form("wrong-password-1", "short", "other"))
    assert response.status_code == 422
    assert field_error(response, "current_password") == "The current password is wrong."
    assert field_error(response, "new_password") == "The password needs at least 10 characters."
    assert field_error(response, "repeat_password") == "The two entries of the new password differ."
    assert "Change password" in text_of(response)


def test_changing_the_language(app, office):
    client = signed_in(app, "clerk")
    response = client.post("/profile/language", data={"locale": "en"})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert user_named("clerk").locale == "en"

    page = client.get("/profile")
    assert '<html lang="en">' in html_of(page)
    assert "Language saved." in text_of(page)  # said in the language just chosen
    assert form_fields(page)["locale"] == ["en"]
    queue = client.get("/")
    assert "My queue" in text_of(queue) and "我的待办" not in text_of(queue)

    # The account keeps it: a new sign-in elsewhere starts in English.
    assert "My queue" in text_of(signed_in(app, "clerk").get("/"))

    client.post("/profile/language", data={"locale": "zh"})
    assert user_named("clerk").locale == "zh"
    page = client.get("/profile")
    assert "界面语言已保存。" in text_of(page) and "我的待办" in text_of(page)


@pytest.mark.parametrize("data", [{"locale": "fr"}, {}])
def test_an_unknown_language_changes_nothing(app, office, data):
    client = signed_in(app, "clerk")
    response = client.post("/profile/language", data=data, follow_redirects=True)
    assert "请选择中文或英文。" in text_of(response)
    assert user_named("clerk").locale == "zh"
    assert '<html lang="zh-CN">' in html_of(client.get("/"))


def test_password_change_attempts_are_throttled(limited_app, office):
    before = user_named("clerk").password_hash
    client = signed_in(limited_app, "clerk")
    for _ in range(3):
        guess = client.post("/profile", data=password_form("guess-guess-1", NEW_PASSWORD, NEW_PASSWORD))
        assert guess.status_code == 422
    blocked = client.post("/profile", data=password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
    assert blocked.status_code == 429 and "尝试次数过多" in text_of(blocked)
    assert user_named("clerk").password_hash == before
    assert client.get("/profile").status_code == 200  # reading the page is not limited
    assert client.post("/profile/language", data={"locale": "en"}).status_code == 302  # nor is the language


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_both_forms_need_the_csrf_token(csrf_app, office):
    before = user_named("clerk").password_hash
    client = ui_client(csrf_app)
    token = _csrf_token(html_of(client.get("/login")))
    assert client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302

    forged = client.post("/profile", data=password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
    assert forged.status_code == 400 and "表单未能提交" in text_of(forged)
    assert client.post("/profile/language", data={"locale": "en"}).status_code == 400
    user = user_named("clerk")
    assert user.password_hash == before and user.locale == "zh"

    # With the page's own tokens both forms work: the 400s really were about the token.
    page = html_of(client.get("/profile"))
    for action in ("/profile", "/profile/language"):
        assert re.search(rf'<form method="post" action="{action}"[^>]*>\s*<input type="hidden" name="csrf_token"',
                         page), action
    token = _csrf_token(page)
    assert client.post("/profile", data={**password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
                                         "csrf_token": token}).status_code == 302
    assert client.post("/profile/language", data={"locale": "en", "csrf_token": token}).status_code == 302
    user = user_named("clerk")
    assert user.check_password(NEW_PASSWORD) and user.locale == "en"
