"""The applicant's public page (no sign-in): progress by receipt number and PIN, and the 好差评 rating.

Guessing PINs is throttled twice: every POST counts against the client address
(CASEFLOW_PROGRESS_RATE_LIMIT, Flask-Limiter), and every failed look-up counts against the receipt number
typed, from whatever address (CASEFLOW_PROGRESS_NUMBER_LIMIT), so spreading guesses over many addresses
does not help. Both counters live in the limiter's storage (RATELIMIT_STORAGE_URI): several workers need
a shared one (redis://). Failures are counted for any number typed, existing or not, so a locked number
says nothing about whether it exists.

A found case is shown on the POST's own response; nothing about it is kept in the session. The rating
form carries a signed token (30 minutes) naming the receipt number that was just looked up, so only
someone who gave the right PIN can rate. Every response of this blueprint is ``Cache-Control: no-store``.
The PIN never appears in a URL, a page or a log.
"""
from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse

from caseflow.extensions import db, limiter, transactional
from caseflow.models import Case
from caseflow.services.errors import Conflict, InvalidTransition, ValidationFailed
from caseflow.services.progress import find_case_by_receipt, normalise_number, normalise_pin, progress_of
from caseflow.services.ratings import COMMENT_MAX_LENGTH, LEVELS, rate_case, rating_of

bp = Blueprint("progress", __name__)
log = logging.getLogger(__name__)

RATING_TOKEN_SALT = "caseflow.progress.rating"
RATING_TOKEN_MAX_AGE = 30 * 60  # seconds: time enough to read the page and write a comment


def progress_rate_limit() -> str:
    return current_app.config["CASEFLOW_PROGRESS_RATE_LIMIT"]


@bp.after_request
def _never_cached(response):
    """A shared computer or a proxy must not keep a page that shows a case's progress."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(429)
def _too_many_from_address(_error):
    return _form_page(message=_("Too many look-ups came from your address. Wait a few minutes, then try "
                                "again."), status=429)


# ----------------------------------------------------------------------------- failed look-ups per number

def _number_limit():
    return parse(current_app.config["CASEFLOW_PROGRESS_NUMBER_LIMIT"])


def _number_locked(number: str) -> bool:
    return limiter.enabled and not limiter.limiter.test(_number_limit(), "progress-number", number)


def _count_failure(number: str) -> None:
    if limiter.enabled and not limiter.limiter.hit(_number_limit(), "progress-number", number):
        log.warning("progress look-ups locked for a receipt number after too many wrong PINs")


# ---------------------------------------------------------------------------------------- rating token

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=RATING_TOKEN_SALT)


def _rating_token(case: Case) -> str:
    return _serializer().dumps({"number": case.number})


def _case_from_token(token: str | None) -> Case | None:
    """The case a rating token was issued for, while the token is fresh and untampered."""
    try:
        claim = _serializer().loads(token or "", max_age=RATING_TOKEN_MAX_AGE)
    except BadSignature:  # includes SignatureExpired
        return None
    number = claim.get("number") if isinstance(claim, dict) else None
    if not number:
        return None
    return db.session.scalar(sa.select(Case).where(Case.number == number))


# ----------------------------------------------------------------------------------------------- pages

def _form_page(*, number: str = "", message: str | None = None, errors: dict[str, Any] | None = None,
               status: int = 200):
    return render_template("progress/index.html", number=number, message=message, errors=errors or {},
                           progress=None), status


def _result_page(case: Case, *, values: Any = None, errors: dict[str, Any] | None = None,
                 message: str | None = None, status: int = 200):
    """The case's progress, with the rating form when it can be rated and has not been yet."""
    progress = progress_of(case)
    rated = rating_of(case) is not None
    return render_template(
        "progress/index.html", number="", message=message, errors=errors or {}, progress=progress,
        rated=rated, token=_rating_token(case) if progress.rateable and not rated else None,
        levels=LEVELS, values=values or {}, comment_max=COMMENT_MAX_LENGTH,
    ), status


@bp.route("/progress", methods=["GET"])
def index():
    """The look-up form."""
    return _form_page()


@bp.route("/progress", methods=["POST"])
@limiter.shared_limit(progress_rate_limit, scope="progress")
def lookup():
    """Receipt number and PIN → the case's progress, or one answer for every kind of wrong pair."""
    number = normalise_number(request.form.get("number"))
    pin = request.form.get("pin", "")
    errors = {}
    if not number:
        errors["number"] = _("Enter the receipt number.")
    if not normalise_pin(pin):
        errors["pin"] = _("Enter the PIN.")
    if errors:
        return _form_page(number=number, errors=errors, status=422)
    if _number_locked(number):
        return _form_page(number=number, status=429, message=_(
            "Too many wrong PINs were entered for this receipt number today. Try again tomorrow, or ask "
            "the office."))
    case = find_case_by_receipt(number, pin)
    if case is None:
        _count_failure(number)
        return _form_page(number=number, message=_(
            "The receipt number and PIN do not match. Check both against your receipt and try again."))
    return _result_page(case)


@bp.route("/progress/rating", methods=["POST"])
@limiter.shared_limit(progress_rate_limit, scope="progress")
def rate():
    """The applicant's one rating of a finished case (the token proves the look-up just made)."""
    case = _case_from_token(request.form.get("token"))
    if case is None:
        return _form_page(status=400, message=_(
            "Your look-up has expired. Enter the receipt number and PIN again to rate."))
    try:
        with transactional():
            rate_case(case, request.form.get("level"), request.form.get("comment"))
    except ValidationFailed as error:
        return _result_page(case, values=request.form, errors=error.fields, status=error.status)
    except (Conflict, InvalidTransition) as error:
        return _result_page(case, message=error.message, status=error.status)
    flash(_("Thank you for your rating."), "success")
    return redirect(url_for(".index"))
