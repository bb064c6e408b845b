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
    issues_receipt: bool = False
    danger: bool = False

    @property
    def required(self) -> list[str]:
        names = [f.name for f in self.fields if f.required]
        return (["reason"] if self.reason_required else []) + names


@dataclass(frozen=True)
class Document:
    """A printable document of a case, available once ``available(case)`` holds."""

    name: str
    title: Text
    available: Callable[[Any], bool]


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
    machine: Machine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.states]
        for step in self.steps:
            unknown = {step.dest, *step.sources} - set(names)
            if unknown:
                raise ValueError(f"{self.name}.{step.trigger}: unknown states {sorted(unknown)}")
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

    def state_label(self, state: str) -> Text:
        return self.states[state].value

    def step_for(self, trigger: str, state: str) -> Step | None:
        """The step ``trigger`` names from ``state``, or None when it does not exist there."""
        return next((s for s in self.steps if s.trigger == trigger and state in s.sources), None)

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
        every = self.application_fields + tuple(f for s in self.steps for f in s.fields)
        return frozenset(f.name for f in every if f.sensitive)
