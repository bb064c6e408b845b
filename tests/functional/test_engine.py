"""The case engine: optimistic locking, the audit chain, clocks, numbers and deadlines."""
import threading
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key

from caseflow import calendar as office_calendar
from caseflow.calendar import LOCAL_TZ, end_of_local_day
from caseflow.extensions import db as _db, transactional
from caseflow.jobs import JOBS
from caseflow.models import Case, CaseEvent, Jurisdiction, User
from caseflow.services.access import can_read, readable_case
from caseflow.services.audit import append_event, verify_chain
from caseflow.services.cases import apply_transition, assign_case, workflow_of
from caseflow.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseflow.services.office_calendar import add_override
from tests.factories import advance, make_case, reload


def at(y, m, d, hh=10):
    return datetime(y, m, d, hh, tzinfo=LOCAL_TZ)


def test_stale_version_is_refused_and_nothing_is_overwritten(db, office):
    case = make_case(office)
    seen = case.version
    with transactional():
        apply_transition(case, "accept", office["clerk"], seen)
    with pytest.raises(Conflict) as info:
        with transactional():
            apply_transition(reload(case), "request_supplement", office["clerk2"], seen,
                             data={"missing_items": "户口簿"})
    assert info.value.message.zh == "该案件已被他人修改，请刷新后重试。"
    case = reload(case)
    assert case.state == "accepted" and [e.trigger for e in case.events] == ["submit", "accept"]


def test_concurrent_writers_one_wins_the_other_gets_a_conflict(app, db, office):
    """Two sessions load the same version; the later flush finds the row changed and is refused."""
    case = make_case(office)
    case_id, version = case.id, case.version
    mine = _db.session.get(Case, case_id)  # loaded before the other clerk acts

    def other_clerk():
        with app.app_context():
            theirs = _db.session.get(Case, case_id)
            with transactional():
                apply_transition(theirs, "accept", _db.session.merge(office["clerk2"]), version)

    worker = threading.Thread(target=other_clerk)
    worker.start()
    worker.join()
    with pytest.raises(Conflict):
        with transactional():
            apply_transition(mine, "request_supplement", office["clerk"], version, data={"missing_items": "户口簿"})
    case = reload(case)
    assert case.state == "accepted" and case.assignee.username == "clerk2"
    assert [e.trigger for e in case.events] == ["submit", "accept"]


def test_an_event_written_after_the_case_was_loaded_is_chained_after_not_over(app, db, office):
    """The step's case comes with its chain's last link; an event written meanwhile by another transaction
    (an attachment: it does not move the case's version) takes that link's next seq, and the step's own
    event follows it instead of failing or forking the chain."""
    case = advance(make_case(office), ["accept"], office)
    case_id, version = case.id, case.version
    mine = readable_case(office["clerk"], case_id, for_update=True)
    assert (mine.last_event_seq, mine.last_event_hash) == (2, case.events[-1].hash)

    def attach_meanwhile():
        with app.app_context():
            theirs = _db.session.get(Case, case_id)
            with transactional():
                append_event(theirs, _db.session.merge(office["clerk2"]), "attach", theirs.state, theirs.state,
                             at(2026, 3, 2), data={"file": "户口簿.pdf"})

    worker = threading.Thread(target=attach_meanwhile)
    worker.start()
    worker.join()
    with transactional():
        apply_transition(mine, "verify", office["clerk"], version,
                         data={"discrepancy": "地址不一致", "other_registry": "示例县公安局"})
    case = reload(case)
    assert [(e.seq, e.trigger) for e in case.events] == [(1, "submit"), (2, "accept"), (3, "attach"), (4, "verify")]
    assert verify_chain(case) is None and case.state == "verifying"


def test_a_step_writes_the_case_row_once_moving_its_version_by_one(db, office):
    case = advance(make_case(office), ["accept"], office)
    version = case.version
    updates = []
    listener = lambda *args: updates.append(args[2]) if args[2].startswith('UPDATE "case"') else None  # noqa: E731
    sa.event.listen(_db.engine, "before_cursor_execute", listener)
    try:
        with transactional():
            apply_transition(case, "verify", office["clerk"], version,
                             data={"discrepancy": "地址不一致", "other_registry": "示例县公安局"})
            assert not _db.session.dirty and case.version == version + 1  # written, nothing left to flush
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", listener)
    assert len(updates) == 1
    with _db.engine.connect() as other:  # what the database holds, not what the session remembers
        row = other.execute(sa.select(Case.__table__).where(Case.id == case.id)).one()
    assert (row.state, row.version, row.data["discrepancy"]) == ("verifying", version + 1, "地址不一致")
    assert row.due_at is not None and reload(case).due_at == case.due_at


def test_a_step_undone_by_a_savepoint_leaves_the_case_as_stored(db, office):
    case = advance(make_case(office), ["accept"], office)
    version = case.version
    with pytest.raises(RuntimeError):
        with _db.session.begin_nested():  # as the scheduler's sweeps run each case
            apply_transition(case, "verify", office["clerk"], version,
                             data={"discrepancy": "地址不一致", "other_registry": "示例县公安局"})
            raise RuntimeError("a later check of the same unit fails")
    assert (case.state, case.version, "discrepancy" in case.data) == ("accepted", version, False)
    _db.session.commit()
    assert (reload(case).state, reload(case).version) == ("accepted", version)


