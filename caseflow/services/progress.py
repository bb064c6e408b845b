"""The applicant's progress look-up: a case found by its receipt number and PIN, told in plain words.

Nobody signs in for this; the receipt number and the PIN printed on the receipt are the only credentials,
so a wrong pair must say nothing about which half was wrong (or whether the number exists), and what a
right pair shows is only where the case is, what the office is waiting for and the date the next step is
due. Guessing is throttled by the view (views/progress.py), per client address and per receipt number.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import Case
from caseflow.services.cases import workflow_of
from caseflow.workflows.definition import Text

# Longest receipt number accepted in the form (Case.number is VARCHAR(32)); longer input is never a match.
NUMBER_MAX_LENGTH = 32
PIN_MAX_LENGTH = 8
# Compared against when no case has the number, so a miss costs what a wrong PIN costs.
_NO_PIN = "\x00" * 6

WORKING_ON_IT = Text("正在办理，目前无需您提供材料。", "The office is working on it; nothing is needed from you now.")
CLOCK_STOPPED = Text("办理期限暂停计算，请留意办理机关的通知。",
                     "The time limit is paused; please watch for a notice from the office.")
FINISHED = Text("办理已结束。", "The case is finished.")


def normalise_number(raw: str | None) -> str:
    """A receipt number as typed ("sy 2026 000001") in its stored form ("SY2026000001")."""
    return re.sub(r"\s+", "", raw or "").upper()[:NUMBER_MAX_LENGTH + 1]


def normalise_pin(raw: str | None) -> str:
    return re.sub(r"\s+", "", raw or "")[:PIN_MAX_LENGTH + 1]


def find_case_by_receipt(number: str, pin: str) -> Case | None:
    """The case with this receipt number and PIN, or None — for a number nobody has, a wrong PIN, or a
    case that has no receipt yet alike.

    The same query runs for every number, and the PIN is compared in constant time against a stand-in
    when the number is unknown, so the time taken does not tell a wrong PIN from an unknown number.
    """
    number, pin = normalise_number(number), normalise_pin(pin)
    case = None
    if number and len(number) <= NUMBER_MAX_LENGTH:
        case = db.session.scalar(sa.select(Case).where(Case.number == number))
    expected = case.pin if case is not None and case.pin else _NO_PIN
    matches = hmac.compare_digest(expected.encode(), pin.encode())
    return case if matches and case is not None and case.pin else None


@dataclass(frozen=True)
class Progress:
    """Everything the progress page may show about a case, and nothing more."""

    number: str
    workflow_title: Text
    step: Text
    waiting_for: Text
    # What the applicant must supply, as the supplement notice listed it (never for need-to-know cases).
    items: str | None
    # The legal deadline of the step under way (None while the clock is stopped or once closed).
    due_at: datetime | None
    due_provisional: bool
    closed: bool
    # The office's time limit is paused (waiting for the applicant, a public notice, a hearing).
    paused: bool
    # The applicant may rate the service now (closed, or the workflow says the service is complete).
    rateable: bool


def progress_of(case: Case) -> Progress:
    """What the applicant is told about ``case``: no names, IDs, places, people, amounts or health data.

    The texts come from the workflow's ``public_status`` (defaults: the state's label and a plain
    sentence). A need-to-know case shows its state and date only, never a field value.
    """
    workflow = workflow_of(case)
    status = workflow.public_status_of(case.state)
    stopped = case.state in workflow.clock_stopped
    items = None
    if status.items_field and not workflow.need_to_know:
        value = (case.data or {}).get(status.items_field)
        items = str(value).strip() if value not in (None, "") else None
    if status.waiting_for is not None:
        waiting_for = status.waiting_for
    elif case.is_closed:
        waiting_for = FINISHED
    else:
        waiting_for = CLOCK_STOPPED if stopped else WORKING_ON_IT
    running = not case.is_closed and not stopped
    return Progress(
        number=case.number or "",
        workflow_title=workflow.title,
        step=status.step,
        waiting_for=waiting_for,
        items=items,
        due_at=case.due_at if running else None,
        due_provisional=bool(running and case.due_at and case.deadline_provisional),
        closed=case.is_closed,
        paused=stopped and not case.is_closed,
        rateable=may_be_rated(case),
    )


def may_be_rated(case: Case) -> bool:
    """A case can be rated once its service is over: closed, or in a state its workflow marks rateable."""
    return case.number is not None and (
        case.is_closed or workflow_of(case).public_status_of(case.state).rateable)
