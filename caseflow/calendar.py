"""The office calendar: working days, local time, and deadline arithmetic.

Working days come from the maintained ``chinese-calendar`` package (public holidays and 调休 make-up
working days) plus local overrides an admin enters (office closures, extra working days). The package
only knows years the State Council has published; for a later year we fall back to weekends and the
fixed-date holidays and mark the result *provisional*, so the UI can say so and the deadline can be
recomputed once real data arrives.

Conventions (行政许可法 / 行政处罚法 on periods): the day an event happens is not counted; a period
ends at the end (24:00, Asia/Shanghai) of its last day. Everything is stored in UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

import chinese_calendar

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# Gregorian fixed-date statutory holidays (全国年节及纪念日放假办法, as amended 2024): New Year,
# Labour Day (2 days), National Day (3 days). Lunar holidays cannot be known without official data.
FIXED_DATE_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def local_date(moment: datetime) -> date:
    return to_local(moment).date()


def end_of_local_day(day: date) -> datetime:
    """The instant a period ending on ``day`` runs out: local midnight after it, in UTC."""
    return datetime.combine(day + timedelta(days=1), time.min, LOCAL_TZ).astimezone(timezone.utc)


@lru_cache(maxsize=None)
def package_has_year(year: int) -> bool:
    """True when the installed chinese-calendar has the official schedule for ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def national_working_day(day: date) -> bool:
    """Whether ``day`` is a working day by the national calendar, or by the fallback rule (weekends and the
    fixed-date holidays) for a year the installed chinese-calendar lacks."""
    if not package_has_year(day.year):
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_DATE_HOLIDAYS
    return _package_working_day(day)


# The package's answers, worked out once: it rescans its whole table on every call, and its data cannot
# change while the process runs. Only days of years it covers (fallback answers change when an upgrade
# brings a year). Bounded: 8192 days are 22 years.
@lru_cache(maxsize=8192)
def _package_working_day(day: date) -> bool:
    return chinese_calendar.is_workday(day)


@dataclass(frozen=True)
class Deadline:
    at: datetime
    provisional: bool


class OfficeCalendar:
    """Working-day arithmetic for one office: the national calendar plus its own overrides.

    ``overrides`` maps a date to True (an extra working day) or False (office closed). A calendar does not
    change once made (changed overrides make a new calendar: services.deadlines.load_calendar), so it
    remembers the firm deadlines it has worked out, and a process reuses it for every transition.
    Provisional ones are worked out afresh: they change when a package upgrade brings the year's data.
    """

    # Firm deadlines remembered; far more than the distinct (start day, period) pairs a day's work asks.
    MEMO_SIZE = 4096

    def __init__(self, overrides: Mapping[date, bool] | None = None):
        self.overrides = dict(overrides or {})
        self._memo: dict[tuple[str, date, int], Deadline] = {}

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return national_working_day(day)

    def is_provisional(self, day: date) -> bool:
        """Whether ``day``'s status is a guess (no official data for its year, no override)."""
        return day not in self.overrides and not package_has_year(day.year)

    def _remembered(self, kind: str, day: date, count: int, work: Callable[[date, int], Deadline]) -> Deadline:
        key = (kind, day, count)
        found = self._memo.get(key)
        if found is None:
            found = work(day, count)
            if not found.provisional:
                if len(self._memo) >= self.MEMO_SIZE:  # bounded: a long-running process meets ever new days
                    self._memo.clear()
                self._memo[key] = found
        return found

    def add_working_days(self, start: datetime, count: int) -> Deadline:
        """End of the ``count``-th working day after ``start``'s local date.

        ``count == 0`` means "the same day": the end of that day, or of the next working day when the
        case arrived on a day the office is closed.
        """
        return self._remembered("working", local_date(start), count, self._add_working_days)

    def _add_working_days(self, day: date, count: int) -> Deadline:
        provisional = False
        if count == 0:
            while not self.is_working_day(day):
                provisional |= self.is_provisional(day)
                day += timedelta(days=1)
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            provisional |= self.is_provisional(day)
            if self.is_working_day(day):
                remaining -= 1
        provisional |= self.is_provisional(day)
        return Deadline(end_of_local_day(day), provisional)

    def add_calendar_days(self, start: datetime, count: int) -> Deadline:
        """End of the ``count``-th calendar day after ``start``; a period that would end on a day the
        office is closed runs to the end of the next working day (行政处罚法 第85条 via 民事诉讼法)."""
        return self._remembered("calendar", local_date(start), count, self._add_calendar_days)

    def _add_calendar_days(self, start_day: date, count: int) -> Deadline:
        day = start_day + timedelta(days=count)
        provisional = self.is_provisional(day)
        while not self.is_working_day(day):
            day += timedelta(days=1)
            provisional |= self.is_provisional(day)
        return Deadline(end_of_local_day(day), provisional)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after ``start``'s local date up to and including ``end``'s (0 on the same day)."""
        first, last = local_date(start), local_date(end)
        count, day = 0, first
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count
