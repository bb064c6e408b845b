"""Deadline reminders: the deadline scan (service and job) and the notification list."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.models import Reminder
from caseflow.services.cases import assign_case
from caseflow.services.reminders import mark_read, reminders_for, scan_deadlines, unread_count
from caseflow.services.errors import NotFound
from tests.factories import advance, make_case, make_procedure_case, reload
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


def test_red_reminds_assignee_and_supervisor_once(office):
    case = accepted_case(office)
    assert scan(case.due_at - HOUR) == 1
    assert scan(case.due_at + HOUR) == 2
    assert reminders() == {("clerk", case.id, "yellow", case.due_at), ("clerk", case.id, "red", case.due_at),
                           ("supervisor", case.id, "red", case.due_at)}
    # The next scans raise nothing more for the same deadline; nobody else (another township's clerk, the
    # other clerk, the auditor) ever heard of it.
    assert scan(case.due_at + HOUR) == 0
    assert scan(case.due_at + 5 * HOUR) == 0
    assert len(reminders()) == 3
    assert unread_count(office["outsider"]) == unread_count(office["clerk2"]) == unread_count(office["auditor"]) == 0


def test_a_new_deadline_is_a_new_reminder(office):
    case = accepted_case(office)
    first_due = case.due_at
    assert scan(first_due + HOUR) == 2
    case = advance(reload(case), ["verify"], office, now=first_due + 2 * HOUR)
    assert case.due_at > first_due
    assert scan(first_due + 3 * HOUR) == 0  # verifying has a fresh 15 working days: green
    assert scan(case.due_at + HOUR) == 2
    assert {(user, kind, due) for user, _, kind, due in reminders()} == {
        ("clerk", "red", first_due), ("supervisor", "red", first_due),
        ("clerk", "red", case.due_at), ("supervisor", "red", case.due_at)}


def test_unassigned_case_reminds_supervisors_only_when_red(office):
    case = make_case(office, now=OPENED)
    assert case.assignee_id is None
    assert scan(case.due_at - HOUR) == 0
    assert scan(case.due_at + HOUR) == 1
    assert reminders() == {("supervisor", case.id, "red", case.due_at)}


def test_closed_cases_raise_nothing(office):
    case = accepted_case(office)
    advance(case, ["register"], office, now=OPENED + 2 * HOUR)
    assert scan(OPENED + timedelta(days=30)) == 0


def test_need_to_know_case_only_to_those_who_may_read_it(office):
    case = make_procedure_case(office, by="clerk", now=OPENED)
    assert scan(case.due_at + HOUR) == 2
    assert reminders() == {("clerk", case.id, "red", case.due_at), ("supervisor", case.id, "red", case.due_at)}
    # Handed to clerk2: clerk may no longer read the case, so their reminder about it is no longer shown.
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, now=case.due_at + 2 * HOUR)
    assert reminders_for(office["clerk"]) == [] and unread_count(office["clerk"]) == 0
    assert scan(case.due_at + 3 * HOUR) == 1
    assert [r.case_id for r in reminders_for(office["clerk2"])] == [case.id]
    assert unread_count(office["village1"]) == 0


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
    theirs = db.session.scalar(sa.select(Reminder.id).where(Reminder.user_id == office["supervisor"].id).limit(1))
    assert client.post(f"/reminders/{theirs}/read").status_code == 404
    assert client.post("/reminders/999999/read").status_code == 404
    assert unread_count(office["supervisor"]) == 2

    assert client.post("/reminders/read-all").status_code == 302
    assert "提醒 (0)" in text_of(client.get("/reminders"))
    assert unread_count(office["supervisor"]) == 2
    assert older.id in {r.case_id for r in reminders_for(office["clerk"])}

    english = signed_in(app, "supervisor")
    english.post("/lang/en", data={"next": "/reminders"})
    assert "Reminders (2)" in text_of(english.get("/reminders"))


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
    assert first.exit_code == 0 and "2 reminder(s) raised" in first.output, first.output
    second = runner.invoke(args=["jobs", "run", "scan_deadlines", "--now", at])
    assert second.exit_code == 0 and "0 reminder(s) raised" in second.output
    assert "scan_deadlines" in runner.invoke(args=["jobs", "list"]).output
    assert len(reminders()) == 2