def test_who_may_read_a_case_whether_or_not_its_village_is_loaded(db, office):
    case_id = make_case(office).id  # in V1, of township T1
    expected = {"clerk": True, "supervisor": True, "village1": True, "village2": False, "outsider": False,
                "admin": False}
    ids = {name: office[name].id for name in expected}
    for name, allowed in expected.items():
        _db.session.expunge_all()
        user = _db.session.get(User, ids[name])
        try:  # the step's way: the case FOR UPDATE, its village in the same query
            readable_case(user, case_id, for_update=True)
            assert allowed, name
        except NotFound:
            assert not allowed, name
        _db.session.expunge_all()
        user = _db.session.get(User, ids[name])
        case = _db.session.get(Case, case_id)  # its village not loaded: the user's jurisdictions are listed
        assert _db.session.identity_map.get(identity_key(Jurisdiction, case.jurisdiction_id)) is None or allowed
        assert can_read(user, case) is allowed, name


def test_audit_chain_detects_edits_and_deletions(db, office):
    case = advance(make_case(office), ["accept", "verify", "register"], office)
    assert verify_chain(case) is None
    events = reload(case).events
    original_reason = events[1].reason
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    with _db.engine.begin() as conn:
        conn.execute(sa.update(CaseEvent).where(CaseEvent.id == events[1].id).values(reason="edited later"))
    assert verify_chain(reload(case)) == 2
    with _db.engine.begin() as conn:
        conn.execute(sa.update(CaseEvent).where(CaseEvent.id == events[1].id).values(reason=original_reason))
        conn.execute(sa.delete(CaseEvent).where(CaseEvent.id == events[2].id))
    assert verify_chain(reload(case)) == 4


def test_refused_transition_leaves_no_trace(db, office):
    case = make_case(office)
    with pytest.raises(ValidationFailed) as info:
        with transactional():
            apply_transition(case, "request_supplement", office["clerk"], case.version, data={})
    assert set(info.value.fields) == {"missing_items"}
    case = reload(case)
    assert case.state == "submitted" and len(case.events) == 1 and case.version == 1


def test_reason_is_required_where_the_step_says_so(db, office):
    case = make_case(office)
    with pytest.raises(ValidationFailed) as info:
        with transactional():
            apply_transition(case, "withdraw", office["village1"], case.version, reason="   ")
    assert "reason" in info.value.fields
    assert reload(case).state == "submitted"


def test_acceptance_issues_a_unique_receipt_number_and_pin_and_assigns_the_clerk(db, office):
    first = advance(make_case(office, now=at(2026, 11, 23)), ["accept"], office, now=at(2026, 11, 23, 11))
    second = advance(make_case(office, now=at(2026, 11, 23)), ["accept"], office, now=at(2026, 11, 23, 12))
    assert (first.number, second.number) == ("SY2026000001", "SY2026000002")
    assert len(first.pin) == 6 and first.pin.isdigit()
    assert first.assignee.username == "clerk"
    assert reload(first).events[-1].data["number"] == "SY2026000001"


def test_a_supplement_notice_gives_the_receipt_number_and_pin_but_not_the_case(db, office):
    from caseflow.services.cases import workflow_of as wf_of

    case = advance(make_case(office, now=at(2026, 11, 23)), ["request_supplement"], office, now=at(2026, 11, 23, 11))
    number, pin = case.number, case.pin
    assert number == "SY2026000001" and len(pin) == 6 and case.assignee is None
    assert case.events[-1].data["number"] == number
    documents = {d.name for d in wf_of(case).documents if d.available(case)}
    assert documents == {"supplement_notice"}  # the acceptance receipt waits for the acceptance
    advance(case, ["resubmit", "accept"], office, now=at(2026, 11, 24))
    assert (case.number, case.pin) == (number, pin) and case.assignee.username == "clerk"
    assert "receipt" in {d.name for d in wf_of(case).documents if d.available(case)}


def test_deadlines_follow_the_state_and_the_clock_stops_while_waiting_for_documents(db, office):
    case = make_case(office, now=at(2026, 9, 29))  # Tue; the 5 wd skip National Day (Oct 1-7):
    assert case.due_at == end_of_local_day(date(2026, 10, 12))  # Wed 30, Thu 8, Fri 9, Sat 10 (调休), Mon 12
    assert case.target_at == end_of_local_day(date(2026, 9, 30))
    advance(case, ["request_supplement"], office, now=at(2026, 9, 30))
    assert case.due_at is None and case.paused_since is not None
    advance(case, ["resubmit"], office, now=at(2026, 10, 12))
    assert case.paused_seconds == int(timedelta(days=12).total_seconds())
    assert case.paused_since is None
    assert case.due_at == end_of_local_day(date(2026, 10, 19))  # the 5 wd restart on resubmission
    advance(case, ["accept", "register"], office, now=at(2026, 10, 13))
    assert case.closed_at is not None and case.outcome == "registered" and case.due_at is None


