"""Fee cases beyond the generic step pages: recording payments on a case, and the fee-type configuration
(admin only). Also supplies the case-page panel's figures as a template global."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db, transactional
from caseflow.models import Case, FeeType, User
from caseflow.services import access, fees
from caseflow.services.audit import record_read
from caseflow.services.cases import workflow_of
from caseflow.services.errors import NotFound, PermissionDenied, ServiceError
from caseflow.views.auth import admin_required
from caseflow.workflows.fee_case import PAYABLE

bp = Blueprint("fees", __name__)


def _user() -> User:
    return current_user._get_current_object()


@bp.app_template_global()
def fee_panel(case: Case) -> dict[str, Any] | None:
    """What the case page shows of a fee case: its account as of today, the instalments, the 90-day
    decision clock, whether payments may be recorded, and whether it is a read-only legacy case."""
    if case.workflow != fees.WORKFLOW_NAME:
        return None
    now = utcnow()
    today = local_date(now)
    account = fees.account_of(case)
    return {
        "account": account,
        "balance": fees.balance(case, today),
        "today": today,
        "fee_type": fees.fee_type_of(case),
        "read_only": fees.is_read_only(case),
        "clock": fees.decision_clock(case, now),
        "court_window": fees.court_window(case),
        "may_pay": (case.state in PAYABLE and current_user.has_role("clerk", "supervisor")
                    and not fees.is_read_only(case)),
    }


@bp.route("/cases/<int:case_id>/payments", methods=["GET", "POST"])
@login_required
def payment(case_id: int):
    """Record a payment on a fee case (amount, date, receipt reference), with the case version seen."""
    posting = request.method == "POST"
    try:
        case = access.readable_case(_user(), case_id, for_update=posting)
    except NotFound:
        abort(404)
    if case.workflow != fees.WORKFLOW_NAME:
        abort(404)
    if not current_user.has_role("clerk", "supervisor"):
        abort(403)
    with transactional():
        record_read(case, _user(), "payment", utcnow())
    values = request.form if posting else MultiDict({"paid_on": local_date(utcnow()).isoformat()})
    errors: dict[str, Any] = {}
    error: ServiceError | None = None
    if posting:
        try:
            with transactional():
                fees.record_typed_payment(case, _user(), values.get("version", -1, type=int), values.to_dict())
        except PermissionDenied:
            abort(403)
        except ServiceError as exc:
            error, errors = exc, dict(exc.fields)
            db.session.refresh(case)
        else:
            flash(_("Payment recorded."), "success")
            if case.state == "paid":
                flash(_("Paid in full: the case is closed."), "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    page = render_template("fees/payment.html", case=case, workflow=workflow_of(case), values=values,
                           errors=errors, error=error, panel=fee_panel(case))
    return page, (error.status if error else (422 if errors else 200))


# ------------------------------------------------------------------------------------------ fee types

@bp.route("/admin/fee-types")
@admin_required
def fee_types():
    return render_template("fees/fee_types.html", fee_types=fees.list_fee_types())


@bp.route("/admin/fee-types/new", methods=["GET", "POST"], defaults={"fee_type_id": None})
@bp.route("/admin/fee-types/<int:fee_type_id>", methods=["GET", "POST"])
@admin_required
def fee_type_form(fee_type_id: int | None):
    """Add or edit a fee type. 社会抚养费 and its variants are refused (abolished in 2021)."""
    fee_type = db.session.get(FeeType, fee_type_id) if fee_type_id else None
    if fee_type_id and fee_type is None:
        abort(404)
    errors: dict[str, Any] = {}
    error: ServiceError | None = None
    if request.method == "GET":
        values = MultiDict() if fee_type is None else MultiDict({
            "code": fee_type.code, "name": fee_type.name, "name_en": fee_type.name_en or "",
            "legal_basis": fee_type.legal_basis, "delegated": "1" if fee_type.delegated_to_township else "",
            "active": "1" if fee_type.active else ""})
        if fee_type is None:
            values["active"] = "1"
    else:
        values = request.form
        try:
            with transactional():
                fees.save_fee_type(_user(), fee_type_id=fee_type_id, code=values.get("code", ""),
                                   name=values.get("name", ""), name_en=values.get("name_en"),
                                   legal_basis=values.get("legal_basis", ""),
                                   delegated_to_township=values.get("delegated") == "1",
                                   active=values.get("active") == "1")
        except ServiceError as exc:
            error, errors = exc, exc.by_field()
        else:
            flash(_("Fee type saved."), "success")
            return redirect(url_for(".fee_types"))
    page = render_template("fees/fee_type_form.html", fee_type=fee_type, values=values, errors=errors, error=error)
    return page, (error.status if error else 200)


@bp.route("/admin/fee-types/<int:fee_type_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_fee_type(fee_type_id: int):
    try:
        with transactional():
            fee_type = fees.deactivate_fee_type(_user(), fee_type_id)
    except NotFound:
        abort(404)
    flash(_("%(name)s is no longer offered for new cases.", name=fee_type.name), "success")
    return redirect(url_for(".fee_types"))



@bp.app_template_global()
def fee_document_figures(case: Case) -> dict[str, Any]:
    """Figures the printed fee documents state: the hearing-request deadline (5 working days after the
    notice), the payment deadline, and for the demand the balance as of the demand date with the
    10-working-day reply period."""
    from datetime import datetime as _datetime, time

    from caseflow.calendar import LOCAL_TZ
    from caseflow.services.deadlines import load_calendar

    calendar = load_calendar()

    def after_working_days(day_text: str | None, count: int) -> date | None:
        if not day_text:
            return None
        start = _datetime.combine(date.fromisoformat(day_text), time(12), LOCAL_TZ)
        return local_date(calendar.add_working_days(start, count).at - timedelta(microseconds=1))

    demand_on = case.data.get("demand_served_on")
    demand_day = date.fromisoformat(demand_on) if demand_on else local_date(utcnow())
    account = fees.account_of(case)
    return {
        "account": account,
        "fee_type": fees.fee_type_of(case),
        "hearing_request_by": after_working_days(case.data.get("notice_served_on"), 5),
        "payment_due_on": account.payment_due_on if account else None,
        "demand_day": demand_day,
        "demand_balance": fees.balance(case, demand_day),
        "demand_reply_by": after_working_days(demand_day.isoformat(), 10),
    }


@bp.app_template_filter("yuan_plain")
def yuan_plain(fen: int | None) -> str:
    """Fen as yuan for printed documents, where the words around say 人民币 … 元: 360000 → "3,600.00"."""
    from caseflow.workflows.definition import format_yuan

    return "" if fen is None else format_yuan(fen)
