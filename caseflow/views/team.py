"""The supervisors' team queue: every case of their jurisdictions, filtered, sorted and paged by keyset;
saved filters; CSV/XLSX exports (shared with the all-cases list); and bulk assignment and steps."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from caseflow.calendar import to_local, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import User
from caseflow.services import bulk as bulk_service
from caseflow.services.errors import NotFound, ServiceError, ValidationFailed
from caseflow.services.cases import workflow_of
from caseflow.services.queues import (
    EXPORT_FORMATS, SORTS, STATUSES, UNKNOWN_HANDLER, assignable_among, delete_saved_filter, export_cases,
    may_act_in_bulk, may_see_team_queue, ordered_team, parse_team_filter, save_filter, saved_filters, team_directory,
    team_handlers, team_query, team_queue,
)
from caseflow.services.deadlines import LightBounds
from caseflow.views.ids import parse_id, seen_versions
from caseflow.views.template_helpers import current_locale, tr
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import REQUIRED, Text

bp = Blueprint("team", __name__, url_prefix="/team")

# The query-string arguments of a team-queue view (its filter and, for a page, the cursor).
FILTER_ARGS = ("workflow", "state", "village", "assignee", "light", "opened_from", "opened_to", "closed_from",
               "closed_to", "status", "sort", "dir")
PAGE_ARGS = ("after", "before")


def _user() -> User:
    return current_user._get_current_object()


def _require_team_reader() -> None:
    if not may_see_team_queue(current_user):
        abort(403)


def _view_args(args: MultiDict) -> dict[str, str]:
    """The team-queue arguments among ``args`` (anything else dropped), for links back to the same view."""
    return {name: args[name] for name in FILTER_ARGS + PAGE_ARGS if args.get(name)}


def send_export(query: sa.Select, fmt: str, stem: str, back: str) -> Response:
    """Export ``query`` (cases the user may see, in list order) as a download; the all-cases list and the
    team queue both go through here. Need-to-know cases in the file are logged as reads and committed."""
    if fmt not in EXPORT_FORMATS:
        abort(404)
    try:
        with transactional():
            export = export_cases(_user(), query, fmt, current_locale())
    except ValidationFailed as error:
        flash(tr(error.message), "error")
        return redirect(back)
    current_app.logger.info("%s export of %d cases by user %s", stem, export.rows, current_user.id)
    filename = f"{stem}-{to_local(utcnow()):%Y%m%d-%H%M}.{export.extension}"
    return Response(export.data, mimetype=export.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ----------------------------------------------------------------------------------------------- queue

def _options(choices: list[tuple[str, str]], chosen: str | None) -> Markup:
    """``<option>`` elements for (value, label) ``choices``, ``chosen`` selected. The page's two lists of a
    township's handlers (about 250 each: filter by, assign to) are written here: as Jinja loops they took a
    tenth of the page's rendering."""
    return Markup("".join(
        f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(label)}</option>'
        for value, label in choices))


def _render_queue(args: MultiDict, *, bulk_values: MultiDict | None = None, bulk_errors: dict[str, Any] | None = None,
                  status: int = 200):
    user = _user()
    directory = team_directory(user)
    handlers, villages = directory.handlers, directory.villages
    filters, errors = parse_team_filter(user, args, handlers=handlers, villages=villages)
    page, page_notice = team_queue(user, filters, after=args.get("after") or None, before=args.get("before") or None,
                                   page_size=current_app.config["CASEFLOW_PAGE_SIZE"])
    acting = may_act_in_bulk(user)
    row_steps: dict[int, list[str]] = {}
    offered: dict[str, list[Text]] = {}
    if acting:
        may_have: dict[tuple[str, int, str], bool] = {}  # by workflow version and state: rows share them
        for case in page.items:
            shape = (case.workflow, case.workflow_version, case.state)
            if shape not in may_have:
                may_have[shape] = _may_have_bulk_steps(case, user)
            if not may_have[shape]:
                continue
            steps = bulk_service.bulk_steps(case, user)
            row_steps[case.id] = [step.trigger for step in steps]
            for step in steps:
                if step.label not in offered.setdefault(step.trigger, []):
                    offered[step.trigger].append(step.label)
    bulk_values = bulk_values or MultiDict()
    filter_args = filters.query_args()
    view_args = _view_args(args)
    inactive = _("(inactive)")
    handler_options = _options([(u.username, u.display_name if u.active else f"{u.display_name} {inactive}")
                                for u in handlers], filters.assignee)
    assignable_options = _options([(str(u.id), u.display_name) for u in assignable_among(handlers)],
                                  bulk_values.get("assignee")) if acting else Markup()
    return render_template(
        "team/queue.html", filters=filters, errors=errors, values=args, page=page, page_notice=page_notice,
        villages=villages, handler_options=handler_options,
        assignable_options=assignable_options, acting=acting,
        row_steps=row_steps, offered=offered, statuses=STATUSES, sorts=SORTS,
        saved=saved_filters(user), filter_args=filter_args, view_query=urlencode(view_args),
        share_url=url_for(".index", _external=True, **filter_args),
        bulk_values=bulk_values, bulk_errors=bulk_errors or {},
        selected={int(v) for v in bulk_values.getlist("case_id") if parse_id(v) is not None},
        seen_versions=seen_versions(bulk_values.getlist("version")),
    ), status


