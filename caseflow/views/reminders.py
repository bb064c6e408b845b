"""The notification list: deadline reminders raised by the scheduler's deadline scan (a supervisor's village
reminders first, then case reminders), and marking them read."""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from caseflow.extensions import transactional
from caseflow.models import User
from caseflow.services import access, reminders
from caseflow.services.deadlines import LightBounds
from caseflow.services.errors import NotFound

bp = Blueprint("reminders", __name__)


def _user() -> User:
    return current_user._get_current_object()


@bp.route("/reminders")
@login_required
def index():
    """The user's reminders, unread first, newest first: village reminders, then case reminders."""
    if not access.can_read_cases(_user()):
        abort(403)
    return render_template("reminders/index.html", reminders=reminders.reminders_for(_user()),
                           village_reminders=reminders.village_reminders_for(_user()),
                           bounds=LightBounds.current())


@bp.route("/reminders/<int:reminder_id>/read", methods=["POST"])
@login_required
def mark_read(reminder_id: int):
    return _marked_read(reminders.mark_read, reminder_id)


@bp.route("/reminders/villages/<int:reminder_id>/read", methods=["POST"])
@login_required
def mark_village_read(reminder_id: int):
    return _marked_read(reminders.mark_village_read, reminder_id)


def _marked_read(mark: Callable[[User, int], object], reminder_id: int):
    """Mark one of the user's own reminders read with ``mark``; anyone else's is 404."""
    try:
        with transactional():
            mark(_user(), reminder_id)
    except NotFound:
        abort(404)
    return redirect(url_for("reminders.index"))


@bp.route("/reminders/read-all", methods=["POST"])
@login_required
def mark_all_read():
    with transactional():
        count = reminders.mark_all_read(_user())
    flash(_("%(count)d reminder(s) marked as read.", count=count), "success")
    return redirect(url_for("reminders.index"))
