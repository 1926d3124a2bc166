"""The audit log as CSV: UTF-8 with a byte-order mark so that Excel reads the Chinese, written a
keyset page of entries at a time, ending with a line that says the export is complete."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from admin.services.spreadsheets import safe_cell
from core.audit import EXPORT_COLUMNS
from core.clock import SHANGHAI

#: One encoder for every cell of an export (``json.dumps`` with options builds one per call).
JSON_CELL = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _json_cell(value) -> str:
    """A before/after mapping as compact JSON (Chinese kept readable)."""
    return JSON_CELL.encode(value) if value is not None else ""


def _csv_text(rows) -> str:
    """CSV lines for some rows of cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def export_footer(count: int) -> str:
    """The last line of every complete export: a file cut short (a dropped connection) lacks it."""
    return _csv_text([[f"# end of export: {count} entries"]])


def export_chunks(pages: Iterable[list]) -> Iterator[str]:
    """The header, then the lines of each page of entries as it is read, then the footer."""
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
