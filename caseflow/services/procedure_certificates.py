"""Bookkeeping of the 孕14周以上终止妊娠证明 workflow beyond its state machine."""
from __future__ import annotations

from datetime import datetime

from caseflow.models import Case, User
from caseflow.services.cases import WorkflowHooks, issue_receipt, register_hooks, workflow_of


def issue_receipt_on_submission(case: Case, actor: User, now: datetime) -> None:
    """Give a new application its receipt number and look-up PIN at once.

    The woman hands in her application to the clerk who will decide it the same day; receiving it is
    accepting it, so there is no separate acceptance step and the receipt is printed on the spot.
    """
    issue_receipt(case, workflow_of(case), now)


register_hooks("procedure_certificate", WorkflowHooks(on_open=issue_receipt_on_submission))
