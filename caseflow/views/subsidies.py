"""Subsidy pages: public notices (公示: list, start for several cases, print), payment batches (list,
create, view, bank file, results, re-payment) and the scheme configuration (admins).

Who: notices are read by anyone who may read the village's cases and started by clerks and supervisors;
batches are township-wide — supervisors create and export them (the bank file has full IDs and accounts),
clerks and supervisors record the bank's results and re-pay, auditors read; schemes are for admins.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, Payment, SubsidyEnrolment, SubsidyScheme, User
from caseflow.services import access
from caseflow.services import subsidies as service
from caseflow.services import subsidy_payments as money
from caseflow.services.errors import NotFound, PermissionDenied, ServiceError
from caseflow.views.auth import admin_required
from caseflow.views.ids import parse_id, seen_versions
from caseflow.views.template_helpers import tr

bp = Blueprint("subsidies", __name__, url_prefix="/subsidies")


def _user() -> User:
    return current_user._get_current_object()


# Database ids are signed 64-bit: a larger number cannot name a row (and would overflow the driver).
def _flash_error(error: ServiceError) -> None:
    for message in error.by_field().values():
        flash(tr(message), "error")


# ------------------------------------------------------------------------------------ template helpers

@bp.app_template_global()
def subsidy_enrolment(case: Case) -> SubsidyEnrolment | None:
    """The enrolment shown on a subsidy case's page."""
    return service.enrolment_of(case)


@bp.app_template_global()
def subsidy_payments(enrolment: SubsidyEnrolment) -> list[Payment]:
    return money.payments_of(enrolment)


@bp.app_template_global()
def masked_account(account: str | None) -> str:
    return service.mask_account(account)


@bp.app_template_global()
def may_see_subsidy_batches() -> bool:
    return current_user.is_authenticated and current_user.has_role(*money.READERS)


# -------------------------------------------------------------------------------------------- notices

@bp.route("/notices")
@login_required
def notices():
    if not access.can_read_cases(current_user):
        abort(403)
    rows = list(db.session.scalars(service.visible_notices(_user()).limit(200)))
    return render_template("subsidies/notices.html", notices=rows, now=utcnow())


@bp.route("/notices/new", methods=["GET", "POST"])
@login_required
def new_notice():
    """Village-reviewed cases with checkboxes: the chosen ones go on one notice."""
    if not current_user.has_role("clerk", "supervisor"):
        abort(403)
    user = _user()
    village_id = None
    if request.values.get("village"):
        village_id = parse_id(request.values["village"])
        if village_id is None:
            abort(404)
    errors: dict[str, Any] = {}
    chosen: set[int] = set()
    if request.method == "POST":
        ids = [parse_id(v) for v in request.form.getlist("case_id")]
        if None in ids:  # no case has that id
            abort(404)
        chosen = set(ids)
        versions = seen_versions(request.form.getlist("version"))
        try:
            with transactional():
                notice = service.start_public_notice(sorted(chosen), user, versions=versions)
        except NotFound:
            abort(404)
        except ServiceError as error:
            errors = error.by_field() | {"": error.message}
        else:
            flash(_("Public notice started for %(num)d cases.", num=len(notice.entries)), "success")
            return redirect(url_for(".notice", notice_id=notice.id))
    villages = access.villages_of(user)
    cases = service.cases_awaiting_notice(user, village_id)
    return render_template("subsidies/notice_new.html", cases=cases, villages=villages, village_id=village_id,
                           chosen=chosen, errors=errors), (422 if errors else 200)


@bp.route("/notices/<int:notice_id>")
@login_required
def notice(notice_id: int):
    try:
        row = service.readable_notice(_user(), notice_id)
    except NotFound:
        abort(404)
    readable = {e.case_id for e in row.entries if access.can_read(_user(), e.case)}
    return render_template("subsidies/notice.html", notice=row, readable=readable, now=utcnow())


@bp.route("/notices/<int:notice_id>/print")
@login_required
def print_notice(notice_id: int):
    """The notice as posted in the village: Chinese, names, village and scheme — no ID numbers."""
    try:
        row = service.readable_notice(_user(), notice_id)
    except NotFound:
        abort(404)
    schemes = {s.code: s.name for s in service.list_schemes()}
    with force_locale("zh"):
        return render_template("documents/subsidy/public_notice.html", notice=row, schemes=schemes,
                               office=current_app.config["CASEFLOW_OFFICE_NAME"])


# -------------------------------------------------------------------------------------------- batches

def _require_batch_reader() -> None:
    if not current_user.has_role(*money.READERS):
        abort(403)


@bp.route("/batches", methods=["GET", "POST"])
@login_required
def batches():
    _require_batch_reader()
    values = request.form if request.method == "POST" else MultiDict()
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if not current_user.has_role("supervisor"):
            abort(403)
        scheme_id = parse_id(values.get("scheme_id"))
        scheme = db.session.get(SubsidyScheme, scheme_id) if scheme_id else None
        held = money.townships_held(_user())
        township = None
        if len(held) > 1:  # with one township the batch is that township's
            township = next((j for j in held if j.id == parse_id(values.get("township_id"))), None)
            if township is None:
                errors["township_id"] = _("Choose the township.")
        if scheme is None:
            errors["scheme_id"] = _("Choose a scheme.")
        if not errors:
            try:
                with transactional():
                    batch = money.create_payment_batch(scheme, values.get("period", ""), _user(),
                                                       township=township)
            except PermissionDenied as error:
                errors = {"": error.message}
            except ServiceError as error:
                errors = error.by_field()
            else:
                flash(_("Payment batch %(period)s ready: %(num)d payments.", period=batch.period,
                        num=len(batch.payments)), "success")
                return redirect(url_for(".batch", batch_id=batch.id))
    user = _user()
    rows = [(b, money.batch_totals(b, money.visible_payments(user, b)))
            for b in db.session.scalars(money.visible_batches(user).limit(200))]
    schemes = service.list_schemes()
    return render_template("subsidies/batches.html", rows=rows, schemes=schemes, values=values, errors=errors,
                           frequencies=service.FREQUENCIES, townships=money.townships_held(user)), \
        (422 if errors else 200)


