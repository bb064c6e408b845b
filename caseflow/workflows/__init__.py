"""The workflow registry. Adding a workflow is adding one module that defines ``WORKFLOW`` and listing it
here; a case keeps the version it was opened with, so older versions stay registered while open cases use
them."""
from __future__ import annotations

from caseflow.workflows import birth_registration, fee_case, procedure_certificate, subsidy
from caseflow.workflows.definition import Workflow

_ALL: tuple[Workflow, ...] = (birth_registration.WORKFLOW, procedure_certificate.WORKFLOW, subsidy.WORKFLOW,
                               fee_case.WORKFLOW)

_BY_KEY = {(wf.name, wf.version): wf for wf in _ALL}
_LATEST = {wf.name: wf for wf in sorted(_ALL, key=lambda wf: wf.version)}


class UnknownWorkflow(LookupError):
    pass


def all_workflows() -> list[Workflow]:
    """The current version of every workflow, in display order."""
    return list(_LATEST.values())


def latest(name: str) -> Workflow:
    try:
        return _LATEST[name]
    except KeyError:
        raise UnknownWorkflow(name) from None


def get(name: str, version: int) -> Workflow:
    try:
        return _BY_KEY[(name, version)]
    except KeyError:
        raise UnknownWorkflow(f"{name} v{version}") from None
