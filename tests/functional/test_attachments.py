"""Attachments: type by content, size, content-addressed private storage, audit trail, access, downloads,
the retention purge, the read log of need-to-know cases and CSRF on the upload form."""
from __future__ import annotations

import io
import re
import stat
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Attachment, CaseEvent, CaseRead
from caseflow.services.attachments import (
    WRONG_EXTENSION, WRONG_TYPE, FileTooLarge, add_attachment, clean_filename, open_attachment,
    purge_attachment_bytes, stored_path,
)
from caseflow.services.audit import verify_chain
from caseflow.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import advance, make_case, reload, tiny_pdf, tiny_png
from tests.functional.attachment_support import ELF, JPEG, WINDOWS_EXE, make_need_to_know_case, stored_files
from tests.functional.ui_support import form_fields, html_of, signed_in, text_of, ui_client


def attach(case, user, content: bytes, filename: str, kind: str = "id_proof"):
    with transactional():
        return add_attachment(case, user, kind, filename, io.BytesIO(content), utcnow())


# ------------------------------------------------------------------------------------------- service

def test_a_file_is_stored_once_by_its_hash_outside_the_web_root_readable_by_the_app_only(app, office, store):
    case = make_case(office)
    version = case.version
    content = tiny_png()
    attachment = attach(case, office["village1"], content, "身份证正面.png")

    sha = attachment.sha256
    path = store / sha[:2] / sha
    assert stored_files(store) == [path] and path == stored_path(sha)
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(store.stat().st_mode) == 0o700
    assert not path.resolve().is_relative_to(Path(app.static_folder).resolve())
    row = db.session.get(Attachment, attachment.id)
    assert (row.kind, row.filename, row.content_type, row.size) == ("id_proof", "身份证正面.png", "image/png",
                                                                    len(content))
    assert reload(case).version == version  # evidence added: nobody's view of the case is stale


def test_each_upload_is_in_the_audit_trail_and_the_chain_verifies(office, store):
    case = advance(make_case(office), ["accept"], office)
    first = attach(case, office["clerk"], tiny_pdf(), "申请表.pdf", kind="other")
    attach(case, office["clerk"], tiny_png(), "户口簿.png", kind="hukou")
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq)).all()
    assert [e.trigger for e in events] == ["submit", "accept", "attach", "attach"]
    event = events[2]
    assert (event.from_state, event.to_state, event.actor_id) == ("accepted", "accepted", office["clerk"].id)
    assert event.data == {"filename": "申请表.pdf", "kind": "other", "size": first.size, "sha256": first.sha256}
    assert verify_chain(case) is None
    # The chain covers the file: changing the recorded hash is detected.
    event.data = event.data | {"sha256": "0" * 64}
    db.session.flush()
    assert verify_chain(case) == 3
    db.session.rollback()


def test_identical_content_is_stored_once_and_different_content_twice(office, store):
    one, two = make_case(office), make_case(office)
    a = attach(one, office["village1"], tiny_png(), "a.png")
    b = attach(two, office["clerk"], tiny_png(), "b.png")
    assert a.sha256 == b.sha256 and len(stored_files(store)) == 1
    attach(two, office["clerk"], tiny_png(b"other"), "c.png")
    assert len(stored_files(store)) == 2


@pytest.mark.parametrize("content, filename, message", [
    (tiny_png(), "scan.pdf", WRONG_EXTENSION),      # a .pdf that is really a PNG
    (tiny_pdf(), "scan.png", WRONG_EXTENSION),      # and the other way round
    (JPEG, "photo.png", WRONG_EXTENSION),
    (tiny_png(), "scan", WRONG_EXTENSION),          # no extension at all
    (ELF, "scan.pdf", WRONG_TYPE),                  # an executable named .pdf
    (WINDOWS_EXE, "setup.png", WRONG_TYPE),
    ("%PDF looks like one but is text".encode()[1:], "notes.pdf", WRONG_TYPE),
    (b"<html><script>alert(1)</script></html>", "page.png", WRONG_TYPE),
    (b"", "empty.pdf", None),
])
def test_the_type_is_judged_by_content_and_the_extension_must_agree(office, store, content, filename, message):
    case = make_case(office)
    with pytest.raises(ValidationFailed) as refused:
        attach(case, office["village1"], content, filename)
    assert set(refused.value.fields) == {"file"}
    if message is not None:
        assert refused.value.fields["file"] == message
    assert stored_files(store) == []  # nothing refused is kept, not even a temporary file
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


