"""The production shape (docs/deployment.md) on the test database: gunicorn with two sync workers and
deploy/gunicorn.conf.py, `caseflow scheduler` processes beside it, the outbox delivered from two
processes at once, and the settings for running behind a reverse proxy and on a connection pool.

Requests are sent to a chosen worker without any debugging hook: a sync worker that has accepted a
connection serves only that connection until its request is answered, so a connection opened and left
waiting holds one worker (seen in its open sockets), and the next connection goes to the other. The
access log (``%(p)s``) confirms which worker answered.
"""
from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from flask import request

from bench.http_api import WebServer, server_env
from caseflow import create_app
from caseflow.extensions import db, limiter, transactional
from caseflow.models import CaseEvent, OutboxMessage
from caseflow.services.errors import STALE
from caseflow.services.outbox import queue_email
from tests.conftest import IsolatedClient, _test_settings
from tests.factories import PASSWORD, applicant, birth_registration_data, make_case, reload
from tests.functional.process_support import CASEFLOW, job_runs, wait_until
from tests.functional.smtp_support import MAIL_FROM


@pytest.fixture(scope="module")
def web(app, tmp_path_factory):
    """gunicorn, two workers, on the test database; shared by the tests of this module (the database is
    emptied after each test, the workers keep nothing between requests)."""
    server = WebServer(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory.mktemp("gunicorn"), workers=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def served(web):
    """The server, with the test's own session out of the way (no transaction, no SQLite lock held)."""
    db.session.rollback()
    assert len(web.worker_pids()) == 2
    return web


class Pinned:
    """A connection that one worker has accepted and waits on; it carries exactly one request."""

    def __init__(self, server: WebServer, busy: set[int]):
        self.connection = http.client.HTTPConnection(*server.address, timeout=60)
        self.connection.connect()
        port = self.connection.sock.getsockname()[1]

        def holder():
            for pid in server.worker_pids():
                if pid not in busy and any(c.raddr and c.raddr.port == port
                                           for c in psutil.Process(pid).net_connections(kind="tcp")):
                    return pid
            return None

        wait_until(lambda: holder() is not None, timeout=30)
        self.pid = holder()

    def send(self, method: str, path: str, body: dict | None = None, token: str | None = None,
             language: str | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if language:
            headers["Accept-Language"] = language
        self.connection.request(method, path, json.dumps(body).encode() if body is not None else None, headers)

    def answer(self) -> tuple[int, dict]:
        response = self.connection.getresponse()
        status, body = response.status, json.loads(response.read() or b"null")
        self.connection.close()
        return status, body

    def call(self, *args, **kwargs) -> tuple[int, dict]:
        self.send(*args, **kwargs)
        return self.answer()


def on_both_workers(server: WebServer) -> tuple[Pinned, Pinned]:
    first = Pinned(server, set())
    return first, Pinned(server, {first.pid})


def token_for(server: WebServer, username: str) -> str:
    status, body = Pinned(server, set()).call("POST", "/api/v1/tokens",
                                              {"username": username, "password": PASSWORD})
    assert status == 201, body
    return body["token"]


def logged_pids(server: WebServer, start: int, method: str, path: str, count: int) -> list[int]:
    """The workers that answered these requests, from the access log (written just after each answer)."""
    def pids():
        return [e.pid for e in server.access_entries(start) if e.method == method and e.path == path]

    wait_until(lambda: len(pids()) >= count, timeout=30)
    return pids()


# ------------------------------------------------------------------------------- web workers, one database

def test_every_worker_sees_what_another_committed(served, office):
    token = token_for(served, "village1")
    log_start = served.access_log_size()

    creating, reading = on_both_workers(served)
    status, created = creating.call("POST", "/api/v1/cases", {
        "workflow": "birth_registration", "jurisdiction": "V1", "applicant": applicant(),
        "data": birth_registration_data()}, token)
    assert status == 201, created
    status, seen = reading.call("GET", f"/api/v1/cases/{created['id']}", token=token)
    assert status == 200 and (seen["state"], seen["version"]) == ("submitted", 1)

    clerk = token_for(served, "clerk")
    moving, rereading = on_both_workers(served)
    status, moved = moving.call("POST", f"/api/v1/cases/{created['id']}/transitions",
                                {"trigger": "accept", "version": 1}, clerk)
    assert status == 200 and (moved["state"], moved["version"]) == ("accepted", 2)
    status, seen_again = rereading.call("GET", f"/api/v1/cases/{created['id']}", token=token)
    assert status == 200 and (seen_again["state"], seen_again["version"]) == ("accepted", 2)
    assert seen_again["number"] == moved["number"] is not None

    # Each pair ran on the two workers, as the access log says too.
    assert creating.pid != reading.pid and moving.pid != rereading.pid
    case_path = f"/api/v1/cases/{created['id']}"
    assert logged_pids(served, log_start, "POST", "/api/v1/cases", 1) == [creating.pid]
    assert logged_pids(served, log_start, "GET", case_path, 2) == [reading.pid, rereading.pid]
    assert logged_pids(served, log_start, "POST", case_path + "/transitions", 1) == [moving.pid]


def test_the_same_step_on_two_workers_at_once_succeeds_once(served, office):
    token, token2 = token_for(served, "clerk"), token_for(served, "clerk2")
    for _ in range(3):
        case = make_case(office)
        seen = case.version
        db.session.rollback()
        log_start = served.access_log_size()
        zh, en = on_both_workers(served)
        # Both requests are out before either answer is read: the two workers run them together.
        zh.send("POST", f"/api/v1/cases/{case.id}/transitions", {"trigger": "accept", "version": seen},
                token)
        en.send("POST", f"/api/v1/cases/{case.id}/transitions", {"trigger": "accept", "version": seen},
                token2, language="en")
        answers = {"zh": zh.answer(), "en": en.answer()}

        assert sorted(status for status, _ in answers.values()) == [200, 409], answers
        language, (_, refusal) = next((lang, a) for lang, a in answers.items() if a[0] == 409)
        assert refusal["error"] == {"code": "stale_version", "message": STALE.get(language)}
        winner = next(body for status, body in answers.values() if status == 200)
        assert (winner["state"], winner["version"]) == ("accepted", seen + 1)
        events = db.session.scalars(sa.select(CaseEvent.trigger).where(CaseEvent.case_id == case.id)
                                    .order_by(CaseEvent.seq)).all()
        assert events == ["submit", "accept"]
        current = reload(case)
        assert (current.state, current.version, current.number) == ("accepted", seen + 1, winner["number"])
        db.session.rollback()
        pids = logged_pids(served, log_start, "POST", f"/api/v1/cases/{case.id}/transitions", 2)
        assert sorted(pids) == sorted([zh.pid, en.pid]) and zh.pid != en.pid


# ------------------------------------------------------------------------------ schedulers beside the web

def job_lines(output: str) -> list[str]:
    """The runs a scheduler process reports: one line per job it ran (not the skips)."""
    return [line for line in output.splitlines() if re.search(r" caseflow\.scheduler: job \w+: ", line)
            and "running the slot due" not in line and "has run already" not in line]


def test_two_schedulers_and_the_web_one_leads_a_dead_leader_is_replaced(served, office, processes):
    token = token_for(served, "clerk")
    jobs = ("--job", "refresh_provisional_deadlines", "--job", "scan_deadlines", "--retry-seconds", "0.2")
    first = processes.start(*jobs)
    wait_until(lambda: "leader: running jobs" in processes.output(first))
    second = processes.start(*jobs)
    wait_until(lambda: "waiting for leadership" in processes.output(second))
    wait_until(lambda: len(job_lines(processes.output(first))) >= 2)  # its make-up runs are done

    def step_through_the_web(trigger: str, version: int) -> None:
        status, body = Pinned(served, set()).call("POST", f"/api/v1/cases/{case.id}/transitions",
                                                  {"trigger": trigger, "version": version}, token)
        assert status == 200 and body["version"] == version + 1, body

    case = make_case(office)
    db.session.rollback()
    step_through_the_web("accept", 1)  # served while the first scheduler leads

    before = {(r.id, r.job, r.scheduled_for, r.trigger) for r in job_runs()}
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    wait_until(lambda: "leader: running jobs" in processes.output(second))
    wait_until(lambda: job_lines(processes.output(second)))  # its start-up run (refresh_provisional_deadlines)
    step_through_the_web("register", 2)  # and while the second does
    second.send_signal(signal.SIGTERM)  # a clean stop: what it runs, it finishes and reports
    assert second.wait(timeout=60) == 0

    runs = job_runs()
    slots = [(r.job, r.scheduled_for) for r in runs if r.scheduled_for is not None]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    assert {r.job for r in runs if r.trigger == "makeup"} >= {"refresh_provisional_deadlines", "scan_deadlines"}
    assert all(r.outcome == "ok" for r in runs), [(r.job, r.trigger, r.outcome, r.summary) for r in runs]
    # The new leader found the slots done: besides its start-up run it only ran slots that came due later.
    taken_over = [r for r in runs if (r.id, r.job, r.scheduled_for, r.trigger) not in before]
    assert [(r.job, r.trigger) for r in taken_over if r.trigger == "start"] == [("refresh_provisional_deadlines",
                                                                                 "start")]
    # Every run a process reports is one JobRun row, and the other way round: nothing ran unrecorded.
    reported = job_lines(processes.output(first)) + job_lines(processes.output(second))
    assert len(reported) == len(runs)


# --------------------------------------------------------------------------------- the outbox, any node

def test_two_processes_deliver_the_outbox_each_message_once(app, smtp_up, tmp_path):
    with transactional():
        for number in range(30):
            queue_email(f"production-shape:{number}", f"user{number}@office.example.cn", f"提醒 {number}", "正文")
    db.session.rollback()
    smtp_up.handler.rendezvous = 2  # the first two messages wait for each other: both processes are sending
    env = server_env(app.config["SQLALCHEMY_DATABASE_URI"], CASEFLOW_SMTP_HOST="127.0.0.1",
                     CASEFLOW_SMTP_PORT=str(smtp_up.port), CASEFLOW_SMTP_TLS="none", CASEFLOW_SMTP_TIMEOUT="10",
                     CASEFLOW_MAIL_FROM=MAIL_FROM)
    logs = [open(tmp_path / f"deliverer-{n}.log", "w+") for n in range(2)]
    deliverers = [subprocess.Popen([CASEFLOW, "jobs", "run", "deliver_outbox"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT) for log in logs]
    try:
        for process in deliverers:
            assert process.wait(timeout=120) == 0
    finally:
        for process in deliverers:
            if process.poll() is None:
                process.kill()
    outputs = [(tmp_path / f"deliverer-{n}.log").read_text() for n in range(2)]
    sent = [int(re.search(r"(\d+) email\(s\) sent", output).group(1)) for output in outputs]
    assert sum(sent) == 30 and min(sent) >= 1, outputs

    rows = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    received = [message["Message-ID"] for message in smtp_up.handler.messages()]
    assert sorted(received) == sorted(r.message_id for r in rows)  # each one, once
    assert len(set(received)) == 30
    runs = job_runs()
    assert [(r.job, r.trigger, r.outcome) for r in runs] == [("deliver_outbox", "manual", "ok")] * 2


# ------------------------------------------------------------------------------------ settings for the shape

@pytest.fixture
def proxied_app(app):
    """The app as deployed behind one reverse proxy (CASEFLOW_PROXY_HOPS=1), sign-in limited to 2 a minute."""
    behind = create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"], CASEFLOW_PROXY_HOPS=1,
                                       CASEFLOW_SIGN_IN_RATE_LIMIT="2 per minute"))
    behind.test_client_class = IsolatedClient
    limiter.reset()
    yield behind
    limiter.reset()
    with behind.app_context():
        db.engine.dispose()


def wrong_password(client, forwarded_for: str) -> int:
    return client.post("/api/v1/tokens", json={"username": "clerk", "password": "not-the-password"},
                       headers={"X-Forwarded-For": forwarded_for}).status_code


def test_behind_a_proxy_each_client_address_has_its_own_sign_in_limit(proxied_app, office):
    seen = {}

    @proxied_app.get("/_test_client_address")
    def client_address():
        seen.update(address=request.remote_addr, scheme=request.scheme)
        return ""

    client = proxied_app.test_client()
    assert [wrong_password(client, "203.0.113.5") for _ in range(3)] == [401, 401, 429]
    assert wrong_password(client, "203.0.113.6") == 401  # another client behind the same proxy
    client.get("/_test_client_address", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                                                 "X-Forwarded-Proto": "https"})
    # One hop: the address the proxy saw (the last entry), not what the client wrote before it.
    assert seen == {"address": "203.0.113.9", "scheme": "https"}


