"""Signing in and out, the login redirect, the language switch, CSRF and the error pages."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseflow.extensions import db as _db
from caseflow.extensions import transactional
from caseflow.models import User
from tests import factories
from tests.conftest import login
from tests.factories import make_case, reload
from tests.functional.ui_support import html_of, signed_in, text_of, ui_client


@pytest.fixture
def client(app):
    return ui_client(app)


def test_login_page_is_chinese_by_default(client, office):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in html_of(page)
    assert "用户名" in text_of(page) and "密码" in text_of(page)


def test_login_lands_on_my_queue(client, office):
    response = client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    queue = client.get("/")
    assert queue.status_code == 200
    assert "我的待办" in text_of(queue) and "Clerk" in text_of(queue)  # the heading and the user's name


def test_username_is_case_insensitive(client, office):
    response = client.post("/login", data={"username": "CLERK", "password": factories.PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("username, password", [
    ("clerk", "wrong-password-123"),
    ("nobody", factories.PASSWORD),
    ("disabled", factories.PASSWORD),
])
def test_failed_login_gets_one_generic_message(client, office, username, password):
    with transactional():
        factories.make_user("disabled", ["clerk"], [office.township], active=False)
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 200
    assert "用户名或密码错误。" in text_of(response)
    assert 'value="%s"' % username in html_of(response)  # the username is kept, the password is not
    assert password not in html_of(response)
    assert client.get("/").status_code == 302  # still signed out


def test_logout_ends_the_session(client, office):
    login(client, "clerk")
    response = client.post("/logout", follow_redirects=True)
    assert "您已退出登录。" in text_of(response)
    after = client.get("/cases")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login?next=")


def test_logout_is_not_a_get(app, office):
    signed = signed_in(app, "clerk")
    assert signed.get("/logout").status_code == 405
    assert signed.get("/").status_code == 200


@pytest.mark.parametrize("path", [
    "/", "/cases", "/cases/1", "/cases/1/steps/accept", "/cases/1/documents/receipt",
    "/cases/new/birth_registration", "/admin/users",
])
def test_every_page_needs_login(client, office, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_static_files_need_no_login(client):
    response = client.get("/static/caseflow.css")
    assert response.status_code == 200 and b"--primary" in response.data
    response.close()


@pytest.mark.parametrize("next_url, expected", [
    ("/cases?light=red", "/cases?light=red"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example/", "/"),
    ("/\t/evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("", "/"),
])
def test_login_redirects_to_local_paths_only(client, office, next_url, expected):
    response = client.post("/login",
                           data={"username": "clerk", "password": factories.PASSWORD, "next": next_url})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_form_carries_next_through(client, office):
    page = client.get("/login?next=/cases")
    assert 'name="next" value="/cases"' in html_of(page)


def test_language_switch_shows_english_and_is_remembered(client, office):
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    response = client.post("/lang/en", data={"next": "/cases"})
    assert response.status_code == 302 and response.headers["Location"] == "/cases"
    page = client.get("/cases")
    assert '<html lang="en">' in html_of(page)
    text = text_of(page)
    assert "All cases" in text and "My queue" in text and "Sign out" in text
    assert "全部案件" not in text
    assert reload_user("clerk").locale == "en"

    # The account keeps the choice: a new session (another browser) starts in English.
    elsewhere = signed_in(client.application, "clerk")
    assert "My queue" in text_of(elsewhere.get("/"))

    client.post("/lang/zh", data={"next": "/"})
    assert "我的待办" in text_of(client.get("/"))
    assert reload_user("clerk").locale == "zh"


def test_language_switch_works_before_login(client, office):
    client.post("/lang/en", data={"next": "/login"})
    page = client.get("/login")
    assert "Sign in" in text_of(page) and "Username" in text_of(page)


def test_unknown_language_is_refused(client, office):
    assert client.post("/lang/fr").status_code == 404


def test_error_pages_are_friendly(app, office):
    signed = signed_in(app, "clerk")
    missing = signed.get("/no-such-page")
    assert missing.status_code == 404 and "页面不存在" in text_of(missing) and "返回首页" in text_of(missing)
    forbidden = signed.get("/admin/users")
    assert forbidden.status_code == 403 and "您无权访问此页面" in text_of(forbidden)


def test_admin_without_case_roles_lands_on_administration(app, office):
    signed = signed_in(app, "admin")
    response = signed.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def reload_user(username: str) -> User:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(User).where(User.username == username))


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_csrf_protects_every_form(csrf_app, office):
    case = make_case(office)
    client = ui_client(csrf_app)

    # Even signing in needs the token, so a forged login form cannot sign a victim into another account.
    refused_login = client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    assert refused_login.status_code == 400 and "表单未能提交" in text_of(refused_login)
    assert client.get("/").status_code == 302

    token = _csrf_token(html_of(client.get("/login")))
    assert client.post("/login", data={"username": "clerk", "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 302

    # A step posted without the token is refused and changes nothing.
    forged = client.post(f"/cases/{case.id}/steps/accept", data={"version": case.version})
    assert forged.status_code == 400
    case = reload(case)
    assert case.state == "submitted" and case.number is None and len(case.events) == 1

    # The same step with the token from the form works: the 400 really was about the token.
    form = client.get(f"/cases/{case.id}/steps/accept")
    done = client.post(f"/cases/{case.id}/steps/accept",
                       data={"version": case.version, "csrf_token": _csrf_token(html_of(form))})
    assert done.status_code == 302
    assert reload(case).state == "accepted"
