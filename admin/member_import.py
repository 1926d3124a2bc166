"""Pages of the roll import: upload → dry-run report → confirm (the same file again) → slips."""

from __future__ import annotations

import csv
import io

from flask import Response, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from itsdangerous import BadSignature, URLSafeTimedSerializer
from openpyxl import Workbook

from admin.labels import IMPORT_COLUMN_NAMES
from admin.member_import_forms import ReissueCodeForm, RollConfirmForm, RollUploadForm
from admin.pages import console_member
from admin.services.roll_import import (
    CONFIRM_MAX_AGE,
    MAX_UPLOAD_BYTES,
    check_file,
    import_roll,
    mask_phone,
    read_roll,
)
from admin.views import bp
from core.config import public_base_url
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.activation import find_member_by_phone, reissue_activation_code
from core.identity.roll import GridIndex
from core.identity.services import list_units_in_scope
from core.qr.render import render_svg

TEMPLATE_HEADER = ["姓名", "手机号", "网格", "期初积分"]
UPLOAD_ENDPOINTS = frozenset({"admin.imports", "admin.confirm_import"})


@bp.url_value_preprocessor
def allow_roll_uploads(endpoint, _values):
    """Raise the body limit to 20 MB for roll uploads before the CSRF check reads the body."""
    if endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        request.max_content_length = MAX_UPLOAD_BYTES


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="admin.roll-import")


def _uploaded(form: RollUploadForm):
    """Read the chosen file of a form."""
    upload = form.roll.data
    return read_roll(upload.filename or "", upload.read())


def _render_report(actor, roll, checked, status: int):
    """Show the dry run: every bad row and why, or what will be imported and the confirm form."""
    confirm = RollConfirmForm(formdata=None)
    confirm.checked.data = _serializer().dumps({"sha256": roll.digest, "actor": actor.id})
    opening = sum(member["opening_balance"] for member in checked.members)
    return render_template(
        "admin/import_report.html",
        roll=roll,
        checked=checked,
        confirm=confirm,
        opening=opening,
        column_names=IMPORT_COLUMN_NAMES,
    ), status


def _upload_page(status: int, form=None, reissue=None):
    """Show the upload page with its two forms (either one kept as the user sent it)."""
    return render_template(
        "admin/import.html",
        form=form or RollUploadForm(formdata=None),
        reissue=reissue or ReissueCodeForm(formdata=None),
    ), status


@bp.route("/import", methods=["GET", "POST"])
@login_required
def imports():
    """Show the upload form; a posted file gets its dry run (nothing is written)."""
    actor = console_member("member.manage")
    form = RollUploadForm()
    if form.validate_on_submit():
        roll = _uploaded(form)
        checked = check_file(actor, roll)
        return _render_report(actor, roll, checked, 422 if checked.problems else 200)
    return _upload_page(422 if form.is_submitted() else 200, form=form)


@bp.post("/import/confirm")
@login_required
@once_per_form(keep_answer=False)
def confirm_import():
    """Import the file the dry run checked, all or nothing, and print the activation slips."""
    actor = console_member("member.manage")
    form = RollConfirmForm()
    if not form.validate_on_submit():
        return _upload_page(422, form=form)
    roll = _uploaded(form)
    try:
        proof = _serializer().loads(form.checked.data, max_age=CONFIRM_MAX_AGE)
    except BadSignature:
        proof = None
    if not proof or proof.get("sha256") != roll.digest or proof.get("actor") != actor.id:
        form.roll.errors = [
            *form.roll.errors,
            _l(
                "This is not the file you checked, or the check is more "
                "than an hour old: check the file again."
            ),
        ]
        return _upload_page(422, form=form)
    checked, slips, expires_at = import_roll(actor, roll)
    if checked.problems:
        return _render_report(actor, roll, checked, 422)
    return _slips_page(slips, expires_at, imported=True)


@bp.post("/import/reissue")
@login_required
@once_per_form(keep_answer=False)
def reissue_code():
    """Give one member a new activation code and print their slip (the old code stops working)."""
    actor = console_member("member.manage")
    form = ReissueCodeForm()
    if form.validate_on_submit():
        try:
            member = find_member_by_phone(form.phone.data)
            code, expires_at = reissue_activation_code(actor, member)
        except AppError as error:
            form.phone.errors = [*form.phone.errors, error.message]
            return _upload_page(error.status, reissue=form)
        slip = {
            "name": member.name,
            "grid": GridIndex().paths.get(member.org_unit_id, ""),
            "phone": mask_phone(member.phone),
            "code": code,
        }
        return _slips_page([slip], expires_at, imported=False)
    return _upload_page(422, reissue=form)


def _activation_url() -> str:
    """The address of the activation page, as residents reach it (``PUBLIC_BASE_URL``)."""
    return public_base_url().rstrip("/") + url_for("identity_pages.activate")


def _slips_page(slips: list[dict], expires_at, imported: bool):
    """The printable sheet of activation slips, each with the QR code of the activation page."""
    return render_template(
        "admin/import_slips.html",
        slips=slips,
        expires_at=expires_at,
        imported=imported,
        activation_url=_activation_url(),
    )


@bp.get("/import/activation-qr.svg")
@login_required
def activation_qr():
    """The QR code of the activation page, printed on every slip (one image the browser loads once)."""
    console_member("member.manage")
    return Response(
        render_svg(_activation_url()),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )


def _example_rows(actor) -> list[list[str]]:
    """Two example rows naming grids of the actor's own area, as the template shows them."""
    grids = list_units_in_scope(actor, "member.manage", kind="grid")[:2]
    paths = GridIndex().paths
    first = paths[grids[0].id] if grids else "城关镇/东街社区/东街一网格"
    return [
        ["张三", "13800000000", first, "0"],
        ["李四", "13900000000", paths[grids[-1].id] if grids else first, ""],
    ]


@bp.get("/import/template.<fmt>")
@login_required
def import_template(fmt: str):
    """Download an empty roll with its header and two example rows (CSV or XLSX)."""
    actor = console_member("member.manage")
    rows = [TEMPLATE_HEADER, *_example_rows(actor)]
    if fmt == "csv":
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        body, mimetype = ("\ufeff" + text.getvalue()).encode(), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        for row in rows:
            sheet.append(row)
        for column in ("B",):  # phone numbers stay text, not numbers Excel would reformat
            for cell in sheet[column]:
                cell.number_format = "@"
        output = io.BytesIO()
        workbook.save(output)
        body, mimetype = (
            output.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        raise AppError(404)
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename=roll-template.{fmt}"}
    )
