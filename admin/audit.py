"""The console's audit log: filter by who, subject, action and dates; paginated; CSV export
(streamed in keyset pages, UTF-8 with a byte-order mark so that Excel reads the Chinese, ending
with a line that says the export is complete)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta

from flask import Response, render_template, request, stream_with_context
from flask_login import login_required

from admin.forms import AuditFilterForm
from admin.labels import AUDIT_ACTION_NAMES, SUBJECT_NAMES
from admin.views import PAGE_SIZE, bp, page_count, page_number, require_reach
from core.audit import EXPORT_COLUMNS, iter_audit_pages, list_audit_entries
from core.clock import SHANGHAI
from core.identity.auth import current_member


def _filters(form: AuditFilterForm) -> dict:
    """The service's filters from the form; dates are Asia/Shanghai days, both ends included."""

    def day_start(day):
        """Midnight in Shanghai at the start of ``day``."""
        return datetime.combine(day, time.min, tzinfo=SHANGHAI) if day else None

    return {
        "actor_text": (form.who.data or "").strip() or None,
        "action": (form.action.data or "").strip() or None,
        "subject_type": (form.subject_type.data or "").strip() or None,
        "subject_id": form.subject_id.data,
        "since": day_start(form.since.data),
        "until": day_start(form.until.data + timedelta(days=1)) if form.until.data else None,
    }


def _filter_form() -> AuditFilterForm:
    """The filter form read from the query string (invalid fields are shown and left out)."""
    form = AuditFilterForm(formdata=request.args)
    form.validate()
    for field in form:
        if field.errors:
            field.data = None
    return form


@bp.get("/audit")
@login_required
def audit():
    """Show one page of the audit log I may read, filtered."""
    actor = current_member()
    require_reach(actor, "audit.read")
    form = _filter_form()
    listing = list_audit_entries(actor, page_number(), PAGE_SIZE, **_filters(form))
    return render_template(
        "admin/audit.html",
        form=form,
        entries=listing,
        pages=page_count(listing),
        action_names=AUDIT_ACTION_NAMES,
        subject_names=SUBJECT_NAMES,
    )


#: A text cell starting with one of these would run as a formula in Excel; a leading ' keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A CSV cell: text that Excel would take for a formula is kept as text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


#: One encoder for every cell of an export (``json.dumps`` with options builds one per call).
JSON_CELL = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _json_cell(value) -> str:
    """A before/after mapping as compact JSON (Chinese kept readable)."""
    return JSON_CELL.encode(value) if value is not None else ""


def _csv_text(rows) -> str:
    """CSV lines for some rows of cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def export_footer(count: int) -> str:
    """The last line of every complete export: a file cut short (a dropped connection) lacks it."""
    return _csv_text([[f"# end of export: {count} entries"]])


@bp.get("/audit.csv")
@login_required
def audit_csv():
    """Download the filtered audit log as CSV, streamed a page of entries at a time.

    Without a length the answer goes out in chunks, so a download cut short is reported as
    failed; the file itself ends with ``export_footer``, which a truncated file lacks.
    """
    actor = current_member()
    require_reach(actor, "audit.read")
    pages = iter_audit_pages(actor, **_filters(_filter_form()))

    def chunks():
        """The header, then the lines of each page as it is read, then the footer."""
        yield "\ufeff" + _csv_text([EXPORT_COLUMNS])
        count = 0
        for rows in pages:
            count += len(rows)
            yield _csv_text(
                (
                    entry_id,
                    at.astimezone(SHANGHAI).isoformat(),
                    actor_id or "",
                    name or "",
                    action,
                    subject_type,
                    "" if subject_id is None else subject_id,
                    _json_cell(before),
                    _json_cell(after),
                    reason or "",
                )
                for entry_id, at, actor_id, name, action, subject_type, subject_id, before, after, reason in rows
            )
        yield export_footer(count)

    return Response(
        stream_with_context(chunks()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
