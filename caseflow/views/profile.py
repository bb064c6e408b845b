"""My profile (个人设置): every signed-in user sees what their account may do and changes their own
password and language. Roles and jurisdictions stay with the administrator."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from caseflow.extensions import limiter, transactional
from caseflow.models import User
from caseflow.services.errors import ServiceError
from caseflow.services.users import change_password, set_daily_digest
from caseflow.views.auth import remember_language, sign_in_rate_limit
from caseflow.views.template_helpers import tr

bp = Blueprint("profile", __name__, url_prefix="/profile")


def _user() -> User:
    return current_user._get_current_object()


@bp.route("", methods=["GET", "POST"])
@login_required
@limiter.limit(sign_in_rate_limit, methods=["POST"])  # a POST checks a password: throttle guessing
def index():
    """The profile page; a POST is the change-password form."""
    errors: dict[str, Any] = {}
    if request.method == "POST":
        form = request.form
        try:
            with transactional():
                change_password(_user(), form.get("current_password", ""), form.get("new_password", ""),
                                form.get("repeat_password", ""))
        except ServiceError as error:
            errors = error.by_field()
        else:
            login_user(_user())  # the new password ends every other session; this one carries on
            flash(_("Password changed."), "success")
            return redirect(url_for(".index"))
    # Password fields are never filled in again, not even after an error.
    return render_template("profile/index.html", user=_user(), errors=errors), (422 if errors else 200)


@bp.route("/email", methods=["POST"])
@login_required
def email():
    """The daily reminder email on or off. Only "on" or "off" is accepted: a form that lost its value
    must not quietly unsubscribe anyone."""
    choice = request.form.get("daily_digest", "")
    if choice not in ("on", "off"):
        flash(_("Choose whether to receive the daily reminder email."), "error")
        return redirect(url_for(".index"))
    with transactional():
        set_daily_digest(_user(), choice == "on")
    flash(_("Daily reminder email turned on.") if choice == "on" else _("Daily reminder email turned off."),
          "success")
    return redirect(url_for(".index"))


@bp.route("/language", methods=["POST"])
@login_required
def language():
    """Keep the chosen UI language on the account and switch this session to it (as the header does)."""
    code = request.form.get("locale", "")
    try:
        remember_language(code)
    except ServiceError as error:
        flash(tr(error.fields.get("locale", error.message)), "error")
    else:
        with force_locale(code):  # say it in the language just chosen
            flash(_("Language saved."), "success")
    return redirect(url_for(".index"))
