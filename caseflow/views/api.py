"""JSON API v1: bearer tokens, workflows, cases, transitions and the audit trail.

Every request body and response goes through a marshmallow schema of ``api_schemas``, and the OpenAPI
document (GET /api/v1/openapi.json) is generated from those schemas and from the YAML after ``---`` in
each view's docstring. The API authenticates by bearer token only: no cookies, no session.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

import sqlalchemy as sa
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db, limiter, transactional
from caseflow.models import Attachment, Case, CaseEvent, Comment, Jurisdiction, User, mask_resident_id
from caseflow.services import access
from caseflow.services.access import readable_case
from caseflow.services.attachments import (
    add_attachment, attachments_of, kind_label, open_attachment, readable_attachment,
)
from caseflow.services.audit import record_read
from caseflow.services.choices import configured_choices
from caseflow.services import fees
from caseflow.services.comments import add_comment, list_comments
from caseflow.services.cases import (
    NO_SUCH_JURISDICTION, NOT_A_HANDLER, apply_transition, assign_case, available_steps, open_case, workflow_of,
)
from caseflow.services.deadlines import LightBounds
from caseflow.services.errors import CASE_NOT_FOUND, INVALID_DATA, ServiceError, ValidationFailed
from caseflow.services.queues import CaseFilter, search_cases
from caseflow.services.users import authenticate, issue_api_token, user_for_token
from caseflow.views.api_schemas import (
    AssignmentRequestSchema, AttachmentSchema, AttachmentUploadSchema, CaseCreateSchema, CommentCreateSchema,
    CommentSchema, CaseListQuerySchema, CasePageSchema, CaseSchema, ErrorSchema, EventSchema, FeeAccountSchema,
    FeePaymentRequestSchema,
    TokenRequestSchema, TokenSchema, TransitionRequestSchema, WorkflowSchema, request_errors,
)
from caseflow.views.auth import sign_in_rate_limit
from caseflow.views.case_files import attachment_response
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import Field, Text, Workflow

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX)

TOKEN_MISSING = Text("需要身份验证：请在 Authorization 头中提供 Bearer 令牌。",
                     "Authentication required: send a bearer token in the Authorization header.")
TOKEN_INVALID = Text("令牌无效或已过期，请重新获取。", "The token is invalid or has expired; get a new one.")
BAD_CREDENTIALS = Text("用户名或密码错误。", "Wrong username or password.")
NOT_A_JSON_OBJECT = Text("请求体应为 JSON 对象（Content-Type: application/json）。",
                         "The request body must be a JSON object sent as Content-Type: application/json.")
BAD_REQUEST = Text("请求格式不符合接口说明，请更正标出的字段。",
                   "The request does not match the API description; correct the marked fields.")
HTTP_MESSAGES = {
    404: Text("没有这个接口。", "No such endpoint."),
    405: Text("此接口不支持该请求方法。", "This endpoint does not support that method."),
    413: Text("请求太大：上传的文件超过了允许的大小。", "The request is too large: the file exceeds the size allowed."),
    429: Text("尝试次数过多，请一分钟后再试。", "Too many attempts; wait a minute and try again."),
    500: Text("服务器内部错误，请稍后重试。", "Internal server error; please try again later."),
}

WWW_AUTHENTICATE = 'Bearer realm="caseflow"'

# Schemas of the busiest calls, built once: a marshmallow schema deep-copies its fields on construction
# (a few hundred microseconds per request), and dumping or loading leaves the instance unchanged.
ERROR_SCHEMA, CASE_SCHEMA, TRANSITION_REQUEST_SCHEMA = ErrorSchema(), CaseSchema(), TransitionRequestSchema()


# -------------------------------------------------------------------------------------------- errors

class ApiError(Exception):
    """A refusal by the HTTP layer itself (authentication, malformed bodies); services raise ServiceError."""

    def __init__(self, status: int, code: str, message: Text, headers: Mapping[str, str] | None = None):
        super().__init__(message.en)
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})


def request_locale() -> str:
    """English when Accept-Language asks for it, Chinese otherwise; never read from the session."""
    return request.accept_languages.best_match(current_app.config["CASEFLOW_LOCALES"]) or "zh"


def error_response(status: int, code: str, message: Text, fields: Mapping[str, Text] | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The API's one error shape: {"error": {"code", "message", "fields"?}} in the caller's language."""
    locale = request_locale()
    body: dict[str, Any] = {"code": code, "message": message.get(locale)}
    if fields:
        body["fields_"] = {name: text.get(locale) for name, text in fields.items()}
    response = jsonify(ERROR_SCHEMA.dump({"error": body}))
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    return error_response(error.status, error.code, error.message, error.fields)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, headers=error.headers)


