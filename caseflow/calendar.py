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
from typing import Mapping
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


@dataclass(frozen=True)
class Deadline:
    at: datetime
    provisional: bool


class OfficeCalendar:
    """Working-day arithmetic for one office: the national calendar plus its own overrides.

    ``overrides`` maps a date to True (an extra working day) or False (office closed).
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None):
        self.overrides = dict(overrides or {})

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if package_has_year(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_DATE_HOLIDAYS

    def is_provisional(self, day: date) -> bool:
        """Whether ``day``'s status is a guess (no official data for its year, no override)."""
        return day not in self.overrides and not package_has_year(day.year)

    def add_working_days(self, start: datetime, count: int) -> Deadline:
        """End of the ``count``-th working day after ``start``'s local date.

        ``count == 0`` means "the same day": the end of that day, or of the next working day when the
        case arrived on a day the office is closed.
        """
        day = local_date(start)
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
        day = local_date(start) + timedelta(days=count)
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