def test_a_step_taken_after_its_legal_deadline_is_counted_late(db, office):
    case = make_case(office, now=at(2026, 11, 2))  # Mon: 5 working days, due at the end of Mon 9 Nov
    advance(case, ["accept"], office, now=at(2026, 11, 9, 23))  # in time, on the last day
    assert case.late_steps == 0
    advance(case, ["verify"], office, now=at(2026, 11, 16))  # accepted: 3 working days, due Thu 12 Nov
    assert case.late_steps == 1
    advance(case, ["register"], office, now=at(2026, 11, 17))  # verifying: 15 working days, in time
    assert reload(case).late_steps == 1


def test_calendar_override_recomputes_open_deadlines(db, office):
    case = make_case(office, now=at(2026, 11, 23))
    closed = make_case(office, now=at(2026, 11, 23))
    advance(closed, ["withdraw"], office, now=at(2026, 11, 23))
    assert case.due_at == end_of_local_day(date(2026, 11, 30))
    with transactional():
        changed = add_override(date(2026, 11, 25), False, "办公楼停电", office["admin"])
    assert changed == 1
    assert reload(case).due_at == end_of_local_day(date(2026, 12, 1))
    with pytest.raises(PermissionDenied):
        add_override(date(2026, 11, 26), False, "x", office["clerk"])


def test_provisional_deadlines_become_firm_when_calendar_data_arrives(db, office, monkeypatch):
    """chinese-calendar has no data for the next year yet; simulate the upgrade that brings it."""
    year = max(y for y in range(2020, 2100) if office_calendar.package_has_year(y)) + 1
    case = make_case(office, now=at(year - 1, 12, 28))
    assert case.deadline_provisional
    provisional_due = case.due_at
    # The upgraded package knows that 4 January is a holiday in that year.
    monkeypatch.setattr(office_calendar, "package_has_year", lambda y: y <= year)
    monkeypatch.setattr(office_calendar.chinese_calendar, "is_workday",
                        lambda d: d.weekday() < 5 and d not in {date(year, 1, 1), date(year, 1, 4)})
    assert "1 provisional deadline(s) recomputed" in JOBS["refresh_provisional_deadlines"].run(at(year, 1, 2))
    case = reload(case)
    assert not case.deadline_provisional
    assert case.due_at > provisional_due


def test_a_case_keeps_the_workflow_version_it_started_with(db, office):
    case = make_case(office)
    assert (case.workflow, case.workflow_version) == ("birth_registration", 1)
    assert workflow_of(case).version == 1


def test_assignment_rules_and_audit(db, office):
    case = make_case(office)
    with transactional():
        assign_case(case, office["clerk"], office["clerk"], case.version)  # take an unassigned case
    with pytest.raises(PermissionDenied):
        assign_case(case, office["clerk2"], office["clerk2"], case.version)  # cannot grab a colleague's
    with pytest.raises(ValidationFailed):
        assign_case(case, office["village1"], office["supervisor"], case.version)  # not a handler
    with pytest.raises(ValidationFailed):
        assign_case(case, office["outsider"], office["supervisor"], case.version)  # other township
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, reason="请假")
    case = reload(case)
    assert case.assignee.username == "clerk2"
    assert [(e.trigger, e.data, e.reason) for e in case.events[1:]] == [
        ("assign", {"from": None, "to": "clerk"}, None), ("assign", {"from": "clerk", "to": "clerk2"}, "请假")]


def test_admin_changes_a_configurable_deadline_and_open_cases_follow(db, office):
    from caseflow.services.deadlines import reset_deadline_setting, save_deadline_setting

    case = advance(make_case(office, now=at(2026, 11, 23)), ["accept"], office, now=at(2026, 11, 23))
    assert case.due_at == end_of_local_day(date(2026, 11, 26))  # shipped: 3 wd for online registration
    with pytest.raises(PermissionDenied):
        save_deadline_setting("birth_registration", "accepted", 5, 1, office["supervisor"])
    with pytest.raises(ValidationFailed) as info:
        save_deadline_setting("birth_registration", "accepted", 2, 4, office["admin"])
    assert set(info.value.fields) == {"target_amount"}
    with transactional():
        assert save_deadline_setting("birth_registration", "accepted", 5, 1, office["admin"]) == 1
    case = reload(case)
    assert case.due_at == end_of_local_day(date(2026, 11, 30))
    assert case.target_at == end_of_local_day(date(2026, 11, 24))
    fresh = advance(make_case(office, now=at(2026, 11, 24)), ["accept"], office, now=at(2026, 11, 24))
    assert fresh.due_at == end_of_local_day(date(2026, 12, 1))
    with transactional():
        reset_deadline_setting("birth_registration", "accepted", office["admin"])
    assert reload(case).due_at == end_of_local_day(date(2026, 11, 26))
