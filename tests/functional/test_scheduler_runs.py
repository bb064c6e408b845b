"""Job runs: cron slots, each slot claimed once, coalesced make-up, manual runs recorded, jobs that
manage their own transactions, and APScheduler firing the jobs of the leader."""
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.jobs import JOBS, Job, abandoned_run, rerun_abandoned, run_recorded, run_slot, slot_at_or_before
from caseflow.models import JobRun, Jurisdiction
from caseflow.scheduler import JobScheduler


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def runs():
    db.session.rollback()
    found = db.session.scalars(sa.select(JobRun).order_by(JobRun.id)).all()
    db.session.rollback()
    return found


def counting_job(cron, name="probe"):
    calls = []

    def probe(now):
        calls.append(now)
        return f"probe {len(calls)}"

    return Job(name, "counts its runs", cron, probe), calls


@pytest.mark.parametrize(("cron", "now", "slot"), [
    ({"hour": "6", "minute": "0"}, "2026-11-23T05:59:59+08:00", "2026-11-22T06:00:00+08:00"),
    ({"hour": "6", "minute": "0"}, "2026-11-23T06:00:00+08:00", "2026-11-23T06:00:00+08:00"),  # at counts
    ({"hour": "6", "minute": "0"}, "2026-11-22T22:00:00+00:00", "2026-11-23T06:00:00+08:00"),  # UTC clock
    ({"minute": "5"}, "2026-11-23T10:04:00+08:00", "2026-11-23T09:05:00+08:00"),
    ({"minute": "*/10"}, "2026-11-23T10:39:59+08:00", "2026-11-23T10:30:00+08:00"),
    ({"day": "1", "hour": "7", "minute": "0"}, "2026-11-23T10:00:00+08:00", "2026-11-01T07:00:00+08:00"),
    ({"month": "1", "day": "1", "hour": "0", "minute": "0"}, "2026-11-23T10:00:00+08:00",
     "2026-01-01T00:00:00+08:00"),
])
def test_the_latest_slot_at_or_before_a_clock(cron, now, slot):
    found = slot_at_or_before(Job("x", "", cron, str), at(now))
    assert found == at(slot) and found.tzinfo == timezone.utc


def test_a_slot_is_claimed_once_and_its_run_recorded(app, db):
    job, calls = counting_job({"hour": "6", "minute": "0"})
    slot = at("2026-11-22T22:00:00+00:00")
    assert run_slot(job, slot) == "probe 1"
    assert run_slot(job, slot) is None  # the unique (job, slot) row: a repeat or a second process loses
    assert calls == [slot]  # the job ran with the slot as its clock
    (run,) = runs()
    assert (run.job, run.scheduled_for, run.clock, run.trigger, run.outcome, run.summary) == (
        "probe", slot, slot, "scheduled", "ok", "probe 1")
    assert run.started_at <= run.finished_at


def test_a_failed_run_is_recorded_and_its_work_rolled_back(app, db):
    def fails(now):
        db.session.add(Jurisdiction(code="X1", name="x", kind="township"))
        db.session.flush()
        raise RuntimeError("server unreachable")

    job = Job("fails", "", {"hour": "6", "minute": "0"}, fails)
    with pytest.raises(RuntimeError):
        run_slot(job, at("2026-11-22T22:00:00+00:00"))
    (run,) = runs()
    assert run.outcome == "failed" and "server unreachable" in run.summary and run.finished_at
    assert db.session.scalar(sa.select(sa.func.count(Jurisdiction.id))) == 0


def test_a_job_with_its_own_transactions_keeps_the_units_it_committed(app, db):
    def deliver(now):  # like email delivery: one commit per message, a failure stops the rest
        for number in range(3):
            with transactional():
                if number == 2:
                    raise RuntimeError("third message failed")
                db.session.add(Jurisdiction(code=f"M{number}", name="m", kind="township"))
        return "unreachable"

    job = Job("deliver", "", {"minute": "*"}, deliver, own_transactions=True)
    with pytest.raises(RuntimeError):
        run_recorded(job, at("2026-11-23T08:00:00+08:00"), trigger="manual")
    db.session.rollback()
    assert sorted(db.session.scalars(sa.select(Jurisdiction.code))) == ["M0", "M1"]
    assert [r.outcome for r in runs()] == ["failed"]


