"""Row ids and page numbers as they arrive in URLs and forms.

Ids are 32-bit on PostgreSQL (INTEGER primary keys): a larger number, zero, or something that only looks
like digits ("²".isdigit() is true) can name no row, so it is "not found" — never passed to the database,
where it would be an error (a 500) instead of an answer.
"""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1
# Far beyond any list; keeps OFFSET arithmetic inside what the database accepts.
MAX_PAGE = 100_000


class IdConverter(IntegerConverter):
    """Every ``<int:...>`` in a route: 1 to MAX_ID, anything else is a 404 before the view runs."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(value: Any) -> int | None:
    """A form or query value as a row id (or an optimistic-lock version), None when it cannot be one."""
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def page_number(value: Any) -> int:
    """A ``?page=`` value: 1 unless it is a sensible page number."""
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        return 1
    return min(max(int(text), 1), MAX_PAGE)


def seen_versions(values: list[str]) -> dict[int, int]:
    """The "case id:version" pairs a list form sends with its checkboxes: the version of each case the page
    showed, so acting on a case changed meanwhile is a conflict, not an overwrite. Malformed pairs are left
    out (their case then counts as changed)."""
    versions = {}
    for value in values:
        case_id, _sep, version = str(value).partition(":")
        if parse_id(case_id) is not None and parse_id(version) is not None:
            versions[int(case_id)] = int(version)
    return versions
