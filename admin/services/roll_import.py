"""Bulk import of a village roll (CSV or XLSX): a dry run that lists every bad row, then an
all-or-nothing import that prints a sheet of activation slips.

The file is read here (columns, encodings, formulas, size); the rows are checked by
``core.identity.roll`` and written in one transaction with members, activation codes and
opening balances in batches. Between the dry run and the import the file is uploaded again:
the dry run's answer carries a signed digest of the file it checked (valid for an hour), and
the import refuses any other file, so what is imported is exactly what was checked.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from xml.parsers import expat

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from sqlalchemy.exc import IntegrityError

from admin.services.spreadsheets import FORMULA_START
from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.activation import code_lifetime, issue_activation_codes
from core.identity.phones import normalise_phone
from core.identity.roll import CheckedRoll, RollRow, add_members, check_roll
from points import ledger

MAX_ROWS = 20_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Columns read from each row; cells to the right of these are never looked at.
MAX_COLUMNS = 60
#: Lines read, blank ones included, before a file is refused: reading stays quick and small.
MAX_SCANNED_ROWS = 5 * MAX_ROWS
#: The longest line of a CSV file (characters), and the most text in one cell (Excel's own limit).
MAX_LINE_LENGTH = 64 * 1024
MAX_CELL_TEXT = 32_767
#: What an XLSX file may unpack to: in all, for a worksheet, for its shared strings (read whole
#: by openpyxl, so also counted) and for any other XML part (styles, workbook: read whole too).
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_SHEET_BYTES = 48 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 16 * 1024 * 1024
MAX_SHARED_STRINGS = 250_000
MAX_OTHER_PART_BYTES = 4 * 1024 * 1024
#: Cells one worksheet row may hold in the file (even empty styled ones): more is no roll.
MAX_CELLS_PER_ROW = 1024
#: How long the dry run's answer lets the same file be imported.
CONFIRM_MAX_AGE = 3600
#: Header texts accepted for each column, in English and Chinese.
COLUMNS = {
    "name": ("name", "姓名"),
    "phone": ("phone", "手机号", "手机号码", "手机"),
    "grid": ("grid", "网格"),
    "opening_balance": ("opening_balance", "期初积分", "结转积分"),
}
REQUIRED = ("name", "phone", "grid")
#: A cell starting with ``FORMULA_START`` is a formula (CSV injection) — unless a plain number or
#: a phone number as people type it ("+86 139 0000 0016").
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
FILE = 0  # the "line" of problems about the whole file

Record = list[tuple[str, bool]]  # the cells of one row: text, and whether it is a formula
EMPTY_CELL = ("", False)


@dataclass
class RollFile:
    """What a file held: its rows as text, and the problems found while reading it."""

    filename: str
    digest: str
    rows: list[RollRow] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)


# --- reading files -----------------------------------------------------------------------------
#
# Files are read as a stream: row by row, never more than MAX_COLUMNS cells of a row, blank rows
# skipped as they come, and reading stops at the first row past MAX_ROWS (or MAX_SCANNED_ROWS
# lines in all). Only the rows of the roll's own columns are kept, so an import's memory is
# bounded whatever the file declares (an XLSX "dimension" of a million rows, a CSV of blank lines).


class Unreadable(Exception):
    """The file cannot be read as a roll at all (its reason is ``message``)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _text(value) -> str:
    """A cell's value as the text a person typed (Excel keeps phone numbers as numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def _csv_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Excel in China writes it; checked in pieces."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(data), 1024 * 1024):
                decoder.decode(data[start : start + 1024 * 1024])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise Unreadable(_l("The file is neither UTF-8 nor GBK text."))


def _csv_lines(text: io.TextIOBase) -> Iterator[str]:
    """The file's lines, each refused when longer than any roll's."""
    while line := text.readline(MAX_LINE_LENGTH + 1):
        if len(line) > MAX_LINE_LENGTH:
            raise Unreadable(
                _l(
                    "A line of the file is longer than %(count)d characters: this is no village roll.",
                    count=MAX_LINE_LENGTH,
                )
            )
        if "\x00" in line:
            raise Unreadable(_l("The file holds NUL characters: save it again as CSV or XLSX."))
        yield line


def _csv_records(data: bytes) -> Iterator[Record]:
    """Read a CSV as a stream of records (at most ``MAX_COLUMNS`` cells each)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding=_csv_encoding(data), newline="")
    try:
        for record in csv.reader(_csv_lines(text)):
            cells = []
            for cell in record[:MAX_COLUMNS]:
                cell = cell.strip()
                cells.append(
                    (
                        cell,
                        cell.startswith(FORMULA_START)
                        and not PLAIN_NUMBER.match(cell)
                        and normalise_phone(cell) is None,
                    )
                )
            yield cells
    except csv.Error:
        raise Unreadable(_l("The file is not a readable CSV file.")) from None