def test_missed_slots_are_made_up_once_coalesced(app, db):
    job, calls = counting_job({"hour": "6", "minute": "0"})
    with transactional():  # last run three days ago; the machine was down since
        db.session.add(JobRun(job="probe", scheduled_for=at("2026-11-20T06:00:00+08:00"),
                              clock=at("2026-11-20T06:00:00+08:00"), trigger="scheduled",
                              started_at=at("2026-11-20T06:00:00+08:00"), outcome="ok"))
    scheduler = JobScheduler(app, {"probe": job}, retry_seconds=0.05)
    assert scheduler.run_once(at("2026-11-23T09:00:00+08:00")) == ["probe"]
    assert calls == [at("2026-11-23T06:00:00+08:00")]  # only the latest missed slot, not 21st, 22nd, 23rd
    assert scheduler.run_once(at("2026-11-23T15:00:00+08:00")) == []  # a second start: nothing again
    assert calls == [at("2026-11-23T06:00:00+08:00")]
    assert [(r.scheduled_for, r.trigger) for r in runs()] == [
        (at("2026-11-20T06:00:00+08:00"), "scheduled"), (at("2026-11-23T06:00:00+08:00"), "makeup")]


def test_a_slot_left_running_by_a_leader_that_stopped_is_run_again_once(app, db):
    job, calls = counting_job({"hour": "8", "minute": "30"})
    slot = at("2026-11-23T08:30:00+08:00")
    with transactional():  # the leader claimed the slot and was killed mid-run: its work was rolled back
        db.session.add(JobRun(job="probe", scheduled_for=slot, clock=slot, trigger="scheduled",
                              started_at=at("2026-11-23T08:30:01+08:00"), outcome="running"))
    scheduler = JobScheduler(app, {"probe": job}, retry_seconds=0.05)
    assert scheduler.run_once(at("2026-11-23T09:00:00+08:00")) == ["probe"]  # the next leader
    assert calls == [slot]  # with the slot's clock
    assert scheduler.run_once(at("2026-11-23T09:10:00+08:00")) == []  # finished now: not again
    assert calls == [slot]
    [run] = runs()  # the same record of the slot, now finished
    assert (run.scheduled_for, run.trigger, run.outcome, run.summary) == (slot, "makeup", "ok", "probe 1")


def test_a_slot_left_running_is_taken_over_by_one_process_only(app, db):
    job, calls = counting_job({"hour": "8", "minute": "30"})
    slot = at("2026-11-23T08:30:00+08:00")
    with transactional():
        db.session.add(JobRun(job="probe", scheduled_for=slot, clock=slot, trigger="scheduled",
                              started_at=at("2026-11-23T08:30:01+08:00"), outcome="running"))
    abandoned = abandoned_run(job, at("2026-11-23T09:00:00+08:00"))
    assert rerun_abandoned(job, *abandoned) == "probe 1"
    assert rerun_abandoned(job, *abandoned) is None  # a second taker saw it as it was: it lost the race
    assert abandoned_run(job, at("2026-11-23T09:00:00+08:00")) is None and len(calls) == 1


def test_the_leader_runs_jobs_on_their_cron(app, db):
    job, calls = counting_job({"second": "*"}, name="tick")
    scheduler = JobScheduler(app, {"tick": job}, retry_seconds=0.05)
    scheduler.start()
    try:
        assert scheduler.leading
        deadline = time.monotonic() + 120  # a safety net: we poll for runs, we do not time them
        while sum(r.trigger == "scheduled" for r in runs()) < 2:
            assert time.monotonic() < deadline, "no scheduled runs"
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    recorded = runs()
    assert recorded[0].trigger == "makeup"  # the current second had not run when it became leader
    slots = [r.scheduled_for for r in recorded]
    assert len(set(slots)) == len(slots) and all(s.microsecond == 0 for s in slots)
    assert sorted(calls) == sorted(slots) and all(r.outcome == "ok" for r in recorded)


def test_jobs_run_by_hand_run_every_time_and_are_recorded(app, db):
    runner = app.test_cli_runner()
    clock = "2026-11-23T08:30:00+08:00"
    slot = slot_at_or_before(JOBS["refresh_provisional_deadlines"], at(clock))
    assert run_slot(JOBS["refresh_provisional_deadlines"], slot) is not None  # the scheduler ran the slot
    for _ in range(2):  # recovery by hand still runs, as often as asked
        result = runner.invoke(args=["jobs", "run", "refresh_provisional_deadlines", "--now", clock])
        assert result.exit_code == 0 and "provisional deadline(s) recomputed" in result.output
    assert [(r.trigger, r.scheduled_for, r.clock) for r in runs()] == [
        ("scheduled", slot, slot), ("manual", None, at(clock)), ("manual", None, at(clock))]
    listing = runner.invoke(args=["jobs", "list"]).output
    assert "manual ok" in listing and "last: never" in listing
