"""Administration (role ``admin`` only): user accounts, townships and villages, the office calendar's
local exceptions, and the deadlines of each workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from caseflow.calendar import local_date, package_has_year, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Jurisdiction, User
from caseflow.services.deadlines import (
    NOT_A_COUNT, load_policy, reset_deadline_setting, save_deadline_setting,
)
from caseflow.services.errors import ServiceError
from caseflow.services.office_calendar import add_override, list_overrides, remove_override
from caseflow.services.users import SYSTEM_USERNAME, list_townships, list_users, save_jurisdiction, save_user
from caseflow.views.auth import admin_required
from caseflow.views.ids import parse_id
from caseflow.views.template_helpers import current_locale, tr
from caseflow.workflows import UnknownWorkflow, all_workflows, latest
from caseflow.workflows.definition import NOT_A_DATE, DeadlineRule, Workflow

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def require_admin() -> None:
    """Every page of this blueprint is for administrators."""


def _actor() -> User:
    return current_user._get_current_object()


@bp.route("/")
def index():
    return redirect(url_for(".users"))


# ----------------------------------------------------------------------------------------------- users

@bp.route("/users")
def users():
    return render_template("admin/users.html", users=list_users())


def _user_values(user: User | None) -> MultiDict:
    if user is None:
        return MultiDict({"locale": "zh", "active": "1"})
    values = MultiDict({
        "username": user.username, "display_name": user.display_name, "email": user.email or "",
        "locale": user.locale, "active": "1" if user.active else "",
    })
    for role in sorted(user.roles):
        values.add("roles", role)
    for place in user.jurisdictions:
        values.add("jurisdictions", str(place.id))
    return values


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_form(user_id: int | None = None):
    user = db.get_or_404(User, user_id) if user_id is not None else None
    if user is not None and user.username == SYSTEM_USERNAME:
        abort(404)  # the scheduler's account is not a person's and is not edited here
    values = request.form if request.method == "POST" else _user_values(user)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        roles = values.getlist("roles")
        places = [place for place in map(parse_id, values.getlist("jurisdictions")) if place is not None]
        active = values.get("active") == "1"
        if user is not None and user.id == current_user.id and ("admin" not in roles or not active):
            # Otherwise the last administrator could lock everyone out of this page.
            errors["roles"] = _("You cannot remove your own administrator role or disable your own account.")
        else:
            try:
                with transactional():
                    saved = save_user(
                        username=values.get("username", ""), display_name=values.get("display_name", ""),
                        roles=roles, jurisdiction_ids=places,
                        email=values.get("email"), locale=values.get("locale", "zh"),
                        password=values.get("password") or None, active=active, user=user, actor=_actor(),
                    )
            except ServiceError as error:
                errors = error.by_field()
            else:
                flash(_("User %(username)s saved.", username=saved.username), "success")
                return redirect(url_for(".users"))
    return render_template("admin/user_form.html", user=user, values=values, errors=errors,
                           townships=list_townships()), (422 if errors else 200)


# --------------------------------------------------------------------------------------- jurisdictions

@bp.route("/jurisdictions")
def jurisdictions():
    return render_template("admin/jurisdictions.html", townships=list_townships())


@bp.route("/jurisdictions/new", methods=["GET", "POST"])
@bp.route("/jurisdictions/<int:jurisdiction_id>", methods=["GET", "POST"])
def jurisdiction_form(jurisdiction_id: int | None = None):
    place = db.get_or_404(Jurisdiction, jurisdiction_id) if jurisdiction_id is not None else None
    if request.method == "POST":
        values = request.form
    elif place is None:
        values = MultiDict({"kind": request.args.get("kind", "village"),
                            "parent_id": request.args.get("parent", "")})
    else:
        values = MultiDict({"code": place.code, "name": place.name, "name_en": place.name_en or "",
                            "kind": place.kind, "parent_id": str(place.parent_id or "")})
    errors: dict[str, Any] = {}
    if request.method == "POST":
        kind = values.get("kind")
        if kind not in ("township", "village"):
            errors["kind"] = _("Choose township or village.")
        else:
            try:
                with transactional():
                    saved = save_jurisdiction(
                        code=values.get("code", ""), name=values.get("name", ""), kind=kind,
                        parent_id=parse_id(values.get("parent_id")), name_en=values.get("name_en"),
                        jurisdiction=place, actor=_actor(),
                    )
            except ServiceError as error:
                errors = error.by_field()
            else:
                flash(_("%(name)s saved.", name=saved.name), "success")
                return redirect(url_for(".jurisdictions"))
    townships = [(str(t.id), t.label(current_locale())) for t in list_townships()]
    return render_template("admin/jurisdiction_form.html", place=place, values=values, errors=errors,
                           township_options=townships), (422 if errors else 200)


# -------------------------------------------------------------------------------------------- calendar

def _recomputed(changed: int) -> str:
    return ngettext("Open deadlines recomputed: %(num)d case changed.",
                    "Open deadlines recomputed: %(num)d cases changed.", changed)


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    values = request.form if request.method == "POST" else MultiDict({"kind": "closed"})
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            day = date.fromisoformat(values.get("day", "").strip())
        except ValueError:
            errors["day"] = NOT_A_DATE
        if values.get("kind") not in ("closed", "working"):
            errors["kind"] = _("Choose whether the office is closed or working that day.")
        if not errors:
            try:
                with transactional():
                    changed = add_override(day, values["kind"] == "working", values.get("note", ""), _actor())
            except ServiceError as error:
                errors = error.by_field()
            else:
                flash(_("Calendar exception for %(day)s saved.", day=day.isoformat()), "success")
                flash(_recomputed(changed), "info")
                return redirect(url_for(".calendar"))
    today = local_date(utcnow())
    official = [year for year in range(today.year - 1, today.year + 3) if package_has_year(year)]
    return render_template("admin/calendar.html", overrides=list_overrides(), values=values, errors=errors,
                           official_until=max(official, default=None)), (422 if errors else 200)


@bp.route("/calendar/<int:override_id>/delete", methods=["POST"])
def delete_override(override_id: int):
    with transactional():
        changed = remove_override(override_id, _actor())
    flash(_("Calendar exception removed."), "success")
    flash(_recomputed(changed), "info")
    return redirect(url_for(".calendar"))


# ------------------------------------------------------------------------------------------- deadlines

@dataclass(frozen=True)
class DeadlineRow:
    """One state's deadline on the page: as shipped with the workflow and as in force now."""

    workflow: Workflow
    state: str
    shipped: DeadlineRule
    in_force: DeadlineRule
    changed: bool

    @property
    def prefix(self) -> str:
        """Form fields are named per row so that every row's inputs and errors stay apart."""
        return f"{self.workflow.name}.{self.state}."

    @property
    def adjustable(self) -> bool:
        """A "same calendar day" limit has no number to change."""
        return self.shipped.limit.unit != "same_calendar_day"


