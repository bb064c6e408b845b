"""Deadline reminders: the deadline scan (service and job), case reminders for assignees, village reminders
for supervisors, and the notification list."""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from flask_migrate import downgrade, upgrade

from caseflow.extensions import db, transactional
from caseflow.calendar import local_date, utcnow
from caseflow.models import Case, CaseDeadline, Jurisdiction, Reminder, User, VillageReminder
from caseflow.services.cases import apply_transition, assign_case, workflow_of
from caseflow.services.deadlines import save_deadline_setting
from caseflow.services.reminders import (
    DeadlineScan, mark_all_read, mark_read, mark_village_read, reminders_for, run_deadline_scan, scan_deadlines,
    unread_count, village_reminders_for,
)
from caseflow.services import access
from caseflow.services.errors import NotFound
from caseflow.workflows.definition import SYSTEM
from tests.factories import advance, make_case, make_procedure_case, make_user, reload, valid_input
from tests.functional.ui_support import html_of, signed_in, text_of, ui_client

OPENED = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 in the office
HOUR = timedelta(hours=1)


def scan(now: datetime) -> int:
    with transactional():
        return scan_deadlines(now)


def reminders() -> set[tuple[str, int, str, datetime]]:
    """(recipient, case, kind, deadline) of every reminder."""
    db.session.expire_all()
    return set(db.session.execute(
        sa.select(sa.text('"user".username'), Reminder.case_id, Reminder.kind, Reminder.due_at)
        .select_from(Reminder).join(sa.table("user", sa.column("id")),
                                    sa.text('"user".id = reminder.user_id'))).all())


def village_reminders() -> set[tuple[str, int, date, int, int]]:
    """(recipient, village, day, cases, unassigned) of every village reminder."""
    db.session.expire_all()
    return set(db.session.execute(
        sa.select(User.username, VillageReminder.village_id, VillageReminder.day, VillageReminder.cases,
                  VillageReminder.unassigned).join(User, User.id == VillageReminder.user_id)).all())


def day_of(moment: datetime) -> date:
    return local_date(moment)


def accepted_case(office):
    """A birth registration accepted (and so assigned) by ``clerk``, with its accepted-state deadline."""
    case = make_case(office, now=OPENED)
    return advance(case, ["accept"], office, now=OPENED + HOUR)


def test_yellow_reminds_the_assignee_only(office):
    case = accepted_case(office)
    assert case.assignee_id == office["clerk"].id
    assert scan(case.due_at - 2 * HOUR - timedelta(days=3)) == 0  # still green
    assert scan(case.due_at - HOUR) == 1
    assert reminders() == {("clerk", case.id, "yellow", case.due_at)}
    assert village_reminders() == set()


