"""Real ``caseflow scheduler`` processes on the test database: one leads, a dead leader is replaced, a
slot runs once however many processes reach it, a missed slot is made up once."""
import signal
from datetime import datetime, timedelta

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.jobs import JOBS, slot_at_or_before
from caseflow.models import CaseEvent, JobRun
from tests.factories import FEE_NOW, advance_fee, make_fee_case, reload
from tests.functional.process_support import job_runs, wait_until

SERVED = ("investigate", "review", "serve_notice", "decide", "serve_decision")
JOB = "update_late_charges"  # daily at 00:20 office time


def served_fee_case(office):
    return advance_fee(make_fee_case(office), SERVED, office)


def start_payment_events(case):
    db.session.rollback()
    count = db.session.scalar(sa.select(sa.func.count(CaseEvent.id))
                              .where(CaseEvent.case_id == case.id, CaseEvent.trigger == "start_payment"))
    db.session.rollback()
    return count


def test_one_process_leads_and_a_dead_leader_is_replaced(app, processes):
    leader = processes.start("--job", "refresh_provisional_deadlines", "--retry-seconds", "0.2")
    wait_until(lambda: "leader: running jobs" in processes.output(leader))
    follower = processes.start("--job", "refresh_provisional_deadlines", "--retry-seconds", "0.2")
    wait_until(lambda: "waiting for leadership" in processes.output(follower))
    assert "leader: running jobs" not in processes.output(follower)
    # The leader made up the job's latest slot (never run on this database); that was its start-up run too.
    wait_until(lambda: "job refresh_provisional_deadlines:" in processes.output(leader))
    assert [r.trigger for r in job_runs()] == ["makeup"]

    leader.send_signal(signal.SIGKILL)  # dies without a word: the lock goes with the process/connection
    leader.wait(timeout=30)
    wait_until(lambda: "leader: running jobs" in processes.output(follower))
    wait_until(lambda: "job refresh_provisional_deadlines:" in processes.output(follower))
    runs = job_runs()
    # The new leader found the slot done: it ran only its own start-up run, never the slot again.
    assert [r.trigger for r in runs] == ["makeup", "start"]
    assert "running the slot due" not in processes.output(follower)
    assert all(r.outcome == "ok" for r in runs), [(r.job, r.trigger, r.outcome, r.summary) for r in runs]

    follower.send_signal(signal.SIGTERM)  # clean shutdown
    assert follower.wait(timeout=60) == 0
    assert "scheduler stopped" in processes.output(follower)


def test_two_processes_on_the_same_slot_run_it_once(app, office, processes):
    case = served_fee_case(office)
    now = (FEE_NOW + timedelta(days=1)).isoformat()
    both = [processes.start("--once", "--now", now, "--job", JOB, "--retry-seconds", "0.1") for _ in range(2)]
    for process in both:
        assert process.wait(timeout=120) == 0, processes.output(process)
    outputs = sorted(processes.output(p) for p in both)
    assert ["1 job(s) run: update_late_charges" in o for o in outputs].count(True) == 1
    assert ["0 job(s) run" in o for o in outputs].count(True) == 1
    runs = job_runs()
    expected_slot = slot_at_or_before(JOBS[JOB], datetime.fromisoformat(now))
    assert [(r.job, r.scheduled_for, r.trigger, r.outcome) for r in runs] == [(JOB, expected_slot, "makeup", "ok")]
    assert runs[0].clock == expected_slot and runs[0].summary == "1 fee account(s) brought up to date"
    assert reload(case).state != "served" and start_payment_events(case) == 1


def test_a_missed_daily_run_is_made_up_once(app, office, processes):
    case = served_fee_case(office)
    now = FEE_NOW + timedelta(days=1)
    todays_slot = slot_at_or_before(JOBS[JOB], now)
    yesterdays_slot = todays_slot - timedelta(days=1)
    with db.session.begin():  # the last run the scheduler did before the machine went down
        db.session.add(JobRun(job=JOB, scheduled_for=yesterdays_slot, clock=yesterdays_slot, trigger="scheduled",
                              started_at=yesterdays_slot, finished_at=yesterdays_slot, outcome="ok", summary="0"))
    first = processes.start("--once", "--now", now.isoformat(), "--job", JOB)
    assert first.wait(timeout=120) == 0, processes.output(first)
    assert "1 job(s) run: update_late_charges" in processes.output(first)
    assert reload(case).state != "served" and start_payment_events(case) == 1

    again = processes.start("--once", "--now", (now + timedelta(hours=3)).isoformat(), "--job", JOB)
    assert again.wait(timeout=120) == 0, processes.output(again)
    assert "0 job(s) run" in processes.output(again)
    assert [(r.scheduled_for, r.trigger) for r in job_runs()] == [(yesterdays_slot, "scheduled"),
                                                                  (todays_slot, "makeup")]


def test_scheduler_options_are_checked(app, processes):
    naive = processes.start("--once", "--now", "2026-11-23T08:30:00")
    assert naive.wait(timeout=60) != 0 and "time zone" in processes.output(naive)
    unknown = processes.start("--job", "nope")
    assert unknown.wait(timeout=60) != 0 and "nope" in processes.output(unknown)
    assert job_runs() == []
