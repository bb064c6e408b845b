"""Working-day arithmetic against the official 2026 schedule (国办发明电〔2025〕7号) and the
provisional fallback for years chinese-calendar has no data for."""
from datetime import date, datetime, timezone

import pytest

from caseflow.calendar import LOCAL_TZ, OfficeCalendar, end_of_local_day, package_has_year


def local(y, m, d, hh=10, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


cal = OfficeCalendar()


@pytest.mark.parametrize("day, working", [
    (date(2026, 10, 1), False),   # National Day
    (date(2026, 10, 7), False),   # National Day holiday week
    (date(2026, 10, 10), True),   # Saturday make-up working day (调休)
    (date(2026, 2, 16), False),   # Spring Festival
    (date(2026, 2, 14), True),    # Saturday make-up working day
    (date(2026, 11, 23), True),   # an ordinary Monday
    (date(2026, 11, 22), False),  # an ordinary Sunday
])
def test_official_2026_schedule(day, working):
    assert cal.is_working_day(day) is working
    assert not cal.is_provisional(day)


def test_deadline_ends_at_local_midnight_after_the_last_day():
    deadline = cal.add_working_days(local(2026, 11, 23), 1)
    assert deadline.at == datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)  # 24:00 on the 24th, UTC+8
    assert not deadline.provisional


def test_working_days_skip_national_day_and_count_the_make_up_saturday():
    # Wed 30 Sep + 3 wd: Oct 1-7 are holidays, Thu 8 and Fri 9 count, then Saturday 10 Oct is a working day.
    assert cal.add_working_days(local(2026, 9, 30), 3).at == end_of_local_day(date(2026, 10, 10))


def test_working_days_across_spring_festival_and_its_make_up_days():
    # Fri 13 Feb + 2 wd: Sat 14 is a make-up working day, 15 Sun, 16-23 holidays, Tue 24 is the second.
    assert cal.add_working_days(local(2026, 2, 13), 2).at == end_of_local_day(date(2026, 2, 24))


def test_same_day_rolls_to_the_next_working_day_when_the_office_is_closed():
    assert cal.add_working_days(local(2026, 11, 23), 0).at == end_of_local_day(date(2026, 11, 23))
    assert cal.add_working_days(local(2026, 11, 21), 0).at == end_of_local_day(date(2026, 11, 23))


def test_calendar_days_ending_on_a_holiday_run_to_the_next_working_day():
    assert cal.add_calendar_days(local(2026, 9, 24), 7).at == end_of_local_day(date(2026, 10, 8))
    assert cal.add_calendar_days(local(2026, 11, 2), 7).at == end_of_local_day(date(2026, 11, 9))


def test_a_year_without_official_data_is_provisional_and_skips_weekends_and_fixed_holidays():
    assert not package_has_year(2099)
    # Wed 30 Dec 2099 + 2 wd: Thu 31, (Fri 1 Jan 2100 is New Year's Day), Mon 4 Jan.
    deadline = cal.add_working_days(local(2099, 12, 30), 2)
    assert deadline.at == end_of_local_day(date(2100, 1, 4))
    assert deadline.provisional


def test_a_deadline_crossing_into_an_unknown_year_is_provisional():
    last_known = max(year for year in range(2020, 2100) if package_has_year(year))
    deadline = cal.add_working_days(local(last_known, 12, 28), 5)
    assert deadline.provisional
    assert not cal.add_working_days(local(last_known, 6, 1), 5).provisional


def test_overrides_close_the_office_or_add_a_working_day():
    closed = OfficeCalendar({date(2026, 11, 24): False})
    assert closed.add_working_days(local(2026, 11, 23), 1).at == end_of_local_day(date(2026, 11, 25))
    extra = OfficeCalendar({date(2026, 11, 28): True})  # a Saturday the office opens
    assert extra.add_working_days(local(2026, 11, 27), 1).at == end_of_local_day(date(2026, 11, 28))


def test_an_override_makes_an_unknown_day_certain():
    override = OfficeCalendar({date(2099, 6, 1): False})
    assert override.is_provisional(date(2099, 6, 2))
    assert not override.is_provisional(date(2099, 6, 1))


def test_working_days_between():
    assert cal.working_days_between(local(2026, 9, 30), local(2026, 10, 9)) == 2
    assert cal.working_days_between(local(2026, 11, 23, 9), local(2026, 11, 23, 17)) == 0
