"""Bulk import of a village roll (CSV or XLSX): a dry run that lists every bad row, then an
all-or-nothing import that prints a sheet of activation slips.

The file is read here (columns, encodings, formulas, size); the rows are checked by
``core.identity.roll`` and written in one transaction with members, activation codes and
opening balances in batches. Between the dry run and the import the file is uploaded again:
the dry run's answer carries a signed digest of the file it checked (valid for an hour), and
the import refuses any other file, so what is imported is exactly what was checked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from sqlalchemy.exc import IntegrityError

from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.activation import code_lifetime, issue_activation_codes
from core.identity.roll import CheckedRoll, RollRow, add_members, check_roll
from points import ledger

MAX_ROWS = 20_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
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
#: Cells that a spreadsheet would run as a formula (CSV injection) — unless a plain number.
FORMULA_START = ("=", "+", "-", "@")
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
FILE = 0  # the "line" of problems about the whole file


@dataclass
class RollFile:
    """What a file held: its rows as text, and the problems found while reading it."""

    filename: str
    digest: str
    rows: list[RollRow] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)


# --- reading files -----------------------------------------------------------------------------

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


def _csv_records(data: bytes) -> list[list[tuple[str, bool]]]:
    """Decode a CSV (UTF-8 with or without BOM, else GB18030 as Excel in China writes it)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise Unreadable(_l("The file is neither UTF-8 nor GBK text.")) from None
    records = []
    for record in csv.reader(io.StringIO(text, newline="")):
        cells = []
        for cell in record:
            cell = cell.strip()
            cells.append((cell, cell.startswith(FORMULA_START) and not PLAIN_NUMBER.match(cell)))
        records.append(cells)
    return records


def _xlsx_records(data: bytes) -> list[list[tuple[str, bool]]]:
    """Read the first sheet of an XLSX file; formulas are flagged, never evaluated."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise Unreadable(_l("The file is not a readable XLSX workbook.")) from None
    try:
        sheet = workbook.worksheets[0]
        records, filled = [], 0
        for row in sheet.iter_rows(values_only=True):  # a formula reads as its text, "=…"
            records.append([(_text(value), isinstance(value, str) and value.startswith("=")) for value in row])
            filled += any(text for text, _formula in records[-1])
            if filled > MAX_ROWS + 1:  # the header and one row too many: enough to refuse
                break
        return records
    finally:
        workbook.close()


def _header(record: list[tuple[str, bool]], problems: list) -> dict[str, int]:
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


def read_roll(filename: str, data: bytes) -> RollFile:
    """Read an uploaded roll into rows of text, with every problem of the file and its cells."""
    roll = RollFile(filename=filename, digest=hashlib.sha256(data).hexdigest())
    is_xlsx = data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx")
    try:
        if filename.lower().endswith(".xls") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise Unreadable(_l("Old .xls workbooks are not read: save the file as .xlsx or CSV."))
        records = _xlsx_records(data) if is_xlsx else _csv_records(data)
    except Unreadable as error:
        roll.problems.append((FILE, "", error.message))
        return roll
    numbered = [(line, record) for line, record in enumerate(records, start=1)
                if any(text for text, _formula in record)]
    if not numbered:
        roll.problems.append((FILE, "", _l("The file is empty.")))
        return roll
    header, data_records = numbered[0][1], numbered[1:]
    positions = _header(header, roll.problems)
    if len(data_records) > MAX_ROWS:
        roll.problems.append((FILE, "", _l("The file has more than %(count)d rows: split it into "
                                          "several files and import them one after another.", count=MAX_ROWS)))
    if roll.problems:
        return roll
    if not data_records:
        roll.problems.append((FILE, "", _l("The file has a header but no members.")))
    for line, record in data_records:
        values = {}
        for column, position in positions.items():
            text, formula = record[position] if position < len(record) else ("", False)
            if formula:
                roll.problems.append((line, column, _l("a formula: type the value itself")))
                text = ""
            values[column] = text
        roll.rows.append(RollRow(line=line, **values))
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
        balances = {ids[member["phone"]]: member["opening_balance"] for member in checked.members
                    if member["opening_balance"] > 0}
        memo = f"opening balance from the paper books ({roll.filename})"
        ledger.open_new_balances(balances, actor_id=actor.id, memo=memo)
        record_audit(actor, "member.import", None, after={
            "file": roll.filename, "sha256": roll.digest, "members": len(ids),
            "member_ids": [min(ids.values()), max(ids.values())]})
        if balances:
            record_audit(actor, "balance.open", None, after={"members": len(balances),
                                                              "points": sum(balances.values())}, reason=memo)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError(409, "duplicate", _l("A phone number in the file was registered while it was "
                                            "being imported. Nothing was imported: check the file again."),
                       {"phone": ["already registered"]}) from None
    slips = [{"name": member["name"], "grid": member["grid_path"], "phone": mask_phone(member["phone"]),
              "code": codes[ids[member["phone"]]]} for member in checked.members]
    return checked, slips, now + code_lifetime()
