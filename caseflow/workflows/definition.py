"""The vocabulary a workflow module is written in: states, steps, fields, deadlines, documents.

Pure definitions: no database, no Flask. ``Workflow`` builds its ``transitions.Machine`` once, at import
time, with ``model=None``; a case is fired through it with ``machine.events[trigger].trigger(case)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Callable, Literal, Mapping

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError
from transitions import Machine

from caseflow.calendar import Deadline, OfficeCalendar, end_of_local_day, local_date


@dataclass(frozen=True)
class Text:
    """A user-facing string in both UI languages."""

    zh: str
    en: str

    def get(self, locale: str) -> str:
        return self.en if str(locale).startswith("en") else self.zh

    def format(self, **values: Any) -> "Text":
        return Text(self.zh.format(**values), self.en.format(**values))


class GuardRefused(Exception):
    """Raised by a guard to refuse a transition, with the reason shown to the user."""

    def __init__(self, message: Text):
        super().__init__(message.en)
        self.message = message


# ---------------------------------------------------------------------------------------------- fields

REQUIRED = Text("此项为必填项。", "This field is required.")
TOO_LONG = Text("不能超过 {n} 个字符。", "At most {n} characters.")
NOT_A_DATE = Text("请输入有效日期（如 2026-01-31）。", "Enter a valid date (e.g. 2026-01-31).")
DATE_IN_FUTURE = Text("日期不能晚于今天。", "The date cannot be in the future.")
NOT_AN_INTEGER = Text("请输入整数。", "Enter a whole number.")
OUT_OF_RANGE = Text("请输入 {lo} 到 {hi} 之间的数。", "Enter a number from {lo} to {hi}.")
NOT_A_CHOICE = Text("请从列表中选择。", "Choose one of the listed options.")
BAD_RESIDENT_ID = Text("居民身份证号码无效：应为 18 位，且校验位正确。",
                       "Invalid resident ID: it must have 18 characters with a correct check digit.")
BAD_PHONE = Text("电话号码无效。", "Invalid phone number.")
NOT_AN_AMOUNT = Text("请输入金额（元），最多两位小数，如 1234.50。",
                     "Enter an amount in yuan with at most two decimals, e.g. 1234.50.")

FieldKind = Literal["text", "textarea", "date", "integer", "money", "choice", "resident_id", "phone"]
Choices = tuple[tuple[str, Text], ...]


@dataclass(frozen=True)
class Field:
    """One input a step or an application asks for, and how it is validated."""

    name: str
    label: Text
    kind: FieldKind = "text"
    required: bool = True
    choices: tuple[tuple[str, Text], ...] = ()
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    past_only: bool = False
    help: Text | None = None
    # Choices kept as office configuration (subsidy schemes, fee types) rather than in the code: the
    # name of the list; the services layer supplies its current entries.
    choices_from: str | None = None
    # Health data: kept on the case (where retention can purge it) but never copied into the audit trail,
    # whose events cannot be edited without breaking their hash chain.
    sensitive: bool = False

    def clean(self, raw: Any, today: date, choices: Choices | None = None) -> Any:
        """Return the normalised value, None when empty and optional; raise ValueError(Text) otherwise.

        ``choices`` are the current entries of a ``choices_from`` list.
        """
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            if self.required:
                raise ValueError(REQUIRED)
            return None
        if self.kind == "choice":
            return self._clean_choice(value, choices if choices is not None else self.choices)
        cleaner = getattr(self, f"_clean_{self.kind}")
        return cleaner(value, today)

    def _clean_text(self, value: Any, today: date) -> str:
        value = str(value)
        limit = self.max_length or (2000 if self.kind == "textarea" else 200)
        if len(value) > limit:
            raise ValueError(TOO_LONG.format(n=limit))
        return value

    _clean_textarea = _clean_text

    def _clean_date(self, value: Any, today: date) -> str:
        try:
            parsed = date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(NOT_A_DATE) from None
        if self.past_only and parsed > today:
            raise ValueError(DATE_IN_FUTURE)
        return parsed.isoformat()

    def _clean_integer(self, value: Any, today: date) -> int:
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
            raise ValueError(NOT_AN_INTEGER)
        number = int(value)
        lo = self.min_value if self.min_value is not None else -(10**12)
        hi = self.max_value if self.max_value is not None else 10**12
        if not lo <= number <= hi:
            raise ValueError(OUT_OF_RANGE.format(lo=lo, hi=hi))
        return number

    def _clean_money(self, value: Any, today: date) -> int:
        """Yuan as typed ("1234.5") to integer fen (123450): money is never a float."""
        text = str(value).replace(",", "").replace("，", "").strip().removeprefix("¥").removeprefix("￥")
        if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
            raise ValueError(NOT_AN_AMOUNT)
        try:
            fen = int(Decimal(text) * 100)
        except InvalidOperation:
            raise ValueError(NOT_AN_AMOUNT) from None
        lo = self.min_value if self.min_value is not None else 0
        hi = self.max_value if self.max_value is not None else 10**12
        if not lo <= fen <= hi:
            raise ValueError(OUT_OF_RANGE.format(lo=format_yuan(lo), hi=format_yuan(hi)))
        return fen

    @staticmethod
    def _clean_choice(value: Any, choices: Choices) -> str:
        if str(value) not in {key for key, _ in choices}:
            raise ValueError(NOT_A_CHOICE)
        return str(value)

    def _clean_resident_id(self, value: Any, today: date) -> str:
        try:
            return ric.validate(str(value).upper())
        except StdnumError:
            raise ValueError(BAD_RESIDENT_ID) from None

    def _clean_phone(self, value: Any, today: date) -> str:
        try:
            number = phonenumbers.parse(str(value), "CN")
        except phonenumbers.NumberParseException:
            raise ValueError(BAD_PHONE) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(BAD_PHONE)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def choice_label(self, key: str) -> Text | None:
        return dict(self.choices).get(key)


def format_yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals: 123450 → "1,234.50"."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def clean_fields(fields: tuple[Field, ...], raw: Mapping[str, Any], today: date,
                 choices: Mapping[str, Choices] | None = None) -> tuple[dict[str, Any], dict[str, Text]]:
    """Validate ``raw`` against ``fields``: (clean values, errors by field name). Unknown keys are dropped.

    ``choices`` holds the current entries of configured lists, by ``Field.choices_from`` name.
    """
    clean: dict[str, Any] = {}
    errors: dict[str, Text] = {}
    for spec in fields:
        try:
            options = (choices or {}).get(spec.choices_from, ()) if spec.choices_from else None
            value = spec.clean(raw.get(spec.name), today, options)
        except ValueError as exc:
            errors[spec.name] = exc.args[0]
        else:
            if value is not None:
                clean[spec.name] = value
    return clean, errors


# ------------------------------------------------------------------------------------------- deadlines

PeriodUnit = Literal["working_days", "calendar_days", "hours", "same_calendar_day"]


@dataclass(frozen=True)
class Period:
    amount: int
    unit: PeriodUnit

    def after(self, start: datetime, calendar: OfficeCalendar) -> Deadline:
        if self.unit == "working_days":
            return calendar.add_working_days(start, self.amount)
        if self.unit == "calendar_days":
            return calendar.add_calendar_days(start, self.amount)
        if self.unit == "hours":
            return Deadline(start + timedelta(hours=self.amount), False)
        return Deadline(end_of_local_day(local_date(start)), False)  # same calendar day, weekends too


def working_days(n: int) -> Period:
    return Period(n, "working_days")


def calendar_days(n: int) -> Period:
    return Period(n, "calendar_days")


SAME_CALENDAR_DAY = Period(0, "same_calendar_day")


@dataclass(frozen=True)
class DeadlineRule:
    """How long the office has in a state: ``limit`` is the legal one, ``target`` the office's own."""

    limit: Period
    target: Period | None = None
    basis: str = ""


