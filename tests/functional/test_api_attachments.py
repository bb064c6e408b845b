"""Attachments and comments through the JSON API (every exchange checked against the OpenAPI document)."""
from __future__ import annotations

import hashlib
from urllib.parse import unquote

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import CaseRead
from tests.factories import advance, make_case, multipart, tiny_pdf, tiny_png
from tests.functional.attachment_support import ELF, make_need_to_know_case, stored_files
from tests.functional.test_openapi import api, error_of


def test_upload_list_and_download(app, client, office, store):
    case = make_case(office)
    village1 = api(app, client, "village1", language="en")
    response = village1.post(f"/cases/{case.id}/attachments",
                             **multipart({"kind": "power_of_attorney", "file": (tiny_pdf(), "委托书.pdf")}))
    assert response.status_code == 201
    body = response.get_json()
    assert body | {"id": 0, "uploaded_at": ""} == {
        "id": 0, "kind": "power_of_attorney", "kind_title": "Power of attorney", "filename": "委托书.pdf",
        "content_type": "application/pdf", "size": len(tiny_pdf()), "sha256": hashlib.sha256(tiny_pdf()).hexdigest(),
        "uploaded_by": "village1", "uploaded_at": "", "purged_at": None,
        "content_url": f"/api/v1/cases/{case.id}/attachments/{body['id']}/content"}
    assert response.headers["Location"] == body["content_url"]
    assert stored_files(store) == [store / body["sha256"][:2] / body["sha256"]]

    clerk = api(app, client, "clerk")
    assert clerk.get(f"/cases/{case.id}/attachments").get_json() == [body | {"kind_title": "委托书"}]
    content = clerk.get(body["content_url"].removeprefix("/api/v1"))
    assert content.status_code == 200 and content.data == tiny_pdf()
    assert content.headers["Content-Type"] == "application/pdf"
    assert content.headers["Cache-Control"] == "no-store"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert unquote(content.headers["Content-Disposition"].split("filename*=UTF-8''")[1]) == "委托书.pdf"

    events = clerk.get(f"/cases/{case.id}/events").get_json()
    assert events[-1]["trigger"] == "attach" and events[-1]["data"]["sha256"] == body["sha256"]
    assert events[-1]["prev_hash"] == events[-2]["hash"]


def test_refusals_are_bilingual_and_keep_nothing(app, client, office, store):
    case = make_case(office)
    english = api(app, client, "village1", language="en")
    refused = english.post(f"/cases/{case.id}/attachments", **multipart({"kind": "other", "file": (ELF, "a.pdf")}))
    assert refused.status_code == 422
    assert error_of(refused)["fields"] == {
        "file": "Only PDF, JPEG or PNG files are accepted (judged by their content)."}
    chinese = api(app, client, "village1")
    refused = chinese.post(f"/cases/{case.id}/attachments", **multipart({"kind": "other", "file": (tiny_png(), "a.pdf")}))
    assert error_of(refused)["fields"]["file"].startswith("文件扩展名与文件内容不符")
    assert stored_files(store) == []


def test_an_oversized_request_is_refused_in_json(app, client, office, store, monkeypatch):
    case = make_case(office)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 500)
    village1 = api(app, client, "village1", language="en")
    refused = village1.post(f"/cases/{case.id}/attachments",
                            **multipart({"kind": "other", "file": (tiny_pdf("x" * 1000), "a.pdf")}))
    assert refused.status_code == 413
    assert error_of(refused)["message"] == "The request is too large: the file exceeds the size allowed."
    assert stored_files(store) == []


def test_identical_uploads_share_one_file(app, client, office, store):
    village1 = api(app, client, "village1")
    for case in (make_case(office), make_case(office)):
        assert village1.post(f"/cases/{case.id}/attachments",
                             **multipart({"kind": "hukou", "file": (tiny_png(), "户口簿.png")})).status_code == 201
    assert len(stored_files(store)) == 1


def test_need_to_know_reads_are_logged(app, client, office, store, need_to_know):
    case = make_need_to_know_case(office, need_to_know, by="clerk")
    clerk, supervisor, clerk2 = (api(app, client, name) for name in ("clerk", "supervisor", "clerk2"))
    uploaded = clerk.post(f"/cases/{case.id}/attachments",
                          **multipart({"kind": "id_proof", "file": (tiny_png(), "a.png")})).get_json()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead))
    assert clerk2.get(f"/cases/{case.id}/attachments").status_code == 404
    assert clerk2.get(f"/cases/{case.id}/attachments/{uploaded['id']}/content").status_code == 404
    assert supervisor.get(f"/cases/{case.id}/attachments").status_code == 200
    assert supervisor.get(f"/cases/{case.id}/attachments/{uploaded['id']}/content").status_code == 200
    assert supervisor.get(f"/cases/{case.id}/comments").status_code == 200
    reads = db.session.scalars(sa.select(CaseRead).order_by(CaseRead.id)).all()[before:]
    assert [(r.user_id, r.what) for r in reads] == [
        (office["supervisor"].id, "api:attachments"), (office["supervisor"].id, f"attachment:{uploaded['id']}"),
        (office["supervisor"].id, "api:comments")]


def test_comments(app, client, office):
    case = advance(make_case(office), ["accept"], office)
    version = case.version
    clerk = api(app, client, "clerk", language="en")
    created = clerk.post(f"/cases/{case.id}/comments", {"body": "等待户籍地回复。"})
    assert created.status_code == 201
    note = created.get_json()
    assert note["author"] == "clerk" and note["body"] == "等待户籍地回复。"
    assert api(app, client, "auditor").get(f"/cases/{case.id}/comments").get_json() == [note]
    refused = clerk.post(f"/cases/{case.id}/comments", {"body": "x" * 2001})
    assert refused.status_code == 422
    assert error_of(refused)["fields"] == {"body": "A note may have at most 2000 characters."}
    assert clerk.get(f"/cases/{case.id}").get_json()["version"] == version
