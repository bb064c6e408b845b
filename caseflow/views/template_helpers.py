"""Jinja filters and globals shared by every page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable

import phonenumbers
import sqlalchemy as sa
from flask import Flask, g, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup, escape

from caseflow.calendar import to_local
from caseflow.extensions import db
from caseflow.models import Jurisdiction, User, mask_resident_id
from caseflow.services import access, ratings, reminders
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


# Looked up one at a time: a page asks for a label a few times, and translating all four each time was
# most of the call.
_LIGHT_LABELS = {
    "green": lambda: _("On time"),
    "yellow": lambda: _("Due within 1 working day"),
    "red": lambda: _("Overdue"),
    "none": lambda: _("No running deadline"),
}


def light_label(light: str | None) -> str:
    label = _LIGHT_LABELS.get(light or "none")
    return label() if label else ""


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


def case_path_prefix() -> str:
    """A case page's path without the case id ("/cases/"): a list links each row as prefix and id, where
    url_for per row was a fifth of a 50-row table's rendering."""
    return url_for("cases.detail", case_id=1).removesuffix("1")


def case_rows(items: Iterable[Any], bounds: Any, opened: bool = False, selection: dict | None = None) -> Markup:
    """The ``<tr>`` rows of a case list (the ``cases_table`` macro in _macros/cases.html, whose columns they
    fill), for ORM cases or ``ListedCase`` rows alike. Written here rather than as a Jinja loop, whose
    lookups, tests and escaping per cell took 2.2 ms for a team-queue page of 50 rows (this takes 0.9 ms).
    ``selection``: as the macro takes it. Every value from the database is escaped."""
    locale = current_locale()
    prefix = case_path_prefix()
    lights = {colour: escape(light_label(colour)) for colour in ("green", "yellow", "red")}
    no_light, closed, stopped = escape(light_label("none")), escape(_("Closed")), escape(_("Clock stopped"))
    unassigned, not_accepted = escape(_("Unassigned")), escape(_("Not accepted yet"))
    provisional = Markup('<span class="badge badge-provisional" title="{}">{}</span>').format(
        _("The official holiday schedule for that year is not published yet; the date may change."),
        _("provisional"))
    if selection:
        form = escape(selection["form"])
        steps, checked, versions = selection["steps"], selection["checked"], selection["versions"]
        select_label = escape(_("Select %(case)s", case="%s"))
    rows = []
    for case in items:
        wf = workflow_of(case)
        link = f"{prefix}{case.id}"
        cells = [f'    <tr class="case-row" data-case-id="{case.id}">']
        if selection:
            cells.append(
                f'      <td>\n        <input type="checkbox" form="{form}" name="case_id" value="{case.id}" '
                f'id="select-{case.id}" data-steps="{escape(" ".join(steps.get(case.id, [])))}" '
                f'{"checked" if case.id in checked else ""}>\n'
                f'        <input type="hidden" form="{form}" name="version" '
                f'value="{case.id}:{escape(versions.get(case.id, case.version))}">\n'
                f'        <label for="select-{case.id}" class="visually-hidden">'
                f'{select_label % (case.number or case.applicant.name)}</label>\n      </td>')
        colour = bounds.light(case.due_at)
        if colour:
            light = (f'<span class="light light-{colour}"><span class="dot" aria-hidden="true"></span>'
                     f'{lights[colour]}</span>')
        elif case.closed_at:
            light = f'<span class="light light-none">{closed}</span>'
        elif case.paused_since:
            light = (f'<span class="light light-none"><span class="dot dot-hollow" aria-hidden="true"></span>'
                     f'{stopped}</span>')
        else:
            light = f'<span class="light light-none">{no_light}</span>'
        cells.append(f"      <td>{light}</td>")
        number = (f'<span class="mono">{escape(case.number)}</span>' if case.number
                  else f'<span class="muted">{not_accepted}</span>')
        cells.append(f'      <td><a href="{link}">{number}</a></td>')
        cells.append(f"      <td>{escape(wf.title.get(locale))}</td>")
        cells.append(f'      <td><span class="state state-{"closed" if case.closed_at else "open"}">'
                     f"{escape(wf.state_label(case.state).get(locale))}</span></td>")
        cells.append(f'      <td><a href="{link}">{escape(case.applicant.name)}</a></td>')
        cells.append(f"      <td>{escape(case.jurisdiction.label(locale))}</td>")
        cells.append(f"      <td>{escape(case.assignee.display_name)}</td>" if case.assignee
                     else f'      <td><span class="muted">{unassigned}</span></td>')
        if opened:
            cells.append(f'      <td class="nowrap">{local_datetime(case.opened_at)}</td>')
        if case.due_at:
            due = deadline(case.due_at) + (f" {provisional}" if case.deadline_provisional else "")
            left = time_left(case, bounds.now) if not case.closed_at else ""
            if left:
                overdue = " countdown-overdue" if case.due_at < bounds.now else ""
                due += f' <span class="countdown{overdue}">{escape(left)}</span>'
        else:
            due = '<span class="muted">—</span>'
        cells.append(f'      <td class="nowrap">{due}</td>\n    </tr>')
        rows.append("\n".join(cells))
    return Markup("\n".join(rows))


def page_url(number: int) -> str:
    """This list's URL with its filters kept and another page number."""
    args = (request.view_args or {}) | request.args.to_dict() | {"page": number}
    return url_for(request.endpoint, **args)


@dataclass(frozen=True)
class LayoutFigures:
    """What the layout of every page reads from the database: whether the instance holds demo data, and the
    header's badges (unread reminders, counted up to BADGE_CAP + 1; open follow-ups)."""

    demo: bool
    unread_reminders: int = 0
    open_follow_ups: int = 0


def layout_figures() -> LayoutFigures:
    """The layout's figures in one statement (the demo flag and each badge were a round trip of their own
    on every page). A badge is counted for those it is shown to: unread reminders for case readers, open
    follow-ups for supervisors."""
    columns: list[sa.ColumnElement] = [sa.exists().where(User.is_demo)]
    user = current_user._get_current_object() if current_user and current_user.is_authenticated else None
    readers = user is not None and access.can_read_cases(user)
    supervisor = readers and user.is_active and user.has_role("supervisor")
    if readers:
        columns += reminders.unread_counts(user)
    if supervisor:
        columns.append(ratings.open_follow_up_counter(user))
    row = db.session.execute(sa.select(*columns)).one()
    return LayoutFigures(bool(row[0]), reminders.capped_unread(row[1], row[2]) if readers else 0,
                         (row[3] or 0) if supervisor else 0)


def register(app: Flask) -> None:
    for func in (tr, local_datetime, deadline, deadline_day, zh_date, phone, duration, period, role_label,
                 jurisdiction_label, yuan, read_label):
        app.add_template_filter(func)
    for func in (current_locale, all_workflows, workflow_of, field_value, choice_options, light_label,
                 role_label, can_open, openable_workflows, can_read_cases, here, page_url, listing, time_left,
                 case_rows):
        app.add_template_global(func)
    app.add_template_global(ROLES, "ROLES")

    @app.context_processor
    def layout() -> dict[str, Any]:
        """Every page says so when the instance holds demo data, and shows the signed-in user's badges."""
        figures = layout_figures()
        return {"demo_instance": figures.demo, "badges": figures}
