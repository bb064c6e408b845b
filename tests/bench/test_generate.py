"""bench.generate at small scale on the test database: every workflow and state, both open and closed cases,
all four lights, intact hash chains, and data the application itself would have produced — checked by
replaying generated histories through the real services and by running the scheduler's jobs, which must
find nothing left to do."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import phonenumbers
import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from bench.generate import BENCH_PASSWORD, CLOSED_STATES, OPEN_STATES, generate, plan_cases, shortest_paths
from caseflow.calendar import LOCAL_TZ, local_date
from caseflow.extensions import db, transactional
from caseflow.models import (
    Case, CaseEvent, FeeAccount, Jurisdiction, NumberSequence, Person, PublicNoticeEntry, SubsidyEnrolment, User,
)
from caseflow.services import apply_transition
from caseflow.services.audit import verify_chain
from caseflow.services.cases import WITHHELD, assign_case, open_case, workflow_of
from caseflow.services.deadlines import LightBounds, load_calendar, recompute_open_deadlines
from caseflow.services.fees import ACCRUING, accrue_late_charges, record_payment, store_late_charge
from caseflow.services.report_figures import compute_month_report
from caseflow.services.reports import previous_month
from caseflow.services.retention import _purge_case, purge_expired_procedure_details
from caseflow.services.subsidies import advance_ended_notices, end_scheduled_exits, open_annual_reconfirmations
from caseflow.workflows import all_workflows
from tests.conftest import login

CASES = 300
# A fixed clock keeps the test independent of the day it runs on (the calendar, the year's numbers).
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def generated(app, db):
    return generate(app, cases=CASES, open_share=0.2, seed=7, users=40, now=NOW, analyze=False)


def test_every_workflow_state_and_light_occurs(generated):
    summary = generated
    assert summary["cases"] == CASES and summary["open"] == 60 and summary["closed"] == 240
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == CASES
    states = {(wf, state) for wf, state in db.session.execute(sa.select(Case.workflow, Case.state).distinct())}
    expected = {(wf, s) for table in (OPEN_STATES, CLOSED_STATES) for wf, weights in table.items() for s in weights}
    reachable = {(wf.name, s) for wf in all_workflows() for s in shortest_paths(wf)}
    assert expected == reachable and expected <= states
    assert summary["fallbacks"] == 0
    open_cases = db.session.scalars(sa.select(Case).where(Case.closed_at.is_(None))).all()
    assert len(open_cases) == 60
    bounds = LightBounds.at(NOW, load_calendar())
    lights = Counter(bounds.light(case.due_at) or "none" for case in open_cases)
    assert set(lights) == {"green", "yellow", "red", "none"} and lights == Counter(summary["lights"])
    events = db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent))
    assert events == summary["events"] and 2.5 <= events / CASES <= 4.5
    closed = db.session.scalars(sa.select(Case).where(Case.closed_at.is_not(None))).all()
    assert all(case.outcome == case.state and case.state in workflow_of(case).closed for case in closed)
    assert any(case.late_steps for case in closed) and any(not case.late_steps for case in closed)
    # Opened over about five years, every month of them.
    months = {local_date(c.opened_at).strftime("%Y-%m") for c in db.session.scalars(sa.select(Case))}
    assert len(months) >= 50
    # Open cases mostly held by a clerk of their township, some waiting in the pool.
    assigned = [case for case in open_cases if case.assignee_id is not None]
    assert len(open_cases) // 2 < len(assigned) < len(open_cases)
    for case in assigned:
        assert case.assignee.has_role("clerk") and case.jurisdiction.parent_id in {j.id for j in case.assignee.jurisdictions}


def test_applicants_users_and_numbers_are_valid(generated):
    for person in db.session.scalars(sa.select(Person)):
        assert ric.validate(person.resident_id) == person.resident_id
        assert phonenumbers.is_valid_number(phonenumbers.parse(person.phone))
    procedure_applicants = db.session.scalars(sa.select(Person).join(Case, Case.applicant_id == Person.id)
                                              .where(Case.workflow == "procedure_certificate"))
    assert all(int(person.resident_id[16]) % 2 == 0 for person in procedure_applicants)  # women
    supervisor = db.session.scalar(sa.select(User).where(User.username == "t1-supervisor-01"))
    clerk = db.session.scalar(sa.select(User).where(User.username == "t1-clerk-001"))
    assert supervisor.roles == {"supervisor"} and clerk.roles == {"clerk"} and clerk.check_password(BENCH_PASSWORD)
    assert clerk.email == "t1-clerk-001@caseflow.example"
    numbers = [n for n in db.session.scalars(sa.select(Case.number)) if n]
    assert len(numbers) == len(set(numbers))
    for row in db.session.scalars(sa.select(NumberSequence)):
        issued = sorted(n for n in numbers if n.startswith(row.key))
        assert issued[-1] == f"{row.key}{row.last:06d}" and len(issued) == row.last
    # Numbers follow the order of issue, as the counter hands them out.
    by_number = db.session.execute(sa.select(Case.number, Case.opened_at).where(
        Case.workflow == "procedure_certificate").order_by(Case.number)).all()
    assert [row.opened_at for row in by_number if row.number.startswith("ZZ2025")] == sorted(
        row.opened_at for row in by_number if row.number.startswith("ZZ2025"))


def test_hash_chains_hold_and_the_scheduler_has_nothing_to_catch_up(generated):
    cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
    assert all(verify_chain(case) is None for case in cases[::3])
    with transactional():
        assert recompute_open_deadlines() == 0  # every deadline is the policy's
        assert advance_ended_notices(NOW) == 0
        assert end_scheduled_exits(NOW) == 0
        assert open_annual_reconfirmations(local_date(NOW).year, NOW) == 0
        assert purge_expired_procedure_details(_last_run(NOW, 2, 30)) == 0
        assert accrue_late_charges(NOW) == 0
    subsidy_open = db.session.scalars(sa.select(Case).where(Case.workflow == "subsidy",
                                                           Case.state == "public_notice")).all()
    for case in subsidy_open:
        entry = db.session.scalar(sa.select(PublicNoticeEntry).where(PublicNoticeEntry.case_id == case.id))
        assert entry.notice.ends_at > NOW


def _last_run(now: datetime, hour: int, minute: int) -> datetime:
    """When a daily job at ``hour``:``minute`` office time last ran before ``now``."""
    day = local_date(now)
    at = datetime.combine(day, datetime.min.time(), LOCAL_TZ) + timedelta(hours=hour, minutes=minute)
    return at if at <= now else at - timedelta(days=1)


def test_the_app_goes_on_from_the_generated_data(generated, app, client):
    case = db.session.scalar(sa.select(Case).where(Case.workflow == "birth_registration", Case.state == "submitted",
                                                   Case.number.is_(None)).order_by(Case.id))
    clerk = db.session.scalar(sa.select(User).join(User.jurisdictions).where(
        User.username.like("%-clerk-%"), Jurisdiction.id == case.jurisdiction.parent_id).order_by(User.id))
    key = f"SY{local_date(datetime.now(timezone.utc)).year}"
    counter = db.session.get(NumberSequence, key)
    last, holder = counter.last if counter else 0, case.assignee_id
    with transactional():
        apply_transition(case, "accept", clerk, case.version)
    assert case.number == f"{key}{last + 1:06d}" and case.assignee_id == (holder or clerk.id)
    assert verify_chain(case) is None
    township = db.session.get(Jurisdiction, case.jurisdiction.parent_id)
    figures = compute_month_report(township, previous_month(local_date(NOW)))
    assert figures["total"]["total"]["received"] > 0 if "total" in figures else figures
    supervisor = db.session.scalar(sa.select(User).join(User.jurisdictions).where(
        User.username.like("%-supervisor-%"), Jurisdiction.id == township.id))
    login(client, supervisor.username, BENCH_PASSWORD)
    for path in ("/team", "/team?status=open&light=red", "/", "/dashboard", f"/cases/{case.id}", "/reports/"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)


def _raw_step_data(step, event: CaseEvent, original: Case) -> dict:
    """What the form sent for ``step``: the event's values (the case's for withheld ones), money in yuan."""
    raw = {}
    for spec in step.fields:
        if spec.name not in event.data:
            continue
        value = event.data[spec.name]
        if value == WITHHELD:
            value = original.data[spec.name]
        if spec.kind == "money":
            value = f"{value // 100}.{value % 100:02d}"
        raw[spec.name] = value
    return raw


def _replay(original: Case) -> Case:
    """A new case taken through the original's history by the real services, same actors, same times."""
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == original.id)
                                .order_by(CaseEvent.seq)).all()
    wf = workflow_of(original)
    placeholders = {"gestation_weeks": 16, "institution": "某医院"}  # purged: the values are gone
    data = {k: (original.data.get(k, placeholders.get(k)) if v == WITHHELD else v) for k, v in events[0].data.items()}
    person = original.applicant
    with transactional():
        copy = open_case(wf.name, original.jurisdiction_id,
                         {"name": person.name, "resident_id": person.resident_id, "phone": person.phone},
                         data, db.session.get(User, events[0].actor_id), now=events[0].at)
    with transactional():  # one unit for the whole history keeps the test quick on PostgreSQL
        for event in events[1:]:
            actor = db.session.get(User, event.actor_id)
            if event.trigger == "assign":
                assignee = db.session.scalar(sa.select(User).where(User.username == event.data["to"]))
                assign_case(copy, assignee, actor, copy.version, now=event.at)
            elif event.trigger == "record_payment":
                record_payment(copy, actor, copy.version, amount_fen=event.data["amount_fen"],
                               paid_on=date.fromisoformat(event.data["paid_on"]),
                               receipt_ref=event.data["receipt_ref"], now=event.at)
            elif event.trigger == "purge":
                _purge_case(copy, actor, event.at)
                db.session.flush()
            elif event.trigger.startswith("payment_"):
                continue  # a subsidy payment's outcome: recorded on the case, never a step
            elif event.trigger == "settle" and copy.state == event.to_state:
                continue  # the payment just recorded settled it already
            else:
                step = wf.step_for(event.trigger, copy.state)
                apply_transition(copy, event.trigger, actor, copy.version, reason=event.reason,
                                 data=_raw_step_data(step, event, original), now=event.at)
            db.session.expire(copy, ["events"])  # as a new unit of work would see them
    return copy