@bp.route("/batches/<int:batch_id>")
@login_required
def batch(batch_id: int):
    _require_batch_reader()
    try:
        row, payments = money.readable_batch(_user(), batch_id)
    except NotFound:
        abort(404)
    may_export = current_user.has_role("supervisor") and row.township_id in {
        j.id for j in money.townships_held(_user())}
    return render_template("subsidies/batch.html", batch=row, payments=payments,
                           totals=money.batch_totals(row, payments), may_export=may_export)


@bp.route("/batches/<int:batch_id>/export.xlsx")
@login_required
def export_batch(batch_id: int):
    if not current_user.has_role("supervisor"):
        abort(403)
    try:
        row, _payments = money.readable_batch(_user(), batch_id)
        data = money.export_batch_xlsx(row, _user())
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    current_app.logger.info("bank file exported: batch %s by user %s", row.id, current_user.id)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition":
                             f'attachment; filename="batch-{row.scheme.code}-{row.period}.xlsx"'})


def _payment(payment_id: int) -> Payment:
    if not current_user.has_role("clerk", "supervisor"):
        abort(403)
    try:
        return money.readable_payment(_user(), payment_id)
    except NotFound:
        abort(404)


@bp.route("/payments/<int:payment_id>/result", methods=["POST"])
@login_required
def mark_payment(payment_id: int):
    payment = _payment(payment_id)
    try:
        with transactional():
            money.mark_payment(payment, request.form.get("outcome", ""), request.form.get("reason"), _user())
    except ServiceError as error:
        _flash_error(error)
    else:
        flash(_("Payment result recorded."), "success")
    return redirect(url_for(".batch", batch_id=payment.batch_id))


@bp.route("/payments/<int:payment_id>/repay", methods=["POST"])
@login_required
def repay_payment(payment_id: int):
    payment = _payment(payment_id)
    try:
        with transactional():
            money.repay_payment(payment, request.form.get("bank_name", ""), request.form.get("bank_account", ""),
                                _user())
    except ServiceError as error:
        _flash_error(error)
    else:
        flash(_("Payment sent again to the corrected account."), "success")
    return redirect(url_for(".batch", batch_id=payment.batch_id))


# -------------------------------------------------------------------------------------------- schemes

@bp.route("/schemes")
@admin_required
def schemes():
    return render_template("subsidies/schemes.html", schemes=service.list_schemes(),
                           frequencies=service.FREQUENCIES)


def _scheme_values(scheme: SubsidyScheme | None) -> MultiDict:
    if scheme is None:
        return MultiDict({"frequency": "annual", "active": "1"})
    return MultiDict({"code": scheme.code, "name": scheme.name, "name_en": scheme.name_en or "",
                      "annual_yuan": money.format_yuan(scheme.annual_fen).replace(",", ""),
                      "frequency": scheme.frequency, "eligibility_notes": scheme.eligibility_notes or "",
                      "active": "1" if scheme.active else ""})


@bp.route("/schemes/new", methods=["GET", "POST"])
@bp.route("/schemes/<int:scheme_id>", methods=["GET", "POST"])
@admin_required
def scheme_form(scheme_id: int | None = None):
    scheme = db.get_or_404(SubsidyScheme, scheme_id) if scheme_id is not None else None
    values = request.form if request.method == "POST" else _scheme_values(scheme)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            with transactional():
                saved = service.save_scheme(
                    code=values.get("code", "") if scheme is None else scheme.code, name=values.get("name", ""),
                    name_en=values.get("name_en"), annual_yuan=values.get("annual_yuan", ""),
                    frequency=values.get("frequency", ""), eligibility_notes=values.get("eligibility_notes", ""),
                    active=bool(values.get("active")), actor=_user(), scheme=scheme)
        except ServiceError as error:
            errors = error.by_field()
        else:
            flash(_("%(name)s saved.", name=saved.name), "success")
            return redirect(url_for(".schemes"))
    return render_template("subsidies/scheme_form.html", scheme=scheme, values=values, errors=errors,
                           frequencies=service.FREQUENCIES), (422 if errors else 200)


@bp.route("/schemes/<int:scheme_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_scheme(scheme_id: int):
    scheme = db.get_or_404(SubsidyScheme, scheme_id)
    values = _scheme_values(scheme)
    with transactional():
        service.save_scheme(code=scheme.code, name=scheme.name, name_en=scheme.name_en,
                            annual_yuan=values["annual_yuan"], frequency=scheme.frequency,
                            eligibility_notes=scheme.eligibility_notes, active=False, actor=_user(), scheme=scheme)
    flash(_("%(name)s will no longer be offered to new applications.", name=scheme.name), "success")
    return redirect(url_for(".schemes"))