def _part_limit(name: str) -> int:
    """The most a part of an XLSX archive may unpack to."""
    if name.startswith("xl/worksheets/") and name.endswith(".xml"):
        return MAX_SHEET_BYTES
    if name == "xl/sharedStrings.xml":
        return MAX_SHARED_STRINGS_BYTES
    if name.endswith((".xml", ".rels")):
        return MAX_OTHER_PART_BYTES
    return MAX_UNPACKED_BYTES


def _check_xlsx_parts(data: bytes) -> None:
    """Refuse a workbook that would cost more memory to read than any roll: its parts' unpacked sizes,
    cells per row, text per cell and shared strings are checked in one streaming pass (expat builds
    no tree), before openpyxl reads anything."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Unreadable(_l("The file is not a readable XLSX workbook.")) from None
    too_big = Unreadable(
        _l(
            "The workbook unpacks to far more than a village roll: keep only the roll's "
            "columns and rows in it, or save it as CSV."
        )
    )
    if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES or any(
        part.file_size > _part_limit(part.filename) for part in parts
    ):
        raise too_big
    for part in parts:
        if part.filename == "xl/sharedStrings.xml" or (
            part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml")
        ):
            try:
                with archive.open(part) as stream:
                    _scan_xml(stream, too_big)
            except (zipfile.BadZipFile, expat.ExpatError, ValueError, OSError, EOFError):
                raise Unreadable(_l("The file is not a readable XLSX workbook.")) from None


def _scan_xml(stream, too_big: Unreadable) -> None:
    """Stream one XML part, refusing it at the first row with too many cells, cell with too much text,
    or shared string past the limit."""
    counts = {"cells": 0, "strings": 0, "text": 0}

    def start(name: str, _attributes) -> None:
        local = name.rpartition(" ")[2]
        counts["text"] = 0
        if local == "row":
            counts["cells"] = 0
        elif local == "c":
            counts["cells"] += 1
            if counts["cells"] > MAX_CELLS_PER_ROW:
                raise too_big
        elif local == "si":
            counts["strings"] += 1
            if counts["strings"] > MAX_SHARED_STRINGS:
                raise too_big

    def characters(text: str) -> None:
        counts["text"] += len(text)
        if counts["text"] > MAX_CELL_TEXT:
            raise too_big

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.CharacterDataHandler = characters
    while chunk := stream.read(256 * 1024):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _xlsx_records(data: bytes) -> Iterator[Record]:
    """Read the first sheet of an XLSX file as a stream (openpyxl read-only, the dimensions the file
    declares ignored); formulas are flagged, never evaluated."""
    _check_xlsx_parts(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # noqa: BLE001 - any failure to open an uploaded file means it is not a workbook
        raise Unreadable(_l("The file is not a readable XLSX workbook.")) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a declared A1:XFD1048576 must not become a million empty rows
        for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):  # a formula reads as "=…"
            yield [
                EMPTY_CELL
                if value is None
                else (_text(value), isinstance(value, str) and value.startswith("="))
                for value in row
            ]
    except Unreadable:
        raise
    except Exception:  # noqa: BLE001 - a malformed sheet is the file's problem, never a 500
        raise Unreadable(_l("The file is not a readable XLSX workbook.")) from None
    finally:
        workbook.close()


def _header(record: Record, problems: list) -> dict[str, int]:
    """Map the header row's columns to their positions, noting unknown and missing ones."""
    positions: dict[str, int] = {}
    for position, (text, _formula) in enumerate(record):
        key = next((column for column, names in COLUMNS.items() if text.strip().lower() in names), None)
        if not text:
            continue
        if key is None:
            problems.append((1, text, _l("unknown column (expected name, phone, grid, opening_balance)")))
        elif key in positions:
            problems.append((1, text, _l("this column appears twice")))
        else:
            positions[key] = position
    for column in REQUIRED:
        if column not in positions:
            problems.append((1, column, _l("missing column")))
    return positions


def _roll_row(line: int, record: Record, positions: dict[str, int], problems: list) -> RollRow:
    """Keep the roll's own columns of one data record, noting formulas (which are not read)."""
    values = {}
    for column, position in positions.items():
        text, formula = record[position] if position < len(record) else ("", False)
        if formula:
            problems.append((line, column, _l("a formula: type the value itself")))
            text = ""
        values[column] = text
    return RollRow(line=line, **values)


