"""The production shape under load: gunicorn with two web workers and two scheduler processes on one
database, an SMTP server, and the leading scheduler killed halfway.

What runs (all on this machine, on ``--database-url``):

* gunicorn with deploy/gunicorn.conf.py and ``--web-workers`` sync workers; HTTP clients post
  transitions through the JSON API the whole time (``bench.http_api``'s cases and Python client);
* two scheduler processes — the code of ``caseflow scheduler`` (``caseflow.scheduler.JobScheduler``: the
  leader election, the slot claims, the make-up on taking over) with the jobs' cron compressed to every
  ``--period`` seconds, so that a run of a minute passes dozens of slots instead of one or two;
* an SMTP server (aiosmtpd, in this process, on a free port) that the schedulers deliver the outbox to;
  the benchmark queues ``--emails`` messages during the run, as web requests and jobs would;
* after ``--kill-after`` seconds the leading scheduler is killed (SIGKILL: a crash, not a stop); the other
  takes over; a new standby starts in its place, as systemd's Restart=always would.

At the end it checks and records: JobRun rows per (job, slot) — none twice — and that every run a
process reported is a row; the slots passed without a run (the takeover gap, coalesced into one make-up);
each queued message sent once and received by the SMTP server exactly once (a message whose claim died
with the killed leader is delivered by the recovery rule of services/outbox.py, run at the end with the
clock moved past CLAIM_TIMEOUT); the requests served, by worker; the takeover time.

    python -m bench.cluster --database-url URL [--duration 60] [--kill-after 30] [--period 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import email
import logging
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import make_app, parser, record
from bench.http_api import ROOT, WebServer, drive_python, free_port, prepare, server_env

# Jobs that run in the benchmark by default: the ones with work to do on any database, cheap enough to
# run every few seconds. The daily and monthly ones would only repeat their idempotent no-op.
DEFAULT_JOBS = ("deliver_outbox", "scan_deadlines", "refresh_provisional_deadlines", "close_ended_public_notices",
                "update_late_charges")
MAIL_FROM = "caseflow <caseflow@bench.example.cn>"
# caseflow.scheduler's "job NAME: ..." lines that do not report a finished run: a make-up announcing the slot
# it runs or that it runs again a slot a dead leader left unfinished (its summary follows), and the skips.
NOT_A_RUN_REPORT = ("running the slot due", "running it again", "has run already", "not the leader any more")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


# ------------------------------------------------------------------------------------ the scheduler

def fast_jobs(names: list[str], period: int) -> dict[str, Any]:
    """The named jobs with their cron replaced by every ``period`` seconds (everything else unchanged)."""
    from caseflow.jobs import JOBS

    return {name: dataclasses.replace(JOBS[name], cron={"second": f"*/{period}"}) for name in names}


def scheduler_child(argv: list[str]) -> None:
    """``python -m bench.cluster --scheduler-child ...``: one scheduler candidate, as ``caseflow scheduler``
    runs it (same class, same signals, same log lines), on the fast cron."""
    from caseflow import create_app
    from caseflow.scheduler import JobScheduler

    arguments = argparse.ArgumentParser()
    arguments.add_argument("--scheduler-child", action="store_true")
    arguments.add_argument("--period", type=int, required=True)
    arguments.add_argument("--jobs", required=True)
    arguments.add_argument("--retry-seconds", type=float, required=True)
    options = arguments.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    scheduler = JobScheduler(app, fast_jobs(options.jobs.split(","), options.period),
                             retry_seconds=options.retry_seconds)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    scheduler.run_forever()


class Scheduler:
    """A scheduler child process with its log file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, *, period: int, jobs: list[str],
                 retry_seconds: float):
        self.name = name
        self.log_path = log_dir / f"scheduler-{name}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.cluster", "--scheduler-child", "--period", str(period),
             "--jobs", ",".join(jobs), "--retry-seconds", str(retry_seconds)],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def leads(self) -> bool:
        return "leader: running jobs" in self.output()

    def waits(self) -> bool:
        return "waiting for leadership" in self.output()

    def led_at(self) -> datetime | None:
        """When the log first says it leads (the process's local time, as logged)."""
        for line in self.output().splitlines():
            if "leader: running jobs" in line and (match := LOG_TIME.match(line)):
                return datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
        return None

    def job_lines(self) -> list[str]:
        """One line per job run it reports: its summary (not the notices before a run, nor the skips)."""
        return [line for line in self.output().splitlines()
                if re.search(r" caseflow\.scheduler: job \w+: ", line)
                and not any(notice in line for notice in NOT_A_RUN_REPORT)]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------ the mail

