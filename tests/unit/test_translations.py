"""The Chinese catalog keeps up with the code: every string the UI marks for translation has a finished
zh translation, with the same placeholders, so no page silently falls back to English."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "caseflow" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _keep_directory(path: str) -> bool:
    # Unlike pybabel's default, do not skip "_macros/" and "_partials/": they hold UI strings too.
    name = os.path.basename(path)
    return not name.startswith(".") and name != "__pycache__"


def extracted_msgids() -> dict[str | tuple[str, ...], str]:
    """Every msgid in the code and templates (as ``babel.cfg`` maps them), with where it was found."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str | tuple[str, ...], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS, directory_filter=_keep_directory):
        if isinstance(message, (list, tuple)):
            message = tuple(message)
        found.setdefault(message, f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog():
    with open(CATALOG, "rb") as po:
        return read_po(po, locale="zh")


@pytest.fixture(scope="module")
def msgids():
    found = extracted_msgids()
    assert len(found) > 100, "extraction found almost nothing: is babel.cfg still right?"
    return found


def test_extraction_reaches_templates_macros_and_views(msgids):
    places = {where.split(":")[0] for where in msgids.values()}
    assert any(p.startswith("caseflow/templates/_macros/") for p in places)
    assert any(p.startswith("caseflow/templates/_partials/") for p in places)
    assert any(p.startswith("caseflow/views/") for p in places)


def test_every_ui_string_has_a_finished_chinese_translation(catalog, msgids):
    problems = []
    for msgid, where in msgids.items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        if message is None:
            problems.append(f"{where}: not in the catalog: {msgid!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"{where}: fuzzy: {msgid!r}")
        elif not strings or not all(s and s.strip() for s in strings):
            problems.append(f"{where}: untranslated: {msgid!r}")
    assert not problems, "Update caseflow/translations (see babel.cfg):\n" + "\n".join(problems)


def test_translations_keep_the_placeholders(catalog):
    """A missing or misspelt %(name)s would raise at run time, only in Chinese."""
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if set(PLACEHOLDER.findall(string or "")) != expected:
                problems.append(f"{ids[0]!r} -> {string!r}")
    assert not problems, "\n".join(problems)


def test_translations_are_chinese(catalog):
    """Guards against an English string pasted in as its own "translation"."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    untranslated = [m.id for m in catalog if m.id and not all(
        cjk.search(s or "") for s in (m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert not untranslated, untranslated
