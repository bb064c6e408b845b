"""Resident memory: one process through a long series of transitions, a web worker, and the scheduler.

    python -m bench.memory --database-url URL [--transitions 1000000] [--sample-every 10000]
                           [--web-requests 3000] [--skip-web] [--skip-scheduler] [--reset-job-runs]

1. Transitions: one process moves cases along bench.transitions' routes, one transaction per step (cases
   are opened in batches as the series goes on), and samples its RSS every ``--sample-every`` steps. It
   reports the largest RSS and the drift: RSS at the end minus RSS after the warm-up (caches filled).
2. Web worker: ``gunicorn -w 1 'caseflow:create_app()'`` serves JSON API requests (case pages, steps,
   case lists) as a clerk; the worker's RSS is sampled as it goes.
3. Scheduler: ``caseflow scheduler`` runs as its own process; its RSS is sampled while the jobs run and
   read once every job whose latest slot was due has run (a fresh database: all of them;
   ``--reset-job-runs`` forgets earlier runs so that all run).

Use a database of its own (the transitions add cases; a copy of a generated one gives the jobs real
work). Writes bench/results/memory.<dialect>.json.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from bench.common import make_app, parser, record, rss_mb
from bench.transitions import (
    _resident_ids, ensure_schema, open_cases, prepare_office, schedule, signed_in_users, transition_once,
)

ROOT = Path(__file__).resolve().parent.parent
# Cases opened at a time: the series never holds more than this many cases' plans.
BATCH_CASES = 2000


def transition_series(transitions: int, sample_every: int = 10_000, warmup: int = 10_000) -> dict[str, Any]:
    """Run ``transitions`` steps in this process (app context needed), sampling RSS."""
    office = prepare_office()
    users = signed_in_users(office)
    ids = _resident_ids(0)
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    errors: dict[str, int] = {}
    done = 0
    started = time.perf_counter()
    while done < transitions:
        cases = open_cases(office, BATCH_CASES, ids=ids)
        for case, move in schedule(cases):
            try:
                transition_once(users, case, move)
            except Exception as exc:
                key = f"{case.route.name}.{move.trigger}: {type(exc).__name__}"
                errors[key] = errors.get(key, 0) + 1
            done += 1
            if done % sample_every == 0:
                samples.append((done, rss_mb()))
                print(f"{done} transitions: {samples[-1][1]} MiB", file=sys.stderr, flush=True)
            if done >= transitions:
                break
    elapsed = time.perf_counter() - started
    if samples[-1][0] != done:
        samples.append((done, rss_mb()))
    after_warmup = next((rss for n, rss in samples if n >= warmup), samples[-1][1])
    return {
        "transitions": done, "errors": errors, "seconds": round(elapsed, 1),
        "per_second_including_openings": round(done / elapsed, 1),
        "rss_mb_start": samples[0][1], "rss_mb_after_warmup": after_warmup, "warmup_transitions": warmup,
        "rss_mb_end": samples[-1][1], "rss_mb_max": max(rss for _, rss in samples),
        "drift_mb": round(samples[-1][1] - after_warmup, 1),
        "samples": samples,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(database_url: str, scratch: Path) -> dict[str, str]:
    return os.environ | {"CASEFLOW_DATABASE_URL": database_url, "CASEFLOW_SECRET_KEY": "bench-not-secret",
                         "CASEFLOW_OUTBOX_DIR": str(scratch / "outbox"),
                         "CASEFLOW_ATTACHMENT_DIR": str(scratch / "attachments")}


def _request(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept-Language": "en"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def web_worker(app, database_url: str, requests: int, scratch: Path, sample_every: int = 500) -> dict[str, Any]:
    """RSS of a gunicorn worker serving ``requests`` JSON API requests as a clerk (about a third are
    steps, the rest case pages and case lists)."""
    from caseflow.extensions import db, transactional
    from caseflow.models import User
    from caseflow.services.users import issue_api_token

    with app.app_context():
        office = prepare_office()
        # Birth registrations a clerk accepts and registers: two steps each, every request on the API.
        cases = open_cases(office, requests // 5 + 1, worker=7, mix=("birth_direct",))
        with transactional():
            token = issue_api_token(db.session.get(User, office["clerk"]), hours=2)
        db.session.remove()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "caseflow:create_app()"],
        cwd=ROOT, env=_environment(database_url, scratch), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            try:
                _request(base, token, "GET", "/workflows")
                break
            except urllib.error.HTTPError:
                raise
            except OSError:  # not listening yet
                time.sleep(0.1)
        worker = psutil.Process(server.pid).children()[0]
        samples = [(0, rss_mb(worker.pid))]
        done, failures, queue = 0, 0, iter(cases)
        while done < requests:
            case = next(queue, None)
            if case is None:
                break
            try:
                shown = _request(base, token, "GET", f"/cases/{case.id}")
                for trigger in ("accept", "register"):
                    if trigger in shown["available_transitions"]:
                        shown = _request(base, token, "POST", f"/cases/{case.id}/transitions",
                                         {"trigger": trigger, "version": shown["version"]})
                        done += 1
                _request(base, token, "GET", "/cases?page=1")
                _request(base, token, "GET", f"/cases/{case.id}/events")
                done += 3
            except OSError:
                failures += 1
            if done // sample_every > samples[-1][0] // sample_every:
                samples.append((done, rss_mb(worker.pid)))
        samples.append((done, rss_mb(worker.pid)))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return {"requests": done, "failed_requests": failures, "rss_mb_first": samples[0][1],
            "rss_mb_end": samples[-1][1], "rss_mb_max": max(rss for _, rss in samples), "samples": samples}


def scheduler_process(app, database_url: str, scratch: Path, reset: bool, timeout: float) -> dict[str, Any]:
    """RSS of ``caseflow scheduler`` once it has run every job that was due (its start-up make-up)."""
    from caseflow.calendar import utcnow
    from caseflow.extensions import db, transactional
    from caseflow.jobs import JOBS, missed_slot
    from caseflow.models import JobRun

    with app.app_context():
        if reset:
            with transactional():
                db.session.execute(sa.delete(JobRun))
        due = sorted(name for name, job in JOBS.items() if missed_slot(job, utcnow()) is not None)
        before = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(JobRun.id), 0)))
        db.session.remove()
    command = shutil.which("caseflow") or str(Path(sys.executable).with_name("caseflow"))
    process = subprocess.Popen([command, "scheduler"], cwd=ROOT, env=_environment(database_url, scratch),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    finished: set[str] = set()
    peak, checked = 0.0, 0.0
    try:
        while time.perf_counter() - started < timeout and process.poll() is None:
            peak = max(peak, rss_mb(process.pid))  # while the jobs run, not only after
            if time.perf_counter() - checked >= 1:
                checked = time.perf_counter()
                with app.app_context():
                    finished = set(db.session.scalars(sa.select(JobRun.job).where(
                        JobRun.id > before, JobRun.finished_at.is_not(None))))
                    db.session.remove()
                if set(due) <= finished:
                    break
            time.sleep(0.2)
        time.sleep(1)  # let the last run's transaction end
        rss = rss_mb(process.pid) if process.poll() is None else None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return {"jobs_due": due, "jobs_run": sorted(finished), "not_run": sorted(set(due) - finished),
            "seconds": round(time.perf_counter() - started, 1), "rss_mb": rss,
            "rss_mb_max_while_running": max(peak, rss or 0.0)}


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--transitions", type=int, default=1_000_000, help="default: %(default)s")
    arguments.add_argument("--sample-every", type=int, default=10_000, help="default: %(default)s")
    arguments.add_argument("--warmup", type=int, default=10_000,
                           help="transitions before the reference reading of the drift (default: %(default)s)")
    arguments.add_argument("--web-requests", type=int, default=3000, help="default: %(default)s")
    arguments.add_argument("--skip-web", action="store_true")
    arguments.add_argument("--skip-scheduler", action="store_true")
    arguments.add_argument("--reset-job-runs", action="store_true",
                           help="delete this database's job runs first, so that every job runs")
    arguments.add_argument("--scheduler-timeout", type=float, default=1800, help="seconds (default: %(default)s)")
    options = arguments.parse_args()

    app = make_app(options.database_url)
    ensure_schema(app)
    figures: dict[str, Any] = {}
    if options.transitions:
        with app.app_context():
            figures["transitions"] = transition_series(options.transitions, options.sample_every, options.warmup)
    with tempfile.TemporaryDirectory(prefix="caseflow-memory-") as scratch:
        if not options.skip_web:
            figures["web_worker"] = web_worker(app, options.database_url, options.web_requests, Path(scratch))
        if not options.skip_scheduler:
            figures["scheduler"] = scheduler_process(app, options.database_url, Path(scratch),
                                                     options.reset_job_runs, options.scheduler_timeout)
    record("memory", options.database_url, figures, write=not options.no_record)


if __name__ == "__main__":
    main()