# ----------------------------------------------------------------------------------------------- steps

Role = Literal["village_officer", "clerk", "supervisor", "admin", "auditor"]
ROLES: tuple[str, ...] = ("village_officer", "clerk", "supervisor", "admin", "auditor")
# The scheduler's own account: it takes the steps that follow from the clock alone (a public notice
# period that ended), recorded in the audit trail like anyone's. No person holds this role.
SYSTEM = "system"


@dataclass(frozen=True)
class Step:
    """One transition: who may fire it from where, and what it asks for."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    label: Text
    roles: frozenset[str]
    fields: tuple[Field, ...] = ()
    reason_required: bool = False
    reason_label: Text = Text("理由", "Reason")
    guards: tuple[Callable[..., bool], ...] = ()
    # Acceptance (受理): the case gets its receipt number and look-up PIN if it has none, and the acting
    # clerk takes it if nobody holds it.
    issues_receipt: bool = False
    # A written answer to the applicant before acceptance (a supplement notice, 行政许可法 第32条) also
    # carries the receipt number and PIN, so the applicant can look up what is still missing; no assignment.
    issues_number: bool = False
    danger: bool = False

    @property
    def required(self) -> list[str]:
        names = [f.name for f in self.fields if f.required]
        return (["reason"] if self.reason_required else []) + names


def took_step(trigger: str) -> Callable[[Any], bool]:
    """A document's availability: the case went through ``trigger`` at some point."""
    return lambda case: any(event.trigger == trigger for event in case.events)


