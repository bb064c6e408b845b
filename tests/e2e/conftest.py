"""Browser tests: the real app served over HTTP on a free local port, driven in Debian's Chromium by
Playwright (the Python package brings its driver; it never downloads a browser of its own).

Without a browser the whole directory is skipped with one message, except where CASEFLOW_E2E_REQUIRED is
set (CI), where a missing browser fails instead: a green CI must mean the browser tests ran.

The live server is a second app on the test database with CSRF protection on, as deployed. It sees what
a test commits through the factories; the autouse ``db`` fixture empties the tables after each test as
for every other test. Screenshots of key pages go to test-artifacts/e2e/<test>-<step>.png.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask
from werkzeug.serving import make_server

from caseflow import create_app
from caseflow.extensions import db as _db
from caseflow.services.queues import forget_team_directories
from tests.conftest import _test_settings
from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CASEFLOW_CHROMIUM") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
# Flags under which Debian's Chromium runs here as root: no sandbox (root), no GPU (no screen), and no
# calls home (the machine's closed network refuses them, slowly). Playwright adds --headless and a fresh
# temporary profile (--user-data-dir) for every launch.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Chromium reports every 4xx answer on the console, also a page that answers as meant (a form sent back
# with its messages is 422). Broken parts of a page are caught by their type instead.
HTTP_STATUS_MESSAGE = "Failed to load resource: the server responded with a status of"
PAGE_RESOURCES = {"stylesheet", "script", "image", "font", "fetch", "xhr"}
# Waiting for a page or an element, not a time limit on the app: generous, so a busy CI machine still passes.
WAIT_MS = 15_000


def _required() -> bool:
    return os.environ.get("CASEFLOW_E2E_REQUIRED", "").strip().lower() not in ("", "0", "false", "no")


def pytest_runtest_setup(item):
    """No browser: every test here is skipped with the same message, reported once with their count (a
    skip in a fixture would be reported once per test). Where the browser tests are required: fails."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return
    message = f"e2e: no Chromium at {CHROMIUM} — install Debian's chromium to run the browser tests"
    if _required():
        pytest.fail(f"{message} (CASEFLOW_E2E_REQUIRED is set)", pytrace=False)
    pytest.skip(message)


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture(scope="package")
def live_server(app) -> LiveServer:
    """The app served by a real threaded HTTP server on 127.0.0.1, on the test database."""
    live = create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True))
    live.instance_path = app.instance_path
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", live)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    with live.app_context():
        _db.engine.dispose()  # no connection left open on the test database


@pytest.fixture(autouse=True)
def live_server_forgets_the_last_test(request):
    """Each test's tables are emptied under the live server's app too: its cached team-queue handlers
    and villages go with them."""
    yield
    if "live_server" in request.fixturenames:
        forget_team_directories(request.getfixturevalue("live_server").app)


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for all browser tests (each test gets its own context: cookies, storage)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # the screenshots of this run only
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server, request):
    """Open pages in fresh browser contexts (a separate person at a separate computer, say); each page
    records the errors its console reports (a CSP violation, a script error), which fail the test."""
    contexts, problems = [], []

    def open_page():
        context = browser.new_context(base_url=live_server.url, locale="zh-CN",
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text} ({page.url})")
                if msg.type == "error" and not msg.text.startswith(HTTP_STATUS_MESSAGE) else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error} ({page.url})"))
        page.on("response", lambda response: problems.append(
            f"{response.status} for {response.request.resource_type} {response.url}")
            if response.status >= 400 and response.request.resource_type in PAGE_RESOURCES else None)
        return page

    yield open_page
    for context in contexts:
        context.close()
    if problems and getattr(request.node, "rep_call_passed", False):
        pytest.fail("the browser reported errors:\n" + "\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tell fixtures whether the test itself passed (their own checks add nothing to a failure)."""
    outcome = yield
    if call.when == "call":
        item.rep_call_passed = outcome.get_result().passed


@pytest.fixture
def page(new_page):
    """A page in a fresh browser context."""
    return new_page()


@pytest.fixture
def shot(request) -> Callable:
    """``shot(page, "step")`` saves a full-page screenshot as test-artifacts/e2e/<test>-<step>.png."""
    test = re.sub(r"[^\w.-]+", "_", request.node.name)

    def take(page, step: str) -> Path:
        path = ARTIFACTS / f"{test}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def fill_login(page, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the real login form (labels as shown in Chinese, the default language)."""
    page.goto("/login")
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait until the app has let the user in."""
    fill_login(page, username, password)
    page.wait_for_url(lambda url: "/login" not in url)
