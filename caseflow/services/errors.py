"""Why a service refused. Each error carries a bilingual message; views choose the language and the
HTTP status. A refused call has changed nothing (the caller's transaction rolls back)."""
from __future__ import annotations

from caseflow.workflows.definition import Text


class ServiceError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: Text, fields: dict[str, Text] | None = None):
        super().__init__(message.en)
        self.message = message
        self.fields = fields or {}

    def by_field(self) -> dict[str, Text]:
        """Messages keyed by form field; the general message under "" when no field was named."""
        return dict(self.fields) or {"": self.message}


class NotFound(ServiceError):
    """Missing, or not visible to this user — deliberately indistinguishable."""

    status, code = 404, "not_found"


class PermissionDenied(ServiceError):
    status, code = 403, "forbidden"


class Conflict(ServiceError):
    status, code = 409, "stale_version"


class InvalidTransition(ServiceError):
    status, code = 422, "invalid_transition"


class ValidationFailed(ServiceError):
    status, code = 422, "invalid_data"


class Refused(ServiceError):
    """A workflow guard said no."""

    status, code = 422, "refused"


CASE_NOT_FOUND = Text("找不到该案件，或您无权查看。", "Case not found, or you may not see it.")
STALE = Text("该案件已被他人修改，请刷新后重试。", "This case was changed by someone else — reload and try again.")
INVALID_DATA = Text("请更正标出的字段。", "Please correct the marked fields.")