@pytest.mark.parametrize("content, filename, content_type", [
    (tiny_pdf(), "表格.PDF", "application/pdf"), (JPEG, "photo.jpeg", "image/jpeg"), (JPEG, "p.JPG", "image/jpeg"),
    (tiny_png(), "scan.png", "image/png"),
])
def test_accepted_types(office, store, content, filename, content_type):
    assert attach(make_case(office), office["village1"], content, filename).content_type == content_type


def test_the_size_limit(app, office, store, monkeypatch):
    content = tiny_pdf("x" * 200)
    case = make_case(office)
    monkeypatch.setitem(app.config, "CASEFLOW_MAX_ATTACHMENT_BYTES", len(content) - 1)
    with pytest.raises(FileTooLarge) as refused:
        attach(case, office["village1"], content, "big.pdf")
    assert refused.value.status == 413 and "MB" in refused.value.fields["file"].en
    assert stored_files(store) == []
    monkeypatch.setitem(app.config, "CASEFLOW_MAX_ATTACHMENT_BYTES", len(content))
    assert attach(case, office["village1"], content, "big.pdf").size == len(content)


def test_who_may_attach(office, store):
    case = make_case(office)
    for username in ("village1", "clerk", "supervisor"):
        attach(case, office[username], tiny_png(username.encode()), "ok.png")
    with pytest.raises(PermissionDenied):
        attach(case, office["auditor"], tiny_png(), "no.png")  # reads the case, does not handle it
    for username in ("admin", "village2", "outsider"):  # may not read the case at all
        with pytest.raises(NotFound):
            attach(case, office[username], tiny_png(), "no.png")


def test_closed_cases_take_files_from_supervisors_only(office, store):
    case = advance(make_case(office), ["accept", "register"], office)
    assert case.is_closed
    for username in ("clerk", "village1"):
        with pytest.raises(PermissionDenied):
            attach(case, office[username], tiny_png(), "late.png")
    assert attach(case, office["supervisor"], tiny_png(), "送达回证.png", kind="proof_of_service").id


def test_need_to_know_cases_take_files_from_their_handler_not_other_clerks(office, store, need_to_know):
    case = make_need_to_know_case(office, need_to_know, by="clerk")
    attach(case, office["clerk"], tiny_png(), "a.png")
    with pytest.raises(NotFound):
        attach(case, office["clerk2"], tiny_png(), "b.png")


@pytest.mark.parametrize("given, shown", [
    ("../../etc/passwd.png", "passwd.png"),
    ("C:\\Users\\张三\\身份证.png", "身份证.png"),
    ('a<b>:"c|d?*.png', "a_b___c_d__.png"),
    ("line\r\nbreak.pdf", "line__break.pdf"),
    ("  .hidden.png ", "hidden.png"),
    ("...", "attachment.png"),
    ("长" * 300 + ".pdf", "长" * 196 + ".pdf"),
])
def test_file_names_are_cleaned_for_display_and_download(given, shown):
    assert clean_filename(given, "png") == shown


def test_the_purge_removes_bytes_only_when_no_live_attachment_shares_them(office, store):
    one, two = make_case(office), make_case(office)
    a = attach(one, office["village1"], tiny_png(), "a.png")
    b = attach(two, office["clerk"], tiny_png(), "b.png")
    path = stored_path(a.sha256)
    with transactional():
        purge_attachment_bytes(a, utcnow())
    assert a.purged_at is not None and path.exists()  # b still needs the bytes
    with pytest.raises(NotFound):
        open_attachment(a, office["clerk"])
    assert open_attachment(b, office["clerk"]) == path
    with transactional():
        purge_attachment_bytes(b, utcnow())
    assert not path.exists()
    with transactional():
        purge_attachment_bytes(b, utcnow())  # idempotent
    row = db.session.get(Attachment, b.id)
    assert row.sha256 == b.sha256 and row.filename == "b.png"  # the record stays


