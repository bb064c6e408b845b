"""Jinja filters and globals shared by every page."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Iterable

import phonenumbers
import sqlalchemy as sa
from flask import Flask, g, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from caseflow.calendar import to_local
from caseflow.extensions import db
from caseflow.models import Jurisdiction, User, mask_resident_id
from caseflow.services import access
from caseflow.services.cases import WITHHELD, workflow_of
from caseflow.services.choices import configured_choices
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import ROLES, Choices, Field, Period, Text, Workflow, format_yuan


def current_locale() -> str:
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def tr(text: Text | str | None) -> str:
    """A bilingual ``Text`` in the page's language (plain strings, already translated, pass through)."""
    if text is None:
        return ""
    return text if isinstance(text, str) else text.get(current_locale())


def local_datetime(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC instant as office-local (Asia/Shanghai) time."""
    return "" if moment is None else to_local(moment).strftime(fmt)


def deadline_day(moment: datetime) -> date:
    """The last local day of a period. Periods end at 24:00, stored as the next local midnight."""
    local = to_local(moment)
    return local.date() - timedelta(days=1) if local.time() == time.min else local.date()


def deadline(moment: datetime | None) -> str:
    """A deadline as the office states it: "2026-03-05 24:00" rather than "2026-03-06 00:00"."""
    if moment is None:
        return ""
    local = to_local(moment)
    if local.time() == time.min:
        return f"{deadline_day(moment):%Y-%m-%d} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def zh_date(value: date | datetime | None) -> str:
    """A date as written in official Chinese documents: 2026年3月5日 (local date for instants)."""
    if value is None:
        return ""
    day = to_local(value).date() if isinstance(value, datetime) else value
    return f"{day.year}年{day.month}月{day.day}日"


def phone(value: str | None) -> str:
    """A stored E.164 number in the national format people read and dial (138 1234 5678)."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return value
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 86 else \
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def duration(seconds: int | float) -> str:
    """A length of time in days and hours (or hours and minutes when under a day)."""
    minutes = int(seconds) // 60
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return _("%(days)d d %(hours)d h", days=days, hours=hours)
    return _("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes)


def time_left(case: Any, now: datetime) -> str:
    """Time left on a same-day deadline ("还剩 3小时12分钟"), or how long it is overdue; "" for a case
    whose running deadline is counted in days (its date says enough)."""
    if case.due_at is None or case.closed_at is not None:
        return ""
    rule = workflow_of(case).deadlines.get(case.state)
    if rule is None or rule.limit.unit != "same_calendar_day":
        return ""
    seconds = (case.due_at - now).total_seconds()
    if seconds < 0:
        return _("Overdue by %(time)s", time=duration(-seconds))
    return _("%(time)s left", time=duration(seconds))


def period(value: Period) -> str:
    """A deadline period in words: "5 个工作日", "当日", "3 working days"."""
    if value.unit == "same_calendar_day":
        return _("Same day")
    if value.unit == "hours":
        return ngettext("%(num)d hour", "%(num)d hours", value.amount)
    if value.unit == "calendar_days":
        return ngettext("%(num)d calendar day", "%(num)d calendar days", value.amount)
    return ngettext("%(num)d working day", "%(num)d working days", value.amount)


def yuan(fen: int | None) -> str:
    """Integer fen shown as yuan: 123450 → "¥1,234.50"."""
    return "" if fen is None else f"¥{format_yuan(fen)}"


def _choices_of(spec: Field, *, include_retired: bool) -> Choices:
    if not spec.choices_from:
        return spec.choices
    key = "configured_choices_all" if include_retired else "configured_choices"
    if key not in g:  # one query per page, however many fields ask
        setattr(g, key, configured_choices(include_retired=include_retired))
    return getattr(g, key).get(spec.choices_from, ())


def field_value(spec: Field | None, value: Any) -> str:
    """How a stored form value is shown: choices by their label, resident IDs masked, phones readable,
    money in yuan."""
    if value is None or value == "":
        return ""
    if value == WITHHELD:
        return _("(sensitive: not copied into the history)")
    if spec is None:
        return str(value)
    if spec.kind == "choice":
        label = dict(_choices_of(spec, include_retired=True)).get(str(value))
        return tr(label) if label else str(value)
    if spec.kind == "money":
        return yuan(int(value))
    if spec.kind == "resident_id":
        return mask_resident_id(str(value))
    if spec.kind == "phone":
        return phone(str(value))
    return str(value)


def choice_options(spec: Field) -> list[tuple[str, str]]:
    """A choice field's (value, label) pairs in the page's language: what new input may choose."""
    return [(key, tr(label)) for key, label in _choices_of(spec, include_retired=False)]


def read_label(what: str) -> str:
    """What a logged read of a need-to-know case looked at."""
    whole = {"leave:list": _("cases of someone on leave"), "leave:assignment": _("hand-over during leave")}
    if what in whole:
        return whole[what]
    kind, _sep, detail = what.partition(":")
    return {
        "case": _("case page"),
        "step": _("action form"),
        "document": _("printed document"),
        "attachment": _("attachment"),
        "api": _("API"),
        "payment": _("payment form"),
        "export": _("exported list"),
        "digest": _("daily reminder email"),
        "history": _("case history"),
        "follow_up": _("rating follow-up"),
        "follow_ups": _("list of rating follow-ups"),
    }.get(kind, kind) + (f" · {detail}" if detail else "")


def light_label(light: str | None) -> str:
    return {
        "green": _("On time"),
        "yellow": _("Due within 1 working day"),
        "red": _("Overdue"),
        "none": _("No running deadline"),
    }.get(light or "none", "")


def role_label(role: str) -> str:
    return {
        "village_officer": _("Village officer"),
        "clerk": _("Clerk"),
        "supervisor": _("Supervisor"),
        "admin": _("Administrator"),
        "auditor": _("Auditor"),
    }.get(role, role)


def jurisdiction_label(place: Jurisdiction) -> str:
    return place.label(current_locale())


def listing(items: Iterable[str]) -> str:
    """Items joined as a list is written in the page's language."""
    return ("、" if current_locale() == "zh" else ", ").join(items)


def can_open(workflow: Workflow) -> bool:
    """Whether the signed-in user may submit a new application of ``workflow``."""
    return current_user.is_authenticated and current_user.has_role(*workflow.opened_by)


def openable_workflows() -> list[Workflow]:
    """The workflows the signed-in user may open a case of (the "New application" page lists them)."""
    return [workflow for workflow in all_workflows() if can_open(workflow)]


def can_read_cases() -> bool:
    return current_user.is_authenticated and access.can_read_cases(current_user)


def here() -> str:
    """The current page as a local path to come back to (a form page comes back as its GET)."""
    if request.method != "GET":
        return request.path
    return request.full_path.rstrip("?")


def page_url(number: int) -> str:
    """This list's URL with its filters kept and another page number."""
    args = (request.view_args or {}) | request.args.to_dict() | {"page": number}
    return url_for(request.endpoint, **args)


def register(app: Flask) -> None:
    for func in (tr, local_datetime, deadline, deadline_day, zh_date, phone, duration, period, role_label,
                 jurisdiction_label, yuan, read_label):
        app.add_template_filter(func)
    for func in (current_locale, all_workflows, workflow_of, field_value, choice_options, light_label,
                 role_label, can_open, openable_workflows, can_read_cases, here, page_url, listing, time_left):
        app.add_template_global(func)
    app.add_template_global(ROLES, "ROLES")

    @app.context_processor
    def demo_banner() -> dict[str, bool]:
        """Every page says so when the instance holds demo data."""
        return {"demo_instance": bool(db.session.scalar(sa.select(User.id).where(User.is_demo).limit(1)))}