class MailCounter:
    """aiosmtpd handler: counts every message received by its Message-ID."""

    def __init__(self):
        self.received: Counter = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.received[str(message["Message-ID"])] += 1
        return "250 Message accepted for delivery"


def queue_emails(app, run_id: str, count: int, seconds: float, stop: threading.Event) -> None:
    """Queue ``count`` messages spread over ``seconds``, each in its own transaction, as causes would."""
    from caseflow.extensions import db, transactional
    from caseflow.services.outbox import queue_email

    batches = max(1, int(seconds / 0.25))
    per_batch, extra = divmod(count, batches)
    number = 0
    with app.app_context():
        for batch in range(batches):
            if stop.is_set():
                break
            for _ in range(per_batch + (1 if batch < extra else 0)):
                with transactional():
                    queue_email(f"cluster:{run_id}:{number}", f"user{number % 50}@bench.example.cn",
                                f"压测邮件 {number}", "正文")
                number += 1
            time.sleep(0.25)
        db.session.remove()


# -------------------------------------------------------------------------------------- the checks

def outbox_counts(app, run_id: str) -> Counter:
    from caseflow.extensions import db
    from caseflow.models import OutboxMessage

    with app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage.status, sa.func.count())
                                  .where(OutboxMessage.key.like(f"cluster:{run_id}:%"))
                                  .group_by(OutboxMessage.status)).all()
        db.session.remove()
    return Counter(dict(rows))


def recover_stale_claims(app, smtp_port: int) -> str:
    """Deliver what is still due with the clock past CLAIM_TIMEOUT: a claim the killed leader held is
    taken over (services/outbox.py's rule for a deliverer that died mid-send)."""
    from caseflow.services.outbox import CLAIM_TIMEOUT, deliver_pending

    smtp = {"CASEFLOW_SMTP_HOST": "127.0.0.1", "CASEFLOW_SMTP_PORT": smtp_port, "CASEFLOW_SMTP_TLS": "none",
            "CASEFLOW_MAIL_FROM": MAIL_FROM}
    saved = {key: app.config.get(key) for key in smtp}
    app.config.update(smtp)
    try:
        with app.app_context():
            later = datetime.now(timezone.utc) + CLAIM_TIMEOUT + timedelta(seconds=1)
            return str(deliver_pending(later, limit=10_000))
    finally:
        app.config.update(saved)


def job_run_figures(app, since: datetime, until: datetime, jobs: dict[str, Any], schedulers: list[Scheduler]
                    ) -> dict[str, Any]:
    from caseflow.extensions import db
    from caseflow.jobs import slot_at_or_before
    from caseflow.models import JobRun

    with app.app_context():
        runs = db.session.scalars(sa.select(JobRun).where(JobRun.started_at >= since).order_by(JobRun.id)).all()
        slots = Counter((r.job, r.scheduled_for) for r in runs if r.scheduled_for is not None)
        figures = {
            "job_runs": len(runs),
            "by_trigger": dict(Counter(r.trigger for r in runs)),
            "by_outcome": dict(Counter(r.outcome for r in runs)),
            "slots_run_twice": sum(1 for n in slots.values() if n > 1),
        }
        db.session.remove()
    reported = sum(len(s.job_lines()) for s in schedulers)
    figures["runs_reported_by_the_processes"] = reported
    # A run killed with its leader has a row ("running") but no report line.
    figures["rows_match_reports"] = reported == len(runs) - figures["by_outcome"].get("running", 0)
    # Slots that came due while the schedulers ran and have no run: the takeover gap (coalesced).
    missed = {}
    for name, job in jobs.items():
        due, slot = [], slot_at_or_before(job, until)
        while slot is not None and slot >= since:
            due.append(slot)
            slot = slot_at_or_before(job, slot - timedelta(seconds=1))
        ran = {s for (j, s) in slots if j == name}
        missed[name] = {"slots_due": len(due), "slots_without_run": len([s for s in due if s not in ran])}
    figures["slots"] = missed
    return figures


