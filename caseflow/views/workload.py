"""Workload and leave (supervisors): open cases per handler by deadline light, leave periods, recording
leave, and handing an absent handler's open cases on."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Leave, User
from caseflow.services import access
from caseflow.services.audit import record_reads
from caseflow.services.deadlines import LIGHTS, LightBounds
from caseflow.services.errors import NotFound, ServiceError
from caseflow.services.leave import (
    Move, cancel_leave, leave_note, leave_of, open_cases_of, reassign_for_leave, record_leave, shorten_leave,
    workload,
)
from caseflow.services.queues import CaseFilter, search_cases
from caseflow.views.ids import page_number, parse_id
from caseflow.views.template_helpers import tr

bp = Blueprint("workload", __name__, url_prefix="/workload")

KEEP = "keep"  # the reassignment form's choice for "leave this case where it is"


@bp.before_request
@login_required
def require_supervisor() -> None:
    """Every page here is for supervisors: they see their jurisdictions' cases and assign them."""
    if not (current_user.has_role("supervisor") and access.can_read_cases(current_user)):
        abort(403)


def _user() -> User:
    return current_user._get_current_object()


def _index_page(values: MultiDict, errors: dict[str, Any], status: int = 200):
    load = workload(_user())
    people = [(str(row.user.id), row.user.display_name) for row in load.handlers
              if row.user.is_active and row.user.has_role(*access.HANDLER_ROLES)]
    return render_template("workload/index.html", load=load, people=people, values=values, errors=errors,
                           lights=LIGHTS), status


@bp.route("/")
def index():
    return _index_page(MultiDict(), {})


def _person(raw: str | None) -> User | None:
    user_id = parse_id(raw)
    return db.session.get(User, user_id) if user_id is not None else None


@bp.route("/leave", methods=["POST"])
def record():
    """Record leave, then offer the person's open cases for reassignment."""
    values = request.form
    errors: dict[str, Any] = {}
    user = _person(values.get("user"))
    delegate = _person(values.get("delegate"))
    if user is None:
        errors["user"] = _("Choose whose leave this is.")
    if values.get("delegate") and delegate is None:
        errors["delegate"] = _("Choose a delegate from the list.")
    if not errors:
        try:
            with transactional():
                leave = record_leave(user, values.get("starts_on"), values.get("ends_on"), values.get("reason"),
                                     delegate, _user())
        except ServiceError as error:
            errors = error.by_field()
        else:
            flash(_("Leave of %(name)s recorded: %(starts)s to %(ends)s.", name=user.display_name,
                    starts=leave.starts_on.isoformat(), ends=leave.ends_on.isoformat()), "success")
            return redirect(url_for(".reassign", leave_id=leave.id))
    return _index_page(values, errors, 422)


def _leave(leave_id: int) -> Leave:
    try:
        return leave_of(leave_id, _user())
    except NotFound:
        abort(404)


@bp.route("/leave/<int:leave_id>/cancel", methods=["POST"])
def cancel(leave_id: int):
    leave = _leave(leave_id)
    name = leave.user.display_name
    try:
        with transactional():
            kept = cancel_leave(leave, _user())
    except ServiceError as error:
        flash(tr(error.message), "error")
    else:
        if kept is None:
            flash(_("Leave of %(name)s cancelled.", name=name), "success")
        else:
            flash(_("Leave of %(name)s now ends on %(ends)s.", name=name, ends=kept.ends_on.isoformat()), "success")
    return redirect(url_for(".index"))


@bp.route("/leave/<int:leave_id>/shorten", methods=["POST"])
def shorten(leave_id: int):
    leave = _leave(leave_id)
    try:
        with transactional():
            shorten_leave(leave, request.form.get("ends_on"), _user())
    except ServiceError as error:
        for message in error.by_field().values():
            flash(tr(message), "error")
    else:
        flash(_("Leave of %(name)s now ends on %(ends)s.", name=leave.user.display_name,
                ends=leave.ends_on.isoformat()), "success")
    return redirect(url_for(".index"))


@bp.route("/handlers/<int:user_id>")
def handler_cases(user_id: int):
    """One handler's open cases (those the supervisor may see), optionally of one light."""
    load = workload(_user())
    row = next((row for row in load.handlers if row.user.id == user_id), None)
    if row is None:
        abort(404)
    light = request.args.get("light") if request.args.get("light") in LIGHTS else None
    page = search_cases(_user(), CaseFilter(assignee=row.user.username, light=light, open_only=True),
                        page=page_number(request.args.get("page")),
                        page_size=current_app.config["CASEFLOW_PAGE_SIZE"])
    return render_template("workload/handler.html", row=row, light=light, page=page, today=load.today)



@bp.route("/leave/<int:leave_id>/reassign", methods=["GET", "POST"])
def reassign(leave_id: int):
    """The open cases of the person on leave, each with whom to give it to (the delegate by default); one
    submit hands them all on, each with the version shown, and the page then says how each went."""
    leave = _leave(leave_id)
    results = None
    if request.method == "POST":
        moves = []
        for raw in request.form.getlist("case"):
            choice = request.form.get(f"to-{raw}", KEEP)
            case_id = parse_id(raw)
            if case_id is None or choice == KEEP:
                continue
            # "": the unassigned pool; anything but a user id is reported as an unknown user.
            assignee_id = None if choice == "" else parse_id(choice) or -1
            moves.append(Move(case_id, assignee_id, parse_id(request.form.get(f"version-{raw}")) or -1))
        with transactional():
            results = reassign_for_leave(leave, moves, _user())
        with transactional():  # a read is logged even when the page only shows
            record_reads([r.case for r in results if r.case], _user(), "leave:assignment", utcnow())
        moved = sum(r.ok for r in results)
        if moved:
            flash(ngettext("%(num)d case handed on.", "%(num)d cases handed on.", moved), "success")
        if moved < len(results):
            flash(_("Some cases were not handed on: see below."), "error")
        if not results:
            flash(_("Nothing was changed: every case was left where it is."), "info")
    cases = open_cases_of(leave.user, _user())
    with transactional():  # a read is logged even when the page only shows
        record_reads(cases, _user(), "leave:list", utcnow())
    handlers = {case.id: [person for person in access.case_handlers(case) if person.id != leave.user_id]
                for case in cases}
    default = {case.id: str(leave.delegate_id) if any(p.id == leave.delegate_id for p in handlers[case.id])
               else KEEP for case in cases}
    return render_template("workload/reassign.html", leave=leave, cases=cases, handlers=handlers,
                           default=default, results=results, note=leave_note(leave), bounds=LightBounds.current(),
                           KEEP=KEEP)
