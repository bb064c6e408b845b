"""Helpers for the web UI tests: signed-in clients and small readers for the HTML the pages return."""
from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import sqlalchemy as sa
from flask.testing import FlaskClient

from caseflow.extensions import db, transactional
from caseflow.models import Jurisdiction
from caseflow.services.users import save_jurisdiction
from tests.conftest import login
from tests.factories import make_case


def ui_client(app) -> FlaskClient:
    """A fresh client (an ``IsolatedClient``, see conftest) with its own cookies."""
    return app.test_client()


def signed_in(app, username: str) -> FlaskClient:
    client = ui_client(app)
    login(client, username)
    return client


def html_of(response) -> str:
    return response.get_data(as_text=True)


def options_of(page: str, select_id: str) -> str:
    """The options of one drop-down of ``page`` (its HTML)."""
    part = page[page.index(f'id="{select_id}"'):]
    return part[:part.index("</select>")]


def text_of(response_or_html) -> str:
    """The page's visible text with whitespace collapsed (scripts, styles and tags dropped)."""
    html = response_or_html if isinstance(response_or_html, str) else html_of(response_or_html)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self.kinds: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            self.kinds[name] = attrs.get("type", "text")
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                self.fields.setdefault(name, [])
            else:
                self.fields.setdefault(name, []).append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self.kinds[name], self._textarea = "textarea", name
            self.fields.setdefault(name, []).append("")
        elif tag == "select" and name:
            self.kinds[name], self._select = "select", name
            self.fields.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields[self._select].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea][-1] += data


def form_fields(response_or_html) -> dict[str, list[str]]:
    """Every named form control on the page and its current value(s): what the page would send back."""
    reader = _FormReader()
    reader.feed(response_or_html if isinstance(response_or_html, str) else html_of(response_or_html))
    return reader.fields


def field_kinds(response_or_html) -> dict[str, str]:
    """Every named form control and its kind (input type, "textarea" or "select")."""
    reader = _FormReader()
    reader.feed(response_or_html if isinstance(response_or_html, str) else html_of(response_or_html))
    return reader.kinds


def step_links(response, case_id: int) -> set[str]:
    """The triggers of the action buttons on a case page."""
    return set(re.findall(rf'href="/cases/{case_id}/steps/(\w+)"', html_of(response)))


def case_rows(response) -> list[tuple[int, str]]:
    """The rows of a case list in order: (case id, the row's text)."""
    html = html_of(response)
    return [(int(case_id), text_of(row))
            for case_id, row in re.findall(r'<tr class="case-row" data-case-id="(\d+)">(.*?)</tr>', html,
                                           re.S)]


def field_error(response, name: str) -> str:
    """The error message shown under the field ``name`` ("" when none)."""
    pattern = rf'<p class="field-error" id="f-{re.escape(name)}-error">(.*?)</p>'
    match = re.search(pattern, html_of(response), re.S)
    return unescape(match.group(1)).strip() if match else ""


def make_outside_case(office, **applicant_fields):
    """A case in a village of another township (the ``outsider`` clerk's), invisible to ``office``'s users."""
    with transactional():
        elsewhere = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))
        village = save_jurisdiction(code="T2-V1", name="他村", kind="village", parent_id=elsewhere.id)
    return make_case(office, by="outsider", village=village, **applicant_fields)
