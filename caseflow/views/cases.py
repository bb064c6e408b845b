"""The case worker's pages: queues, the case page, steps, assignment, new applications, printed documents."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import Deadline, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, CaseEvent, User
from caseflow.services import access
from caseflow.services.audit import reads_of, record_read
from caseflow.services.attachments import kind_label
from caseflow.services.cases import (
    APPLICANT_FIELDS, NOT_A_HANDLER, UNKNOWN_TRIGGER, apply_transition, assign_case, available_steps,
    open_case, workflow_of,
)
from caseflow.services.deadlines import LIGHTS, LightBounds, load_policy
from caseflow.services.errors import STALE, Conflict, NotFound, PermissionDenied, ServiceError
from caseflow.services.queues import (
    CaseFilter, my_queue, my_queue_query, ordered_search, search_cases, search_query,
)
from caseflow.services.users import users_by_username
from caseflow.views.ids import page_number, parse_id
from caseflow.views.team import send_export
from caseflow.views.template_helpers import current_locale, field_value, listing, openable_workflows, tr, yuan
from caseflow.workflows import UnknownWorkflow, all_workflows, latest
from caseflow.workflows.definition import Field, Period, Workflow

bp = Blueprint("cases", __name__)


def _user() -> User:
    """The signed-in user itself: services store it on cases, which a proxy cannot be."""
    return current_user._get_current_object()


def _readable_case(case_id: int, *, for_update: bool = False) -> Case:
    try:
        return access.readable_case(_user(), case_id, for_update=for_update)
    except NotFound:
        abort(404)


def _shown_case(case_id: int, what: str) -> Case:
    """Load a case to show it. Every read of a need-to-know case is logged, and kept even though
    showing a page changes nothing else."""
    case = _readable_case(case_id)
    with transactional():
        record_read(case, _user(), what, utcnow())
    return case


def _page_args() -> dict[str, int]:
    return {"page": page_number(request.args.get("page")),
            "page_size": current_app.config["CASEFLOW_PAGE_SIZE"]}


# ------------------------------------------------------------------------------------------------ lists

@bp.route("/")
@login_required
def index():
    """My queue: the landing page."""
    if not access.can_read_cases(current_user) and current_user.has_role("admin"):
        return redirect(url_for("admin.index"))
    return render_template("cases/queue.html", page=my_queue(_user(), **_page_args()))


def _search_filters(args: MultiDict) -> CaseFilter:
    workflows = {wf.name: wf for wf in all_workflows()}
    states = {state.name for wf in workflows.values() for state in wf.states}
    return CaseFilter(
        workflow=args.get("workflow") if args.get("workflow") in workflows else None,
        state=args.get("state") if args.get("state") in states else None,
        assignee="me" if args.get("assignee") == "me" else None,
        light=args.get("light") if args.get("light") in LIGHTS else None,
        open_only=args.get("open") == "1",
        text=args.get("q", "").strip()[:100] or None,
    )


@bp.route("/cases")
@login_required
def search():
    filters = _search_filters(request.args)
    return render_template("cases/search.html", filters=filters,
                           page=search_cases(_user(), filters, **_page_args()))


@bp.route("/export.<fmt>")
@login_required
def export_queue(fmt: str):
    """My queue, every page, as CSV or XLSX (the same export code path as the other lists)."""
    if not access.can_read_cases(current_user):
        abort(403)
    return send_export(ordered_search(my_queue_query(_user())), fmt, "my-queue", url_for(".index"))


@bp.route("/cases/export.<fmt>")
@login_required
def export(fmt: str):
    """The all-cases list as filtered, every page, as CSV or XLSX: the team queue's export code path, on
    the cases this user may see."""
    if not access.can_read_cases(current_user):
        abort(403)
    query = ordered_search(search_query(_user(), _search_filters(request.args), LightBounds.current()))
    args = request.args.to_dict()
    args.pop("page", None)
    return send_export(query, fmt, "cases", url_for(".search", **args))


# ------------------------------------------------------------------------------------------- case page

@dataclass
class TimelineEntry:
    event: CaseEvent
    label: str
    from_label: str = ""
    to_label: str = ""
    reason_label: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)


def field_rows(fields: tuple[Field, ...], data: dict[str, Any], extra: dict[str, str] | None = None
               ) -> list[tuple[str, str]]:
    """(label, shown value) for each filled-in value of ``data``, in the order the form asks for them."""
    specs = {f.name: f for f in fields}
    ordered = [name for name in specs if name in data] + [name for name in data if name not in specs]
    labels = (extra or {}) | {name: tr(spec.label) for name, spec in specs.items()}
    return [(labels.get(name, name), field_value(specs.get(name), data[name]))
            for name in ordered if data[name] not in (None, "")]


def application_rows(workflow: Workflow, case: Case) -> list[tuple[str, str]]:
    """The application as filed. Steps also keep their data on the case (guards and documents read the
    latest values), but that belongs to the timeline, where each value is shown with its step."""
    asked = {spec.name for spec in workflow.application_fields}
    return field_rows(workflow.application_fields, {k: v for k, v in case.data.items() if k in asked})


def timeline(case: Case, workflow: Workflow) -> list[TimelineEntry]:
    """The audit trail of ``case`` in words: who did what, from which state to which, and why."""
    names = {e.data.get(key) for e in case.events if e.trigger == "assign" for key in ("from", "to")}
    people = users_by_username({name for name in names if name})

    def person(username: str | None) -> str:
        if not username:
            return _("Unassigned")
        return people[username].display_name if username in people else username

    office_events = {"record_payment": _("Payment received"), "payment_paid": _("Subsidy paid"),
                     "payment_failed": _("Subsidy payment failed"), "payment_retried": _("Subsidy payment sent again")}
    money_labels = {"period": _("Period"), "amount_fen": _("Amount"), "paid_on": _("Paid on"),
                    "receipt_ref": _("Receipt reference"), "principal_fen": _("Towards the principal"),
                    "late_charge_fen": _("Towards the late charge")}
    entries = []
    for event in case.events:
        entry = TimelineEntry(event, event.trigger, to_label=tr(workflow.state_label(event.to_state)),
                              reason_label=_("Reason"))
        if event.from_state is not None:
            entry.from_label = tr(workflow.state_label(event.from_state))
        step = workflow.step_for(event.trigger, event.from_state) if event.from_state else None
        if event.trigger == "submit":
            entry.label = _("Application submitted")
            entry.rows = field_rows(workflow.application_fields, event.data)
        elif event.trigger == "assign":
            entry.label, entry.reason_label = _("Assignment"), _("Note")
            entry.rows = [(_("Previous assignee"), person(event.data.get("from"))),
                          (_("New assignee"), person(event.data.get("to")))]
        elif event.trigger == "attach":  # services.attachments: a file added, the state unchanged
            entry.label = _("File attached")
            entry.rows = [(_("Type"), tr(kind_label(event.data.get("kind", "")))),
                          (_("File"), event.data.get("filename", "")),
                          (_("Size"), f'{event.data.get("size", 0)} B'),
                          ("SHA-256", event.data.get("sha256", ""))]
        elif event.trigger == "purge":  # services.retention: which details went, never their values
            specs = {f.name: f for f in workflow.application_fields}
            entry.label = _("Details deleted under the retention period")
            entry.rows = [(_("Deleted"), listing(tr(specs[n].label) if n in specs else n
                                                 for n in event.data.get("removed_fields", [])))]
        elif event.trigger in office_events:  # money recorded on the case, its state unchanged
            entry.label = office_events[event.trigger]
            entry.rows = [(money_labels.get(key, key), yuan(value) if key.endswith("_fen") else str(value))
                          for key, value in event.data.items() if key in money_labels]
        elif step is not None:
            entry.label, entry.reason_label = tr(step.label), tr(step.reason_label)
            entry.rows = field_rows(step.fields, event.data, {"number": _("Receipt number")})
        else:
            entry.rows = field_rows((), event.data)
        entries.append(entry)
    return entries


def paused_seconds(case: Case, now: datetime) -> float:
    """Time the case's clock has been stopped, including a pause still running."""
    running = (now - case.paused_since).total_seconds() if case.paused_since else 0
    return case.paused_seconds + running


