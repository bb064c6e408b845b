"""The OpenAPI document: a valid OpenAPI 3 document that agrees with what the API really does.

``Api`` is the test client every API test uses: each exchange is checked against the document the app
serves (openapi-core), so a response the document does not describe fails the test that caused it.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Response

from caseflow.calendar import utcnow
from caseflow.extensions import limiter, transactional
from caseflow.services.users import issue_api_token
from caseflow.views.api import PREFIX
from tests.factories import (
    PASSWORD, advance, advance_fee, applicant, birth_registration_data, make_case, make_fee_case, multipart,
    tiny_png,
)

_documents: dict[int, OpenAPI] = {}


def path_template(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``<int:case_id>`` → ``{case_id}``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def served_document(app) -> OpenAPI:
    """The document GET /api/v1/openapi.json serves, fetched once per app."""
    if id(app) not in _documents:
        response = app.test_client().get(f"{PREFIX}/openapi.json")
        assert response.status_code == 200
        _documents[id(app)] = OpenAPI.from_dict(response.get_json())
    return _documents[id(app)]


class Api:
    """The test client speaking to /api/v1 as one caller (or none), checking every exchange.

    Every response must match the document. The request must match it exactly when the server accepts
    it (any answer but 400 and 401), and must not when the server answers 400: "400" and "does not
    match the document" are the same thing. ``log`` collects (method, path template, status) seen.
    """

    def __init__(self, app, client, token: str | None = None, language: str | None = None,
                 log: set[tuple[str, str, int]] | None = None):
        self.app, self.client, self.token, self.language = app, client, token, language
        self.log = log if log is not None else set()

    def as_user(self, username: str, language: str | None = None) -> Api:
        token = self.post("/tokens", {"username": username, "password": PASSWORD}).get_json()["token"]
        return Api(self.app, self.client, token, language or self.language, self.log)

    def with_token(self, token: str | None) -> Api:
        return Api(self.app, self.client, token, self.language, self.log)

    def in_language(self, language: str) -> Api:
        return Api(self.app, self.client, self.token, language, self.log)

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.call("GET", path, query_string=query)

    def post(self, path: str, payload: Any = None, **raw: Any) -> TestResponse:
        """POST ``payload`` as JSON, or a raw body with ``data=``/``content_type=``."""
        return self.call("POST", path, **({"json": payload} if not raw else raw))

    def call(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.language is not None:
            headers["Accept-Language"] = self.language
        request_args = {"path": PREFIX + path, "method": method, "headers": headers, **kwargs}
        response = self.client.open(**request_args)
        assert "Set-Cookie" not in response.headers
        # The app consumed the request body; openapi-core gets an identical request of its own.
        self.check(EnvironBuilder(**request_args).get_request(), response)
        return response

    def check(self, request, response: TestResponse) -> None:
        document = served_document(self.app)
        openapi_request = WerkzeugOpenAPIRequest(request)
        try:
            document.validate_request(openapi_request)
            refusal = None
        except PathError:
            # Not an operation of the document: the unknown-route answer, in JSON.
            assert response.status_code in (404, 405)
            assert set(response.get_json()["error"]) == {"code", "message"}
            return
        except OpenAPIError as error:
            refusal = error
        document.validate_response(openapi_request, WerkzeugOpenAPIResponse(response))
        if response.status_code == 400:
            assert refusal is not None, "the server refused a request the document allows"
        elif response.status_code != 401:  # authentication is checked before the body
            assert refusal is None, f"the document refuses a request the server accepted: {refusal!r}"
        rule, _ = self.app.url_map.bind("localhost").match(request.path, method=request.method,
                                                           return_rule=True)
        self.log.add((request.method, path_template(rule.rule), response.status_code))


def api(app, client, username: str | None = None, language: str | None = None) -> Api:
    """An ``Api`` for ``username`` (with a fresh token), or without a token."""
    anonymous = Api(app, client, language=language)
    return anonymous.as_user(username, language) if username else anonymous


def error_of(response: TestResponse) -> dict[str, Any]:
    return response.get_json()["error"]


# ------------------------------------------------------------------------------------------ the tests

def test_the_served_document_is_valid_openapi_3(client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    validate(document)  # openapi-spec-validator raises on any violation
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"][f"{PREFIX}/tokens"]["post"]["security"] == []


def test_every_api_route_is_documented_and_nothing_else(app, client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    routed = {(method, path_template(rule.rule))
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed


def test_the_check_catches_a_response_that_strays_from_the_document(app, client, office):
    """The contract check is not vacuous: the same response with one field dropped or mistyped fails."""
    case = make_case(office)
    clerk = api(app, client, "clerk")
    response = clerk.get(f"/cases/{case.id}")
    request = EnvironBuilder(path=f"{PREFIX}/cases/{case.id}",
                             headers={"Authorization": f"Bearer {clerk.token}"}).get_request()
    body = response.get_json()
    for broken in ({k: v for k, v in body.items() if k != "version"}, body | {"version": "2"},
                   body | {"light": "blue"}, body | {"extra": 1}):
        tampered = Response(json.dumps(broken), status=200, content_type="application/json")
        with pytest.raises(OpenAPIError):
            served_document(app).validate_response(WerkzeugOpenAPIRequest(request),
                                                   WerkzeugOpenAPIResponse(tampered))


def test_every_documented_answer_of_every_operation_happens_and_agrees_with_the_document(app, client, office,
                                                                                         monkeypatch):
    """Drive each operation to each status the document lists; ``Api`` checks every exchange."""
    anonymous = api(app, client)
    assert anonymous.get("/openapi.json").status_code == 200

    # tokens
    assert anonymous.post("/tokens", {"username": "clerk", "password": PASSWORD}).status_code == 201
    assert anonymous.post("/tokens", {"username": "clerk", "password": "wrong-password"}).status_code == 401
    assert anonymous.post("/tokens", {"username": "clerk"}).status_code == 400
    assert anonymous.post("/tokens", data="username=clerk", content_type="application/x-www-form-urlencoded"
                          ).status_code == 400

    clerk, village1, outsider = (anonymous.as_user(name) for name in ("clerk", "village1", "outsider"))
    with transactional():
        expired = issue_api_token(office["clerk"], 1, now=utcnow() - timedelta(hours=2))
    stale_token = anonymous.with_token(expired)

    # workflows
    assert clerk.get("/workflows").status_code == 200
    assert anonymous.get("/workflows").status_code == 401
    assert stale_token.get("/workflows").status_code == 401

    # create
    new_case = {"workflow": "birth_registration", "jurisdiction": "V1", "applicant": applicant(),
                "data": birth_registration_data()}
    created = village1.post("/cases", new_case)
    assert created.status_code == 201
    case_id = created.get_json()["id"]
    assert village1.post("/cases", new_case | {"jurisdiction": True}).status_code == 400
    assert village1.post("/cases", new_case | {"workflow": "no_such_workflow"}).status_code == 400
    assert village1.post("/cases", new_case | {"colour": "red"}).status_code == 400
    assert village1.post("/cases", data="{not json", content_type="application/json").status_code == 400
    assert anonymous.post("/cases", new_case).status_code == 401
    assert village1.post("/cases", new_case | {"jurisdiction": "V2"}).status_code == 403
    assert village1.post("/cases", new_case | {"applicant": applicant(resident_id="110101199001011234")}
                         ).status_code == 422

    # list
    assert clerk.get("/cases", workflow="birth_registration", state="submitted", assignee="me", light="green",
                     page=1).status_code == 200
    assert clerk.get("/cases", light="purple").status_code == 400
    assert clerk.get("/cases", page=0).status_code == 400
    assert anonymous.get("/cases").status_code == 401

    # get
    assert clerk.get(f"/cases/{case_id}").status_code == 200
    assert outsider.get(f"/cases/{case_id}").status_code == 404
    assert anonymous.get(f"/cases/{case_id}").status_code == 401

    # transitions
    transitions = f"/cases/{case_id}/transitions"
    assert clerk.post(transitions, {"trigger": "accept", "version": "1"}).status_code == 400
    assert anonymous.post(transitions, {"trigger": "accept", "version": 1}).status_code == 401
    assert village1.post(transitions, {"trigger": "accept", "version": 1}).status_code == 403
    assert outsider.post(transitions, {"trigger": "accept", "version": 1}).status_code == 404
    assert clerk.post(transitions, {"trigger": "register", "version": 1}).status_code == 422
    assert clerk.post(transitions, {"trigger": "accept", "version": 1}).status_code == 200
    assert clerk.post(transitions, {"trigger": "verify", "version": 1}).status_code == 409
    assert clerk.post(transitions, {"trigger": "verify", "version": 2}).status_code == 422

    # assignment (the case is the clerk's since acceptance, at version 2)
    assignment = f"/cases/{case_id}/assignment"
    assert clerk.post(assignment, {"assignee": "me"}).status_code == 400
    assert anonymous.post(assignment, {"assignee": None, "version": 2}).status_code == 401
    assert village1.post(assignment, {"assignee": "me", "version": 2}).status_code == 403
    assert outsider.post(assignment, {"assignee": "me", "version": 2}).status_code == 404
    assert clerk.post(assignment, {"assignee": None, "version": 1}).status_code == 409
    assert clerk.post(assignment, {"assignee": "nobody", "version": 2}).status_code == 422
    assert clerk.post(assignment, {"assignee": None, "version": 2, "reason": "交回"}).status_code == 200

    # events
    assert clerk.get(f"/cases/{case_id}/events").status_code == 200
    assert outsider.get(f"/cases/{case_id}/events").status_code == 404
    assert anonymous.get(f"/cases/{case_id}/events").status_code == 401

    # attachments (multipart upload; the content is the file itself)
    auditor = anonymous.as_user("auditor")
    attachments = f"/cases/{case_id}/attachments"
    png = {"kind": "id_proof", "file": (tiny_png(), "身份证.png")}
    uploaded = village1.post(attachments, **multipart(png))
    assert uploaded.status_code == 201
    content = uploaded.get_json()["content_url"].removeprefix(PREFIX)
    assert village1.post(attachments, **multipart(png | {"kind": "selfie"})).status_code == 400
    assert village1.post(attachments, **multipart({"kind": "other"})).status_code == 400
    assert anonymous.post(attachments, **multipart(png)).status_code == 401
    assert auditor.post(attachments, **multipart(png)).status_code == 403
    assert outsider.post(attachments, **multipart(png)).status_code == 404
    assert village1.post(attachments, **multipart(png | {"file": (tiny_png(), "身份证.pdf")})).status_code == 422
    monkeypatch.setitem(app.config, "CASEFLOW_MAX_ATTACHMENT_BYTES", 10)
    assert village1.post(attachments, **multipart(png)).status_code == 413
    monkeypatch.setitem(app.config, "CASEFLOW_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    assert auditor.get(attachments).status_code == 200
    assert outsider.get(attachments).status_code == 404
    assert anonymous.get(attachments).status_code == 401
    assert auditor.get(content).status_code == 200
    assert outsider.get(content).status_code == 404
    assert anonymous.get(content).status_code == 401

    # comments
    comments = f"/cases/{case_id}/comments"
    assert clerk.post(comments, {"body": "已电话联系申请人。"}).status_code == 201
    assert clerk.post(comments, {"text": "x"}).status_code == 400
    assert anonymous.post(comments, {"body": "x"}).status_code == 401
    assert auditor.post(comments, {"body": "x"}).status_code == 403
    assert outsider.post(comments, {"body": "x"}).status_code == 404
    assert clerk.post(comments, {"body": "  "}).status_code == 422
    assert auditor.get(comments).status_code == 200
    assert outsider.get(comments).status_code == 404
    assert anonymous.get(comments).status_code == 401

    # fee payments (a fee case whose payment period has started)
    fee_case = advance_fee(make_fee_case(office), ("investigate", "review", "serve_notice", "decide",
                                                   "serve_decision", "start_payment"), office)
    payments = f"/cases/{fee_case.id}/payments"
    account = clerk.get(payments)
    assert account.status_code == 200 and account.get_json()["decided_fen"] == 360000
    version = account.get_json()["case_version"]
    paid = {"version": version, "amount": "100.00", "paid_on": "2025-02-08", "receipt_ref": "R-1"}
    assert clerk.post(payments, paid | {"version": "x"}).status_code == 400
    assert anonymous.post(payments, paid).status_code == 401
    assert anonymous.get(payments).status_code == 401
    assert auditor.post(payments, paid).status_code == 403
    assert outsider.post(payments, paid).status_code == 404
    assert outsider.get(payments).status_code == 404
    assert clerk.get(f"/cases/{case_id}/payments").status_code == 404  # not a fee case
    assert clerk.post(payments, paid | {"version": version - 1}).status_code == 409
    assert clerk.post(payments, paid | {"amount": "-1"}).status_code == 422
    first = clerk.post(payments, paid)
    assert first.status_code == 201 and first.get_json()["paid_fen"] == 10000
    rest = first.get_json()["outstanding_fen"]
    settled = clerk.post(payments, {"version": first.get_json()["case_version"], "receipt_ref": "R-2",
                                    "paid_on": first.get_json()["as_of"],
                                    "amount": f"{rest // 100}.{rest % 100:02d}"})
    assert settled.status_code == 201
    assert (settled.get_json()["state"], settled.get_json()["outstanding_fen"]) == ("paid", 0)

    # too many sign-in attempts (the limit is read per request; counters reset around the burst)
    monkeypatch.setitem(app.config, "CASEFLOW_SIGN_IN_RATE_LIMIT", "2 per minute")
    limiter.reset()
    statuses = [anonymous.post("/tokens", {"username": "clerk", "password": "guess"}).status_code for _ in range(3)]
    limiter.reset()
    assert statuses == [401, 401, 429]

    # unknown routes: JSON, outside the document
    assert clerk.get("/no-such-thing").status_code == 404
    assert clerk.call("DELETE", f"/cases/{case_id}").status_code == 405

    document = client.get(f"{PREFIX}/openapi.json").get_json()
    documented = {(method.upper(), path, int(status))
                  for path, item in document["paths"].items() for method, operation in item.items()
                  for status in operation["responses"]}
    assert documented - anonymous.log == set()


def test_a_closed_case_and_its_events_agree_with_the_document(app, client, office):
    """Nullable fields filled in (number, assignee, closed_at) and a reason in the trail."""
    case = advance(make_case(office), ["accept", "register"], office)
    supervisor = api(app, client, "supervisor", language="en")
    voided = supervisor.post(f"/cases/{case.id}/transitions", {"trigger": "void", "version": case.version,
                                                               "reason": "登记错误",
                                                               "data": {"void_ground": "error_correction"}})
    assert voided.status_code == 200
    assert voided.get_json()["closed_at"] is not None and voided.get_json()["light"] is None
    assert supervisor.get(f"/cases/{case.id}/events").get_json()[-1]["reason"] == "登记错误"
