"""孕14周以上终止妊娠证明 through the services: the minimal application, the same-day deadline, the closed
list of refusal grounds, need-to-know access with its read log, and the retention purge."""
from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import LOCAL_TZ, end_of_local_day, to_local
from caseflow.extensions import db, transactional
from caseflow.models import Attachment, Case, Comment, DeadlineSetting
from caseflow.services import access
from caseflow.services.attachments import stored_path
from caseflow.services.audit import verify_chain
from caseflow.services.cases import WITHHELD, apply_transition, assign_case, open_case
from caseflow.services.deadlines import SAME_DAY_FIXED, save_deadline_setting
from caseflow.services.errors import NotFound, PermissionDenied, Refused, ValidationFailed
from caseflow.services.queues import CaseFilter, my_queue, search_cases
from caseflow.services.retention import purge_expired_procedure_details
from caseflow.services.users import system_user
from caseflow.views.template_helpers import deadline_day
from caseflow.workflows import latest
from caseflow.workflows.definition import NOT_A_CHOICE, OUT_OF_RANGE, REQUIRED
from tests.factories import applicant, make_procedure_case, procedure_certificate_data, reload

WORKFLOW = latest("procedure_certificate")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


def step(case, trigger, user, now=None, reason=None, **data):
    with transactional():
        return apply_transition(case, trigger, user, case.version, reason=reason, data=data, now=now)


# ------------------------------------------------------------------------------------------ application

def test_the_application_asks_for_the_minimum_and_nothing_about_a_spouse_or_the_fetus():
    names = {f.name for f in WORKFLOW.application_fields}
    assert names == {"gestation_weeks", "institution", "declaration"}
    every = names | {f.name for s in WORKFLOW.steps for f in s.fields}
    assert not any(word in name for name in every for word in ("spouse", "husband", "partner", "sex", "gender",
                                                               "contracept", "marital"))
    assert WORKFLOW.sensitive_fields == {"gestation_weeks", "institution"}
    assert WORKFLOW.need_to_know and WORKFLOW.opened_by == {"clerk", "supervisor"}


def test_opening_assigns_the_clerk_issues_a_receipt_and_keeps_health_data_out_of_the_audit(office):
    case = make_procedure_case(office, by="clerk")
    case = reload(case)
    assert case.state == "submitted" and case.assignee.username == "clerk"
    assert case.number.startswith(f"ZZ{to_local(case.opened_at).year}") and len(case.pin) == 6
    assert case.data == procedure_certificate_data()
    submit = case.events[0]
    assert submit.data == {"gestation_weeks": WITHHELD, "institution": WITHHELD, "declaration": "confirmed"}


@pytest.mark.parametrize("data, field, message", [
    (procedure_certificate_data(gestation_weeks=13), "gestation_weeks", OUT_OF_RANGE.format(lo=14, hi=40)),
    (procedure_certificate_data(gestation_weeks=41), "gestation_weeks", OUT_OF_RANGE.format(lo=14, hi=40)),
    (procedure_certificate_data(declaration="declined"), "declaration", NOT_A_CHOICE),
    (procedure_certificate_data(declaration=""), "declaration", REQUIRED),
    (procedure_certificate_data(institution=""), "institution", REQUIRED),
])
def test_invalid_applications_are_refused_field_by_field(office, data, field, message):
    with pytest.raises(ValidationFailed) as refused:
        with transactional():
            open_case("procedure_certificate", office.village.id, applicant(), data, office["clerk"])
    assert refused.value.fields == {field: message}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_spouse_field_sent_anyway_is_not_stored(office):
    case = make_procedure_case(office, data=procedure_certificate_data(spouse_name="王强", fetal_sex="x"))
    assert set(reload(case).data) == {"gestation_weeks", "institution", "declaration"}


def test_village_officers_may_not_open_one(office):
    with pytest.raises(PermissionDenied):
        with transactional():
            open_case("procedure_certificate", office.village.id, applicant(), procedure_certificate_data(),
                      office["village1"])


# -------------------------------------------------------------------------------------------- deadlines

