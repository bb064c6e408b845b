"""A file's name can be health data: on a termination-certificate case it stays out of the audit trail and
is gone after the retention purge."""
import io
from datetime import timedelta

import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.models import Attachment
from caseflow.services.attachments import add_attachment
from caseflow.services.audit import verify_chain
from caseflow.services.retention import purge_expired_procedure_details
from tests.factories import make_procedure_case, reload, tiny_png
from tests.functional.test_procedure_certificate import local, step
from tests.functional.ui_support import signed_in, text_of

NAME = "孕18周B超报告.png"


def test_the_audit_trail_names_the_kind_of_file_and_the_purge_renames_it(app, office, store):
    closed_on = local(2026, 3, 2, 10, 0)
    case = make_procedure_case(office, now=closed_on - timedelta(hours=2))
    with transactional():
        attachment = add_attachment(case, office["clerk"], "other", NAME, io.BytesIO(tiny_png()),
                                    closed_on - timedelta(hours=1))
    event = reload(case).events[-1]
    assert (event.trigger, event.data["filename"]) == ("attach", "other.png")
    assert attachment.filename == NAME  # the handler still sees the name while the case is kept
    step(case, "issue", office["clerk"], now=closed_on)

    with transactional():
        assert purge_expired_procedure_details(closed_on + timedelta(days=181)) == 1
    case = reload(case)
    assert list(db.session.scalars(sa.select(Attachment.filename).where(Attachment.case_id == case.id))) == [
        "other.png"]
    assert verify_chain(case) is None
    page = text_of(signed_in(app, "supervisor").get(f"/cases/{case.id}"))
    assert "孕18周" not in page


def test_the_api_logs_the_case_it_returns_after_a_step_and_hides_it_after_a_hand_back(app, client, office):
    from caseflow.models import CaseRead
    from tests.functional.test_openapi import api

    case = make_procedure_case(office)
    clerk = api(app, client).as_user("clerk")
    moved = clerk.post(f"/cases/{case.id}/transitions", {"trigger": "request_supplement", "version": case.version,
                                                         "data": {"missing_items": "户口簿"}})
    assert moved.status_code == 200 and moved.get_json()["data"]["gestation_weeks"]
    reads = list(db.session.scalars(sa.select(CaseRead.what).where(CaseRead.case_id == case.id)))
    assert reads == ["api:transition"]
    handed_back = clerk.post(f"/cases/{case.id}/assignment", {"assignee": None, "version": moved.get_json()["version"]})
    assert handed_back.status_code == 200 and handed_back.get_json()["data"] == {}
    assert clerk.get(f"/cases/{case.id}").status_code == 404