# ------------------------------------------------------------------------------------ the benchmark

def run_cluster(app, *, seconds: float = 60.0, kill_after: float = 30.0, period: int = 2,
                retry_seconds: float = 2.0, connections: int = 4, cases_per_connection: int = 20,
                emails: int = 300, web_workers: int = 2,
                jobs: tuple[str, ...] = DEFAULT_JOBS, work_dir: Path | None = None) -> dict[str, Any]:
    """Run the cluster against ``app``'s database; returns the figures (see the module docstring)."""
    from aiosmtpd.controller import Controller

    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="bench-cluster-"))
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    prepared = prepare(app, clerks=2, cases=connections * cases_per_connection)
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    mail = MailCounter()
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = server_env(database_url, CASEFLOW_SMTP_HOST="127.0.0.1", CASEFLOW_SMTP_PORT=str(smtp.port),
                     CASEFLOW_SMTP_TLS="none", CASEFLOW_SMTP_TIMEOUT="10", CASEFLOW_MAIL_FROM=MAIL_FROM)
    options = {"period": period, "jobs": list(jobs), "retry_seconds": retry_seconds}
    schedulers: list[Scheduler] = []
    stop = threading.Event()
    figures: dict[str, Any] = {"web_workers": web_workers, "schedulers": 2, "period_seconds": period,
                               "retry_seconds": retry_seconds, "jobs": list(jobs), "connections": connections}
    since = datetime.now(timezone.utc)
    try:
        # Both candidates start together, as after a reboot of both machines: one leads, the other waits.
        schedulers.extend(Scheduler(name, env, work_dir, **options) for name in ("a", "b"))
        with WebServer(database_url, work_dir, workers=web_workers, **env) as web:
            wait_for(lambda: any(s.leads() for s in schedulers) and any(s.waits() for s in schedulers), 120,
                     "one scheduler to lead and the other to stand by")
            first = next(s for s in schedulers if s.leads())
            second = next(s for s in schedulers if s is not first)
            figures["both_led_at_once"] = second.leads()

            log_start = web.access_log_size()
            load: dict[str, Any] = {}
            load_thread = threading.Thread(target=lambda: load.update(result=drive_python(
                web.address, prepared.tokens, prepared.cases, connections=connections, seconds=seconds, stop=stop)))
            mail_thread = threading.Thread(target=queue_emails, args=(app, run_id, emails, seconds * 0.7, stop))
            load_thread.start()
            mail_thread.start()

            time.sleep(kill_after)
            killed_at = datetime.now()
            first.process.send_signal(signal.SIGKILL)  # a crash: no clean hand-over
            first.process.wait(timeout=30)
            wait_for(second.leads, 60, "the second scheduler to take over")
            taken_over_at = second.led_at()
            figures["takeover_seconds"] = round((taken_over_at - killed_at).total_seconds(), 2)
            restarted = Scheduler(f"{first.name}-restarted", env, work_dir, **options)  # systemd's Restart=always
            schedulers.append(restarted)
            wait_for(restarted.waits, 120, "the restarted scheduler to stand by")
            figures["restarted_scheduler_stands_by"] = not restarted.leads()

            load_thread.join()
            mail_thread.join()
            # Let delivery catch up: a few periods after the last message was queued.
            deadline = time.monotonic() + 10 * period + 30
            while outbox_counts(app, run_id).get("pending") and time.monotonic() < deadline:
                time.sleep(0.5)
            until = datetime.now(timezone.utc)
            for scheduler in schedulers:  # all at once: each finishes its running job, then exits
                if scheduler.process.poll() is None:
                    scheduler.process.send_signal(signal.SIGTERM)
            for scheduler in schedulers:
                scheduler.stop()
            web.wait_quiet()
            logged = [e for e in web.access_entries(log_start) if e.path.endswith("/transitions")]
    finally:
        stop.set()
        for scheduler in schedulers:
            scheduler.stop(signal.SIGKILL)

    http = load["result"]
    figures["http"] = {"seconds": round(http.seconds, 2), "requests": http.requests,
                       "statuses": {str(k): v for k, v in sorted(http.statuses.items(), key=str)},
                       "transitions_per_second": round(http.statuses.get(200, 0) / http.seconds, 1),
                       "latency": http.latency_ms, "logged_by_gunicorn": len(logged),
                       "requests_per_worker": dict(Counter(str(e.pid) for e in logged))}
    figures["scheduler"] = job_run_figures(app, since, until, fast_jobs(list(jobs), period), schedulers)

    before_recovery = outbox_counts(app, run_id)
    figures["outbox_recovery"] = recover_stale_claims(app, smtp.port) if before_recovery.get("sending") else None
    after = outbox_counts(app, run_id)
    smtp.stop()
    from caseflow.extensions import db
    from caseflow.models import OutboxMessage

    with app.app_context():
        ids = set(db.session.scalars(sa.select(OutboxMessage.message_id)
                                     .where(OutboxMessage.key.like(f"cluster:{run_id}:%"))))
        db.session.remove()
    received = {mid: n for mid, n in mail.received.items() if mid in ids}
    figures["outbox"] = {
        "queued": len(ids),
        "status_at_end_of_run": dict(before_recovery),
        "status_after_recovery": dict(after),
        "received_by_smtp": sum(received.values()),
        "received_twice_or_more": sum(1 for n in received.values() if n > 1),
        "never_received": len(ids - set(received)),
    }
    figures["checks"] = {
        "one_leader_at_a_time": not figures["both_led_at_once"],
        "no_slot_ran_twice": figures["scheduler"]["slots_run_twice"] == 0,
        "every_reported_run_is_one_row": figures["scheduler"]["rows_match_reports"],
        "every_email_received_once": (figures["outbox"]["received_twice_or_more"] == 0
                                      and figures["outbox"]["never_received"] == 0
                                      and after.get("sent", 0) == len(ids)),
        "every_request_answered_200": set(http.statuses) <= {200},
    }
    return figures


