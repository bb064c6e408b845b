"""Attachments and comments on the case page: upload, download, notes (every workflow)."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Attachment, Case, Comment, User
from caseflow.services import access
from caseflow.services.attachments import (
    KINDS, add_attachment, attachments_of, kind_label, may_add_to, open_attachment, readable_attachment,
)
from caseflow.services.audit import record_read
from caseflow.services.comments import MAX_COMMENT_LENGTH, add_comment, list_comments
from caseflow.services.errors import NotFound, PermissionDenied, ServiceError
from caseflow.views import cases as case_pages
from caseflow.views.template_helpers import tr

bp = Blueprint("case_files", __name__)


def _user() -> User:
    return current_user._get_current_object()


def _case_for_change(case_id: int) -> Case:
    try:
        return access.readable_case(_user(), case_id)
    except NotFound:
        abort(404)


def _case_page_again(case_id: int, form: str, error: ServiceError):
    """The case page with the refused form's values and messages (``g.case_files``), so nothing typed is
    lost; the status is the refusal's."""
    g.case_files = {"form": form, "values": request.form, "errors": error.by_field()}
    return case_pages.detail(case_id), error.status


@bp.route("/cases/<int:case_id>/attachments", methods=["POST"])
@login_required
def upload(case_id: int):
    """Attach one file (multipart: ``kind``, ``file``) to a case."""
    case = _case_for_change(case_id)
    upload_file = request.files.get("file")
    try:
        with transactional():
            attachment = add_attachment(case, _user(), request.form.get("kind", ""),
                                        upload_file.filename if upload_file else None,
                                        upload_file.stream if upload_file else None, utcnow())
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        return _case_page_again(case.id, "upload", error)
    flash(_("File attached: %(name)s.", name=attachment.filename), "success")
    return redirect(url_for("cases.detail", case_id=case.id, _anchor="case-files"))


@bp.route("/cases/<int:case_id>/attachments/<int:attachment_id>")
@login_required
def download(case_id: int, attachment_id: int):
    """The file itself, as a download (never shown inline), not cached; reads of need-to-know cases logged."""
    try:
        attachment = readable_attachment(_user(), case_id, attachment_id)
        path = open_attachment(attachment, _user())
    except NotFound:
        abort(404)
    return attachment_response(attachment, path, _user())


def attachment_response(attachment: Attachment, path, user: User):
    """The download response (shared with the API): logs the read first on need-to-know cases."""
    case = attachment_case(attachment)
    with transactional():
        record_read(case, user, f"attachment:{attachment.id}", utcnow())
    response = send_file(path, mimetype=attachment.content_type, conditional=False, etag=False, max_age=0)
    response.headers["Content-Disposition"] = content_disposition(attachment)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def content_disposition(attachment: Attachment) -> str:
    """``attachment`` with the name in ASCII for old clients and in UTF-8 (RFC 5987/6266) for Chinese ones."""
    name = attachment.filename
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", ascii_name).strip(" ._")
    stem, _dot, ext = name.rpartition(".")
    if not re.search(r"[A-Za-z0-9]", ascii_name.rpartition(".")[0] or ""):
        ascii_name = f"attachment-{attachment.id}.{ext.lower()}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_case(attachment: Attachment) -> Case:
    return db.session.get(Case, attachment.case_id)


@bp.route("/cases/<int:case_id>/comments", methods=["POST"])
@login_required
def comment(case_id: int):
    """Add a note; on a refusal the case page comes back with the text still in the box."""
    case = _case_for_change(case_id)
    try:
        with transactional():
            add_comment(case, _user(), request.form.get("body"), utcnow())
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        return _case_page_again(case.id, "comment", error)
    flash(_("Note added."), "success")
    return redirect(url_for("cases.detail", case_id=case.id, _anchor="case-comments"))


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    """A request over MAX_CONTENT_LENGTH (an oversized upload), refused before it is read."""
    if request.path.startswith("/api/"):
        return error  # the JSON API answers in its own format
    return render_template("errors/too_large.html", error=error), 413


# --------------------------------------------------------------------------------- template globals

@bp.app_template_global()
def case_attachments(case: Case) -> list[Attachment]:
    return attachments_of(case)


@bp.app_template_global()
def case_comments(case: Case) -> list[Comment]:
    return list_comments(case)


@bp.app_template_global()
def may_add_files(case: Case) -> bool:
    return current_user.is_authenticated and may_add_to(case, _user())


@bp.app_template_global()
def attachment_kinds() -> list[tuple[str, str]]:
    return [(code, tr(label)) for code, label in KINDS.items()]


@bp.app_template_global()
def attachment_kind_label(kind: str) -> str:
    return tr(kind_label(kind))


@bp.app_template_global()
def max_comment_length() -> int:
    return MAX_COMMENT_LENGTH


@bp.app_template_filter()
def file_size(size: int) -> str:
    """Bytes as people read them: 512 B, 3.4 KB, 1.2 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
