"""Marshmallow schemas of the JSON API v1: they load every request body and query string and dump every
response, and ``views.api`` generates the OpenAPI document from them, so the document cannot drift.

Request schemas check shape and types only (a mismatch is a 400); what a value means — a resident ID's
check digit, a workflow's required fields — is the services' job (a 422 with bilingual per-field errors).
"""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from caseflow.services.attachments import KINDS as ATTACHMENT_KINDS
from caseflow.services.deadlines import LIGHTS
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import NOT_AN_INTEGER, REQUIRED, Text

# ------------------------------------------------------------------------------------------- requests


class JurisdictionRef(fields.Field):
    """A village, given by its code (a JSON string) or its id (a JSON integer)."""

    default_error_messages = {"invalid": "Must be a village code (string) or id (integer)."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.make_error("invalid")
        return value


class TokenRequestSchema(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class ApplicantInputSchema(Schema):
    name = fields.String(allow_none=True, metadata={"description": "Required."})
    resident_id = fields.String(allow_none=True, metadata={
        "description": "Required: the 18-character resident ID (居民身份证号), check digit verified."})
    phone = fields.String(allow_none=True, metadata={"description": "Required: a Chinese phone number."})


class CaseCreateSchema(Schema):
    workflow = fields.String(required=True, validate=validate.OneOf(
        [wf.name for wf in all_workflows()], error="Must be one of the workflows the API lists."))
    jurisdiction = JurisdictionRef(required=True, metadata={
        "oneOf": [{"type": "string"}, {"type": "integer"}],
        "description": "The village the case belongs to: its code (a string, e.g. \"V1\") or its id "
                       "(an integer). The caller must work in that village or its township."})
    applicant = fields.Nested(ApplicantInputSchema, required=True)
    data = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "The workflow's application fields (`application_fields` of GET /workflows)."})


class TransitionRequestSchema(Schema):
    trigger = fields.String(required=True)
    version = fields.Integer(required=True, strict=True, metadata={
        "description": "The case `version` the caller saw; a stale one is refused with 409."})
    reason = fields.String(allow_none=True, load_default=None)
    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "The transition's fields (`fields` of the transition in GET /workflows)."})


class AssignmentRequestSchema(Schema):
    assignee = fields.String(required=True, allow_none=True, metadata={
        "description": "`me` to take the case, a username to give it to (supervisors: a clerk or supervisor "
                       "of the case's jurisdiction), or null to return it to the unassigned pool."})
    version = fields.Integer(required=True, strict=True, metadata={
        "description": "The case `version` the caller saw; a stale one is refused with 409."})
    reason = fields.String(allow_none=True, load_default=None)


class CaseListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # query strings often carry cache-busters

    workflow = fields.String()
    state = fields.String()
    assignee = fields.String(metadata={"description": "A username, or `me`."})
    text = fields.String(data_key="q", validate=validate.Length(max=100, error="At most 100 characters."),
                         metadata={"description": "A receipt number or a full resident ID (exact), or part "
                                                  "of an applicant's name."})
    open_only = fields.Boolean(data_key="open", metadata={"description": "true: open cases only."})
    light = fields.String(validate=validate.OneOf(LIGHTS, error="Must be one of: green, yellow, red, none."),
                          metadata={"description": "`none`: no running deadline."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, error="Must be 1 or more."))


class AttachmentUploadSchema(Schema):
    """The multipart form of an upload (POST /cases/{case_id}/attachments)."""

    kind = fields.String(required=True, validate=validate.OneOf(
        list(ATTACHMENT_KINDS), error="Must be one of the attachment kinds."), metadata={
        "description": "The type of document: " + ", ".join(f"`{code}` ({label.zh})"
                                                            for code, label in ATTACHMENT_KINDS.items())})
    file = fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "A PDF, JPEG or PNG file (judged by its content; the name's extension must agree), "
                       "at most CASEFLOW_MAX_ATTACHMENT_BYTES bytes."})


