"""The console's audit log: filter by who, subject, action and dates; paginated; CSV export
(streamed, UTF-8 with a byte-order mark so that Excel reads the Chinese)."""

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
from core.audit import iter_audit_entries, list_audit_entries
from core.identity.auth import current_member
from core.clock import SHANGHAI

CSV_COLUMNS = ("id", "at", "actor_id", "actor", "action", "subject_type", "subject_id", "before", "after",
               "reason")


def _filters(form: AuditFilterForm) -> dict:
    """The service's filters from the form; dates are Asia/Shanghai days, both ends included."""
    def day_start(day):
        """Midnight in Shanghai at the start of ``day``."""
        return datetime.combine(day, time.min, tzinfo=SHANGHAI) if day else None

    return {"actor_text": (form.who.data or "").strip() or None,
            "action": (form.action.data or "").strip() or None,
            "subject_type": (form.subject_type.data or "").strip() or None,
            "subject_id": form.subject_id.data,
            "since": day_start(form.since.data),
            "until": day_start(form.until.data + timedelta(days=1)) if form.until.data else None}


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
    return render_template("admin/audit.html", form=form, entries=listing, pages=page_count(listing),
                           action_names=AUDIT_ACTION_NAMES, subject_names=SUBJECT_NAMES)


#: A text cell starting with one of these would run as a formula in Excel; a leading ' keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_line(values) -> str:
    """One CSV line; text that Excel would take for a formula is kept as text."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS)
                                 else value for value in values])
    return buffer.getvalue()


def _json_cell(value) -> str:
    """A before/after mapping as compact JSON (Chinese kept readable)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value is not None else ""


@bp.get("/audit.csv")
@login_required
def audit_csv():
    """Download the filtered audit log as CSV, streamed row by row."""
    actor = current_member()
    require_reach(actor, "audit.read")
    entries = iter_audit_entries(actor, **_filters(_filter_form()))

    def lines():
        """The header, then one line per entry, as they are read."""
        yield "\ufeff" + _csv_line(CSV_COLUMNS)
        for entry in entries:
            yield _csv_line((entry.id, entry.at.astimezone(SHANGHAI).isoformat(), entry.actor_id or "",
                             entry.actor.name if entry.actor else "", entry.action, entry.subject_type,
                             entry.subject_id if entry.subject_id is not None else "",
                             _json_cell(entry.before), _json_cell(entry.after), entry.reason or ""))

    return Response(stream_with_context(lines()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