@bp.errorhandler(ValidationError)
def _request_mismatch(error: ValidationError) -> Response:
    return error_response(400, "bad_request", BAD_REQUEST, request_errors(error))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    description = error.description or error.name
    message = HTTP_MESSAGES.get(status) or Text(description, description)
    headers = {"Allow": ", ".join(error.valid_methods)} if isinstance(error, MethodNotAllowed) else None
    return error_response(status, error.name.lower().replace(" ", "_"), message, headers=headers)


# Flask prefers an app-wide handler for a status code (the HTML error pages) over a blueprint's handler for
# the exception class, so the codes those pages take are claimed here by code too.
for _status in (403, 404, 413, 429):
    bp.register_error_handler(_status, _http_error)


@bp.before_app_request
def _json_routing_errors() -> Response | None:
    """Unknown /api/v1 URLs and methods answer in JSON too.

    Routing fails before Flask knows the blueprint, so the blueprint's error handlers never see these;
    an app-wide error handler would take over the HTML UI's 404 page instead.
    """
    error = request.routing_exception
    if isinstance(error, (NotFound, MethodNotAllowed)) and (request.path + "/").startswith(PREFIX + "/"):
        return _http_error(error)
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    # Tokens and personal data must not linger in shared caches (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------- request io

def authenticated_user() -> User:
    """The user whose bearer token came with the request; 401 without a valid, unexpired one."""
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        raise ApiError(401, "token_required", TOKEN_MISSING, {"WWW-Authenticate": WWW_AUTHENTICATE})
    user = user_for_token(auth.token)
    if user is None:
        raise ApiError(401, "invalid_token", TOKEN_INVALID,
                       {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_token"'})
    return user


def load_body(schema: Schema) -> dict[str, Any]:
    """The JSON body loaded with ``schema``: 400 when it is not a JSON object or does not fit the schema."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", NOT_A_JSON_OBJECT)
    return schema.load(body)


# ----------------------------------------------------------------------------------- representations

def _field(spec: Field, locale: str, configured: Mapping[str, Any]) -> dict[str, Any]:
    choices = configured.get(spec.choices_from, ()) if spec.choices_from else spec.choices
    return {"name": spec.name, "title": spec.label.get(locale), "kind": spec.kind, "required": spec.required,
            "choices": [{"value": value, "title": label.get(locale)} for value, label in choices]}


def _workflow(workflow: Workflow, locale: str, configured: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "title": workflow.title.get(locale),
        "version": workflow.version,
        "initial": workflow.initial,
        "states": [{"name": state.name, "title": state.value.get(locale),
                    "terminal": state.name in workflow.closed,
                    "pauses_clock": state.name in workflow.clock_stopped}
                   for state in workflow.states],
        "transitions": [{"trigger": step.trigger, "title": step.label.get(locale),
                         "sources": list(step.sources), "dest": step.dest, "roles": sorted(step.roles),
                         "required": step.required, "fields_": [_field(f, locale, configured) for f in step.fields]}
                        for step in workflow.steps],
        "application_fields": [_field(f, locale, configured) for f in workflow.application_fields],
    }


def _masked(data: Mapping[str, Any], workflow: Workflow) -> dict[str, Any]:
    """``data`` with every resident ID masked (an applicant's or the other parent's): the API never
    shows a full one."""
    every_field = (*workflow.application_fields, *(f for step in workflow.steps for f in step.fields))
    ids = {f.name for f in every_field if f.kind == "resident_id"}
    return {key: mask_resident_id(value) if key in ids and isinstance(value, str) else value
            for key, value in data.items()}


def _case_summary(case: Case, bounds: LightBounds, locale: str) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "workflow": case.workflow,
        "workflow_version": case.workflow_version,
        "state": case.state,
        "state_title": workflow_of(case).state_label(case.state).get(locale),
        "version": case.version,
        "jurisdiction": {"id": case.jurisdiction.id, "code": case.jurisdiction.code,
                         "name": case.jurisdiction.label(locale)},
        "applicant": {"name": case.applicant.name, "masked_resident_id": case.applicant.masked_resident_id,
                      "phone": case.applicant.phone},
        "assignee": case.assignee.username if case.assignee else None,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "due_at": case.due_at,
        "target_at": case.target_at,
        "deadline_provisional": case.deadline_provisional,
        "light": bounds.light(case.due_at),
    }


def _case(case: Case, user: User) -> dict[str, Any]:
    """The full representation of ``case`` as ``user`` sees it now."""
    bounds = LightBounds.current()
    triggers = dict.fromkeys(step.trigger for step in available_steps(case, user))
    # After handing a need-to-know case back, the caller no longer may read what it holds.
    data = _masked(case.data, workflow_of(case)) if access.can_read(user, case) else {}
    return CASE_SCHEMA.dump(_case_summary(case, bounds, request_locale()) | {
        "available_transitions": list(triggers), "data": data})


def _event(event: CaseEvent, workflow: Workflow) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at, "actor": event.actor.username if event.actor else None,
            "trigger": event.trigger, "from_state": event.from_state, "to_state": event.to_state,
            "reason": event.reason, "data": _masked(event.data, workflow), "hash": event.hash,
            "prev_hash": event.prev_hash}


def _shown_case(user: User, case_id: int, what: str) -> Case:
    """A case the caller may read; reads of need-to-know cases are logged (and committed)."""
    case = readable_case(user, case_id)
    with transactional():
        record_read(case, user, what, utcnow())
    return case


def _jurisdiction_id(ref: int | str) -> int:
    """The id of the village ``ref`` names: an id as is, a code looked up."""
    if isinstance(ref, int):
        return ref
    found = db.session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == ref))
    if found is None:
        raise ValidationFailed(INVALID_DATA, {"jurisdiction": NO_SUCH_JURISDICTION})
    return found


# --------------------------------------------------------------------------------------------- views

@bp.post("/tokens")
@limiter.limit(sign_in_rate_limit)
def issue_token():
    """Exchange a username and password for a bearer token.
    ---
    post:
      operationId: issueToken
      summary: Get a bearer token
      description: The token is shown once and lasts CASEFLOW_API_TOKEN_HOURS hours.
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema: TokenRequestSchema
      responses:
        201:
          description: A new token
          content:
            application/json:
              schema: TokenSchema
        400: BadRequest
        401: Unauthorized
        429: TooManyRequests
    """
    credentials = load_body(TokenRequestSchema())
    hours = current_app.config["CASEFLOW_API_TOKEN_HOURS"]
    now = utcnow()
    with transactional():
        user = authenticate(credentials["username"], credentials["password"])
        if user is None:
            raise ApiError(401, "invalid_credentials", BAD_CREDENTIALS,
                           {"WWW-Authenticate": WWW_AUTHENTICATE})
        token = issue_api_token(user, hours, now=now)
    return TokenSchema().dump({"token": token, "expires_at": now + timedelta(hours=hours)}), 201


@bp.get("/workflows")
def list_workflows():
    """Every workflow (current version): states, transitions and fields, titles in the caller's language.
    ---
    get:
      operationId: listWorkflows
      summary: List workflows
      responses:
        200:
          description: The workflows
          content:
            application/json:
              schema:
                type: array
                items: WorkflowSchema
        401: Unauthorized
    """
    authenticated_user()
    locale, configured = request_locale(), configured_choices()
    return jsonify(WorkflowSchema(many=True).dump([_workflow(wf, locale, configured) for wf in all_workflows()]))


@bp.post("/cases")
def create_case():
    """Open a case: the application is recorded in its workflow's initial state.
    ---
    post:
      operationId: createCase
      summary: Open a case
      requestBody:
        required: true
        content:
          application/json:
            schema: CaseCreateSchema
      responses:
        201:
          description: The new case
          headers:
            Location:
              description: The case's URL
              schema:
                type: string
          content:
            application/json:
              schema: CaseSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        422: Unprocessable
    """
    user = authenticated_user()
    payload = load_body(CaseCreateSchema())
    with transactional():
        case = open_case(payload["workflow"], _jurisdiction_id(payload["jurisdiction"]), payload["applicant"],
                         payload["data"], user)
        body = _case(case, user)
    return body, 201, {"Location": url_for(".get_case", case_id=body["id"])}


@bp.get("/cases")
def list_cases():
    """The cases the caller may see, filtered, most urgent first.
    ---
    get:
      operationId: listCases
      summary: List and filter cases
      parameters:
        - in: query
          schema: CaseListQuerySchema
      responses:
        200:
          description: One page of cases
          content:
            application/json:
              schema: CasePageSchema
        400: BadRequest
        401: Unauthorized
    """
    user = authenticated_user()
    filters = CaseListQuerySchema().load(request.args)
    page_number = filters.pop("page")
    page = search_cases(user, CaseFilter(**filters), page=page_number,
                        page_size=current_app.config["CASEFLOW_PAGE_SIZE"])
    locale = request_locale()
    return CasePageSchema().dump({"items": [_case_summary(case, page.bounds, locale) for case in page.items],
                                  "total": page.total, "page": page.page, "page_size": page.page_size})


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int):
    """One case, with the transitions the caller may fire now.
    ---
    get:
      operationId: getCase
      summary: Get a case
      parameters: [CaseId]
      responses:
        200:
          description: The case
          content:
            application/json:
              schema: CaseSchema
        401: Unauthorized
        404: NotFound
    """
    user = authenticated_user()
    # The answer is built before the read log commits: a commit would expire the case, to be read again.
    with transactional():
        case = readable_case(user, case_id, with_applicant=True)
        record_read(case, user, "api:case", utcnow())
        body = _case(case, user)
    return body


@bp.post("/cases/<int:case_id>/transitions")
def fire_transition(case_id: int):
    """Move a case by one of its workflow's transitions; a refused call changes nothing.
    ---
    post:
      operationId: fireTransition
      summary: Fire a transition
      parameters: [CaseId]
      requestBody:
        required: true
        content:
          application/json:
            schema: TransitionRequestSchema
      responses:
        200:
          description: The case after the transition
          content:
            application/json:
              schema: CaseSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        404: NotFound
        409: Conflict
        422: Unprocessable
    """
    user = authenticated_user()
    payload = load_body(TRANSITION_REQUEST_SCHEMA)
    with transactional():
        case = readable_case(user, case_id, for_update=True, with_applicant=True)
        apply_transition(case, payload["trigger"], user, payload["version"], reason=payload["reason"],
                         data=payload["data"])
        record_read(case, user, "api:transition", utcnow())  # the answer shows the case
        body = _case(case, user)
    return body


@bp.post("/cases/<int:case_id>/assignment")
def assign(case_id: int):
    """Take a case, hand it back, or (supervisors) give it to a clerk or supervisor of its jurisdiction.
    ---
    post:
      operationId: assignCase
      summary: Assign a case
      parameters: [CaseId]
      requestBody:
        required: true
        content:
          application/json:
            schema: AssignmentRequestSchema
      responses:
        200:
          description: The case with its new assignee
          content:
            application/json:
              schema: CaseSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        404: NotFound
        409: Conflict
        422: Unprocessable
    """
    user = authenticated_user()
    payload = load_body(AssignmentRequestSchema())
    with transactional():
        case = readable_case(user, case_id, for_update=True, with_applicant=True)
        assign_case(case, _assignee(payload["assignee"], user), user, payload["version"],
                    reason=payload["reason"])
        if access.can_read(user, case):  # the answer shows the case (a clerk handing one back no longer may)
            record_read(case, user, "api:assignment", utcnow())
        body = _case(case, user)
    return body


def _assignee(name: str | None, caller: User) -> User | None:
    if name is None:
        return None
    if name == "me":
        return caller
    found = db.session.scalar(sa.select(User).where(User.username == name))
    if found is None:
        raise ValidationFailed(INVALID_DATA, {"assignee": NOT_A_HANDLER})
    return found


@bp.get("/cases/<int:case_id>/events")
def list_events(case_id: int):
    """The case's audit trail, oldest first, each event chained to the one before by its hash.
    ---
    get:
      operationId: listEvents
      summary: Get a case's audit trail
      parameters: [CaseId]
      responses:
        200:
          description: The events
          content:
            application/json:
              schema:
                type: array
                items: EventSchema
        401: Unauthorized
        404: NotFound
    """
    user = authenticated_user()
    case = _shown_case(user, case_id, "api:events")
    workflow = workflow_of(case)
    return jsonify(EventSchema(many=True).dump([_event(event, workflow) for event in case.events]))


def _attachment(attachment: Attachment, locale: str) -> dict[str, Any]:
    return {
        "id": attachment.id, "kind": attachment.kind, "kind_title": kind_label(attachment.kind).get(locale),
        "filename": attachment.filename, "content_type": attachment.content_type, "size": attachment.size,
        "sha256": attachment.sha256,
        "uploaded_by": attachment.uploaded_by.username if attachment.uploaded_by else None,
        "uploaded_at": attachment.uploaded_at, "purged_at": attachment.purged_at,
        "content_url": None if attachment.purged_at else url_for(
            ".get_attachment_content", case_id=attachment.case_id, attachment_id=attachment.id),
    }


def _comment(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "author": comment.author.username if comment.author else None, "at": comment.at,
            "body": None if comment.purged_at else comment.body}


@bp.get("/cases/<int:case_id>/attachments")
def list_attachments(case_id: int):
    """The files attached to a case, oldest first (purged ones keep their record, without content).
    ---
    get:
      operationId: listAttachments
      summary: List a case's attachments
      parameters: [CaseId]
      responses:
        200:
          description: The attachments
          content:
            application/json:
              schema:
                type: array
                items: AttachmentSchema
        401: Unauthorized
        404: NotFound
    """
    user = authenticated_user()
    case = _shown_case(user, case_id, "api:attachments")
    locale = request_locale()
    return jsonify(AttachmentSchema(many=True).dump([_attachment(a, locale) for a in attachments_of(case)]))


@bp.post("/cases/<int:case_id>/attachments")
def upload_attachment(case_id: int):
    """Attach a file to a case (multipart/form-data); recorded in the case's audit trail.
    ---
    post:
      operationId: uploadAttachment
      summary: Attach a file
      description: Village officers (their villages), clerks and supervisors who may read the case; on a
        closed case supervisors only. Identical content is stored once.
      parameters: [CaseId]
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: AttachmentUploadSchema
      responses:
        201:
          description: The new attachment
          headers:
            Location:
              description: The attachment's content URL
              schema:
                type: string
          content:
            application/json:
              schema: AttachmentSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        404: NotFound
        413: TooLarge
        422: Unprocessable
    """
    user = authenticated_user()
    form = AttachmentUploadSchema().load(request.form.to_dict() | request.files.to_dict())
    with transactional():
        case = readable_case(user, case_id)
        upload = form["file"] if isinstance(form["file"], FileStorage) else None  # not a file part: no file
        attachment = add_attachment(case, user, form["kind"], upload.filename if upload else None,
                                    upload.stream if upload else None, utcnow())
        body = AttachmentSchema().dump(_attachment(attachment, request_locale()))
    return body, 201, {"Location": body["content_url"]}


@bp.get("/cases/<int:case_id>/attachments/<int:attachment_id>/content")
def get_attachment_content(case_id: int, attachment_id: int):
    """The file itself, as a download; reads of need-to-know cases are logged.
    ---
    get:
      operationId: getAttachmentContent
      summary: Download an attachment
      parameters:
        - CaseId
        - in: path
          name: attachment_id
          required: true
          schema:
            type: integer
      responses:
        200:
          description: The file, with Content-Disposition attachment
          content:
            application/pdf:
              schema:
                type: string
                format: binary
            image/jpeg:
              schema:
                type: string
                format: binary
            image/png:
              schema:
                type: string
                format: binary
        401: Unauthorized
        404: NotFound
    """
    user = authenticated_user()
    attachment = readable_attachment(user, case_id, attachment_id)
    return attachment_response(attachment, open_attachment(attachment, user), user)


@bp.get("/cases/<int:case_id>/comments")
def get_comments(case_id: int):
    """The notes on a case, oldest first.
    ---
    get:
      operationId: listComments
      summary: List a case's notes
      parameters: [CaseId]
      responses:
        200:
          description: The notes
          content:
            application/json:
              schema:
                type: array
                items: CommentSchema
        401: Unauthorized
        404: NotFound
    """
    user = authenticated_user()
    case = _shown_case(user, case_id, "api:comments")
    return jsonify(CommentSchema(many=True).dump([_comment(c) for c in list_comments(case)]))


@bp.post("/cases/<int:case_id>/comments")
def post_comment(case_id: int):
    """Add a note to a case (a working note, not a decision; the case's version does not change).
    ---
    post:
      operationId: addComment
      summary: Add a note
      parameters: [CaseId]
      requestBody:
        required: true
        content:
          application/json:
            schema: CommentCreateSchema
      responses:
        201:
          description: The new note
          content:
            application/json:
              schema: CommentSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        404: NotFound
        422: Unprocessable
    """
    user = authenticated_user()
    payload = load_body(CommentCreateSchema())
    with transactional():
        case = readable_case(user, case_id)
        body = CommentSchema().dump(_comment(add_comment(case, user, payload["body"], utcnow())))
    return body, 201


def _fee_account(case: Case) -> dict[str, Any]:
    today = local_date(utcnow())
    figures = fees.balance(case, today)
    return FeeAccountSchema().dump({
        "case_version": case.version, "state": case.state, "as_of": today, "notified_fen": figures.notified,
        "decided_fen": figures.decided, "paid_fen": figures.paid, "late_charge_fen": figures.late_charge,
        "outstanding_fen": figures.outstanding,
        "payments": [{"paid_on": p.paid_on, "amount_fen": p.amount_fen, "principal_fen": p.principal_fen,
                      "late_charge_fen": p.late_charge_fen, "receipt_ref": p.receipt_ref}
                     for p in fees.account_of(case).payments],
    })


def _fee_case(user: User, case_id: int, *, for_update: bool = False) -> Case:
    case = readable_case(user, case_id, for_update=for_update)
    if case.workflow != fees.WORKFLOW_NAME or fees.account_of(case) is None:
        raise ApiError(404, "not_found", CASE_NOT_FOUND)
    return case


@bp.get("/cases/<int:case_id>/payments")
def get_fee_account(case_id: int):
    """A fee case's money as of today and the payments received.
    ---
    get:
      operationId: getFeeAccount
      summary: Get a fee case's account
      parameters: [CaseId]
      responses:
        200:
          description: The account
          content:
            application/json:
              schema: FeeAccountSchema
        401: Unauthorized
        404: NotFound
    """
    return _fee_account(_fee_case(authenticated_user(), case_id))


@bp.post("/cases/<int:case_id>/payments")
def post_fee_payment(case_id: int):
    """Record a payment on a fee case (clerks and supervisors): principal first, then the late charge; the
    case moves to `paid` when nothing is outstanding. More than is outstanding is refused.
    ---
    post:
      operationId: recordFeePayment
      summary: Record a fee payment
      parameters: [CaseId]
      requestBody:
        required: true
        content:
          application/json:
            schema: FeePaymentRequestSchema
      responses:
        201:
          description: The account after the payment
          content:
            application/json:
              schema: FeeAccountSchema
        400: BadRequest
        401: Unauthorized
        403: Forbidden
        404: NotFound
        409: Conflict
        422: Unprocessable
    """
    user = authenticated_user()
    payload = load_body(FeePaymentRequestSchema())
    with transactional():
        case = _fee_case(user, case_id, for_update=True)
        fees.record_typed_payment(case, user, payload["version"], payload)
        body = _fee_account(case)
    return body, 201


@bp.get("/openapi.json")
def openapi_document():
    """This API's OpenAPI 3 document.
    ---
    get:
      operationId: getOpenApiDocument
      summary: The OpenAPI document
      security: []
      responses:
        200:
          description: OpenAPI 3.0 document
          content:
            application/json:
              schema:
                type: object
    """
    return api_spec().to_dict()


# ------------------------------------------------------------------------------------------- openapi

DESCRIPTION = """\
Case management for a township population and family-services office.

Authenticate with `POST /api/v1/tokens`, then send `Authorization: Bearer <token>`.
Messages and titles are Chinese by default and English with `Accept-Language: en`.
Datetimes are ISO 8601 in UTC with an offset.

Errors are `{"error": {"code", "message", "fields"?}}`. A 400 means the request does not match this
document (not a JSON object, a wrong type, a missing or unknown key); a 422 means it does but the
values were refused (per-field messages in `fields`), or the transition is not available in the
case's state. 404 is also the answer for a case the caller may not see.
"""

ERROR_RESPONSES = {
    "BadRequest": "Malformed request: not a JSON object, or a wrong type, missing or unknown key",
    "Unauthorized": "Missing, invalid or expired token; or wrong credentials",
    "Forbidden": "The caller's role or jurisdiction does not allow this",
    "NotFound": "No such case, or the caller may not see it",
    "Conflict": "The case changed since the caller saw it (stale version): reload and retry",
    "Unprocessable": "Invalid values (see fields), or a transition not available in this state",
    "TooLarge": "The upload exceeds the size allowed (CASEFLOW_MAX_ATTACHMENT_BYTES)",
    "TooManyRequests": "Too many sign-in attempts from this address; retry after the Retry-After seconds",
}


def api_spec() -> APISpec:
    """The OpenAPI document of this blueprint, built once per app from the views and schemas."""
    spec = current_app.extensions.get("caseflow_api_spec")
    if spec is None:
        spec = APISpec(title="caseflow API", version="1", openapi_version="3.0.3",
                       plugins=[FlaskPlugin(), MarshmallowPlugin()],
                       info={"description": DESCRIPTION}, security=[{"bearerAuth": []}])
        spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
        spec.components.parameter("CaseId", "path", {"name": "case_id", "schema": {"type": "integer"}})
        for name, description in ERROR_RESPONSES.items():
            response = {"description": description, "content": {"application/json": {"schema": ErrorSchema}}}
            if name == "Unauthorized":
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            spec.components.response(name, response)
        for view in (issue_token, list_workflows, create_case, list_cases, get_case, fire_transition, assign,
                     list_events, list_attachments, upload_attachment, get_attachment_content, get_comments,
                     get_fee_account, post_fee_payment,
                     post_comment, openapi_document):
            spec.path(view=view)
        current_app.extensions["caseflow_api_spec"] = spec
    return spec