def main() -> None:
    if "--scheduler-child" in sys.argv[1:]:
        scheduler_child(sys.argv[1:])
        return
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: %(default)s)")
    arguments.add_argument("--kill-after", type=float, default=None,
                           help="seconds into the load when the leader is killed (default: half the duration)")
    arguments.add_argument("--period", type=int, default=2, help="each job runs every N seconds (default: 2)")
    arguments.add_argument("--retry-seconds", type=float, default=2.0,
                           help="scheduler --retry-seconds: how often a standby tries to lead (production: 5)")
    arguments.add_argument("--concurrency", type=int, default=4, help="HTTP client connections")
    arguments.add_argument("--emails", type=int, default=300, help="messages queued during the run")
    arguments.add_argument("--web-workers", type=int, default=2)
    options = arguments.parse_args()
    app = make_app(options.database_url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    figures = run_cluster(app, seconds=options.duration,
                          kill_after=options.kill_after if options.kill_after is not None else options.duration / 2,
                          period=options.period, retry_seconds=options.retry_seconds,
                          connections=options.concurrency, emails=options.emails, web_workers=options.web_workers)
    record("cluster", options.database_url, figures, write=not options.no_record)
    if not all(figures["checks"].values()):
        sys.exit("a check failed: " + ", ".join(k for k, ok in figures["checks"].items() if not ok))


if __name__ == "__main__":
    main()
