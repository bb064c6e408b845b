"""Workflow pages: each workflow's diagram (every state and step), with a legend, its steps in words and
its deadlines; and the diagram on the case page, with the case's current state and path marked."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _
from flask_login import login_required
from markupsafe import Markup

from caseflow.models import Case
from caseflow.services.deadlines import load_policy
from caseflow.services.diagrams import DiagramMissing, diagram_markup
from caseflow.views.template_helpers import current_locale, listing, role_label, tr
from caseflow.workflows import UnknownWorkflow, all_workflows, latest
from caseflow.workflows import get as get_workflow
from caseflow.workflows.definition import SYSTEM, DeadlineRule, Step, Workflow

bp = Blueprint("workflow_pages", __name__, url_prefix="/workflows")
log = logging.getLogger(__name__)


@bp.app_template_global()
def workflow_diagram(workflow: Workflow, case: Case | None = None) -> Markup:
    """The diagram as inline SVG in the page's language ("" and a logged error if its file is missing:
    the case page still works)."""
    title = _("Diagram of the workflow %(workflow)s", workflow=tr(workflow.title))
    if case is not None:
        title = _("%(diagram)s; the case is now in “%(state)s”", diagram=title,
                  state=tr(workflow.state_label(case.state)))
    try:
        return diagram_markup(workflow, current_locale(), case, title=title)
    except DiagramMissing as missing:
        log.error("no committed diagram %s: run scripts/diagrams", missing)
        return Markup("")


@dataclass(frozen=True)
class StateRow:
    """One state on the workflow page, with its deadline in force (None: no deadline there)."""

    name: str
    label: str
    kind: str
    rule: DeadlineRule | None
    changed: bool


@dataclass(frozen=True)
class StepRow:
    step: Step
    sources: str
    dest: str
    roles: str


def _state_rows(workflow: Workflow) -> list[StateRow]:
    policy = load_policy()
    rows = []
    for member in workflow.states:
        state = member.name
        if state in workflow.closed:
            kind = _("Closed")
        elif state in workflow.clock_stopped:
            kind = _("Clock stopped")
        elif state == workflow.initial:
            kind = _("Where a case starts")
        else:
            kind = _("Open")
        rows.append(StateRow(state, tr(member.value), kind,
                             policy.rule(workflow, state) if state in workflow.deadlines else None,
                             policy.is_changed(workflow, state)))
    return rows


def _step_rows(workflow: Workflow) -> list[StepRow]:
    def who(role: str) -> str:
        return _("System") if role == SYSTEM else role_label(role)

    return [StepRow(step, listing(tr(workflow.state_label(s)) for s in step.sources),
                    tr(workflow.state_label(step.dest)), listing(who(r) for r in sorted(step.roles)))
            for step in workflow.steps]


def _workflow(name: str, version: int | None) -> Workflow:
    try:
        return latest(name) if version is None else get_workflow(name, version)
    except UnknownWorkflow:
        abort(404)


@bp.route("/")
@login_required
def index():
    return render_template("workflows/index.html", workflows=all_workflows())


@bp.route("/<name>")
@bp.route("/<name>/v<int:version>")
@login_required
def show(name: str, version: int | None = None):
    """A workflow's diagram, legend, steps and deadlines. The definition says nothing about any case, so
    every signed-in user may read it."""
    workflow = _workflow(name, version)
    return render_template("workflows/show.html", workflow=workflow, states=_state_rows(workflow),
                           steps=_step_rows(workflow), is_latest=latest(workflow.name).version == workflow.version)