def _may_have_bulk_steps(case, user: User) -> bool:
    """Whether ``case``'s state has a step ``user``'s roles could take in bulk: when none, the row offers
    nothing and ``bulk_steps`` (a permission check and, for some workflows, a query) need not run."""
    return any(bulk_service.bulk_ready(step) and user.has_role(*step.roles)
               for step in workflow_of(case).steps_from(case.state))


@bp.route("")
@login_required
def index():
    _require_team_reader()
    return _render_queue(request.args)


@bp.route("/export.<fmt>")
@login_required
def export(fmt: str):
    """The current filter, every page of it, as CSV or XLSX."""
    _require_team_reader()
    user = _user()
    filters, errors = parse_team_filter(user, request.args)
    if errors:  # the file would hold more than the filter asked for: show the messages on the list instead
        flash(_("Correct the filter before exporting."), "error")
        return redirect(url_for(".index", **request.args))
    query = ordered_team(team_query(user, filters, LightBounds.current()), filters)
    return send_export(query, fmt, "team-queue", url_for(".index", **filters.query_args()))


# ------------------------------------------------------------------------------------------ saved filters

@bp.route("/filters", methods=["POST"])
@login_required
def save():
    """Save the filter being viewed under a name (a name already used is updated)."""
    _require_team_reader()
    user = _user()
    query = request.form.get("query", "")
    filters, _errors = parse_team_filter(user, MultiDict(parse_qsl(query)))
    try:
        with transactional():
            row, created = save_filter(user, request.form.get("name", ""), filters)
    except ServiceError as error:
        for message in error.by_field().values():
            flash(tr(message), "error")
    else:
        flash(_("Filter saved as “%(name)s”.", name=row.name) if created
              else _("Saved filter “%(name)s” updated.", name=row.name), "success")
    return redirect(url_for(".index", **filters.query_args()))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete(filter_id: int):
    _require_team_reader()
    try:
        with transactional():
            row = delete_saved_filter(_user(), filter_id)
    except NotFound:
        abort(404)
    flash(_("Saved filter “%(name)s” deleted.", name=row.name), "success")
    back = MultiDict(parse_qsl(request.form.get("query", "")))
    return redirect(url_for(".index", **_view_args(back)))


# ------------------------------------------------------------------------------------------- bulk actions

def _selection(form: MultiDict) -> list[tuple[int, int]]:
    """(case id, version seen) for each ticked case; a case sent without its version gets -1 (a conflict)."""
    versions = seen_versions(form.getlist("version"))
    chosen = []
    for value in form.getlist("case_id"):
        if parse_id(value) is None:
            abort(400)
        chosen.append((int(value), versions.get(int(value), -1)))
    return list(dict(chosen).items())


@bp.route("/bulk", methods=["POST"])
@login_required
def bulk():
    """Assign the ticked cases, or take one step on them; then a page saying what happened to each."""
    _require_team_reader()
    if not may_act_in_bulk(current_user):
        abort(403)
    user, form = _user(), request.form
    back = MultiDict(parse_qsl(form.get("query", "")))
    selection = _selection(form)
    action = form.get("action")
    reason = form.get("reason")
    description = ""
    try:
        with transactional():
            if action == "assign":
                choice = form.get("assignee", "")
                assignee: User | None = None
                if choice != "none":
                    handlers = {str(u.id): u for u in team_handlers(user, assignable=True)}
                    if choice not in handlers:
                        raise ValidationFailed(UNKNOWN_HANDLER, {"assignee": UNKNOWN_HANDLER if choice else REQUIRED})
                    assignee = db.session.get(User, handlers[choice].id)
                outcomes = bulk_service.bulk_assign(selection, assignee, user, reason)
                description = (_("Assign to %(name)s", name=assignee.display_name) if assignee
                               else _("Back to the unassigned pool"))
            elif action == "transition":
                trigger = form.get("trigger", "")
                outcomes = bulk_service.bulk_transition(selection, trigger, user, reason)
                description = _step_names(trigger)
            else:
                abort(400)
    except ValidationFailed as error:
        return _render_queue(back, bulk_values=form, bulk_errors=error.by_field(), status=422)
    return render_template(
        "team/bulk_result.html", outcomes=outcomes, reason=(reason or "").strip(), description=description,
        done=sum(o.done for o in outcomes), back_url=url_for(".index", **_view_args(back)),
    )


def _step_names(trigger: str) -> str:
    """A bulk step's label(s) across workflows (one trigger may be named differently in each)."""
    labels: list[str] = []
    for workflow in all_workflows():
        for step in workflow.steps:
            if step.trigger == trigger and bulk_service.bulk_ready(step) and tr(step.label) not in labels:
                labels.append(tr(step.label))
    return " / ".join(labels) or trigger
