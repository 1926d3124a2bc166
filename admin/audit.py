"""The console's audit log: filter by who, subject, action and dates; paginated; its CSV export
streamed (written by ``admin.services.audit_export``)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Response, render_template, request, stream_with_context
from flask_login import login_required

from admin.forms import AuditFilterForm
from admin.labels import AUDIT_ACTION_NAMES, SUBJECT_NAMES
from admin.pages import PAGE_SIZE, console_member, page_number
from admin.services.audit_export import export_chunks
from admin.views import bp
from core.audit import iter_audit_pages, list_audit_entries
from core.clock import SHANGHAI


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
    actor = console_member("audit.read")
    form = _filter_form()
    listing = list_audit_entries(actor, page_number(), PAGE_SIZE, **_filters(form))
    return render_template(
        "admin/audit.html",
        form=form,
        entries=listing,
        action_names=AUDIT_ACTION_NAMES,
        subject_names=SUBJECT_NAMES,
    )


@bp.get("/audit.csv")
@login_required
def audit_csv():
    """Download the filtered audit log as CSV, streamed a page of entries at a time.

    Without a length the answer goes out in chunks, so a download cut short is reported as
    failed; the file itself ends with a footer line, which a truncated file lacks.
    """
    actor = console_member("audit.read")
    pages = iter_audit_pages(actor, **_filters(_filter_form()))
    return Response(
        stream_with_context(export_chunks(pages)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
