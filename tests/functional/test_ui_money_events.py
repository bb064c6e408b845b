"""Money recorded on a case (fee payments, subsidy payment results) reads as words in its history."""
from datetime import date

from caseflow.extensions import transactional
from caseflow.services.fees import record_payment
from caseflow.services.subsidy_payments import mark_payment
from tests.factories import FEE_NOW, advance_fee, make_fee_case
from tests.functional.test_subsidy_payments import batch_of
from tests.functional.test_subsidy_flow import enrolled
from tests.functional.ui_support import signed_in, text_of


def test_a_fee_payment_shows_in_the_history_with_its_split(app, office):
    case = advance_fee(make_fee_case(office), ("investigate", "review", "serve_notice", "decide",
                                               "serve_decision", "start_payment"), office)
    with transactional():
        record_payment(case, office["clerk"], case.version, amount_fen=10000, paid_on=date(2025, 2, 8),
                       receipt_ref="R-9", now=FEE_NOW)
    page = text_of(signed_in(app, "clerk").get(f"/cases/{case.id}"))
    assert "收到缴款" in page and "R-9" in page and "计入本金 ¥100.00" in page
    assert "record_payment" not in page


def test_a_subsidy_payment_result_shows_in_the_history(app, office):
    enrolled(office, starts="2025-01-01")
    payment = batch_of(office, "jiangfu", "2026").payments[0]
    with transactional():
        mark_payment(payment, "failed", "账号已销户", office["clerk"])
    page = text_of(signed_in(app, "clerk").get(f"/cases/{payment.enrolment.case_id}"))
    assert "补贴发放失败" in page and "账号已销户" in page and "¥960.00" in page
