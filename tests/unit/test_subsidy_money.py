"""Subsidy money arithmetic: periods, eligible months, pro-rating and the rounding rule (integer fen)."""
from datetime import date

import pytest

from caseflow.services.subsidy_payments import amount_for, eligible_months, period_bounds
from caseflow.services.subsidies import ANNUAL_AMOUNT, childcare_window, next_period_start
from caseflow.workflows.subsidy import third_birthday


@pytest.mark.parametrize("frequency, period, bounds", [
    ("annual", "2026", (date(2026, 1, 1), date(2027, 1, 1))),
    ("quarterly", "2026Q4", (date(2026, 10, 1), date(2027, 1, 1))),
    ("quarterly", "2026q1", (date(2026, 1, 1), date(2026, 4, 1))),
    ("monthly", "2026-12", (date(2026, 12, 1), date(2027, 1, 1))),
    ("monthly", "2026-02", (date(2026, 2, 1), date(2026, 3, 1))),
])
def test_period_bounds(frequency, period, bounds):
    assert period_bounds(frequency, period) == bounds


@pytest.mark.parametrize("frequency, period", [
    ("annual", "2026Q1"), ("quarterly", "2026"), ("quarterly", "2026Q5"), ("monthly", "2026-13"),
    ("monthly", "2026-1"), ("annual", "26"), ("weekly", "2026"), ("annual", ""),
])
def test_a_period_not_matching_the_frequency_is_refused(frequency, period):
    with pytest.raises(ValueError):
        period_bounds(frequency, period)


def test_a_month_counts_when_the_enrolment_covers_its_first_day():
    q4 = (date(2026, 10, 1), date(2027, 1, 1))
    assert eligible_months(date(2026, 1, 1), None, *q4) == 3
    assert eligible_months(date(2026, 10, 1), None, *q4) == 3
    assert eligible_months(date(2026, 10, 2), None, *q4) == 2
    assert eligible_months(date(2026, 11, 24), None, *q4) == 1
    assert eligible_months(date(2026, 1, 1), date(2026, 11, 1), *q4) == 1
    assert eligible_months(date(2026, 1, 1), date(2026, 10, 1), *q4) == 0
    assert eligible_months(None, None, *q4) == 0


def test_a_month_whose_first_day_falls_in_a_suspension_is_not_paid():
    year = (date(2026, 1, 1), date(2027, 1, 1))
    start = date(2025, 1, 1)
    assert eligible_months(start, None, *year, suspended=((date(2026, 10, 15), None),)) == 10
    assert eligible_months(start, None, *year, suspended=((date(2026, 10, 1), None),)) == 9
    # Suspended 15 March, resumed 10 June: April, May and June are not paid (no arrears).
    assert eligible_months(start, None, *year, suspended=((date(2026, 3, 15), date(2026, 6, 10)),)) == 9
    assert eligible_months(start, None, *year, suspended=((date(2026, 2, 1), date(2026, 3, 1)),
                                                          (date(2026, 11, 5), None))) == 10
    assert eligible_months(start, date(2026, 12, 1), *year, suspended=((date(2026, 12, 5), None),)) == 11


def test_a_child_is_paid_exactly_36_months_whatever_the_birth_day():
    def total(born):
        start, end = childcare_window(born)
        return sum(eligible_months(start, end, date(y, 1, 1), date(y + 1, 1, 1)) for y in range(2025, 2033))

    for born in (date(2025, 3, 1), date(2025, 3, 15), date(2025, 3, 31), date(2025, 12, 31), date(2028, 2, 29)):
        assert total(born) == 36, born
    # Born on 2024-02-29 (before 2025): January 2025 … February 2027, the third birthday being 1 March.
    assert total(date(2024, 2, 29)) == 26


def test_children_born_before_2025_are_pro_rated_300_yuan_a_month_from_2025():
    start, end = childcare_window(date(2023, 6, 15))
    assert (start, end) == (date(2025, 1, 1), date(2026, 6, 15))
    months_2025 = eligible_months(start, end, date(2025, 1, 1), date(2026, 1, 1))
    months_2026 = eligible_months(start, end, date(2026, 1, 1), date(2027, 1, 1))
    assert (months_2025, months_2026) == (12, 6)
    assert amount_for(360000, months_2025) == 360000 and amount_for(360000, months_2026) == 180000
    assert amount_for(360000, 1) == 30000  # 300 元 a month


def test_third_birthday_of_a_leap_day_child():
    assert third_birthday(date(2024, 2, 29)) == date(2027, 3, 1)


def test_amounts_round_down_to_the_fen_per_payment():
    assert amount_for(96000, 12) == 96000
    assert amount_for(96000, 1) == 8000
    assert amount_for(100001, 1) == 8333  # 8333.41… rounds down
    assert amount_for(100001, 12) == 100001
    assert amount_for(0, 3) == 0
    assert all(isinstance(amount_for(a, m), int) for a in (96000, 100001) for m in range(13))


def test_next_payment_period_start():
    assert next_period_start("annual", date(2026, 5, 10)) == date(2027, 1, 1)
    assert next_period_start("quarterly", date(2026, 5, 10)) == date(2026, 7, 1)
    assert next_period_start("quarterly", date(2026, 12, 31)) == date(2027, 1, 1)
    assert next_period_start("monthly", date(2026, 12, 5)) == date(2027, 1, 1)
    assert next_period_start("monthly", date(2026, 5, 10)) == date(2026, 6, 1)


@pytest.mark.parametrize("typed, fen", [("960", 96000), ("8400.00", 840000), ("1,234.5", 123450), ("0.01", 1),
                                        ("￥3600", 360000)])
def test_yuan_typed_to_fen(typed, fen):
    assert ANNUAL_AMOUNT.clean(typed, date(2026, 11, 24)) == fen


@pytest.mark.parametrize("typed", ["", "-1", "1.234", "abc", "1e3", "123456789.01"])
def test_bad_amounts_are_refused(typed):
    with pytest.raises(ValueError):
        ANNUAL_AMOUNT.clean(typed, date(2026, 11, 24))