# ------------------------------------------------------------------------------------------------ UI

def upload_form(kind: str, content: bytes, filename: str) -> dict:
    return {"kind": kind, "file": (io.BytesIO(content), filename)}


def test_upload_and_download_on_the_case_page(app, office, store):
    case = make_case(office)
    village1 = signed_in(app, "village1")
    page = village1.get(f"/cases/{case.id}")
    assert {"kind", "file"} <= set(form_fields(page))
    response = village1.post(f"/cases/{case.id}/attachments", data=upload_form("hukou", tiny_png(), "户口簿 首页.png"),
                             content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{case.id}#case-files")
    page = text_of(village1.get(f"/cases/{case.id}"))
    assert "户口簿 首页.png" in page and "File attached" not in page  # zh UI
    attachment = db.session.scalar(sa.select(Attachment))
    download = village1.get(f"/cases/{case.id}/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == tiny_png()
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in download.headers["Cache-Control"]
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="attachment-{attachment.id}.png"' in disposition
    encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
    assert unquote(encoded) == "户口簿 首页.png" and " " not in encoded


def test_downloads_are_404_for_whoever_may_not_read_the_case(app, office, store, need_to_know):
    case = make_case(office)
    attachment = attach(case, office["village1"], tiny_pdf(), "a.pdf")
    url = f"/cases/{case.id}/attachments/{attachment.id}"
    for username in ("outsider", "village2", "admin"):
        assert signed_in(app, username).get(url).status_code == 404, username
    assert ui_client(app).get(url).status_code == 302  # to the sign-in page
    assert signed_in(app, "auditor").get(url).status_code == 200
    # another case's id with this attachment: not found either
    other = make_case(office)
    assert signed_in(app, "clerk").get(f"/cases/{other.id}/attachments/{attachment.id}").status_code == 404

    secret = make_need_to_know_case(office, need_to_know, by="clerk")
    hidden = attach(secret, office["clerk"], tiny_png(), "a.png")
    url = f"/cases/{secret.id}/attachments/{hidden.id}"
    assert signed_in(app, "clerk2").get(url).status_code == 404  # not the handler
    assert signed_in(app, "village1").get(url).status_code == 404
    assert signed_in(app, "clerk").get(url).status_code == 200


def test_purged_attachments_are_listed_without_a_link_and_404(app, office, store):
    case = make_case(office)
    attachment = attach(case, office["village1"], tiny_pdf(), "旧材料.pdf")
    with transactional():
        purge_attachment_bytes(attachment, utcnow())
    clerk = signed_in(app, "clerk")
    assert clerk.get(f"/cases/{case.id}/attachments/{attachment.id}").status_code == 404
    html = html_of(clerk.get(f"/cases/{case.id}"))
    assert "旧材料.pdf" in html and f"/attachments/{attachment.id}" not in html


def test_auditors_download_but_do_not_upload(app, office, store):
    case = make_case(office)
    auditor = signed_in(app, "auditor")
    page = auditor.get(f"/cases/{case.id}")
    assert "file" not in form_fields(page) and "body" not in form_fields(page)
    response = auditor.post(f"/cases/{case.id}/attachments", data=upload_form("other", tiny_png(), "a.png"),
                            content_type="multipart/form-data")
    assert response.status_code == 403 and stored_files(store) == []
    assert signed_in(app, "outsider").post(f"/cases/{case.id}/attachments",
                                           data=upload_form("other", tiny_png(), "a.png")).status_code == 404


def test_a_refused_upload_shows_why_and_keeps_the_chosen_type(app, office, store):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    response = clerk.post(f"/cases/{case.id}/attachments", data=upload_form("marriage_certificate", ELF, "x.pdf"),
                          content_type="multipart/form-data")
    assert response.status_code == 422
    assert "只接受 PDF、JPEG 或 PNG 文件" in text_of(response)
    assert form_fields(response)["kind"] == ["marriage_certificate"]
    response = clerk.post(f"/cases/{case.id}/attachments", data={"kind": ""}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "请选择材料类型" in text_of(response) and "请选择要上传的文件" in text_of(response)


def test_an_oversized_request_gets_a_clear_page(app, office, store, monkeypatch):
    case = make_case(office)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    clerk = signed_in(app, "clerk")
    response = clerk.post(f"/cases/{case.id}/attachments", data=upload_form("other", tiny_pdf("x" * 2000), "a.pdf"),
                          content_type="multipart/form-data")
    assert response.status_code == 413
    assert "文件太大" in text_of(response)
    clerk.post("/lang/en")
    response = clerk.post(f"/cases/{case.id}/attachments", data=upload_form("other", tiny_pdf("x" * 2000), "a.pdf"),
                          content_type="multipart/form-data")
    assert response.status_code == 413 and "The file is too large" in text_of(response)
    assert stored_files(store) == []


def test_downloads_of_need_to_know_cases_are_logged(app, office, store, need_to_know):
    case = make_need_to_know_case(office, need_to_know, by="clerk")
    attachment = attach(case, office["clerk"], tiny_png(), "a.png")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead))
    assert signed_in(app, "supervisor").get(f"/cases/{case.id}/attachments/{attachment.id}").status_code == 200
    reads = db.session.scalars(sa.select(CaseRead).order_by(CaseRead.id)).all()[before:]
    assert [(r.user_id, r.what) for r in reads] == [(office["supervisor"].id, f"attachment:{attachment.id}")]
    # ordinary cases are not logged
    plain = make_case(office)
    other = attach(plain, office["clerk"], tiny_png(), "b.png")
    signed_in(app, "clerk").get(f"/cases/{plain.id}/attachments/{other.id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead).where(CaseRead.case_id == plain.id)) == 0


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_upload_form_needs_the_csrf_token(csrf_app, office, store):
    csrf_app.config["CASEFLOW_ATTACHMENT_DIR"] = str(store)
    case = make_case(office)
    client = ui_client(csrf_app)
    token = _csrf_token(html_of(client.get("/login")))
    assert client.post("/login", data={"username": "clerk", "password": "correct-horse-battery",
                                       "csrf_token": token}).status_code == 302
    url = f"/cases/{case.id}/attachments"
    refused = client.post(url, data=upload_form("other", tiny_png(), "a.png"), content_type="multipart/form-data")
    assert refused.status_code == 400 and stored_files(store) == []
    token = _csrf_token(html_of(client.get(f"/cases/{case.id}")))
    accepted = client.post(url, data=upload_form("other", tiny_png(), "a.png") | {"csrf_token": token},
                           content_type="multipart/form-data")
    assert accepted.status_code == 302 and len(stored_files(store)) == 1


def test_downloads_are_logged_for_every_registered_need_to_know_workflow(app, office, store):
    """The same check against the real need-to-know workflows (procedure_certificate), whatever their form."""
    from caseflow.services.cases import open_case
    from caseflow.workflows import all_workflows
    from tests.factories import applicant, valid_input

    registered = [wf for wf in all_workflows() if wf.need_to_know]
    if not registered:
        pytest.skip("no need-to-know workflow registered")
    for workflow in registered:
        with transactional():
            case = open_case(workflow.name, office.village.id, applicant(), valid_input(workflow.application_fields),
                             office["clerk"])
        attachment = attach(case, office["clerk"], tiny_pdf(workflow.name), "证明.pdf")
        url = f"/cases/{case.id}/attachments/{attachment.id}"
        assert signed_in(app, "clerk2").get(url).status_code == 404
        assert signed_in(app, "auditor").get(url).status_code == 200
        reads = db.session.scalars(sa.select(CaseRead).where(CaseRead.case_id == case.id)).all()
        assert [(r.user_id, r.what) for r in reads] == [(office["auditor"].id, f"attachment:{attachment.id}")]
