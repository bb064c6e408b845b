"""JSON API: tokens and authentication, the error format and languages, unknown routes, workflows."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import transactional
from caseflow.models import ApiToken
from caseflow.services.users import issue_api_token
from caseflow.workflows import all_workflows, birth_registration
from tests.conftest import login
from tests.factories import PASSWORD
from tests.functional.test_openapi import api, error_of


# ------------------------------------------------------------------------------------------- tokens

def test_right_credentials_get_a_token_that_authenticates_later_calls(app, client, office, db):
    before = utcnow()
    response = api(app, client).post("/tokens", {"username": "clerk", "password": PASSWORD})

    assert response.status_code == 201
    token = response.get_json()["token"]
    expires_at = datetime.fromisoformat(response.get_json()["expires_at"])
    hours = app.config["CASEFLOW_API_TOKEN_HOURS"]
    assert before + timedelta(hours=hours) <= expires_at <= utcnow() + timedelta(hours=hours)
    stored = db.session.scalars(sa.select(ApiToken)).one()
    assert stored.user.username == "clerk" and stored.expires_at == expires_at
    assert token not in stored.token_hash  # only its hash is kept
    assert api(app, client).with_token(token).get("/workflows").status_code == 200


def test_the_token_lifetime_comes_from_the_configuration(app, client, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_API_TOKEN_HOURS", 1)
    response = api(app, client).post("/tokens", {"username": "clerk", "password": PASSWORD})
    lifetime = datetime.fromisoformat(response.get_json()["expires_at"]) - utcnow()
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)


@pytest.mark.parametrize("username, password", [
    ("clerk", "wrong-password"),
    ("nobody", PASSWORD),
    ("", ""),
])
def test_wrong_credentials_get_401_and_no_token(app, client, office, db, username, password):
    response = api(app, client).post("/tokens", {"username": username, "password": password})

    assert response.status_code == 401
    assert error_of(response) == {"code": "invalid_credentials", "message": "用户名或密码错误。"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_a_deactivated_user_gets_no_token_and_loses_the_ones_issued(app, client, office):
    clerk = api(app, client, "clerk")
    with transactional():
        office["clerk"].active = False

    assert clerk.get("/workflows").status_code == 401
    assert api(app, client).post("/tokens", {"username": "clerk", "password": PASSWORD}).status_code == 401


def test_missing_malformed_invalid_and_expired_tokens_get_401(app, client, office):
    with transactional():
        expired = issue_api_token(office["clerk"], 12, now=utcnow() - timedelta(hours=13))
    anonymous = api(app, client, language="en")

    missing = anonymous.get("/workflows")
    assert missing.status_code == 401
    assert error_of(missing)["code"] == "token_required"
    assert error_of(missing)["message"] == \
        "Authentication required: send a bearer token in the Authorization header."
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="caseflow"'

    basic = anonymous.call("GET", "/workflows", headers={"Authorization": "Basic Y2xlcms6cHc="})
    assert basic.status_code == 401 and error_of(basic)["code"] == "token_required"

    for token in ("not-a-token", expired):
        refused = anonymous.with_token(token).get("/workflows")
        assert refused.status_code == 401
        assert error_of(refused) == {"code": "invalid_token",
                                     "message": "The token is invalid or has expired; get a new one."}
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_a_logged_in_browser_session_does_not_authenticate_the_api(app, client, office):
    login(client, "clerk")
    response = api(app, client).get("/cases")
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_required"


# --------------------------------------------------------------------------------- errors, languages

def test_error_messages_are_chinese_by_default_and_english_on_request(app, client, office):
    chinese, english = "用户名或密码错误。", "Wrong username or password."
    for language, message in ((None, chinese), ("zh-CN,zh;q=0.9", chinese), ("en", english),
                              ("en-US,en;q=0.8", english), ("fr", chinese)):
        response = api(app, client, language=language).post("/tokens", {"username": "clerk", "password": "x"})
        assert error_of(response)["message"] == message, language


@pytest.mark.parametrize("body, content_type", [
    ("{\"username\": ", "application/json"),
    ("[]", "application/json"),
    ("null", "application/json"),
    ("username=clerk&password=x", "application/x-www-form-urlencoded"),
])
def test_a_body_that_is_not_a_json_object_gets_400(app, client, office, body, content_type):
    response = api(app, client, language="en").post("/tokens", data=body, content_type=content_type)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "malformed_json",
        "message": "The request body must be a JSON object sent as Content-Type: application/json."}


def test_wrong_types_missing_and_unknown_keys_get_400_with_per_field_messages(app, client, office):
    response = api(app, client).post("/tokens", {"username": 42, "token": "x"})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "bad_request",
        "message": "请求格式不符合接口说明，请更正标出的字段。",
        "fields": {"username": "应为字符串。", "password": "此项为必填项。", "token": "未知字段。"},
    }
    english = api(app, client, language="en").post("/tokens", {"username": 42, "token": "x"})
    assert error_of(english)["fields"] == {
        "username": "Must be a string.", "password": "This field is required.", "token": "Unknown field."}


def test_unknown_api_routes_and_methods_answer_in_json(app, client, office):
    clerk = api(app, client, "clerk", language="en")

    missing = clerk.get("/no-such-endpoint")
    assert missing.status_code == 404 and missing.is_json
    assert error_of(missing) == {"code": "not_found", "message": "No such endpoint."}
    wrong_method = clerk.call("DELETE", "/cases")
    assert wrong_method.status_code == 405 and wrong_method.is_json
    assert error_of(wrong_method)["code"] == "method_not_allowed"
    assert set(wrong_method.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert client.get("/api/v1").status_code == 404 and client.get("/api/v1").is_json


def test_routes_outside_the_api_keep_their_own_error_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and not response.is_json


def test_api_responses_are_not_cached(app, client, office):
    response = api(app, client).post("/tokens", {"username": "clerk", "password": PASSWORD})
    assert response.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------------------------------- workflows

def test_workflows_list_states_transitions_and_fields(app, client, office):
    response = api(app, client, "auditor").get("/workflows")

    assert response.status_code == 200
    body = response.get_json()
    assert [w["name"] for w in body] == [wf.name for wf in all_workflows()]
    listed = next(w for w in body if w["name"] == "birth_registration")
    workflow = birth_registration.WORKFLOW
    assert (listed["name"], listed["title"], listed["version"], listed["initial"]) == \
        ("birth_registration", "生育登记", 1, "submitted")
    states = {s["name"]: s for s in listed["states"]}
    assert list(states) == [s.name for s in workflow.states]
    assert states["submitted"] == {"name": "submitted", "title": "已提交", "terminal": False,
                                   "pauses_clock": False}
    assert states["needs_supplement"]["pauses_clock"] is True
    assert {name for name, s in states.items() if s["terminal"]} == set(workflow.closed)
    assert {name for name, s in states.items() if s["pauses_clock"]} == set(workflow.clock_stopped)

    transitions = listed["transitions"]
    assert [(t["trigger"], t["sources"], t["dest"]) for t in transitions] == \
        [(s.trigger, list(s.sources), s.dest) for s in workflow.steps]
    void = next(t for t in transitions if t["trigger"] == "void")
    assert void["roles"] == ["supervisor"]
    assert void["required"] == ["reason", "void_ground"]
    assert void["title"] == "作废登记"
    assert void["fields"][0]["choices"] == [{"value": "applicant_request", "title": "申请人申请"},
                                            {"value": "error_correction", "title": "更正错误"}]
    accept = next(t for t in transitions if t["trigger"] == "accept")
    assert accept["roles"] == ["clerk", "supervisor"] and accept["required"] == [] and accept["fields"] == []

    fields = {f["name"]: f for f in listed["application_fields"]}
    assert list(fields) == [f.name for f in workflow.application_fields]
    assert fields["existing_children"] == {"name": "existing_children", "title": "现有子女数", "kind": "integer",
                                           "required": True, "choices": []}
    assert fields["residence_address"]["required"] is False


def test_workflow_titles_follow_accept_language(app, client, office):
    body = api(app, client, "clerk", language="en").get("/workflows").get_json()
    listed = next(w for w in body if w["name"] == "birth_registration")
    assert listed["title"] == "Birth registration"
    assert listed["states"][0]["title"] == "Submitted"
    void = next(t for t in listed["transitions"] if t["trigger"] == "void")
    assert void["title"] == "Void the registration"