@dataclass(frozen=True)
class Document:
    """A printable document of a case, available once ``available(case)`` holds."""

    name: str
    title: Text
    available: Callable[[Any], bool]


# ---------------------------------------------------------------------------------------- report facts

@dataclass(frozen=True)
class ReportSpec:
    """What the monthly meeting report (services/report_figures.py) needs to know about a workflow.

    ``accept_triggers``: the step(s) whose events count as "accepted" (None: the steps that issue the
    receipt); ``accepted_on_open``: the workflow accepts an application when it is opened (no step).
    ``supplement_triggers``: requests for missing documents. ``refusal_triggers``: refusals/rejections of
    the application; ``refusal_reason_field``: a choice field of those steps whose value is the reason the
    report groups by (None: grouped by step). ``appeal_triggers``: a reconsideration or litigation recorded.
    ``suppress_small_counts``: village cells below 5 are hidden (sensitive counts, see the report schema).
    """

    accept_triggers: tuple[str, ...] | None = None
    accepted_on_open: bool = False
    supplement_triggers: tuple[str, ...] = ()
    refusal_triggers: tuple[str, ...] = ()
    refusal_reason_field: str | None = None
    appeal_triggers: tuple[str, ...] = ()
    suppress_small_counts: bool = False


# ------------------------------------------------------------------------------- the applicant's view

@dataclass(frozen=True)
class PublicStatus:
    """What the applicant's progress page (services/progress.py) says about a state, in plain words.

    ``step``: where the case is. ``waiting_for``: what the office is waiting for (None: a default
    sentence chosen by the progress page). ``items_field``: a case data field written by the step that
    led here and listing what the applicant must supply (the supplement notice's ``missing_items``); its
    value is shown as is, so only a field written for the applicant's eyes may be named. ``rateable``: the
    service is complete although the case stays open (an enrolled subsidy), so the applicant may rate it.
    """

    step: Text
    waiting_for: Text | None = None
    items_field: str | None = None
    rateable: bool = False


# -------------------------------------------------------------------------------------------- workflow