def _too_many_rows() -> tuple[int, str, str]:
    return (
        FILE,
        "",
        _l(
            "The file has more than %(count)d rows: split it into several files and "
            "import them one after another.",
            count=MAX_ROWS,
        ),
    )


def read_roll(filename: str, data: bytes) -> RollFile:
    """Read an uploaded roll into rows of text, with every problem of the file and its cells."""
    roll = RollFile(filename=filename, digest=hashlib.sha256(data).hexdigest())
    is_xlsx = data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx")
    positions: dict[str, int] | None = None
    cell_problems: list = []
    try:
        if filename.lower().endswith(".xls") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise Unreadable(_l("Old .xls workbooks are not read: save the file as .xlsx or CSV."))
        with closing(_xlsx_records(data) if is_xlsx else _csv_records(data)) as records:
            for line, record in enumerate(records, start=1):
                if line > MAX_SCANNED_ROWS:
                    raise Unreadable(
                        _l(
                            "The file reaches past row %(count)d, empty rows included: delete "
                            "the empty rows below the roll, or split the file.",
                            count=MAX_SCANNED_ROWS,
                        )
                    )
                if not any(text for text, _formula in record):
                    continue
                if positions is None:
                    positions = _header(record, roll.problems)
                    if roll.problems:
                        break
                elif len(roll.rows) == MAX_ROWS:
                    roll.problems.append(_too_many_rows())
                    break
                else:
                    roll.rows.append(_roll_row(line, record, positions, cell_problems))
    except Unreadable as error:
        roll.problems.append((FILE, "", error.message))
    if positions is None and not roll.problems:
        roll.problems.append((FILE, "", _l("The file is empty.")))
    if roll.problems:
        roll.rows = []
        return roll
    if not roll.rows:
        roll.problems.append((FILE, "", _l("The file has a header but no members.")))
    roll.problems.extend(cell_problems)
    return roll


def check_file(actor, roll: RollFile) -> CheckedRoll:
    """Dry run: check every row of a read file; the problems of the file and of its rows, merged."""
    checked = check_roll(actor, roll.rows) if roll.rows else CheckedRoll()
    marked = {(line, column) for line, column, _message in roll.problems}
    problems = roll.problems + [problem for problem in checked.problems if problem[:2] not in marked]
    lines_with_problems = {line for line, _column, _message in problems}
    checked.members = [member for member in checked.members if member["line"] not in lines_with_problems]
    checked.problems = sorted(problems, key=lambda problem: problem[0])
    return checked


# --- importing ---------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    """Show a phone number as 138****5678."""
    return phone[:3] + "****" + phone[-4:]


def import_roll(actor, roll: RollFile) -> tuple[CheckedRoll, list[dict], datetime | None]:
    """Check and import a roll in one transaction: all of it, or nothing; answer the slips.

    Members get no password but an activation code (shown once, on the slips); opening
    balances are posted through the ledger as opening transactions; the import is audited.
    Answers the checked roll, the slips and when their codes expire (no slips: nothing imported).
    """
    begin_writing(db.session)
    checked = check_file(actor, roll)
    if checked.problems:
        db.session.rollback()
        return checked, [], None
    now = utcnow()
    try:
        ids = add_members(checked.members)
        codes = issue_activation_codes(list(ids.values()), actor.id, now)
        balances = {
            ids[member["phone"]]: member["opening_balance"]
            for member in checked.members
            if member["opening_balance"] > 0
        }
        memo = f"opening balance from the paper books ({roll.filename})"
        ledger.open_new_balances(balances, actor_id=actor.id, memo=memo)
        record_audit(
            actor,
            "member.import",
            None,
            after={
                "file": roll.filename,
                "sha256": roll.digest,
                "members": len(ids),
                "member_ids": [min(ids.values()), max(ids.values())],
            },
        )
        if balances:
            record_audit(
                actor,
                "balance.open",
                None,
                after={"members": len(balances), "points": sum(balances.values())},
                reason=memo,
            )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError(
            409,
            "duplicate",
            _l(
                "A phone number in the file was registered while it was "
                "being imported. Nothing was imported: check the file again."
            ),
            {"phone": ["already registered"]},
        ) from None
    slips = [
        {
            "name": member["name"],
            "grid": member["grid_path"],
            "phone": mask_phone(member["phone"]),
            "code": codes[ids[member["phone"]]],
        }
        for member in checked.members
    ]
    return checked, slips, now + code_lifetime()
