"""Fixtures of the functional tests: attachment store, a need-to-know workflow, a real SMTP server, real
`caseflow` processes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from caseflow import workflows
from caseflow.extensions import limiter
from caseflow.workflows import birth_registration
from caseflow.extensions import db
from tests.functional.process_support import Processes
from tests.functional.smtp_support import MAIL_FROM, SmtpServer, free_port


@pytest.fixture
def store(app, tmp_path, monkeypatch) -> Path:
    """A fresh attachment directory for the test (CASEFLOW_ATTACHMENT_DIR)."""
    root = tmp_path / "attachments"
    monkeypatch.setitem(app.config, "CASEFLOW_ATTACHMENT_DIR", str(root))
    return root


@pytest.fixture
def need_to_know(monkeypatch):
    """A need-to-know workflow to open cases in.

    The real need-to-know workflow (procedure_certificate) has its own application form and guards, and
    may not be registered yet; attachments behave the same for every workflow, so the tests use a
    need-to-know copy of birth_registration, registered for the test only.
    """
    workflow = dataclasses.replace(birth_registration.WORKFLOW, name="ntk_birth_registration", need_to_know=True)
    monkeypatch.setitem(workflows._BY_KEY, (workflow.name, workflow.version), workflow)
    monkeypatch.setitem(workflows._LATEST, workflow.name, workflow)
    return workflow


@pytest.fixture
def smtp(app, monkeypatch):
    """An SMTP server on a free local port, configured as the app's relay; not started yet."""
    server = SmtpServer(free_port())
    monkeypatch.setitem(app.config, "CASEFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CASEFLOW_SMTP_PORT", server.port)
    monkeypatch.setitem(app.config, "CASEFLOW_SMTP_TLS", "none")
    monkeypatch.setitem(app.config, "CASEFLOW_SMTP_TIMEOUT", 5.0)
    monkeypatch.setitem(app.config, "CASEFLOW_MAIL_FROM", MAIL_FROM)
    yield server
    server.stop()


@pytest.fixture
def smtp_up(smtp):
    smtp.start()
    return smtp


@pytest.fixture
def generous_progress_limits(app, monkeypatch):
    """High limits on the public progress page, for tests that look cases up many times from one address."""
    monkeypatch.setitem(app.config, "CASEFLOW_PROGRESS_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app.config, "CASEFLOW_PROGRESS_NUMBER_LIMIT", "100000 per day")
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def processes(app, tmp_path):
    # The test's own session must not hold a transaction (an SQLite read lock) while processes write.
    db.session.rollback()
    procs = Processes(app, tmp_path)
    yield procs
    procs.close()
