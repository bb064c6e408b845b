"""Shared pieces of the attachment and comment tests (their fixtures are in tests/functional/conftest.py)."""
from __future__ import annotations

from pathlib import Path

from caseflow.extensions import transactional
from caseflow.services.cases import open_case
from tests.factories import applicant, birth_registration_data

# Bytes that are not an accepted type: an ELF executable header, a Windows executable, plain text.
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 40 + b"\xff\xd9"


def stored_files(root: Path) -> list[Path]:
    """The files in the store (temporary upload files would show up too)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def make_need_to_know_case(office, workflow, by: str = "clerk"):
    """A committed need-to-know case, handled (assigned to) ``by``."""
    with transactional():
        return open_case(workflow.name, office.village.id, applicant(), birth_registration_data(), office[by])
