"""The ``caseflow`` console command."""
from datetime import timedelta

import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.models import Case, User
from caseflow.services.audit import verify_chain
from caseflow.services.deadlines import LightBounds, load_calendar


def test_seed_demo_creates_the_demo_office_once(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    assert {"admin", "supervisor", "clerk", "village1", "village2", "auditor"} <= set(users)
    assert all(u.is_demo and u.check_password("demo-password") for u in users.values())
    cases = list(db.session.scalars(sa.select(Case)))
    assert len(cases) >= 24
    bounds = LightBounds.at(utcnow(), load_calendar())
    assert {bounds.light(c.due_at) for c in cases} == {"green", "yellow", "red", None}
    assert {c.state for c in cases} >= {"submitted", "needs_supplement", "accepted", "verifying", "registered",
                                        "refused", "withdrawn", "voided"}
    assert all(verify_chain(c) is None for c in cases)
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "not loaded" in again.output
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == len(cases)


def test_users_create_hashes_the_password_and_validates(app, db, office):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "wang", "--name", "王芳", "--role", "clerk",
                                 "--jurisdiction", "T1", "--password-stdin"], input="a-long-password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "wang"))
    assert user.roles == {"clerk"} and [j.code for j in user.jurisdictions] == ["T1"]
    assert user.password_hash != "a-long-password" and user.check_password("a-long-password")

    short = runner.invoke(args=["users", "create", "li", "--role", "clerk", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    unknown = runner.invoke(args=["users", "create", "li", "--role", "clerk", "--jurisdiction", "NOPE",
                                  "--password-stdin"], input="a-long-password\n")
    assert unknown.exit_code != 0 and "NOPE" in unknown.output


def test_jobs_list_and_run_with_a_given_clock(app, db):
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["jobs", "list"])
    assert "refresh_provisional_deadlines" in listing.output
    result = runner.invoke(args=["jobs", "run", "refresh_provisional_deadlines", "--now", "2026-11-23T08:30:00+08:00"])
    assert result.exit_code == 0 and "0 provisional deadline(s) recomputed" in result.output
    naive = runner.invoke(args=["jobs", "run", "refresh_provisional_deadlines", "--now", "2026-11-23T08:30:00"])
    assert naive.exit_code != 0 and "time zone" in naive.output
    assert runner.invoke(args=["jobs", "run", "nope"]).exit_code != 0


def test_every_job_runs_by_hand_and_a_second_run_changes_nothing(app, db):
    from caseflow.jobs import JOBS
    from caseflow.models import CaseEvent

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    later = (utcnow() + timedelta(days=400)).isoformat()  # past notice periods, retention and a new year

    def snapshot():
        db.session.expire_all()
        return (sorted(db.session.execute(sa.select(Case.id, Case.state, Case.version)).all()),
                db.session.scalar(sa.select(sa.func.count(CaseEvent.id))))

    for name in JOBS:
        first = runner.invoke(args=["jobs", "run", name, "--now", later])
        assert first.exit_code == 0, (name, first.output)
    before = snapshot()
    for name in JOBS:
        assert runner.invoke(args=["jobs", "run", name, "--now", later]).exit_code == 0
    assert snapshot() == before
