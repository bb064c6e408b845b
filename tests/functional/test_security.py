"""Sign-in throttling, security headers, and account rules that protect the office's data."""
import pytest
import sqlalchemy as sa

from caseflow.extensions import db as _db, transactional
from caseflow.models import User
from caseflow.services import users as user_service
from caseflow.services.errors import ValidationFailed
from caseflow.services.users import authenticate, save_jurisdiction, save_user
from tests.factories import PASSWORD
from tests.functional.ui_support import signed_in


def test_repeated_sign_in_attempts_are_throttled_per_address(limited_app, office):
    client = limited_app.test_client()
    for _ in range(3):
        assert client.post("/login", data={"username": "clerk", "password": "guess"}).status_code == 200
    blocked = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "尝试次数过多" in blocked.get_data(as_text=True) or "Too many" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/login").status_code == 200  # reading the form is not limited


def test_api_token_endpoint_is_throttled_with_a_json_error(limited_app, office):
    client = limited_app.test_client()
    for _ in range(3):
        client.post("/api/v1/tokens", json={"username": "clerk", "password": "guess"})
    blocked = client.post("/api/v1/tokens", json={"username": "clerk", "password": PASSWORD},
                          headers={"Accept-Language": "en"})
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["message"] == "Too many attempts; wait a minute and try again."


def test_pages_and_api_send_security_headers(client, office):
    for response in (client.get("/login"), client.get("/api/v1/openapi.json")):
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unknown_username_costs_a_password_check_like_a_known_one(db, office, monkeypatch):
    checks = []
    real_check = user_service.check_password_hash
    monkeypatch.setattr(user_service, "check_password_hash", lambda h, p: checks.append(h) or real_check(h, p))
    assert authenticate("nobody", "whatever-password") is None
    assert len(checks) == 1
    assert authenticate("clerk", PASSWORD).username == "clerk"


def test_editing_a_user_keeps_the_demo_flag_unless_told(db, office):
    with transactional():
        demo = save_user(username="demo1", display_name="Demo", roles=["clerk"], jurisdiction_ids=[],
                         password=PASSWORD, is_demo=True)
        save_user(username="demo1", display_name="Demo renamed", roles=["clerk"], jurisdiction_ids=[], user=demo)
    assert _db.session.scalar(sa.select(User.is_demo).where(User.username == "demo1")) is True


def test_jurisdiction_kinds_are_checked(db, office):
    with pytest.raises(ValidationFailed) as info:
        save_jurisdiction(code="X1", name="某地", kind="county", parent_id=None)
    assert set(info.value.fields) == {"kind"}
    with pytest.raises(ValidationFailed) as info:  # a township that still has villages
        save_jurisdiction(code="T1", name="示例镇", kind="village", parent_id=office.township.id,
                          jurisdiction=office.township)
    assert set(info.value.fields) >= {"kind"} or set(info.value.fields) >= {"parent_id"}


def test_a_disabled_account_loses_its_open_session(app, db, office):
    client = signed_in(app, "clerk")
    assert client.get("/").status_code == 200
    with transactional():
        clerk = office["clerk"]
        save_user(username="clerk", display_name=clerk.display_name, roles=["clerk"],
                  jurisdiction_ids=[j.id for j in clerk.jurisdictions], active=False, user=clerk)
    assert client.get("/").headers["Location"].startswith("/login")


def test_a_new_password_ends_other_sessions_but_not_the_one_that_changed_it(app, db, office):
    elsewhere = signed_in(app, "clerk")
    here = signed_in(app, "clerk")
    changed = here.post("/profile", data={"current_password": PASSWORD, "new_password": "a-brand-new-secret",
                                          "repeat_password": "a-brand-new-secret"})
    assert changed.status_code == 302
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").headers["Location"].startswith("/login")