@bp.route("/cases/<int:case_id>")
@login_required
def detail(case_id: int):
    case = _shown_case(case_id, "case")
    workflow = workflow_of(case)
    now = utcnow()
    supervising = current_user.has_role("supervisor") and not case.is_closed
    overseeing = workflow.need_to_know and current_user.has_role(*access.NEED_TO_KNOW_ROLES)
    return render_template(
        "cases/detail.html", case=case, workflow=workflow, bounds=LightBounds.current(now),
        steps=available_steps(case, _user()), timeline=timeline(case, workflow),
        application=application_rows(workflow, case),
        documents=[doc for doc in workflow.documents if doc.available(case)],
        handlers=access.case_handlers(case) if supervising else [],
        paused=paused_seconds(case, now),
        reads=reads_of(case) if overseeing else None,
    )


# ----------------------------------------------------------------------------------------------- steps

@bp.route("/cases/<int:case_id>/steps/<trigger>", methods=["GET", "POST"])
@login_required
def step(case_id: int, trigger: str):
    """One step's form: only the fields that step needs, the reason when required, the version seen."""
    posting = request.method == "POST"
    case = _readable_case(case_id, for_update=True) if posting else _shown_case(case_id, f"step:{trigger}")
    workflow = workflow_of(case)
    if not workflow.has_trigger(trigger):
        abort(404)
    expected_version = request.form.get("version", -1, type=int)
    step = workflow.step_for(trigger, case.state)
    if step is None:
        # Usually a page left open while someone else moved the case on.
        stale = posting and expected_version != case.version
        flash(tr(STALE if stale else UNKNOWN_TRIGGER), "error")
        return redirect(url_for(".detail", case_id=case.id))
    if not current_user.has_role(*step.roles):
        abort(403)

    error: ServiceError | None = None
    if posting:
        data = {spec.name: request.form.get(spec.name, "") for spec in step.fields}
        try:
            with transactional():
                apply_transition(case, trigger, _user(), expected_version, reason=request.form.get("reason"),
                                 data=data)
        except NotFound:
            abort(404)
        except PermissionDenied:
            abort(403)
        except ServiceError as exc:
            error = exc
        else:
            flash(_("Done: %(step)s.", step=tr(step.label)), "success")
            if step.issues_receipt and case.number:
                flash(_("Receipt number %(number)s issued.", number=case.number), "success")
            return redirect(url_for(".detail", case_id=case.id))
    return render_template(
        "cases/step.html", case=case, workflow=workflow, step=step, error=error,
        errors=error.fields if error else {}, values=request.form,
        bounds=LightBounds.current(),
        # After a conflict the form carries the version now current, and the page shows what changed:
        # sending it again is then a decision taken knowing the change.
        latest_change=timeline(case, workflow)[-1] if isinstance(error, Conflict) else None,
    ), (error.status if error else 200)