@dataclass
class Workflow:
    name: str
    version: int
    title: Text
    states: type[Enum]
    initial: str
    steps: tuple[Step, ...]
    deadlines: Mapping[str, DeadlineRule]
    clock_stopped: frozenset[str]
    closed: frozenset[str]
    application_fields: tuple[Field, ...]
    opened_by: frozenset[str]
    receipt_prefix: str
    documents: tuple[Document, ...] = ()
    # Sensitive cases (个人信息保护法 第28条): only their handler, and supervisors and auditors of the
    # jurisdiction, may see them at all, and every read is logged.
    need_to_know: bool = False
    # Checks across application fields that single fields cannot make (e.g. a limitation period):
    # (clean data, today) → errors by field name.
    check_application: Callable[[Mapping[str, Any], date], dict[str, Text]] | None = None
    # Facts the monthly meeting report needs (which step accepts, which refuse, ...).
    report: ReportSpec = ReportSpec()
    # Plain-language texts for the applicant's progress page, by state (missing: the state's label).
    public_status: Mapping[str, PublicStatus] = field(default_factory=dict)
    machine: Machine = field(init=False, repr=False)
    # Worked out once from the steps (a definition does not change): each transition looks its step up.
    _step_index: dict[tuple[str, str], Step] = field(init=False, repr=False, compare=False)
    _sensitive: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.states]
        for step in self.steps:
            unknown = {step.dest, *step.sources} - set(names)
            if unknown:
                raise ValueError(f"{self.name}.{step.trigger}: unknown states {sorted(unknown)}")
        self._check_report_spec()
        self._check_public_status()
        self._step_index = {}
        for step in self.steps:  # the first step declared for a (trigger, state) wins, as a scan would find
            for source in step.sources:
                self._step_index.setdefault((step.trigger, source), step)
        every = self.application_fields + tuple(f for s in self.steps for f in s.fields)
        self._sensitive = frozenset(f.name for f in every if f.sensitive)
        self.machine = Machine(
            model=None,
            states=names,
            initial=self.initial,
            transitions=[
                {"trigger": s.trigger, "source": list(s.sources), "dest": s.dest, "conditions": list(s.guards)}
                for s in self.steps
            ],
            auto_transitions=False,
            send_event=True,
        )

    def _check_report_spec(self) -> None:
        """A report declaration naming a step or field the workflow lacks is a bug: fail at import."""
        spec = self.report
        named = ((spec.accept_triggers or ()) + spec.supplement_triggers + spec.refusal_triggers
                 + spec.appeal_triggers)
        unknown = [t for t in named if not any(s.trigger == t for s in self.steps)]
        if unknown:
            raise ValueError(f"{self.name}.report: unknown steps {unknown}")
        if spec.refusal_reason_field is not None:
            for step in self.steps:
                if step.trigger in spec.refusal_triggers and not any(
                        f.name == spec.refusal_reason_field and f.kind == "choice" for f in step.fields):
                    raise ValueError(f"{self.name}.report: {step.trigger} has no choice field "
                                     f"{spec.refusal_reason_field}")

    def _check_public_status(self) -> None:
        """Public texts for a state the workflow lacks, or naming a field no step writes: fail at import."""
        names = {s.name for s in self.states}
        unknown = sorted(set(self.public_status) - names)
        if unknown:
            raise ValueError(f"{self.name}.public_status: unknown states {unknown}")
        written = {f.name for s in self.steps for f in s.fields}
        for state, status in self.public_status.items():
            if status.items_field is not None and status.items_field not in written:
                raise ValueError(f"{self.name}.public_status[{state}]: no step writes {status.items_field}")

    def public_status_of(self, state: str) -> PublicStatus:
        """The applicant's words for ``state`` (its label when the workflow declares none)."""
        return self.public_status.get(state) or PublicStatus(self.state_label(state))

    def state_label(self, state: str) -> Text:
        return self.states[state].value

    def step_for(self, trigger: str, state: str) -> Step | None:
        """The step ``trigger`` names from ``state``, or None when it does not exist there."""
        return self._step_index.get((trigger, state))

    def has_trigger(self, trigger: str) -> bool:
        return any(s.trigger == trigger for s in self.steps)

    def steps_from(self, state: str) -> list[Step]:
        return [s for s in self.steps if state in s.sources]

    def document(self, name: str) -> Document | None:
        return next((d for d in self.documents if d.name == name), None)

    def fields_of(self, trigger: str) -> tuple[Field, ...]:
        """Every field ``trigger`` (or, for "submit", the application) can record, from any state."""
        if trigger == "submit":
            return self.application_fields
        return tuple(f for s in self.steps if s.trigger == trigger for f in s.fields)

    @property
    def sensitive_fields(self) -> frozenset[str]:
        return self._sensitive