@pytest.mark.parametrize("submitted", [
    local(2026, 11, 28, 10, 15),   # a Saturday
    local(2026, 11, 29, 23, 30),   # a Sunday, late in the evening
    local(2026, 10, 1, 9, 0),      # National Day
    local(2026, 10, 5, 16, 45),    # inside the National Day holiday week
])
def test_due_the_same_calendar_day_whatever_the_day(office, submitted):
    case = reload(make_procedure_case(office, now=submitted.astimezone(LOCAL_TZ)))
    assert case.due_at == end_of_local_day(submitted.date())
    assert deadline_day(case.due_at) == submitted.date()
    last_second = datetime.combine(submitted.date(), time(23, 59, 59), LOCAL_TZ)
    assert last_second < case.due_at <= last_second + timedelta(seconds=1)
    assert case.target_at is None and not case.deadline_provisional


def test_a_supplement_request_stops_the_clock_and_resubmission_gets_a_new_same_day_deadline(office):
    case = make_procedure_case(office, now=local(2026, 10, 2, 9, 0))
    step(case, "request_supplement", office["clerk"], now=local(2026, 10, 2, 10, 0), missing_items="身份证原件")
    case = reload(case)
    assert case.due_at is None and case.paused_since is not None
    step(case, "resubmit", office["clerk"], now=local(2026, 10, 4, 20, 0), supplied_items="身份证原件")
    case = reload(case)
    assert case.state == "submitted" and case.paused_since is None
    assert case.due_at == end_of_local_day(local(2026, 10, 4).date())
    assert case.paused_seconds == int(timedelta(days=2, hours=10).total_seconds())


def test_the_same_day_limit_cannot_be_changed_by_an_admin(office):
    with pytest.raises(ValidationFailed) as refused:
        with transactional():
            save_deadline_setting("procedure_certificate", "submitted", 3, None, office["admin"])
    assert refused.value.message == SAME_DAY_FIXED and refused.value.fields == {"limit_amount": SAME_DAY_FIXED}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeadlineSetting)) == 0


# ------------------------------------------------------------------------------------- refusal grounds

def test_refusal_grounds_are_a_closed_list(office):
    refuse = WORKFLOW.step_for("refuse", "submitted")
    (ground,) = refuse.fields
    assert [key for key, _ in ground.choices] == ["identity_mismatch", "incomplete_application"]
    assert refuse.reason_required
    case = make_procedure_case(office)
    for other in ("medical_grounds", "sex_selection", "no_spouse_consent", ""):
        with pytest.raises(ValidationFailed) as refused:
            step(case, "refuse", office["supervisor"], reason="理由", refusal_ground=other)
        assert "refusal_ground" in refused.value.fields
        case = reload(case)
        assert case.state == "submitted"
    with pytest.raises(ValidationFailed) as refused:
        step(case, "refuse", office["supervisor"], refusal_ground="identity_mismatch")
    assert "reason" in refused.value.fields
    step(reload(case), "refuse", office["supervisor"], reason="身份证件与本人不符", refusal_ground="identity_mismatch")
    case = reload(case)
    assert case.state == "refused" and case.outcome == "refused" and case.data["refusal_ground"] == "identity_mismatch"


def test_incomplete_application_is_a_ground_only_after_the_one_notice_of_what_is_missing(office):
    case = make_procedure_case(office)
    with pytest.raises(Refused):
        step(case, "refuse", office["supervisor"], reason="材料不全", refusal_ground="incomplete_application")
    assert reload(case).state == "submitted"
    step(reload(case), "request_supplement", office["clerk"], missing_items="身份证原件")
    step(reload(case), "resubmit", office["clerk"], supplied_items="仍未提供身份证原件")
    step(reload(case), "refuse", office["supervisor"], reason="经告知后仍未提供身份证原件",
         refusal_ground="incomplete_application")
    assert reload(case).state == "refused"


# --------------------------------------------------------------------------------------------- access

def _ids(page) -> set[int]:
    return {case.id for case in page.items}