def test_without_a_proxy_setting_forwarded_headers_are_not_believed(app, office, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_SIGN_IN_RATE_LIMIT", "2 per minute")
    limiter.reset()
    try:
        client = app.test_client()
        assert [wrong_password(client, "203.0.113.5") for _ in range(2)] == [401, 401]
        # Claiming another address does not buy new attempts: the limit counts the connecting address.
        assert wrong_password(client, "203.0.113.6") == 429
    finally:
        limiter.reset()


def test_settings_of_the_shape_are_checked_at_start(app, monkeypatch):
    for name, value, message in (("CASEFLOW_PROXY_HOPS", "one", "CASEFLOW_PROXY_HOPS must be a whole number"),
                                 ("CASEFLOW_PROXY_HOPS", "-1", "CASEFLOW_PROXY_HOPS must be at least 0"),
                                 ("CASEFLOW_DB_POOL_SIZE", "0", "CASEFLOW_DB_POOL_SIZE must be at least 1")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=message):
            create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"]))
        monkeypatch.delenv(name)


def test_the_connection_pool_follows_the_settings(app, monkeypatch):
    monkeypatch.setenv("CASEFLOW_DB_POOL_SIZE", "3")
    monkeypatch.setenv("CASEFLOW_DB_MAX_OVERFLOW", "2")
    monkeypatch.setenv("CASEFLOW_DB_POOL_PRE_PING", "off")
    configured = create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"]))
    with configured.app_context():
        engine = db.engine
        try:
            assert engine.connect().close() is None  # it works
            if engine.dialect.name == "sqlite":  # SQLite keeps SQLAlchemy's own pool choice
                assert "SQLALCHEMY_ENGINE_OPTIONS" not in configured.config or \
                    "pool_size" not in configured.config["SQLALCHEMY_ENGINE_OPTIONS"]
            else:
                assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._pre_ping) == (3, 2, False)
        finally:
            engine.dispose()


def test_the_example_environment_file_names_every_setting():
    """deploy/caseflow.env.example is what an operator copies: every CASEFLOW_* the app or the gunicorn
    configuration reads is in it, and it names nothing that is read nowhere."""
    root = Path(__file__).resolve().parents[2]
    read = set()
    for source, pattern in ((root / "caseflow" / "config.py", r'_env(?:_bool|_int)?\("([A-Z0-9_]+)"'),
                            (root / "deploy" / "gunicorn.conf.py", r'_env\("([A-Z0-9_]+)"')):
        read |= {f"CASEFLOW_{name}" for name in re.findall(pattern, source.read_text())}
    read.discard("CASEFLOW_SCHEDULER")  # read by config.py but used by nothing (`caseflow scheduler` decides)
    example = (root / "deploy" / "caseflow.env.example").read_text()
    named = set(re.findall(r"^#?(CASEFLOW_[A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert read - named == set(), "missing from deploy/caseflow.env.example"
    assert named - read == set(), "not a setting"
