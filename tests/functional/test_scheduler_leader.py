"""Leader election: of the scheduler candidates on one database exactly one leads, and when it goes
(released, its connection or its process dead) another takes over. Real locks, real connections."""
import time

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.jobs import Job
from caseflow.leader import ADVISORY_LOCK_KEY, leadership_for
from caseflow.models import JobRun
from caseflow.scheduler import JobScheduler


def wait_until(predicate, timeout=60.0):
    """Poll until ``predicate()`` holds; the timeout is only a safety net, never the thing tested."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def candidates(app, count=2):
    return [leadership_for(app.config["SQLALCHEMY_DATABASE_URI"]) for _ in range(count)]


def test_only_one_candidate_leads_until_it_releases(app):
    first, second = candidates(app)
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.try_acquire() is True  # asking again while leading keeps the lead
        assert first.still_held() and not second.still_held()
        first.release()
        assert not first.still_held()
        assert second.try_acquire() is True
        assert first.try_acquire() is False
    finally:
        first.release()
        second.release()


def test_a_leader_whose_connection_dies_stops_leading_and_another_takes_over(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's lock is held by the process itself; see test_scheduler_processes")
    first, second = candidates(app)
    try:
        assert first.try_acquire()
        with db.engine.begin() as conn:  # the leader's connection is cut (network, server restart, admin)
            pid = conn.scalar(sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                      "AND ((classid::bigint << 32) | objid::bigint) = :key"),
                              {"key": ADVISORY_LOCK_KEY})
            assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert first.still_held() is False
        assert second.try_acquire() is True
        assert first.try_acquire() is False  # reconnects, but only as a follower
    finally:
        first.release()
        second.release()


def test_a_scheduler_that_lost_the_lead_runs_nothing(app, db):
    calls = []
    job = Job("probe", "records its clock", {"hour": "6", "minute": "0"},
              lambda now: calls.append(now) or "probed")
    scheduler = JobScheduler(app, {"probe": job})
    assert scheduler.leadership.try_acquire()
    scheduler.leadership.release()  # as if the lock went with a dropped connection
    assert scheduler.make_up(utcnow()) == []
    assert calls == [] and db.session.scalar(sa.select(sa.func.count(JobRun.id))) == 0


def test_the_in_process_scheduler_takes_part_in_the_election(app, db):
    """``caseflow run``'s scheduler and a ``caseflow scheduler`` on one database: one leads."""
    jobs = {"probe": Job("probe", "probe", {"hour": "6", "minute": "0"}, lambda now: "probed")}
    web = JobScheduler(app, jobs, retry_seconds=0.05)
    other = JobScheduler(app, jobs, retry_seconds=0.05)
    web.start()
    try:
        other.start()
        assert web.leading and not other.leading
        web.shutdown()
        wait_until(lambda: other.leading)  # the follower retries until it has taken over
    finally:
        web.shutdown()
        other.shutdown()