def _deadline_sections() -> list[tuple[Workflow, list[DeadlineRow]]]:
    """Every workflow (current version) with the states that have a deadline."""
    policy = load_policy()
    return [(workflow, [DeadlineRow(workflow, state, shipped, policy.rule(workflow, state),
                                    policy.is_changed(workflow, state))
                        for state, shipped in workflow.deadlines.items()])
            for workflow in all_workflows()]


def _deadline_values(sections: list[tuple[Workflow, list[DeadlineRow]]]) -> dict[str, Any]:
    """The amounts in force, as the forms show them."""
    values: dict[str, Any] = {}
    for _workflow, rows in sections:
        for row in rows:
            values[row.prefix + "limit_amount"] = row.in_force.limit.amount
            if row.in_force.target is not None:
                values[row.prefix + "target_amount"] = row.in_force.target.amount
    return values


def _deadline_rule(workflow_name: str, state: str) -> tuple[Workflow, DeadlineRule]:
    try:
        workflow = latest(workflow_name)
    except UnknownWorkflow:
        abort(404)
    if state not in workflow.deadlines:
        abort(404)
    return workflow, workflow.deadlines[state]


def _amount(raw: str | None) -> int | None:
    """A typed whole number, or None when it is not one (the service checks the range)."""
    try:
        return int(raw or "")
    except ValueError:
        return None


@bp.route("/deadlines")
def deadlines():
    sections = _deadline_sections()
    return render_template("admin/deadlines.html", sections=sections, values=_deadline_values(sections),
                           errors={}, posted=None)


@bp.route("/deadlines/<workflow_name>/<state>", methods=["POST"])
def save_deadline(workflow_name: str, state: str):
    workflow, shipped = _deadline_rule(workflow_name, state)
    prefix = f"{workflow.name}.{state}."
    limit = _amount(request.form.get(prefix + "limit_amount"))
    target = _amount(request.form.get(prefix + "target_amount"))
    errors: dict[str, Any] = {}
    if limit is None:
        errors["limit_amount"] = NOT_A_COUNT
    if target is None and shipped.target is not None:
        errors["target_amount"] = NOT_A_COUNT
    if limit is not None and not errors:
        try:
            with transactional():
                changed = save_deadline_setting(workflow.name, state, limit, target, actor=_actor())
        except ServiceError as error:
            errors = error.by_field()
        else:
            flash(_("Deadline for “%(state)s” saved.", state=tr(workflow.state_label(state))), "success")
            flash(_recomputed(changed), "info")
            return redirect(url_for(".deadlines"))
    sections = _deadline_sections()
    return render_template(
        "admin/deadlines.html", sections=sections,
        values=_deadline_values(sections) | request.form.to_dict(),
        errors={(prefix + name if name else ""): message for name, message in errors.items()}, posted=prefix,
    ), 422


@bp.route("/deadlines/<workflow_name>/<state>/reset", methods=["POST"])
def reset_deadline(workflow_name: str, state: str):
    workflow, _shipped = _deadline_rule(workflow_name, state)
    with transactional():
        changed = reset_deadline_setting(workflow.name, state, actor=_actor())
    flash(_("Deadline for “%(state)s” restored to the default.", state=tr(workflow.state_label(state))),
          "success")
    flash(_recomputed(changed), "info")
    return redirect(url_for(".deadlines"))
