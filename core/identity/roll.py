"""A village roll imported in bulk: check every row, then add the members in batches.

``check_roll`` reads the rows a file gave (plain text per column) and answers, for each
bad row, every reason it is bad: missing or long names, malformed phones, phones used
twice in the file or already registered, grids that are unknown or outside the
importer's scope, opening balances that are not whole numbers of at least zero (or that
the importer may not carry over). ``add_members`` then inserts the checked members with
no password, a few thousand rows per statement, inside the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.database import insert_rows, utcnow
from core.extensions import db
from core.identity.access import can
from core.identity.models import Member, OrgUnit
from core.identity.phones import normalise_phone

#: Rows per INSERT and per IN (...) lookup.
BATCH = 1000
NAME_MAX = 50
#: Separators between the names of a grid's path: 城关镇/东街社区/东街一网格.
PATH_SEPARATORS = re.compile(r"\s*[/／]\s*")
INTEGER = re.compile(r"^\d+$")


@dataclass
class RollRow:
    """One data row of a roll as text, with its line number in the file (the header is line 1)."""

    line: int
    name: str = ""
    phone: str = ""
    grid: str = ""
    opening_balance: str = ""


@dataclass
class CheckedRoll:
    """The members ready to add, and every problem found: (line, column, message)."""

    members: list[dict] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def opening_points(self) -> int:
        """The points carried over by the whole roll."""
        return sum(member["opening_balance"] for member in self.members)


class GridIndex:
    """Grids by id and by every tail of their name path ("东街一网格", "东街社区/东街一网格", …)."""

    def __init__(self):
        units = {unit.id: unit for unit in db.session.scalars(sa.select(OrgUnit))}
        self.grids = {unit_id: unit for unit_id, unit in units.items() if unit.kind == "grid"}
        self.paths: dict[int, str] = {}
        self.by_tail: dict[str, set[int]] = {}
        for unit_id, unit in self.grids.items():
            names = [units[int(part)].name for part in unit.path.strip("/").split("/") if int(part) in units]
            self.paths[unit_id] = "/".join(names[1:] if len(names) > 1 else names)  # below the root
            for start in range(len(names)):
                self.by_tail.setdefault("/".join(names[start:]), set()).add(unit_id)

    def find(self, text: str) -> tuple[list[OrgUnit], str]:
        """Answer the grids a cell names (an id or a name path) and how it was read."""
        text = text.strip()
        if INTEGER.match(text) and int(text) in self.grids:
            return [self.grids[int(text)]], "id"
        key = "/".join(part for part in PATH_SEPARATORS.split(text) if part)
        return [self.grids[unit_id] for unit_id in sorted(self.by_tail.get(key, ()))], "path"


def inline_values(values: list) -> sa.BindParameter:
    """An IN list written into the SQL as literals: a thousand placeholders cost PostgreSQL's
    driver more to parse than the query costs to run. Only for values already checked (digits, ids)."""
    return sa.bindparam("values", values, expanding=True, literal_execute=True)


def _registered_phones(phones: list[str]) -> set[str]:
    """The phones among ``phones`` that members already use."""
    found: set[str] = set()
    for start in range(0, len(phones), BATCH):
        found.update(
            db.session.scalars(
                sa.select(Member.phone).where(Member.phone.in_(inline_values(phones[start : start + BATCH])))
            )
        )
    return found


def _check_grid(actor: Member, index: GridIndex, text: str, problems: list) -> OrgUnit | None:
    """Resolve the grid column of one row, adding a problem when it names no grid in scope."""
    if not text.strip():
        problems.append(("grid", _l("missing")))
        return None
    grids, _how = index.find(text)
    inside = [grid for grid in grids if can(actor, "member.manage", grid)]
    if len(inside) == 1:
        return inside[0]
    if len(inside) > 1:
        problems.append(
            (
                "grid",
                _l(
                    "names several grids in your area: give the whole path, e.g. %(path)s",
                    path=index.paths[inside[0].id],
                ),
            )
        )
    elif grids:
        problems.append(("grid", _l("outside your area")))
    else:
        problems.append(("grid", _l("no such grid")))
    return None


def _check_balance(actor: Member, text: str, grid: OrgUnit | None, problems: list) -> int:
    """Read the opening balance of one row (0 when empty), adding a problem when it is not allowed."""
    text = text.strip()
    if not text:
        return 0
    if not INTEGER.match(text):
        problems.append(("opening_balance", _l("must be a whole number of points, 0 or more")))
        return 0
    if grid is not None and int(text) > 0 and not can(actor, "balance.open", grid):
        problems.append(("opening_balance", _l("only administrators may carry over opening balances")))
    return int(text)


def check_roll(actor: Member, rows: list[RollRow]) -> CheckedRoll:
    """Check every row of a roll against the rules and the database; nothing is written."""
    checked = CheckedRoll()
    index = GridIndex()
    phones = {row.line: normalise_phone(row.phone) for row in rows}
    registered = _registered_phones(sorted({phone for phone in phones.values() if phone is not None}))
    first_line: dict[str, int] = {}
    for row in rows:
        problems: list[tuple[str, str]] = []
        name, phone = row.name.strip(), phones[row.line]
        if not name:
            problems.append(("name", _l("missing")))
        elif len(name) > NAME_MAX:
            problems.append(("name", _l("longer than %(count)d characters", count=NAME_MAX)))
        if phone is None:
            problems.append(("phone", _l("not a mainland mobile number (11 digits starting 13–19)")))
        elif phone in first_line:
            problems.append(("phone", _l("also on line %(line)d of this file", line=first_line[phone])))
        elif phone in registered:
            problems.append(("phone", _l("already registered")))
        if phone is not None:
            first_line.setdefault(phone, row.line)
        grid = _check_grid(actor, index, row.grid, problems)
        balance = _check_balance(actor, row.opening_balance, grid, problems)
        if problems:
            checked.problems.extend((row.line, column, message) for column, message in problems)
        else:
            checked.members.append(
                {
                    "line": row.line,
                    "name": name,
                    "phone": phone,
                    "org_unit_id": grid.id,
                    "grid_path": index.paths[grid.id],
                    "opening_balance": balance,
                }
            )
    return checked


def add_members(members: list[dict]) -> dict[str, int]:
    """Insert checked members with no password, in batches (joins the caller's transaction); phone → id.

    All rows at once (``insert_rows``), then the ids read back by phone.
    """
    now = utcnow()
    no_password = {"password_hash": None}  # nosec B105 - set when the member activates with their code
    rows = [
        {
            "name": member["name"],
            "phone": member["phone"],
            "org_unit_id": member["org_unit_id"],
            **no_password,
            "status": "active",
            "hidden": False,
            "anonymous": False,
            "session_version": 1,
            "created_at": now,
        }
        for member in members
    ]
    table = Member.__table__
    insert_rows(db.session, table, rows)
    ids: dict[str, int] = {}
    for start in range(0, len(rows), BATCH):
        phones = [row["phone"] for row in rows[start : start + BATCH]]
        ids.update(
            (phone, member_id)
            for phone, member_id in db.session.execute(
                sa.select(table.c.phone, table.c.id).where(table.c.phone.in_(inline_values(phones)))
            )
        )
    return ids
