"""Smoke test of bench.deadline_scan at tiny scale on generated data: the scans it times do what it says it
timed — settled data needs nothing, the changed scan marks about the cases asked for and raises their
reminders, an unchanged scan reads and raises nothing — and it can run again on the same database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from bench.deadline_scan import measure, settle, timed_scan
from bench.generate import generate
from caseflow.extensions import db
from caseflow.models import Case, CaseDeadline, Reminder, User, UserRole, VillageReminder
from caseflow.services import access
from caseflow.services.deadlines import LightBounds, load_calendar

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)  # Tuesday 14:00 in the office


def test_deadline_scan_benchmark_counts_what_it_did(app):
    summary = generate(app, cases=400, open_share=1, seed=3, users=30, now=NOW, analyze=False)
    at = NOW + timedelta(seconds=1)
    # As the scan leaves it: each red case's deadline counted in its village's reminders.
    assert set(db.session.scalars(sa.select(CaseDeadline.case_id).where(CaseDeadline.red_counted))) == set(
        db.session.scalars(sa.select(CaseDeadline.case_id).where(CaseDeadline.reminded_light == "red"))) != set()
    # Every open case with a deadline has its row, remembering its light at generation (yellow or red) or none.
    bounds = LightBounds.at(NOW, load_calendar())
    remembered = db.session.execute(sa.select(CaseDeadline.due_at, CaseDeadline.reminded_light)).all()
    assert {light for _, light in remembered} == {None, "yellow", "red"}
    assert all(light == (None if bounds.light(due) == "green" else bounds.light(due)) for due, light in remembered)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseDeadline)) == db.session.scalar(
        sa.select(sa.func.count()).select_from(Case).where(Case.closed_at.is_(None), Case.due_at.is_not(None)))

    figures = measure(changes=20, repeat=2, now=at)

    assert figures["open_cases"] == 400 and figures["supervisors"] > 0
    assert figures["first_scan"]["cases"] == figures["first_scan"]["reminders"] == 0  # settled already
    for unchanged in (figures["unchanged_scan"], figures["unchanged_after_change"]):
        assert unchanged["cases"] == unchanged["reminders"] == unchanged["village_reminders"] == 0
        assert len(unchanged["runs_ms"]) == 2
    changed, lump, left = figures["changed_scan"], figures["changing_at_that_instant"], figures["changes_left"]
    assert datetime.fromisoformat(figures["changed_at"]) > at and lump >= 20
    assert changed["cases"] == left and (20 <= left < 40 or left == lump)
    # Every reminder in the database is one the changed scan created (the run starts by deleting them).
    assert changed["reminders"] == db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) > 0
    assert changed["village_reminders"] == db.session.scalar(
        sa.select(sa.func.count()).select_from(VillageReminder)) > 0
    assert changed["reminders"] <= changed["cases"]  # the assignee only: never one per supervisor
    assert changed["seconds"] > 0

    again = measure(changes=20, repeat=1, now=at)
    assert again["changed_scan"]["cases"] == changed["cases"]
    assert again["changed_scan"]["reminders"] == changed["reminders"]
    assert again["changed_scan"]["village_reminders"] == changed["village_reminders"]

    # From scratch, the first scan has every yellow and red open case to remind about.
    scratch = measure(changes=20, repeat=1, now=at, from_scratch=True)
    assert scratch["first_scan"]["cases"] == summary["lights"]["yellow"] + summary["lights"]["red"]
    # Only assignees get case reminders: at most one per marked case somebody holds.
    assert 0 < scratch["first_scan"]["reminders"] <= db.session.scalar(
        sa.select(sa.func.count()).select_from(CaseDeadline).where(CaseDeadline.reminded_light.is_not(None),
                                                                   CaseDeadline.assignee_id.is_not(None)))
    # Each supervisor's village reminders count every red case of their villages, each once.
    settle(at, from_scratch=True)
    timed_scan(at)
    red = Case.closed_at.is_(None), Case.due_at < at
    supervisors = db.session.scalars(sa.select(User).join(UserRole, UserRole.user_id == User.id).where(
        UserRole.role == "supervisor", User.active.is_(True))).all()
    assert supervisors
    for supervisor in supervisors:
        counted = db.session.execute(sa.select(sa.func.sum(VillageReminder.cases), sa.func.count()).where(
            VillageReminder.user_id == supervisor.id)).one()
        villages = access.jurisdiction_ids(supervisor)
        assert counted == (db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(
            *red, Case.jurisdiction_id.in_(villages))), len({v for v in villages if v in {
                j for j in db.session.scalars(sa.select(Case.jurisdiction_id).where(*red))}}))
