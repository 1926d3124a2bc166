"""The console's settlements: every supermarket's month with its total and status, one month's lines
with its confirmation (administrators, once the month has ended), and the sheet to sign as XLSX
or PDF — through rewards' settlement services. Clerks see their own supermarket's."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import ConfirmSettlementForm
from admin.pages import console_member, read_or_unprocessable
from admin.services.settlement_sheets import (
    file_name,
    line_label,
    settlement_pdf,
    settlement_xlsx,
    status_text,
)
from admin.views import bp
from core.clock import last_month
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import can
from core.identity.auth import current_member
from rewards import settlements
from rewards.settlements import format_yuan

#: The sheet's formats: how each is written, and its type.
SHEETS = {
    "xlsx": (settlement_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (settlement_pdf, "application/pdf"),
}


@bp.get("/settlements")
@login_required
def settlements_overview():
    """Every supermarket's month (default: last month) with its total and status."""
    actor = console_member("settlement.read")
    month = request.args.get("month") or last_month()
    views, status = read_or_unprocessable(lambda: settlements.list_settlements(actor, month), [])
    return render_template(
        "admin/settlements.html", month=month, views=views, yuan=format_yuan, status_text=status_text
    ), status


@bp.route("/settlements/<id:supermarket_id>/<month>", methods=["GET", "POST"])
@login_required
@once_per_form
def settlement(supermarket_id: int, month: str):
    """One supermarket's month: its lines and total; an administrator confirms it once it has ended."""
    actor = current_member()
    form = ConfirmSettlementForm()
    status, problem = 200, None
    if form.validate_on_submit():
        try:
            settlements.confirm_settlement(actor, supermarket_id, month)
        except AppError as error:
            if error.status in (401, 403, 404):
                raise
            status, problem = error.status, error
        else:
            flash(_("The settlement of %(month)s is confirmed: it no longer changes.", month=month))
            return redirect(url_for("admin.settlement", supermarket_id=supermarket_id, month=month), 303)
    elif form.is_submitted():
        status = 400
    view = settlements.read_settlement(actor, supermarket_id, month)
    may_confirm = (
        view.status == "draft" and view.finished and can(actor, "settlement.confirm", view.supermarket)
    )
    return render_template(
        "admin/settlement.html",
        view=view,
        form=form,
        problem=problem,
        may_confirm=may_confirm,
        yuan=format_yuan,
        status_text=status_text,
        line_label=line_label,
    ), status


@bp.get("/settlements/<id:supermarket_id>/<month>/settlement.<fmt>")
@login_required
def settlement_sheet(supermarket_id: int, month: str, fmt: str):
    """Download the month's sheet to sign: settlement.xlsx or settlement.pdf."""
    if fmt not in SHEETS:
        raise AppError(404)
    view = settlements.read_settlement(current_member(), supermarket_id, month)
    write, mimetype = SHEETS[fmt]
    return Response(
        write(view),
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename={file_name(view, fmt)}"},
    )
