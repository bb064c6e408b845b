"""Follow-ups of bad ratings (差评回访) for supervisors, and the rating panel of the case page."""
from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from caseflow.calendar import LOCAL_TZ, to_local, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, FollowUp, Jurisdiction, Rating, User
from caseflow.services import ratings
from caseflow.services.audit import record_reads
from caseflow.services.cases import workflow_of
from caseflow.services.errors import NotFound, PermissionDenied, ServiceError
from caseflow.views.template_helpers import tr

bp = Blueprint("follow_ups", __name__, url_prefix="/follow-ups")


def _user() -> User:
    return current_user._get_current_object()


def _is_supervisor() -> bool:
    return current_user.is_authenticated and current_user.is_active and current_user.has_role("supervisor")


@bp.app_template_global()
def case_rating(case: Case) -> tuple[Rating, FollowUp | None] | None:
    """The rating of a case and its follow-up, for the case page (which has checked the reader may read
    the case)."""
    rating = ratings.rating_of(case)
    return (rating, ratings.follow_up_of(rating)) if rating is not None else None


@bp.app_template_filter()
def rating_level(level: int) -> str:
    return tr(ratings.level_label(level))



def _this_month(now: datetime) -> tuple[datetime, datetime]:
    """The current calendar month in office local time, as UTC instants [start, end)."""
    local = to_local(now).date().replace(day=1)
    following = local.replace(year=local.year + 1, month=1) if local.month == 12 else local.replace(
        month=local.month + 1)
    return tuple(datetime.combine(day, time.min, LOCAL_TZ).astimezone(timezone.utc)
                 for day in (local, following))


def _townships(user: User) -> list[Jurisdiction]:
    places = {place.id: place for place in
              (j if j.kind == "township" else j.parent for j in user.jurisdictions) if place is not None}
    return sorted(places.values(), key=lambda place: place.code)


@bp.route("")
@login_required
def index():
    """Open follow-ups, oldest first (or the closed ones), and this month's ratings of the supervisor's
    township(s)."""
    if not _is_supervisor():
        abort(403)
    status = "done" if request.args.get("status") == "done" else "open"
    items = ratings.follow_ups_for(_user(), status)
    with transactional():  # a read is logged even when the page only shows
        record_reads([item.case for item in items], _user(), "follow_ups", utcnow())
    start, end = _this_month(utcnow())
    figures = [(township, ratings.rating_figures(township, start, end, viewer=_user()))
               for township in _townships(_user())]
    return render_template("follow_ups/index.html", items=items, status=status, figures=figures,
                           month_start=start, levels=ratings.LEVELS)


def _readable(follow_up_id: int) -> FollowUp:
    if not _is_supervisor():
        abort(403)
    try:
        return ratings.readable_follow_up(_user(), follow_up_id)
    except NotFound:
        abort(404)


def _detail_page(follow_up: FollowUp, errors: dict | None = None, values=None, status: int = 200):
    return render_template("follow_ups/detail.html", item=follow_up, case=follow_up.case,
                           workflow=workflow_of(follow_up.case), errors=errors or {},
                           values=values or {},
                           closed_by=db.session.get(User, follow_up.closed_by_id) if follow_up.closed_by_id
                           else None), status


@bp.route("/<int:follow_up_id>")
@login_required
def detail(follow_up_id: int):
    follow_up = _readable(follow_up_id)
    with transactional():  # a read is logged even when the page only shows
        record_reads([follow_up.case], _user(), "follow_up", utcnow())
    return _detail_page(follow_up)


@bp.route("/<int:follow_up_id>/take", methods=["POST"])
@login_required
def take(follow_up_id: int):
    follow_up = _readable(follow_up_id)
    try:
        with transactional():
            ratings.take_follow_up(follow_up, _user())
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        flash(tr(error.message), "error")
    else:
        flash(_("You have taken this follow-up."), "success")
    return redirect(url_for(".detail", follow_up_id=follow_up_id))


@bp.route("/<int:follow_up_id>/close", methods=["POST"])
@login_required
def close(follow_up_id: int):
    """Close with the resolution; a missing resolution shows the form again with what was typed."""
    follow_up = _readable(follow_up_id)
    try:
        with transactional():
            ratings.close_follow_up(follow_up, _user(), request.form.get("resolution"))
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        if error.fields:
            return _detail_page(follow_up, errors=error.fields, values=request.form, status=error.status)
        flash(tr(error.message), "error")
    else:
        flash(_("Follow-up closed."), "success")
    return redirect(url_for(".detail", follow_up_id=follow_up_id))