class FeePaymentRequestSchema(Schema):
    """A payment received on a fee case (POST /cases/{case_id}/payments)."""

    version = fields.Integer(required=True, strict=True, metadata={
        "description": "The case `version` the caller saw; a stale one is refused with 409."})
    amount = fields.String(required=True, metadata={"description": "Yuan with at most two decimals, e.g. \"1200.50\"."})
    paid_on = fields.String(required=True, metadata={"description": "ISO date the money was received."})
    receipt_ref = fields.String(required=True, metadata={"description": "The receipt's reference (票据号)."})


class CommentCreateSchema(Schema):
    body = fields.String(required=True, metadata={"description": "The note: 1 to 2000 characters."})


# ------------------------------------------------------------------------------------------ responses


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class ChoiceSchema(Schema):
    value = fields.String(required=True)
    title = fields.String(required=True)


class FieldSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(
        ["text", "textarea", "date", "integer", "money", "choice", "resident_id", "phone"]),
        metadata={"description": "money: yuan as a decimal string in requests (\"1234.50\"), integer fen in "
                                 "case and event data."})
    required = fields.Boolean(required=True)
    choices = fields.List(fields.Nested(ChoiceSchema), required=True)


class StateSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    terminal = fields.Boolean(required=True)
    pauses_clock = fields.Boolean(required=True)


class TransitionSchema(Schema):
    trigger = fields.String(required=True)
    title = fields.String(required=True)
    sources = fields.List(fields.String(), required=True)
    dest = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    required = fields.List(fields.String(), required=True, metadata={
        "description": "Names that must be given: `reason` (top level) and fields of `data`."})
    fields_ = fields.List(fields.Nested(FieldSchema), required=True, data_key="fields")


class WorkflowSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    version = fields.Integer(required=True)
    initial = fields.String(required=True)
    states = fields.List(fields.Nested(StateSchema), required=True)
    transitions = fields.List(fields.Nested(TransitionSchema), required=True)
    application_fields = fields.List(fields.Nested(FieldSchema), required=True)


class JurisdictionSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)


class ApplicantSchema(Schema):
    name = fields.String(required=True)
    masked_resident_id = fields.String(required=True, metadata={"example": "110101********1234"})
    phone = fields.String(required=True, allow_none=True)


class CaseSummarySchema(Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True, allow_none=True, metadata={
        "description": "The receipt number (办件编号), issued when the case is accepted."})
    workflow = fields.String(required=True)
    workflow_version = fields.Integer(required=True)
    state = fields.String(required=True)
    state_title = fields.String(required=True)
    version = fields.Integer(required=True)
    jurisdiction = fields.Nested(JurisdictionSchema, required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    assignee = fields.String(required=True, allow_none=True, metadata={"description": "A username."})
    opened_at = fields.DateTime(required=True)
    closed_at = fields.DateTime(required=True, allow_none=True)
    due_at = fields.DateTime(required=True, allow_none=True, metadata={"description": "The legal deadline."})
    target_at = fields.DateTime(required=True, allow_none=True,
                                metadata={"description": "The office's own target."})
    deadline_provisional = fields.Boolean(required=True, metadata={
        "description": "The deadline falls in a year without official holiday data yet."})
    light = fields.String(required=True, allow_none=True, validate=validate.OneOf(["green", "yellow", "red"]),
                          metadata={"description": "null: no running deadline."})


class CaseSchema(CaseSummarySchema):
    available_transitions = fields.List(fields.String(), required=True, metadata={
        "description": "The triggers the caller may fire now."})
    data = fields.Dict(keys=fields.String(), required=True)


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


class EventSchema(Schema):
    seq = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True, allow_none=True, metadata={"description": "A username."})
    trigger = fields.String(required=True)
    from_state = fields.String(required=True, allow_none=True, data_key="from")
    to_state = fields.String(required=True, data_key="to")
    reason = fields.String(required=True, allow_none=True)
    data = fields.Dict(keys=fields.String(), required=True)
    hash = fields.String(required=True)
    prev_hash = fields.String(required=True)


class AttachmentSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    kind_title = fields.String(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True, validate=validate.OneOf(["application/pdf", "image/jpeg",
                                                                         "image/png"]))
    size = fields.Integer(required=True, metadata={"description": "Bytes."})
    sha256 = fields.String(required=True, metadata={"description": "Hex SHA-256 of the content."})
    uploaded_by = fields.String(required=True, allow_none=True, metadata={"description": "A username."})
    uploaded_at = fields.DateTime(required=True)
    purged_at = fields.DateTime(required=True, allow_none=True, metadata={
        "description": "When retention removed the file (its record stays); then there is no content."})
    content_url = fields.String(required=True, allow_none=True, metadata={
        "description": "Where to GET the file; null once purged."})


class FeePaymentSchema(Schema):
    paid_on = fields.Date(required=True)
    amount_fen = fields.Integer(required=True)
    principal_fen = fields.Integer(required=True, metadata={"description": "Part that paid the principal."})
    late_charge_fen = fields.Integer(required=True, metadata={"description": "Part that paid the late charge."})
    receipt_ref = fields.String(required=True)


class FeeAccountSchema(Schema):
    """A fee case's money as of today, all in fen: outstanding = decided + late charge − paid."""

    case_version = fields.Integer(required=True, metadata={"description": "The case's version now."})
    state = fields.String(required=True)
    as_of = fields.Date(required=True)
    notified_fen = fields.Integer(required=True, allow_none=True)
    decided_fen = fields.Integer(required=True, allow_none=True)
    paid_fen = fields.Integer(required=True)
    late_charge_fen = fields.Integer(required=True, metadata={
        "description": "Late charge as of today: 3 % a day of the unpaid principal, capped at the principal, "
                       "not accruing under appeal."})
    outstanding_fen = fields.Integer(required=True)
    payments = fields.List(fields.Nested(FeePaymentSchema), required=True)


class CommentSchema(Schema):
    id = fields.Integer(required=True)
    author = fields.String(required=True, allow_none=True, metadata={"description": "A username."})
    at = fields.DateTime(required=True)
    body = fields.String(required=True, allow_none=True, metadata={
        "description": "null once removed at the end of the retention period."})


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields", metadata={
        "description": "Per-field messages; nested names are dotted, e.g. `applicant.resident_id`."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


# ------------------------------------------------------------------------------------- request errors

# marshmallow reports in English; these are all the messages the request schemas above can produce.
_MESSAGES: dict[str, Text] = {
    "Missing data for required field.": REQUIRED,
    "Field may not be null.": Text("不能为 null。", "May not be null."),
    "Unknown field.": Text("未知字段。", "Unknown field."),
    "Invalid input type.": Text("应为 JSON 对象。", "Must be a JSON object."),
    "Not a valid mapping type.": Text("应为 JSON 对象。", "Must be a JSON object."),
    "Not a valid string.": Text("应为字符串。", "Must be a string."),
    "Not a valid integer.": NOT_AN_INTEGER,
    "Must be a village code (string) or id (integer).":
        Text("应为村（社区）编码（字符串）或编号（整数）。", "Must be a village code (string) or id (integer)."),
    "Must be one of the workflows the API lists.": Text("没有这个业务类型。", "No such workflow."),
    "Must be one of: green, yellow, red, none.":
        Text("应为 green、yellow、red 或 none。", "Must be one of: green, yellow, red, none."),
    "Must be 1 or more.": Text("应为不小于 1 的整数。", "Must be 1 or more."),
    "At most 100 characters.": Text("不能超过 100 个字符。", "At most 100 characters."),
    "Not a valid boolean.": Text("应为 true 或 false。", "Must be true or false."),
    "Must be one of the attachment kinds.": Text("没有这个材料类型。", "No such type of document."),
}


def request_errors(error: ValidationError) -> dict[str, Text]:
    """marshmallow's nested error messages as {dotted field name: bilingual message} (the first per field)."""
    found: dict[str, Text] = {}

    def walk(messages: Any, path: str) -> None:
        if isinstance(messages, dict):
            for key, value in messages.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(messages, list) and messages and not isinstance(messages[0], str):
            walk(messages[0], path)
        else:
            message = messages[0] if isinstance(messages, list) else str(messages)
            found[path or "_schema"] = _MESSAGES.get(message, Text(message, message))

    walk(error.normalized_messages(), "")
    return found