@bp.route("/cases/<int:case_id>/assign", methods=["POST"])
@login_required
def assign(case_id: int):
    """Take a case, hand it back, or (supervisors) give it to a clerk or supervisor of its jurisdiction."""
    case = _readable_case(case_id, for_update=True)
    choice = request.form.get("assignee", "")
    assignee: User | None = None
    if choice == "me":
        assignee = _user()
    elif choice:
        assignee_id = parse_id(choice)
        assignee = db.session.get(User, assignee_id) if assignee_id is not None else None
        if assignee is None:
            flash(tr(NOT_A_HANDLER), "error")
            return redirect(url_for(".detail", case_id=case.id))
    try:
        with transactional():
            assign_case(case, assignee, _user(), request.form.get("version", -1, type=int),
                        reason=request.form.get("reason"))
    except NotFound:
        abort(404)
    except ServiceError as error:
        for message in error.by_field().values():
            flash(tr(message), "error")
    else:
        if assignee is None:
            flash(_("The case is back in the unassigned pool."), "success")
        elif assignee.id == current_user.id:
            flash(_("You have taken this case."), "success")
        else:
            flash(_("Case assigned to %(name)s.", name=assignee.display_name), "success")
    return redirect(url_for(".detail", case_id=case.id))


# ----------------------------------------------------------------------------------------- application

