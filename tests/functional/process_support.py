"""Real ``caseflow`` processes beside the tests (schedulers, job runs), on the test database."""
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import JobRun

CASEFLOW = os.path.join(os.path.dirname(sys.executable), "caseflow")


def wait_until(predicate, timeout=120.0):
    """Poll until ``predicate()`` holds; the timeout is only a safety net, never the thing tested."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


class Processes:
    """Starts ``caseflow`` processes on the test database, logs to files; kills leftovers at the end."""

    def __init__(self, app, tmp_path):
        self.env = {**os.environ, "CASEFLOW_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "CASEFLOW_SECRET_KEY": "scheduler-test", "PYTHONUNBUFFERED": "1"}
        self.env.pop("CASEFLOW_TEST_DATABASE_URL", None)
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen, object]] = []

    def start(self, *args: str) -> subprocess.Popen:
        log_path = self.tmp_path / f"scheduler-{len(self.started)}.log"
        log = open(log_path, "w")
        process = subprocess.Popen([CASEFLOW, "scheduler", *args], env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        process.log_path = log_path
        self.started.append((process, log))
        return process

    @staticmethod
    def output(process) -> str:
        return process.log_path.read_text()

    def close(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            log.close()


def job_runs():
    db.session.rollback()
    runs = db.session.scalars(sa.select(JobRun).order_by(JobRun.id)).all()
    db.session.rollback()
    return runs
