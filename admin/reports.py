"""Pages of the monthly report (平安动态): the report, its CSV and XLSX downloads, the honour roll."""

from __future__ import annotations

from functools import partial

from flask import Response, render_template, request
from flask_login import login_required

from admin.pages import console_member, read_or_unprocessable
from admin.services.monthly_report import build_report, render_honour_roll, report_csv, report_xlsx
from admin.views import bp
from core.clock import shanghai_today
from core.errors import AppError
from core.identity.services import list_units_in_scope
from core.replica import reads_replica

#: The report's files: how each is written, and its type.
FILES = {
    "report.csv": (report_csv, "text/csv; charset=utf-8"),
    "report.xlsx": (report_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "honour-roll.png": (partial(render_honour_roll, fmt="png"), "image/png"),
    "honour-roll.pdf": (partial(render_honour_roll, fmt="pdf"), "application/pdf"),
}


def _chosen(actor) -> tuple[list, int, str]:
    """The units the actor may report on, and the unit and month asked for (default: the first, this month)."""
    units = list_units_in_scope(actor, "member.manage")
    unit_id = request.args.get("org_unit_id", type=int) or (units[0].id if units else 0)
    month = request.args.get("month") or shanghai_today().strftime("%Y-%m")
    return units, unit_id, month


@bp.get("/reports")
@login_required
@reads_replica
def reports():
    """Show the monthly report of an org unit in scope, with its downloads."""
    actor = console_member("member.manage")
    units, unit_id, month = _chosen(actor)
    report, status = read_or_unprocessable(lambda: build_report(actor, unit_id, month), None)
    return render_template(
        "admin/reports.html", report=report, units=units, unit_id=unit_id, month=month
    ), status


@bp.get("/reports/<filename>")
@login_required
@reads_replica
def report_file(filename: str):
    """Download the monthly report (report.csv, report.xlsx) or its A4 honour roll (honour-roll.png, .pdf)."""
    if filename not in FILES:
        raise AppError(404)
    write, mimetype = FILES[filename]
    actor = console_member("member.manage")
    _units, unit_id, month = _chosen(actor)
    stem, _dot, fmt = filename.partition(".")
    body = write(build_report(actor, unit_id, month))
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename={stem}-{unit_id}-{month}.{fmt}"},
    )