def _history(case: Case) -> list[tuple]:
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.trigger.not_like("payment_%"))
                                .order_by(CaseEvent.seq)).all()
    return [(e.trigger, e.from_state, e.to_state, e.actor_id, e.at, e.reason,
             {k: v for k, v in e.data.items() if k != "number"}, "number" in e.data) for e in events]


CASE_FIELDS = ("state", "outcome", "closed_at", "late_steps", "paused_seconds", "paused_since", "due_at",
               "target_at", "deadline_provisional", "version", "assignee_id", "created_by_id", "opened_at",
               "state_entered_at", "purged_at", "data", "jurisdiction_id", "applicant_id", "workflow_version")


def test_generated_histories_are_what_the_services_produce(generated):
    """One case of every workflow and state, replayed step by step through the services on the same
    database, ends with the same fields, the same audit trail and the same side rows."""
    today = local_date(datetime.now(timezone.utc))
    firsts = db.session.execute(sa.select(sa.func.min(Case.id)).group_by(Case.workflow, Case.state)).scalars().all()
    replayed, differences = 0, []
    for case_id in firsts:
        original = db.session.get(Case, case_id)
        where = (original.workflow, original.state, original.id)
        copy = _replay(original)
        for name in CASE_FIELDS:
            if getattr(copy, name) != getattr(original, name):
                differences.append((where, name, getattr(original, name), getattr(copy, name)))
        if _history(copy) != _history(original):
            differences.append((where, "events", _history(original), _history(copy)))
        assert verify_chain(copy) is None
        if original.workflow == "fee_case":
            mine, theirs = db.session.get(FeeAccount, original.id), db.session.get(FeeAccount, copy.id)
            if copy.state in ACCRUING + ("served",):
                with transactional():
                    store_late_charge(theirs, today)  # the daily job, as of today
                    store_late_charge(mine, today)
            for name in ("notified_fen", "decided_fen", "paid_principal_fen", "late_charge_fen", "late_charge_paid_fen",
                         "late_charge_as_of", "payment_due_on", "last_state"):
                if getattr(theirs, name) != getattr(mine, name):
                    differences.append((where, name, getattr(mine, name), getattr(theirs, name)))
            if [(p.paid_on, p.amount_fen, p.principal_fen, p.receipt_ref) for p in theirs.payments] != \
                    [(p.paid_on, p.amount_fen, p.principal_fen, p.receipt_ref) for p in mine.payments]:
                differences.append((where, "payments"))
            if [(i.seq, i.due_on, i.amount_fen) for i in theirs.instalments] != \
                    [(i.seq, i.due_on, i.amount_fen) for i in mine.instalments]:
                differences.append((where, "instalments"))
        if original.workflow == "subsidy":
            mine, theirs = (db.session.scalar(sa.select(SubsidyEnrolment).where(SubsidyEnrolment.case_id == c.id))
                            for c in (original, copy))
            for name in ("scheme_id", "child_name", "child_birth_date", "starts_on", "ends_on", "reconfirmed_year",
                         "bank_name", "bank_account", "notice_id"):
                if getattr(theirs, name) != getattr(mine, name):
                    differences.append((where, name, getattr(mine, name), getattr(theirs, name)))
        replayed += 1
    assert not differences, "\n".join(map(repr, differences))
    assert replayed >= 50


def test_refuses_a_database_that_holds_cases(generated, app):
    from bench.generate import DatabaseNotEmpty

    with pytest.raises(DatabaseNotEmpty):
        generate(app, cases=10, now=NOW - timedelta(days=1))


def test_the_same_seed_gives_the_same_cases(db):
    def fingerprint(seed: int) -> list[tuple]:
        *_rest, plans = plan_cases(200, 0.2, seed, 40, NOW)
        return [(p.wf.name, p.state, p.village, p.times, p.actors, p.person, p.pin, p.seed) for p in plans]

    assert fingerprint(3) == fingerprint(3) != fingerprint(4)