@bp.route("/cases/new")
@login_required
def choose_new():
    """Which kind of application to enter: the workflows the user's role may open."""
    if not openable_workflows():
        abort(403)
    return render_template("cases/new_index.html")


@bp.route("/cases/new/<workflow_name>", methods=["GET", "POST"])
@login_required
def new(workflow_name: str):
    """A new application, submitted by the office or a village officer for a resident of their village."""
    try:
        workflow = latest(workflow_name)
    except UnknownWorkflow:
        abort(404)
    if not current_user.has_role(*workflow.opened_by):
        abort(403)
    villages = [(str(v.id), v.label(current_locale())) for v in access.villages_of(_user())]
    values = request.form
    errors: dict[str, Any] = {}
    error: ServiceError | None = None
    if request.method == "GET":
        values = MultiDict({"jurisdiction": villages[0][0]} if len(villages) == 1 else {})
    else:
        applicant = {spec.name: values.get(f"applicant.{spec.name}", "") for spec in APPLICANT_FIELDS}
        data = {spec.name: values.get(spec.name, "") for spec in workflow.application_fields}
        try:
            with transactional():
                case = open_case(workflow.name, parse_id(values.get("jurisdiction")) or 0, applicant, data,
                                 _user())
        except ServiceError as exc:
            error, errors = exc, dict(exc.fields)
            if isinstance(exc, PermissionDenied):  # the village chosen is not one of the user's
                errors.setdefault("jurisdiction", exc.message)
        else:
            flash(_("Application submitted."), "success")
            return redirect(url_for(".detail", case_id=case.id))
    page = render_template("cases/new.html", workflow=workflow, villages=villages,
                           applicant_fields=APPLICANT_FIELDS, values=values, error=error, errors=errors)
    return page, (error.status if error else 200)


# ------------------------------------------------------------------------------------------- documents

def _receipt_deadline(case: Case, workflow: Workflow) -> tuple[Period, Deadline] | None:
    """The decision deadline promised on the receipt: the legal limit in force for the state acceptance
    led to, and its end counted from the acceptance (so a reprint says the same unless the office changed
    that limit, as the case's own deadline then changed too)."""
    for event in case.events:
        step = workflow.step_for(event.trigger, event.from_state) if event.from_state else None
        if step is not None and step.issues_receipt:
            policy = load_policy()
            rule = policy.rule(workflow, event.to_state)
            return (rule.limit, rule.limit.after(event.at, policy.calendar)) if rule else None
    return None


@bp.route("/cases/<int:case_id>/documents/<name>")
@login_required
def document(case_id: int, name: str):
    """A printable document, in Chinese whatever the UI language: it is an official act of the office."""
    case = _shown_case(case_id, f"document:{name}")
    workflow = workflow_of(case)
    doc = workflow.document(name)
    if doc is None or not doc.available(case):
        abort(404)
    with force_locale("zh"):
        return render_template(
            f"documents/{workflow.name}/{doc.name}.html", case=case, workflow=workflow, doc=doc,
            events={event.trigger: event for event in case.events},  # the latest event of each kind
            promised=_receipt_deadline(case, workflow) if doc.name == "receipt" else None,
            pin=case.pin if access.can_see_pin(_user()) else None,
            application={spec.name: field_value(spec, case.data.get(spec.name))
                         for spec in workflow.application_fields},
            office=current_app.config["CASEFLOW_OFFICE_NAME"],
        )