def test_red_reminds_the_assignee_and_counts_in_the_supervisors_village_reminder_once(office):
    case = accepted_case(office)
    assert scan(case.due_at - HOUR) == 1
    assert scan(case.due_at + HOUR) == 2  # the clerk's case reminder, the supervisor's village reminder
    assert reminders() == {("clerk", case.id, "yellow", case.due_at), ("clerk", case.id, "red", case.due_at)}
    assert village_reminders() == {("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 0)}
    # The next scans raise nothing more for the same deadline; nobody else (another township's clerk, the
    # other clerk, the auditor) ever heard of it.
    assert scan(case.due_at + HOUR) == 0
    assert scan(case.due_at + 5 * HOUR) == 0
    assert len(reminders()) == 2 and len(village_reminders()) == 1
    assert unread_count(office["supervisor"]) == 1
    assert unread_count(office["outsider"]) == unread_count(office["clerk2"]) == unread_count(office["auditor"]) == 0


def test_a_village_reminder_adds_the_days_later_cases_and_is_unread_again(office):
    early, late, other_day = accepted_case(office), accepted_case(office), accepted_case(office)
    due = early.due_at  # local midnight: the scans an hour and five hours later are on the same office day
    with transactional():  # late gets its deadline moved two hours on, other_day's a day on
        db.session.execute(sa.update(Case).where(Case.id == late.id).values(due_at=due + 2 * HOUR))
        db.session.execute(sa.update(Case).where(Case.id == other_day.id).values(due_at=due + 24 * HOUR))
    assert scan(due - HOUR) == 3  # all three yellow: the clerk
    assert scan(due + HOUR) == 2
    supervisor = office["supervisor"]
    [first] = village_reminders_for(supervisor)
    assert (first.cases, first.day, first.raised_at) == (1, day_of(due + HOUR), due + HOUR)
    with transactional():
        mark_village_read(supervisor, first.id, now=due + HOUR)
    assert unread_count(supervisor) == 0
    assert scan(due + 3 * HOUR) == 2  # late: the clerk's reminder, and the same village reminder again
    [again] = village_reminders_for(supervisor)
    assert (again.id, again.cases, again.read_at, again.raised_at) == (first.id, 2, None, due + 3 * HOUR)
    assert unread_count(supervisor) == 1
    assert scan(due + 25 * HOUR) == 2  # the next office day: a reminder of its own
    assert village_reminders() == {("supervisor", office.village.id, day_of(due + HOUR), 2, 0),
                                   ("supervisor", office.village.id, day_of(due + 25 * HOUR), 1, 0)}
    assert [r.day for r in village_reminders_for(supervisor)] == [day_of(due + 25 * HOUR), day_of(due + HOUR)]


def test_supervisors_hear_only_of_the_villages_they_supervise(office):
    with transactional():
        make_user("v2-supervisor", ["supervisor"], [office.other_village])
        make_user("other-supervisor", ["supervisor"],
                  [db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == "T2"))])
        make_user("retired", ["supervisor"], [office.township], active=False)
    first = accepted_case(office)
    second = make_case(office, by="village2", village=office.other_village, now=OPENED)  # nobody holds it
    # The clerk's case reminder; the village reminders of the township's supervisor (both villages) and of
    # the second village's own; nothing for another township's supervisor or an inactive one.
    assert scan(max(first.due_at, second.due_at) + HOUR) == 1 + 3
    day = day_of(max(first.due_at, second.due_at) + HOUR)
    assert village_reminders() == {("supervisor", office.village.id, day, 1, 0),
                                   ("supervisor", office.other_village.id, day, 1, 1),
                                   ("v2-supervisor", office.other_village.id, day, 1, 1)}
    # A supervisor moved to another village no longer sees the first village's reminder, nor counts it.
    with transactional():
        supervisor = db.session.get(User, office["supervisor"].id)
        supervisor.jurisdictions = [db.session.get(Jurisdiction, office.other_village.id)]
    assert [r.village_id for r in village_reminders_for(supervisor)] == [office.other_village.id]
    assert unread_count(supervisor) == 1


