"""Files on a case (scans of identity papers, certificates, proofs of service).

The bytes live outside the web root, under ``CASEFLOW_ATTACHMENT_DIR`` (default ``<instance>/attachments``),
named by their SHA-256: identical content is stored once, and a file can be checked against its name.
Files are never served by path; the views check read access on every download.

Decisions:
- Who may attach: someone who may read the case AND handles cases (village officers in their own
  villages, clerks, supervisors). Auditors read and download only; admins do not see cases at all.
- Closed cases: only a supervisor may still attach (a proof of service that arrives after the decision,
  a correction); cases whose sensitive details were purged by retention take nothing any more.
- Attachments are evidence and are never deleted by a user. The only removal is the retention purge
  (``purge_attachment_bytes``), which drops the bytes and keeps the record (name, kind, size, hash).
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path, PurePath
from typing import BinaryIO

import filetype
import sqlalchemy as sa
from flask import current_app

from caseflow.extensions import db
from caseflow.models import Attachment, Case, User
from caseflow.services import access
from caseflow.services.audit import append_event
from caseflow.services.errors import (
    CASE_NOT_FOUND, INVALID_DATA, STALE, Conflict, NotFound, PermissionDenied, ValidationFailed,
)
from caseflow.workflows.definition import Text

# Who may add files and notes to a case they can read. Auditors oversee, admins administer: neither handles.
ATTACHING_ROLES = frozenset({"village_officer", "clerk", "supervisor"})
# A closed case is a decided case: only a supervisor may still add to its file.
CLOSED_CASE_ROLES = frozenset({"supervisor"})

# The document types an office receives, stored by code.
KINDS: dict[str, Text] = {
    "id_proof": Text("身份证明", "Proof of identity"),
    "hukou": Text("户口簿", "Household register (hukou)"),
    "marriage_certificate": Text("结婚证", "Marriage certificate"),
    "birth_certificate": Text("出生医学证明", "Medical birth certificate"),
    "power_of_attorney": Text("委托书", "Power of attorney"),
    "disability_certificate": Text("残疾证", "Disability certificate"),
    "death_certificate": Text("死亡证明", "Death certificate"),
    "bank_account": Text("银行账户信息", "Bank account details"),
    "proof_of_service": Text("送达回证", "Proof of service"),
    "other": Text("其他", "Other"),
}

# Accepted content types, each with the file name extensions that may carry it.
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
}

MAY_NOT_ATTACH = Text("您的角色不能为案件添加材料或备注。", "Your role may not add files or notes to cases.")
CLOSED_NO_ATTACH = Text("案件已办结，只有主管可以补充材料或备注。",
                        "The case is closed: only a supervisor may still add files or notes.")
PURGED_NO_ATTACH = Text("该案件的敏感信息已按保存期限删除，不能再添加材料或备注。",
                        "This case's details were purged at the end of their retention period; nothing can "
                        "be added.")
NO_SUCH_KIND = Text("请选择材料类型。", "Choose the type of document.")
NO_FILE = Text("请选择要上传的文件。", "Choose a file to upload.")
EMPTY_FILE = Text("文件是空的。", "The file is empty.")
WRONG_TYPE = Text("只接受 PDF、JPEG 或 PNG 文件（按文件内容判断）。",
                  "Only PDF, JPEG or PNG files are accepted (judged by their content).")
WRONG_EXTENSION = Text("文件扩展名与文件内容不符（例如 .pdf 文件实际是图片）。",
                       "The file name's extension does not match its content (e.g. a .pdf that is really an "
                       "image).")
ATTACHMENT_NOT_FOUND = Text(
    "找不到该材料，或其文件已按保存期限删除。",
    "Attachment not found, or its file was removed at the end of its retention period.")


def too_large_message(limit: int) -> Text:
    """The refusal for a file over ``limit`` bytes, in megabytes people understand."""
    size = f"{limit / (1024 * 1024):g}"
    return Text(f"文件太大：每个文件不能超过 {size} MB。", f"The file is too large: at most {size} MB per file.")


class FileTooLarge(ValidationFailed):
    """The upload exceeds CASEFLOW_MAX_ATTACHMENT_BYTES (HTTP 413)."""

    status, code = 413, "too_large"


def kind_label(kind: str) -> Text:
    return KINDS.get(kind, Text(kind, kind))


def attachment_dir() -> Path:
    """Where the files live: CASEFLOW_ATTACHMENT_DIR, or ``attachments`` in the instance folder."""
    configured = current_app.config.get("CASEFLOW_ATTACHMENT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def stored_path(sha256: str) -> Path:
    """The file of a content hash: ``<dir>/<first two hex digits>/<hash>`` (no user input in the path)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 hex digest")
    return attachment_dir() / sha256[:2] / sha256


def may_add_to(case: Case, actor: User) -> bool:
    """Whether ``actor`` may attach files and write notes on ``case`` (the UI shows the forms then)."""
    try:
        require_may_add(case, actor)
    except (NotFound, PermissionDenied):
        return False
    return True


def require_may_add(case: Case, actor: User) -> None:
    """Refuse unless ``actor`` reads ``case`` (else NotFound) and handles cases (else PermissionDenied)."""
    if not access.can_read(actor, case):
        raise NotFound(CASE_NOT_FOUND)
    if not actor.has_role(*ATTACHING_ROLES):
        raise PermissionDenied(MAY_NOT_ATTACH)
    if case.purged_at is not None:
        raise PermissionDenied(PURGED_NO_ATTACH)
    if case.is_closed and not actor.has_role(*CLOSED_CASE_ROLES):
        raise PermissionDenied(CLOSED_NO_ATTACH)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*;]')


