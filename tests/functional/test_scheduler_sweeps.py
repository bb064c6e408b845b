"""The scheduler's sweeps over many cases: one case that cannot move now does not undo the others."""
from datetime import timedelta

import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.models import Case
from caseflow.services.fees import accrue_late_charges
from tests.factories import FEE_NOW, advance_fee, make_fee_case, reload

SERVED = ("investigate", "review", "serve_notice", "decide", "serve_decision")
NEXT_DAY = FEE_NOW + timedelta(days=1)


def test_a_case_changed_a_moment_ago_is_left_for_the_next_run(office):
    first, second = (advance_fee(make_fee_case(office), SERVED, office) for _ in range(2))
    cases = db.session.scalars(sa.select(Case).where(Case.id.in_([first.id, second.id]))).all()
    assert {c.state for c in cases} == {"served"}
    with db.engine.begin() as other:  # a clerk's change to the first case commits while the sweep runs
        other.execute(sa.update(Case).where(Case.id == first.id).values(version=Case.version + 1))
    with transactional():
        assert accrue_late_charges(NEXT_DAY) == 1
    assert (reload(first).state, reload(second).state) == ("served", "overdue")
    with transactional():  # the next run picks it up
        assert accrue_late_charges(NEXT_DAY) == 1
    assert reload(first).state == "overdue"


def test_late_charges_are_brought_up_to_date_chunk_by_chunk(office, monkeypatch):
    monkeypatch.setattr("caseflow.services.fees.ACCRUAL_CHUNK", 2)
    cases = [advance_fee(make_fee_case(office), SERVED, office) for _ in range(5)]
    with transactional():
        assert accrue_late_charges(NEXT_DAY) == 5  # chunks of 2, 2 and 1
    assert {reload(case).state for case in cases} == {"overdue"}
    with transactional():  # idempotent per day, across chunks too
        assert accrue_late_charges(NEXT_DAY) == 0
