"""Signing in and out, the UI language, and the site-wide error pages."""
from __future__ import annotations

import functools
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from caseflow.extensions import limiter, transactional
from caseflow.services.users import authenticate, set_locale

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``.

    Anything else would turn the login page into an open redirect for phishing links. Browsers read
    backslashes as slashes and drop tabs and newlines, so "/\\evil" or "/\\t/evil" are refused too.
    """
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(char) < 33 or ord(char) == 127 for char in target)):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """For administration pages: signed in (else the login page) and an administrator (else 403)."""
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not current_user.has_role("admin"):
            abort(403)
        return view(*args, **kwargs)
    return login_required(guarded)


def sign_in_rate_limit() -> str:
    return current_app.config["CASEFLOW_SIGN_IN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(sign_in_rate_limit, methods=["POST"])
def login():
    next_url = request.values.get("next")
    if current_user.is_authenticated:
        return redirect(safe_next(next_url, url_for("cases.index")))
    failed = False
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            login_user(user)
            return redirect(safe_next(next_url, url_for("cases.index")))
        failed = True  # one message for unknown user, wrong password and disabled account alike
    return render_template("auth/login.html", next_url=next_url, failed=failed,
                           username=request.form.get("username", ""))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You have signed out."), "success")
    return redirect(url_for(".login"))


def remember_language(code: str) -> None:
    """Show the UI in ``code`` (one of CASEFLOW_LOCALES) from now on: in this session and, for a
    signed-in user, on their account, so that their next sessions start in it too."""
    if current_user.is_authenticated and current_user.locale != code:
        with transactional():
            set_locale(current_user._get_current_object(), code)
    session["lang"] = code


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    """Switch the UI language; a signed-in user keeps the choice on their account (emails use it too)."""
    if code not in current_app.config["CASEFLOW_LOCALES"]:
        abort(404)
    remember_language(code)
    return redirect(safe_next(request.form.get("next"), url_for("cases.index")))


@bp.app_errorhandler(CSRFError)
@bp.app_errorhandler(429)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def error_page(error: HTTPException):
    if request.path.startswith("/api/"):
        return error  # the JSON API answers in its own format
    return render_template("errors/error.html", error=error), error.code