def clean_filename(name: str | None, extension: str) -> str:
    """The name shown and offered on download: no directories, control or shell-special characters,
    at most 200 characters (the extension kept); ``<type>.<ext>`` when nothing usable is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return f"attachment.{extension}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def _extension(name: str | None) -> str:
    base = re.split(r"[/\\]", name or "")[-1]
    return base.rpartition(".")[2].lower() if "." in base else ""


def _store(stream: BinaryIO, limit: int, extension: str) -> tuple[str, int, str]:
    """Copy ``stream`` into the store: (sha256, size, sniffed content type). Nothing is kept when the
    content is too large, not an accepted type, or not what the name's ``extension`` says.

    Written to a temporary file in the target directory, fsynced, then renamed into place (atomic), so a
    reader never sees half a file; content already stored is not written twice.
    """
    root = attachment_dir()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    head = stream.read(8192) or b""
    fd, temp = tempfile.mkstemp(dir=root, prefix=".upload-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(too_large_message(limit), {"file": too_large_message(limit)})
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ValidationFailed(INVALID_DATA, {"file": EMPTY_FILE})
        sniffed = filetype.guess(head)
        content_type = sniffed.mime if sniffed is not None else ""
        if content_type not in CONTENT_TYPES:
            raise ValidationFailed(INVALID_DATA, {"file": WRONG_TYPE})
        if extension not in CONTENT_TYPES[content_type]:
            raise ValidationFailed(INVALID_DATA, {"file": WRONG_EXTENSION})
        sha256 = digest.hexdigest()
        final = stored_path(sha256)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        if final.exists():
            os.unlink(temp)
        else:
            os.chmod(temp, 0o600)
            os.replace(temp, final)
        return sha256, size, content_type
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def add_attachment(case: Case, actor: User, kind: str, filename: str | None, stream: BinaryIO | None,
                   now: datetime) -> Attachment:
    """Store a file on ``case`` and record it in the case's audit trail.

    The type is judged by the file's content (PDF, JPEG, PNG) and the name's extension must agree; the
    size is capped by CASEFLOW_MAX_ATTACHMENT_BYTES. The audit event (trigger ``attach``, state
    unchanged) carries the name, kind, size and SHA-256, so the hash chain covers the file's content.
    Does not change ``Case.version``: adding evidence does not make anyone's view of the case stale.
    """
    require_may_add(case, actor)
    errors: dict[str, Text] = {}
    if kind not in KINDS:
        errors["kind"] = NO_SUCH_KIND
    if stream is None or not filename:
        errors["file"] = NO_FILE
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    sha256, size, content_type = _store(stream, current_app.config["CASEFLOW_MAX_ATTACHMENT_BYTES"],
                                        _extension(filename))
    shown = clean_filename(filename, CONTENT_TYPES[content_type][0])
    attachment = Attachment(case_id=case.id, kind=kind, filename=shown, content_type=content_type, size=size,
                            sha256=sha256, uploaded_by=actor, uploaded_at=now)
    db.session.add(attachment)
    # A file's name can itself be health data ("孕18周B超.pdf"): on a need-to-know case the audit trail,
    # which retention cannot edit, names only the kind of file.
    audit_name = f"{kind}{PurePath(shown).suffix}" if case.workflow in access.need_to_know_workflows() else shown
    append_event(case, actor, "attach", case.state, case.state, now,
                 data={"filename": audit_name, "kind": kind, "size": size, "sha256": sha256})
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:  # another event took the same sequence number first
        if "case_event" not in str(exc.orig).lower():
            raise
        raise Conflict(STALE) from None
    return attachment


def attachments_of(case: Case) -> list[Attachment]:
    """The attachments of ``case``, oldest first (purged ones included: their record stays)."""
    return list(db.session.scalars(
        sa.select(Attachment).where(Attachment.case_id == case.id)
        .order_by(Attachment.uploaded_at, Attachment.id)
    ))


def readable_attachment(actor: User, case_id: int, attachment_id: int) -> Attachment:
    """An attachment of a case ``actor`` may read, or NotFound (also for another case's attachment)."""
    case = access.readable_case(actor, case_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        raise NotFound(ATTACHMENT_NOT_FOUND)
    return attachment


def open_attachment(attachment: Attachment, actor: User) -> Path:
    """The stored file of ``attachment`` for download, after the same read check as the case itself.

    NotFound when ``actor`` may not read the case, and when the bytes were purged or are missing.
    """
    case = db.session.get(Case, attachment.case_id)
    if case is None or not access.can_read(actor, case):
        raise NotFound(CASE_NOT_FOUND)
    path = stored_path(attachment.sha256)
    if attachment.purged_at is not None or not path.is_file():
        raise NotFound(ATTACHMENT_NOT_FOUND)
    return path


def purge_attachment_bytes(attachment: Attachment, now: datetime) -> None:
    """Retention: drop the bytes of ``attachment`` and mark it purged; its record stays.

    The file is shared by every attachment with the same content, so it is deleted only when no other
    attachment that is not purged references the same hash. Idempotent. Run by the scheduler (no actor).
    """
    if attachment.purged_at is None:
        attachment.purged_at = now
    db.session.flush()
    still_used = db.session.scalar(
        sa.select(sa.func.count()).select_from(Attachment)
        .where(Attachment.sha256 == attachment.sha256, Attachment.purged_at.is_(None))
    )
    if not still_used:
        stored_path(attachment.sha256).unlink(missing_ok=True)