def test_only_the_assignee_supervisors_and_auditors_can_find_the_case(office):
    case = reload(make_procedure_case(office, by="clerk", name="刘秀英"))
    finds = {
        "name": CaseFilter(text="刘秀英"),
        "number": CaseFilter(text=case.number.lower()),
        "resident ID": CaseFilter(text=case.applicant.resident_id),
        "workflow": CaseFilter(workflow="procedure_certificate"),
        "everything": CaseFilter(),
    }
    for username in ("clerk", "supervisor", "auditor"):
        user = office[username]
        assert access.readable_case(user, case.id) is case
        assert all(_ids(search_cases(user, f)) == {case.id} for f in finds.values()), username
    assert _ids(my_queue(office["clerk"])) == {case.id}
    for username in ("clerk2", "village1", "village2", "admin", "outsider"):
        user = office[username]
        with pytest.raises(NotFound):
            access.readable_case(user, case.id)
        for what, f in finds.items():
            page = search_cases(user, f)
            assert case.id not in _ids(page) and page.total == 0, (username, what)
        assert my_queue(user).total == 0
        count = db.session.scalar(sa.select(sa.func.count()).select_from(access.visible_cases(user).subquery()))
        assert count == 0, username


def test_reassignment_moves_access_from_one_clerk_to_the_other(office):
    case = make_procedure_case(office, by="clerk")
    with transactional():
        assign_case(case, office["clerk2"], office["supervisor"], case.version, reason="换人办理")
    case = reload(case)
    assert access.can_read(office["clerk2"], case) and not access.can_read(office["clerk"], case)
    assert _ids(my_queue(office["clerk2"])) == {case.id} and my_queue(office["clerk"]).total == 0
    step(case, "issue", office["clerk2"])
    assert reload(case).state == "issued"


def test_a_clerk_cannot_hand_the_case_to_the_pool_and_lose_it_unseen(office):
    """Handing it back is allowed (the engine's rule), but then only supervisors see it until assigned."""
    case = make_procedure_case(office, by="clerk")
    with transactional():
        assign_case(case, None, office["clerk"], case.version)
    case = reload(case)
    assert not access.can_read(office["clerk"], case) and not access.can_read(office["clerk2"], case)
    assert case.id in _ids(my_queue(office["supervisor"]))


# --------------------------------------------------------------------------------------------- purge

def _closed_case(office, trigger, closed_on: datetime, **extra):
    opened = closed_on - timedelta(hours=2)
    case = make_procedure_case(office, now=opened, **extra)
    if trigger == "refuse":
        step(case, trigger, office["supervisor"], now=closed_on, reason="身份不符", refusal_ground="identity_mismatch")
    elif trigger == "withdraw":
        step(case, trigger, office["clerk"], now=closed_on, reason="本人申请撤回")
    else:
        step(case, trigger, office["clerk"], now=closed_on)
    content = f"scan of case {case.id}".encode()
    sha256 = hashlib.sha256(content).hexdigest()
    stored_path(sha256).parent.mkdir(parents=True, exist_ok=True)
    stored_path(sha256).write_bytes(content)
    with transactional():
        db.session.add(Comment(case_id=case.id, author_id=office["clerk"].id, at=closed_on, body="医院建议尽快"))
        db.session.add(Attachment(case_id=case.id, kind="id_proof", filename="id.jpg", content_type="image/jpeg",
                                  size=len(content), sha256=sha256, uploaded_by_id=office["clerk"].id,
                                  uploaded_at=closed_on))
    return reload(case)


def _snapshot(case):
    return (case.state, case.outcome, case.opened_at, case.closed_at, case.due_at, case.target_at,
            case.jurisdiction_id, case.number, case.applicant_id, case.assignee_id, case.paused_seconds)