def test_a_new_deadline_is_a_new_reminder(office):
    case = accepted_case(office)
    first_due = case.due_at
    assert scan(first_due + HOUR) == 2
    case = advance(reload(case), ["verify"], office, now=first_due + 2 * HOUR)
    assert case.due_at > first_due
    assert scan(first_due + 3 * HOUR) == 0  # verifying has a fresh 15 working days: green
    assert scan(case.due_at + HOUR) == 2
    assert {(user, kind, due) for user, _, kind, due in reminders()} == {
        ("clerk", "red", first_due), ("clerk", "red", case.due_at)}
    assert village_reminders() == {("supervisor", office.village.id, day_of(first_due + HOUR), 1, 0),
                                   ("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 0)}


def test_unassigned_case_reaches_supervisors_only_when_red_and_only_counted(office):
    case = make_case(office, now=OPENED)
    assert case.assignee_id is None
    assert scan(case.due_at - HOUR) == 0
    assert scan(case.due_at + HOUR) == 1
    assert reminders() == set()
    assert village_reminders() == {("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 1)}


def test_closed_cases_raise_nothing(office):
    case = accepted_case(office)
    advance(case, ["register"], office, now=OPENED + 2 * HOUR)
    assert scan(OPENED + timedelta(days=30)) == 0


def test_need_to_know_case_only_to_those_who_may_read_it(office):
    case = make_procedure_case(office, by="clerk", now=OPENED)
    assert scan(case.due_at + HOUR) == 2
    assert reminders() == {("clerk", case.id, "red", case.due_at)}
    # The supervisor may read it (oversight of need-to-know cases): counted, never named.
    assert village_reminders() == {("supervisor", case.jurisdiction_id, day_of(case.due_at + HOUR), 1, 0)}
    # Handed to clerk2: clerk may no longer read the case, so their reminder about it is no longer shown.
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, now=case.due_at + 2 * HOUR)
    assert reminders_for(office["clerk"]) == [] and unread_count(office["clerk"]) == 0
    assert scan(case.due_at + 3 * HOUR) == 1  # clerk2; the supervisors counted this deadline already
    assert [r.case_id for r in reminders_for(office["clerk2"])] == [case.id]
    assert unread_count(office["village1"]) == 0
    assert village_reminders() == {("supervisor", case.jurisdiction_id, day_of(case.due_at + HOUR), 1, 0)}


def test_a_supervisor_who_may_not_read_need_to_know_cases_counts_only_their_own(office, monkeypatch):
    """Supervisors read every need-to-know case of their villages today; an office whose rules kept them to
    the cases they hold would have the village reminder count only those."""
    theirs = make_procedure_case(office, by="clerk", now=OPENED)
    own = make_procedure_case(office, by="supervisor", now=OPENED)
    plain = make_case(office, now=OPENED)
    at = max(theirs.due_at, own.due_at, plain.due_at) + HOUR
    monkeypatch.setattr(access, "NEED_TO_KNOW_ROLES", frozenset({"auditor", SYSTEM}))
    assert full_scan(at) == DeadlineScan(cases=3, reminders=2, village_reminders=1)
    assert village_reminders() == {("supervisor", office.village.id, day_of(at), 2, 1)}


def test_mark_read_only_own_reminders(office):
    case = accepted_case(office)
    scan(case.due_at + HOUR)
    mine = reminders_for(office["clerk"])[0]
    try:
        mark_read(office["supervisor"], mine.id)
    except NotFound:
        pass
    else:
        raise AssertionError("marked another user's reminder")
    with transactional():
        mark_read(office["clerk"], mine.id, now=case.due_at + 2 * HOUR)
    assert unread_count(office["clerk"]) == 0 and unread_count(office["supervisor"]) == 1
    [theirs] = village_reminders_for(office["supervisor"])
    for stranger in ("clerk", "auditor", "outsider"):
        try:
            mark_village_read(office[stranger], theirs.id)
        except NotFound:
            pass
        else:
            raise AssertionError(f"{stranger} marked the supervisor's village reminder")
    with transactional():
        assert mark_all_read(office["supervisor"], now=case.due_at + 2 * HOUR) == 1
    assert unread_count(office["supervisor"]) == 0


def test_the_badge_stops_counting_past_its_cap(office):
    cases = [accepted_case(office) for _ in range(3)]
    scan(cases[0].due_at - HOUR)
    scan(cases[0].due_at + HOUR)
    assert unread_count(office["clerk"]) == 6 and unread_count(office["supervisor"]) == 1
    assert unread_count(office["clerk"], cap=4) == 5 and unread_count(office["clerk"], cap=None) == 6
    with transactional():  # the supervisor holds two of them: a village reminder and two case reminders
        for case in cases[:2]:
            assign_case(reload(case), office["supervisor"], office["supervisor"], reload(case).version,
                        now=case.due_at + 2 * HOUR)
    scan(cases[0].due_at + 3 * HOUR)
    assert unread_count(office["supervisor"]) == 3
    assert unread_count(office["supervisor"], cap=1) == 2 and unread_count(office["supervisor"], cap=0) == 1


def test_the_page_lists_reminders_and_marks_them_read(app, office):
    case = accepted_case(office)
    older = accepted_case(office)
    scan(case.due_at - HOUR)
    scan(case.due_at + HOUR)
    client = signed_in(app, "clerk")
    page = client.get("/reminders")
    assert page.status_code == 200
    text = text_of(page)
    assert "提醒 (4)" in text and "已超期" in text and case.number in text and case.applicant.name in text
    assert f'href="/cases/{case.id}"' in html_of(page)
    ids = [int(i) for i in re.findall(r'data-reminder-id="(\d+)"', html_of(page))]
    assert len(ids) == 4
    newest = db.session.get(Reminder, ids[0])
    assert newest.kind == "red"  # newest first

    assert client.post(f"/reminders/{ids[-1]}/read").status_code == 302
    page = client.get("/reminders")
    assert "提醒 (3)" in text_of(page)
    assert [int(i) for i in re.findall(r'data-reminder-id="(\d+)"', html_of(page))][-1] == ids[-1]  # read: last
    assert html_of(page).count('class="reminder-row unread"') == 3

    # Another user's reminder: 404, and it stays unread.
    with transactional():
        theirs = db.session.get(User, office["clerk2"].id)
        assign_case(reload(older), theirs, office["supervisor"], reload(older).version, now=case.due_at + 2 * HOUR)
    scan(case.due_at + 3 * HOUR)
    theirs = db.session.scalar(sa.select(Reminder.id).where(Reminder.user_id == office["clerk2"].id))
    village = db.session.scalar(sa.select(VillageReminder.id))
    assert client.post(f"/reminders/{theirs}/read").status_code == 404
    assert client.post(f"/reminders/villages/{village}/read").status_code == 404
    assert client.post("/reminders/999999/read").status_code == 404
    assert unread_count(office["clerk2"]) == unread_count(office["supervisor"]) == 1

    assert client.post("/reminders/read-all").status_code == 302
    assert "提醒 (0)" in text_of(client.get("/reminders"))
    assert unread_count(office["clerk2"]) == unread_count(office["supervisor"]) == 1
    assert case.id in {r.case_id for r in reminders_for(office["clerk"])}


def test_the_page_shows_supervisors_their_village_reminders(app, office):
    opened = utcnow() - timedelta(days=30)  # overdue now, as the team queue the links open judges it
    first, mine = (advance(make_case(office, now=opened), ["accept"], office, now=opened + HOUR) for _ in range(2))
    second = make_case(office, now=opened)  # nobody holds it
    with transactional():
        assign_case(mine, office["supervisor"], office["supervisor"], mine.version, now=opened + 2 * HOUR)
    assert scan(utcnow()) == 1 + 1 + 1  # clerk's and supervisor's case reminders, one village reminder
    [village] = village_reminders_for(office["supervisor"])
    assert (village.cases, village.unassigned) == (3, 1)

    client = signed_in(app, "supervisor")
    page = client.get("/reminders")
    text, html = text_of(page), html_of(page)
    assert "提醒 (2)" in text
    assert "我的辖区村（社区）" in text and "案件提醒" in text
    assert "东村 有 3 件案件转为超期" in text and "（其中 1 件待分配）" in text
    assert f'href="/team?village={office.village.id}&amp;light=red"' in html
    assert f'href="/team?village={office.village.id}&amp;light=red&amp;assignee=none"' in html
    assert html.count('class="reminder-row unread"') == 2
    assert html.count(f'data-village-reminder-id="{village.id}"') == 1
    [own_reminder] = reminders_for(office["supervisor"])
    assert f'action="/reminders/villages/{village.id}/read"' in html  # each kind's own "mark as read"
    assert f'action="/reminders/{own_reminder.id}/read"' in html
    # Named: only the case they hold.
    assert f'href="/cases/{mine.id}"' in html
    assert f'href="/cases/{first.id}"' not in html and f'href="/cases/{second.id}"' not in html
    # The links' team queue lists them.
    queue = html_of(client.get(f"/team?village={office.village.id}&light=red"))
    assert all(f'href="/cases/{case.id}"' in queue for case in (first, second, mine))
    unassigned = html_of(client.get(f"/team?village={office.village.id}&light=red&assignee=none"))
    assert f'href="/cases/{second.id}"' in unassigned and f'href="/cases/{first.id}"' not in unassigned

    assert client.post(f"/reminders/villages/{village.id}/read").status_code == 302
    page = client.get("/reminders")
    assert "提醒 (1)" in text_of(page) and html_of(page).count('class="reminder-row unread"') == 1

    client.post("/lang/en", data={"next": "/reminders"})
    text = text_of(client.get("/reminders"))
    assert "Reminders (1)" in text and "Your villages" in text and "Case reminders" in text
    assert "3 case(s) turned red in 东村" in text and "(1 unassigned)" in text
    assert "Unassigned overdue cases" in text
    assert client.post("/reminders/read-all").status_code == 302
    assert "Reminders (0)" in text_of(client.get("/reminders"))


def test_admins_have_no_reminder_page(app, office):
    client = signed_in(app, "admin")
    assert client.get("/reminders").status_code == 403
    assert "提醒" not in text_of(client.get("/admin/"))


def test_reminder_forms_need_the_csrf_token(csrf_app, office):
    case = accepted_case(office)
    scan(case.due_at + HOUR)
    client = ui_client(csrf_app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html_of(client.get("/login"))).group(1)
    assert client.post("/login", data={"username": "clerk", "password": "correct-horse-battery",
                                       "csrf_token": token}).status_code == 302
    mine = reminders_for(office["clerk"])[0].id
    assert client.post(f"/reminders/{mine}/read").status_code == 400
    assert client.post("/reminders/read-all").status_code == 400
    village = db.session.scalar(sa.select(VillageReminder.id))
    assert client.post(f"/reminders/villages/{village}/read").status_code == 400
    assert unread_count(office["clerk"]) == 1
    page = html_of(client.get("/reminders"))
    for action in (f"/reminders/{mine}/read", "/reminders/read-all"):
        assert re.search(rf'<form method="post" action="{action}"[^>]*>\s*<input type="hidden" name="csrf_token"',
                         page), action
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/reminders/{mine}/read", data={"csrf_token": token}).status_code == 302
    assert unread_count(office["clerk"]) == 0


def test_the_job_by_hand_twice(app, office):
    case = accepted_case(office)
    runner = app.test_cli_runner()
    at = (case.due_at + HOUR).isoformat()
    first = runner.invoke(args=["jobs", "run", "scan_deadlines", "--now", at])
    assert first.exit_code == 0, first.output
    assert "1 case(s) changed light: 1 reminder(s) and 1 village reminder(s) raised" in first.output
    second = runner.invoke(args=["jobs", "run", "scan_deadlines", "--now", at])
    assert second.exit_code == 0
    assert "0 case(s) changed light: 0 reminder(s) and 0 village reminder(s) raised" in second.output
    assert "scan_deadlines" in runner.invoke(args=["jobs", "list"]).output
    assert len(reminders()) == len(village_reminders()) == 1


# ------------------------------------------------------------------ the scan remembers what it reminded about

def full_scan(now: datetime) -> DeadlineScan:
    with transactional():
        return run_deadline_scan(now)


def verify_input(case) -> dict:
    return valid_input(workflow_of(case).step_for("verify", case.state).fields)


def reminded_light(case) -> str | None:
    return db.session.scalar(sa.select(CaseDeadline.reminded_light).where(CaseDeadline.case_id == case.id))


def test_the_scan_reads_only_cases_whose_light_got_worse(office):
    first, second, third = (accepted_case(office) for _ in range(3))
    due = first.due_at
    assert {second.due_at, third.due_at} == {due}
    assert full_scan(due - HOUR) == DeadlineScan(cases=3, reminders=3)  # yellow: the clerk
    assert reminded_light(first) == "yellow"
    assert full_scan(due - HOUR) == DeadlineScan(0, 0)
    # red: the clerk, and the supervisor's one village reminder
    assert full_scan(due + HOUR) == DeadlineScan(cases=3, reminders=3, village_reminders=1)
    assert reminded_light(first) == "red"
    # Nothing got worse since: nothing is read, nothing is inserted again, however often it runs.
    assert full_scan(due + HOUR) == full_scan(due + 5 * HOUR) == DeadlineScan(0, 0)
    with transactional():
        assign_case(reload(second), office["clerk2"], office["supervisor"], reload(second).version, now=due + 6 * HOUR)
    assert full_scan(due + 7 * HOUR) == DeadlineScan(cases=1, reminders=1)  # clerk2; the supervisor knows
    assert len(reminders()) == 7
    assert village_reminders() == {("supervisor", office.village.id, day_of(due + HOUR), 3, 0)}


def test_a_reassigned_case_reminds_its_new_assignee(office):
    case = accepted_case(office)
    assert scan(case.due_at - HOUR) == 1
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, now=case.due_at - HOUR)
    assert reminded_light(case) is None
    assert scan(case.due_at - HOUR) == 1  # yellow for clerk2
    assert scan(case.due_at + HOUR) == 2  # red: clerk2 and the supervisor's village; clerk no longer holds it
    assert reminders() == {("clerk", case.id, "yellow", case.due_at), ("clerk2", case.id, "yellow", case.due_at),
                           ("clerk2", case.id, "red", case.due_at)}
    # Handed back to the pool and taken again by clerk: clerk hears of the red deadline too.
    with transactional():
        assign_case(reload(case), None, office["supervisor"], reload(case).version, now=case.due_at + 2 * HOUR)
    assert scan(case.due_at + 3 * HOUR) == 0  # the supervisor counted it already; nobody else to tell
    with transactional():
        assign_case(reload(case), office["clerk"], office["clerk"], reload(case).version, now=case.due_at + 4 * HOUR)
    assert scan(case.due_at + 5 * HOUR) == 1
    assert ("clerk", case.id, "red", case.due_at) in reminders()
    assert village_reminders() == {("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 0)}


def test_assigning_the_same_person_again_keeps_the_mark(office):
    case = accepted_case(office)
    scan(case.due_at + HOUR)
    with transactional():
        assign_case(case, office["clerk"], office["supervisor"], case.version, now=case.due_at + 2 * HOUR)
    assert reminded_light(case) == "red"


def test_a_changed_deadline_setting_reminds_again(office):
    case = accepted_case(office)
    first_due = case.due_at
    assert scan(first_due + HOUR) == 2
    with transactional():  # the office allows 5 working days for "accepted" instead of 3
        assert save_deadline_setting("birth_registration", "accepted", 10, 0, office["admin"]) == 1
    case = reload(case)
    assert case.due_at > first_due and reminded_light(case) is None
    assert scan(first_due + HOUR) == 0  # the new deadline is green
    assert scan(case.due_at - HOUR) == 1
    assert scan(case.due_at + HOUR) == 2
    assert {(user, kind, due) for user, _, kind, due in reminders()} == {
        ("clerk", "red", first_due), ("clerk", "yellow", case.due_at), ("clerk", "red", case.due_at)}
    assert village_reminders() == {("supervisor", office.village.id, day_of(first_due + HOUR), 1, 0),
                                   ("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 0)}


def test_marking_leaves_the_version_alone(office):
    case = accepted_case(office)
    seen = case.version  # the version in the clerk's form, opened before the scan
    assert scan(case.due_at + HOUR) == 2
    case = reload(case)
    assert case.version == seen and reminded_light(case) == "red"
    with transactional():
        apply_transition(case, "verify", office["clerk"], seen, data=verify_input(case), now=case.due_at + 2 * HOUR)
    case = reload(case)
    assert case.state == "verifying" and case.version == seen + 1 and reminded_light(case) is None


def test_a_transition_loaded_before_the_scan_still_clears_the_mark(app, office):
    """The clerk's request loaded the case (not yet marked); the scan marks it red and commits; the
    clerk's transition then flushes a new deadline: its UPDATE must clear the mark it never saw."""
    case = accepted_case(office)
    first_due = case.due_at
    assert reminded_light(case) is None
    with app.app_context():  # the scheduler: its own session and connection
        assert scan(first_due + HOUR) == 2
        assert reminded_light(case) == "red"
    with transactional():
        apply_transition(case, "verify", office["clerk"], case.version, data=verify_input(case),
                         now=first_due + 2 * HOUR)
    case = reload(case)
    assert reminded_light(case) is None
    assert scan(case.due_at + HOUR) == 2


def deadline_row(case) -> tuple | None:
    """(deadline, light, counted red, village, workflow, assignee) of the case's ``case_deadline`` row, None
    without one."""
    db.session.expire_all()
    row = db.session.get(CaseDeadline, case.id)
    return row and (row.due_at, row.reminded_light, row.red_counted, row.jurisdiction_id, row.workflow,
                    row.assignee_id)


def test_the_deadline_row_follows_the_case(office):
    """The database keeps ``case_deadline`` in step with every change of a case's deadline, holder or
    closing, whoever writes it; the light remembered is dropped each time."""
    case = make_case(office, now=OPENED)
    village, clerk, clerk2 = office.village.id, office["clerk"].id, office["clerk2"].id
    assert deadline_row(case) == (case.due_at, None, False, village, "birth_registration", None)
    scan(case.due_at - HOUR)
    assert reminded_light(case) == "yellow"
    advance(case, ["request_supplement"], office, now=OPENED + HOUR)  # the clock stops: no deadline
    assert reload(case).due_at is None and deadline_row(case) is None
    advance(case, ["resubmit"], office, now=OPENED + 2 * HOUR)
    case = advance(reload(case), ["accept"], office, now=OPENED + 3 * HOUR)
    assert deadline_row(case) == (case.due_at, None, False, village, "birth_registration", clerk)
    scan(case.due_at + HOUR)
    assert deadline_row(case) == (case.due_at, "red", True, village, "birth_registration", clerk)
    with transactional():  # handed on: the new holder hears of it; the deadline stays counted
        assign_case(reload(case), office["clerk2"], office["supervisor"], reload(case).version,
                    now=case.due_at + 2 * HOUR)
    assert deadline_row(case) == (case.due_at, None, True, village, "birth_registration", clerk2)
    later = case.due_at + timedelta(days=2)
    with transactional():  # a Core update, as a bulk correction would write it: a new deadline
        db.session.execute(sa.update(Case).where(Case.id == case.id).values(due_at=later))
    assert deadline_row(case) == (later, None, False, village, "birth_registration", clerk2)
    advance(reload(case), ["register"], office, now=OPENED + 4 * HOUR)  # closed
    assert deadline_row(case) is None


@pytest.mark.parametrize("trigger", ["accept", "verify"])
def test_a_step_taken_while_the_scan_holds_the_case_waits_for_it(app, office, trigger):
    """The scan has marked a case red and not yet committed when the clerk takes a step, as the web does:
    the case loaded locked, then the step. The step's UPDATE waits for the scan's hold on the case's
    deadline row; the scan meanwhile inserts rows that refer to the case, which must not wait for the clerk
    (on PostgreSQL that would be a deadlock): the case is locked FOR NO KEY UPDATE, and issuing a receipt
    number ("accept": a unique column, for which PostgreSQL's UPDATE locks harder) waits for the scan first."""
    from caseflow.services.deadlines import LightBounds, load_calendar
    from caseflow.services.reminders import _insert_reminders, _mark_worsened

    if trigger == "accept":  # a submitted case the clerk has taken
        case = make_case(office, now=OPENED)
        with transactional():
            assign_case(case, office["clerk"], office["clerk"], case.version, now=OPENED)
    else:
        case = accepted_case(office)
    at = case.due_at + HOUR
    clerk_id = office["clerk"].id

    def take_step():
        clerk = db.session.get(User, clerk_id)
        mine = access.readable_case(clerk, case.id, for_update=True)
        apply_transition(mine, trigger, clerk, mine.version, now=at,
                         data=valid_input(workflow_of(mine).step_for(trigger, mine.state).fields))
        db.session.commit()
        return mine.state

    with app.app_context():  # the scheduler, halfway through its scan
        rows = _mark_worsened(LightBounds.at(at, load_calendar()))
        assert [row.case_id for row in rows] == [case.id]
        thread, stepped = _in_the_background(app, take_step)
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the scan
        assert _insert_reminders([case.id], at) == 1  # refers to the case: must not wait for the clerk
        db.session.commit()
    thread.join(timeout=30)
    assert stepped["value"] == workflow_of(case).step_for(trigger, case.state).dest
    case = reload(case)
    assert deadline_row(case) == (case.due_at, None, False, office.village.id, "birth_registration", clerk_id)
    assert reminders() == {("clerk", case.id, "red", at - HOUR)}


def _in_the_background(app, work):
    """Run ``work()`` in a thread with its own app context (its own session and connection), as another
    process would; returns the thread and a dict that gets its result."""
    result: dict = {}

    def run():
        with app.app_context():
            result["value"] = work()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_transition_racing_the_scan_is_judged_as_committed(app, office):
    """A clerk's transition has written a new deadline, not yet committed, when the scan starts. The scan
    waits for the row (PostgreSQL) or the write lock (SQLite) and then judges the case as committed: its new
    deadline is green, so it is neither reminded of nor marked with the old red one."""
    case = accepted_case(office)
    other = accepted_case(office)
    first_due = case.due_at
    with app.app_context():  # the clerk's request
        mine = db.session.get(Case, case.id)
        apply_transition(mine, "verify", db.session.get(User, office["clerk"].id), mine.version,
                         data=verify_input(mine), now=first_due + HOUR)
        thread, scanned = _in_the_background(app, lambda: full_scan(first_due + 2 * HOUR))
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the clerk's transaction
        db.session.commit()
    thread.join(timeout=30)
    assert scanned["value"] == DeadlineScan(cases=1, reminders=1, village_reminders=1)  # the other case
    case = reload(case)
    assert case.state == "verifying" and reminded_light(case) is None and reminded_light(other) == "red"
    assert {case_id for _, case_id, _, _ in reminders()} == {other.id}
    assert full_scan(first_due + 3 * HOUR) == DeadlineScan(0, 0)  # the new deadline is green
    assert full_scan(case.due_at + HOUR) == DeadlineScan(cases=1, reminders=1, village_reminders=1)


def test_two_schedulers_racing_raise_each_reminder_once(app, office):
    case = accepted_case(office)
    at = case.due_at + HOUR
    with app.app_context():  # the first scheduler has scanned but not yet committed
        assert run_deadline_scan(at) == DeadlineScan(cases=1, reminders=1, village_reminders=1)
        thread, second = _in_the_background(app, lambda: full_scan(at))
        thread.join(timeout=0.5)
        assert thread.is_alive()
        db.session.commit()
    thread.join(timeout=30)
    assert second["value"] == DeadlineScan(0, 0)
    assert len(reminders()) == 1 and reminded_light(case) == "red"
    assert village_reminders() == {("supervisor", office.village.id, day_of(at), 1, 0)}


def test_unassigned_yellow_case_is_marked_and_reminded_once_assigned(office):
    case = make_case(office, now=OPENED)
    assert full_scan(case.due_at - HOUR) == DeadlineScan(cases=1, reminders=0)
    assert full_scan(case.due_at - HOUR) == DeadlineScan(0, 0)
    with transactional():
        assign_case(case, office["clerk"], office["clerk"], case.version, now=case.due_at - HOUR)
    assert full_scan(case.due_at - HOUR) == DeadlineScan(cases=1, reminders=1)
    assert reminders() == {("clerk", case.id, "yellow", case.due_at)}


def test_upgrade_keeps_reminders_already_raised(app, office):
    """The migration that added reminded_light sets it from the reminders raised for each case's current
    deadline, so an upgraded office is not reminded of everything again."""
    red, yellow, old_deadline, untouched = (accepted_case(office).id for _ in range(4))
    due = db.session.get(Case, red).due_at
    village = office.village.id
    scan(due - HOUR)
    scan(due + HOUR)
    with transactional():  # reminders of yellow's current deadline stop at yellow; old_deadline's are stale
        db.session.execute(sa.delete(Reminder).where(Reminder.case_id == yellow, Reminder.kind == "red"))
        db.session.execute(sa.update(Reminder).where(Reminder.case_id == old_deadline)
                           .values(due_at=due - timedelta(days=7)))
        db.session.execute(sa.delete(Reminder).where(Reminder.case_id == untouched))
    db.session.remove()
    downgrade(revision="d8b2f5c3a1e7")
    upgrade()
    marks = dict(db.session.execute(sa.select(CaseDeadline.case_id, CaseDeadline.reminded_light)).all())
    assert marks == {red: "red", yellow: "yellow", old_deadline: None, untouched: None}
    before = len(reminders())
    # red is left alone; the three others hear of the red deadline (the clerk each, the supervisor counts them).
    assert full_scan(due + 2 * HOUR) == DeadlineScan(cases=3, reminders=3, village_reminders=1)
    assert len(reminders()) == before + 3
    assert village_reminders() == {("supervisor", village, day_of(due + 2 * HOUR), 3, 0)}


def test_downgrade_and_upgrade_of_case_deadline_keep_the_marks(app, office):
    """Migration d2f6a8c4e1b3 moves the marks off ``case`` and the counted deadlines out of ``red_deadline``;
    undone and done again, every mark and count is where it was."""
    red, yellow, fresh = (accepted_case(office) for _ in range(3))
    scan(red.due_at + HOUR)
    with transactional():  # two cases get a later deadline: one is reminded yellow of it, one not yet
        db.session.execute(sa.update(Case).where(Case.id.in_([yellow.id, fresh.id]))
                           .values(due_at=red.due_at + 10 * HOUR))
    scan(red.due_at + 9 * HOUR)
    with transactional():
        db.session.execute(sa.update(Case).where(Case.id == fresh.id).values(due_at=red.due_at + 30 * HOUR))
    cases = red.id, yellow.id, fresh.id
    before = [deadline_row(case) for case in (red, yellow, fresh)]
    assert [row[1:3] for row in before] == [("red", True), ("yellow", False), (None, False)]
    db.session.remove()
    downgrade(revision="c9d4e6f8a2b7")
    assert dict(db.session.execute(sa.text('SELECT id, reminded_light FROM "case"')).all()) == dict(
        zip(cases, ("red", "yellow", None)))
    assert db.session.execute(sa.text("SELECT case_id FROM red_deadline")).scalars().all() == [cases[0]]
    db.session.remove()
    upgrade()
    assert [deadline_row(db.session.get(Case, case)) for case in cases] == before


def test_upgrade_to_village_reminders_keeps_what_supervisors_were_told(app, office):
    """Before village reminders, the scan told each supervisor of each red case. Those reminders stay; the
    red deadlines they told of are recorded, so a case handed on afterwards is not counted again."""
    handed_on, kept = (accepted_case(office).id for _ in range(2))
    due = db.session.get(Case, handed_on).due_at
    supervisor_id, clerk2_id = office["supervisor"].id, office["clerk2"].id
    assert scan(due + HOUR) == 3
    with transactional():  # what the scan used to raise for the supervisor
        for case in (handed_on, kept):
            db.session.add(Reminder(user_id=supervisor_id, case_id=case, kind="red", due_at=due,
                                    created_at=due + HOUR))
    ids = {(r.user_id, r.case_id, r.kind) for r in db.session.scalars(sa.select(Reminder))}
    db.session.remove()
    downgrade(revision="a3c7e9b2d4f6")
    upgrade()
    assert {(r.user_id, r.case_id, r.kind) for r in db.session.scalars(sa.select(Reminder))} == ids
    assert set(db.session.execute(sa.select(CaseDeadline.case_id, CaseDeadline.due_at)
                                  .where(CaseDeadline.red_counted))) == {(handed_on, due), (kept, due)}
    supervisor = db.session.get(User, supervisor_id)
    assert {r.case_id for r in reminders_for(supervisor)} == {handed_on, kept}
    assert unread_count(supervisor) == 2
    with transactional():
        case = db.session.get(Case, handed_on)
        assign_case(case, db.session.get(User, clerk2_id), supervisor, case.version, now=due + 2 * HOUR)
    assert full_scan(due + 3 * HOUR) == DeadlineScan(cases=1, reminders=1)
    assert village_reminders() == set() and unread_count(supervisor) == 2


def test_an_inactive_assignee_is_not_reminded(office):
    case = accepted_case(office)
    with transactional():
        db.session.get(User, office["clerk"].id).active = False
    assert full_scan(case.due_at + HOUR) == DeadlineScan(cases=1, reminders=0, village_reminders=1)
    assert reminders() == set()
    assert village_reminders() == {("supervisor", office.village.id, day_of(case.due_at + HOUR), 1, 0)}
