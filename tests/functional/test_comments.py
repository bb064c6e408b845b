"""Notes on a case: who may write them, limits, the case page form (text kept on error) and CSRF."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import CaseEvent, Comment
from caseflow.services.comments import COMMENT_TOO_LONG, EMPTY_COMMENT, add_comment, list_comments
from caseflow.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import PASSWORD, advance, make_case, reload
from tests.functional.attachment_support import make_need_to_know_case
from tests.functional.ui_support import form_fields, html_of, signed_in, text_of, ui_client


def comment(case, user, body):
    with transactional():
        return add_comment(case, user, body, utcnow())


def test_notes_are_kept_in_order_without_touching_the_case_or_its_trail(office):
    case = make_case(office)
    version, events = case.version, len(case.events)
    comment(case, office["village1"], "  申请人周一补交户口簿。\r\n已电话确认。 ")
    comment(case, office["clerk"], "收到。")
    notes = list_comments(case)
    assert [(n.author.username, n.body) for n in notes] == [("village1", "申请人周一补交户口簿。\n已电话确认。"),
                                                           ("clerk", "收到。")]
    case = reload(case)
    assert case.version == version
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)
                             .where(CaseEvent.case_id == case.id)) == events


@pytest.mark.parametrize("body, message", [("", EMPTY_COMMENT), ("  \n ", EMPTY_COMMENT), (None, EMPTY_COMMENT),
                                           ("字" * 2001, COMMENT_TOO_LONG)])
def test_empty_and_overlong_notes_are_refused(office, body, message):
    with pytest.raises(ValidationFailed) as refused:
        comment(make_case(office), office["clerk"], body)
    assert refused.value.fields == {"body": message}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0


def test_a_note_of_exactly_2000_characters_is_accepted(office):
    assert len(comment(make_case(office), office["clerk"], "字" * 2000).body) == 2000


def test_who_may_write_notes(office, need_to_know):
    case = make_case(office)
    for username in ("village1", "clerk", "supervisor"):
        comment(case, office[username], f"note by {username}")
    with pytest.raises(PermissionDenied):
        comment(case, office["auditor"], "no")
    for username in ("admin", "village2", "outsider"):
        with pytest.raises(NotFound):
            comment(case, office[username], "no")
    closed = advance(make_case(office), ["accept", "register"], office)
    with pytest.raises(PermissionDenied):
        comment(closed, office["clerk"], "no")
    comment(closed, office["supervisor"], "结案后补记。")
    secret = make_need_to_know_case(office, need_to_know, by="clerk")
    comment(secret, office["clerk"], "ok")
    with pytest.raises(NotFound):
        comment(secret, office["clerk2"], "no")


def test_notes_on_the_case_page(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    response = clerk.post(f"/cases/{case.id}/comments", data={"body": "已核对身份证。"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#case-comments")
    page = clerk.get(f"/cases/{case.id}")
    assert "已核对身份证。" in text_of(page) and "已添加备注" in text_of(page)
    assert "已核对身份证。" in text_of(signed_in(app, "auditor").get(f"/cases/{case.id}"))


def test_a_refused_note_keeps_its_text(app, office):
    case = make_case(office)
    clerk = signed_in(app, "clerk")
    long_text = "很长的备注" * 401
    response = clerk.post(f"/cases/{case.id}/comments", data={"body": long_text})
    assert response.status_code == 422
    assert form_fields(response)["body"] == [long_text]
    assert "备注不能超过 2000 个字符" in text_of(response)
    response = signed_in(app, "clerk").post(f"/cases/{case.id}/comments", data={"body": "   "})
    assert response.status_code == 422 and "备注不能为空" in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0


def test_outsiders_and_auditors_cannot_post_notes(app, office):
    case = make_case(office)
    assert signed_in(app, "auditor").post(f"/cases/{case.id}/comments", data={"body": "x"}).status_code == 403
    for username in ("outsider", "village2", "admin"):
        assert signed_in(app, username).post(f"/cases/{case.id}/comments", data={"body": "x"}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0


def test_the_note_form_needs_the_csrf_token(csrf_app, office):
    case = make_case(office)
    client = ui_client(csrf_app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html_of(client.get("/login"))).group(1)
    assert client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    assert client.post(f"/cases/{case.id}/comments", data={"body": "x"}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', html_of(client.get(f"/cases/{case.id}"))).group(1)
    assert client.post(f"/cases/{case.id}/comments", data={"body": "x", "csrf_token": token}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 1