def test_purge_removes_medical_details_of_cases_closed_past_retention(app, office):
    now = local(2026, 11, 24, 3, 0)
    old = _closed_case(office, "issue", now - timedelta(days=181))
    refused = _closed_case(office, "refuse", now - timedelta(days=200))
    recent = _closed_case(office, "withdraw", now - timedelta(days=179))
    still_open = make_procedure_case(office, now=now - timedelta(days=400))
    before = {c.id: (_snapshot(c), dict(c.data), len(c.events)) for c in (old, refused, recent, still_open)}

    with transactional():
        assert purge_expired_procedure_details(now) == 2

    system = system_user()
    for case in (reload(old), reload(refused)):
        snapshot, data, events = before[case.id]
        assert _snapshot(case) == snapshot  # the statistical record stays
        assert "gestation_weeks" not in case.data and "institution" not in case.data
        assert case.data == {k: v for k, v in data.items() if k not in ("gestation_weeks", "institution")}
        assert case.purged_at == now
        assert len(case.events) == events + 1
        purge = case.events[-1]
        assert (purge.trigger, purge.from_state, purge.to_state, purge.actor_id) == \
            ("purge", case.state, case.state, system.id)
        assert purge.data == {"removed_fields": ["gestation_weeks", "institution"], "comments": 1, "attachments": 1}
        assert "16" not in str(purge.data) and "医院" not in str(purge.data)
        assert verify_chain(case) is None
        comment = db.session.scalar(sa.select(Comment).where(Comment.case_id == case.id))
        assert comment.body == "" and comment.purged_at == now
        attachment = db.session.scalar(sa.select(Attachment).where(Attachment.case_id == case.id))
        assert attachment.purged_at == now and attachment.size > 0  # the record stays, the bytes go
        assert not stored_path(attachment.sha256).exists()
        # Nothing of the purged values is left anywhere in the case's audit trail either.
        assert not any("示例县人民医院" in str(e.data) for e in case.events)
    assert reload(refused).data["refusal_ground"] == "identity_mismatch"

    for case in (reload(recent), reload(still_open)):
        snapshot, data, events = before[case.id]
        assert (_snapshot(case), case.data, len(case.events), case.purged_at) == (snapshot, data, events, None)
    assert db.session.scalar(sa.select(Comment.body).where(Comment.case_id == recent.id)) == "医院建议尽快"
    kept = db.session.scalar(sa.select(Attachment).where(Attachment.case_id == recent.id))
    assert kept.purged_at is None and stored_path(kept.sha256).is_file()


def test_purge_runs_twice_without_changing_anything_the_second_time(office):
    now = local(2026, 11, 24, 3, 0)
    case = _closed_case(office, "issue", now - timedelta(days=365))
    with transactional():
        assert purge_expired_procedure_details(now) == 1
    case = reload(case)
    state = (case.version, dict(case.data), case.purged_at, len(case.events))
    with transactional():
        assert purge_expired_procedure_details(now + timedelta(days=1)) == 0
    case = reload(case)
    assert (case.version, case.data, case.purged_at, len(case.events)) == state
    assert verify_chain(case) is None


def test_the_retention_period_is_a_setting(app, office, monkeypatch):
    now = local(2026, 11, 24, 3, 0)
    case = _closed_case(office, "issue", now - timedelta(days=40))
    with transactional():
        assert purge_expired_procedure_details(now) == 0
    monkeypatch.setitem(app.config, "CASEFLOW_PROCEDURE_RETENTION_DAYS", 30)
    with transactional():
        assert purge_expired_procedure_details(now) == 1
    assert reload(case).purged_at == now


def test_birth_registrations_are_not_purged(office):
    from tests.factories import advance, make_case

    now = local(2026, 11, 24, 3, 0)
    birth = advance(make_case(office, now=now - timedelta(days=400)), ("accept", "register"), office,
                    now=now - timedelta(days=399))
    data = dict(reload(birth).data)
    with transactional():
        assert purge_expired_procedure_details(now) == 0
    assert reload(birth).data == data and reload(birth).purged_at is None


def test_only_the_system_purges(office):
    with pytest.raises(PermissionDenied):
        with transactional():
            purge_expired_procedure_details(local(2026, 11, 24, 3, 0), actor=office["supervisor"])


def test_the_scheduler_job_purges(app, office):
    from caseflow.jobs import JOBS

    now = local(2026, 11, 24, 3, 0)
    case = _closed_case(office, "issue", now - timedelta(days=200))
    assert JOBS["purge_procedure_details"].run(now) == "1 procedure certificate case(s) purged"
    assert reload(case).purged_at == now
    assert JOBS["purge_procedure_details"].run(now) == "0 procedure certificate case(s) purged"


# ---------------------------------------------------------------------------------------------- demo

def test_demo_data_has_procedure_certificates_in_every_state_held_by_clerks(app, db):
    from caseflow.services.demo import seed_demo

    now = local(2026, 11, 24, 15, 0)
    with transactional():
        seed_demo(now)
    cases = list(db.session.scalars(sa.select(Case).where(Case.workflow == "procedure_certificate")))
    assert {c.state for c in cases} == {s.name for s in WORKFLOW.states}
    assert all(c.assignee.has_role("clerk") and c.number and verify_chain(c) is None for c in cases)
    assert {c.assignee.username for c in cases} == {"clerk", "clerk2"}
    with transactional():
        assert purge_expired_procedure_details(now) >= 1
