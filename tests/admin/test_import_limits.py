"""Imports read a file as a stream with caps checked before anything expands: no file an
organiser can upload makes a worker build millions of rows, and every refusal is a clear message.

The two worst files — a 1.6 kB XLSX declaring A1:CV1048576 with one cell in that far corner, and
a 19 MB CSV of blank lines — are read in a process whose address space is capped at 1 GiB: a
reader that expands them (to gigabytes) dies there instead of passing.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from admin.services.roll_import import MAX_COLUMNS, MAX_ROWS, MAX_SCANNED_ROWS, check_file, read_roll
from tests.admin.test_import import counts
from tests.rewards.conftest import person
from tests.support import rolls
from tests.support.gunicorn import run_python

ADDRESS_SPACE = 1024 * 1024 * 1024

READ_IN_A_SMALL_PROCESS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from admin.services.roll_import import read_roll
from tests.support import rolls
data = rolls.{maker}()
roll = read_roll({filename!r}, data)
print(len(data), len(roll.rows))
print("|".join(str(message) for _line, _column, message in roll.problems))
"""


def read_capped(maker: str, filename: str) -> tuple[int, int, str]:
    """Read one of ``tests.support.rolls``' files in a fresh process limited to 1 GiB of address space;
    answer the file's size, the rows read and the problems."""
    script = READ_IN_A_SMALL_PROCESS.format(limit=ADDRESS_SPACE, maker=maker, filename=filename)
    result = run_python(script, check=False)
    assert result.returncode == 0, f"the reader died within 1 GiB: {result.stderr[-600:]}"
    counts, _newline, problems = result.stdout.partition("\n")
    size, rows = counts.split()
    return int(size), int(rows), problems.strip()


def test_an_xlsx_declaring_a_million_rows_is_refused_without_building_them():
    size, rows, problems = read_capped("declared_dimension_bomb", "roll.xlsx")
    assert size < 2048 and rows == 0
    assert f"past row {MAX_SCANNED_ROWS}, empty rows included" in problems


def test_a_csv_of_blank_lines_is_refused_without_reading_it_all():
    size, rows, problems = read_capped("blank_lines_csv", "roll.csv")
    assert size > 19_000_000 and rows == 0
    assert f"past row {MAX_SCANNED_ROWS}, empty rows included" in problems


def test_the_dimension_a_sheet_declares_is_ignored_and_its_rows_imported(ctx, world):
    roll = read_roll("roll.xlsx", rolls.declared_dimension_bomb("东街一网格", corner=False))
    checked = check_file(person(world, "organiser"), roll)
    assert checked.problems == [] and [member["name"] for member in checked.members] == ["张三"]


@pytest.mark.parametrize(
    "data",
    [rolls.wide_row_xlsx(), rolls.shared_strings_bomb(300_000), rolls.shared_strings_bomb(2_000_000)],
    ids=["wide row", "strings", "big strings"],
)
def test_a_workbook_that_unpacks_to_far_more_than_a_roll_is_refused_before_it_is_read(data):
    roll = read_roll("roll.xlsx", data)
    assert roll.rows == [] and len(roll.problems) == 1
    assert "unpacks to far more than a village roll" in str(roll.problems[0][2])


def test_a_part_declared_bigger_than_the_limit_is_refused_unread():
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/styles.xml", "<styleSheet>" + " " * (5 * 1024 * 1024) + "</styleSheet>")
    roll = read_roll("roll.xlsx", packed.getvalue())
    assert "unpacks to far more than a village roll" in str(roll.problems[0][2])


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"PK\x03\x04 not really a zip", "not a readable XLSX workbook"),
        (
            rolls.hand_made_xlsx("<row r='1'><c r='A1' t='inlineStr'><is><t>姓名"),
            "not a readable XLSX workbook",
        ),
    ],
    ids=["not a zip", "broken XML"],
)
def test_a_broken_workbook_is_unreadable_never_a_500(data, reason):
    roll = read_roll("roll.xlsx", data)
    assert reason in str(roll.problems[0][2])


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"name,phone,grid\r\n" + b"x" * 70_000 + b"\r\n", "longer than"),
        (b"name,phone,grid\r\n\xe5\xbc\xa0\x00,13800000000,grid\r\n", "NUL characters"),
        (b'name,phone,grid\r\n"' + (b"a" * 100 + b"\r\n") * 2000, "not a readable CSV"),
    ],
    ids=["long line", "NUL", "endless quote"],
)
def test_a_csv_that_is_no_roll_is_refused_with_its_reason(data, reason):
    roll = read_roll("roll.csv", data)
    assert roll.rows == [] and reason in str(roll.problems[0][2])


def test_cells_past_the_column_cap_are_never_read():
    beyond = [""] * (MAX_COLUMNS + 10 - len(rolls.HEADER))
    data = (
        ",".join(rolls.HEADER + beyond + ["备注"])
        + "\r\n"
        + ",".join(["张三", "13800000000", "东街一网格", "0"] + beyond + ["=cmd()"])
        + "\r\n"
    ).encode()
    roll = read_roll("roll.csv", data)
    assert [row.name for row in roll.rows] == ["张三"] and roll.problems == []


def test_a_roll_one_row_too_long_stops_at_the_cap_and_imports_nothing(ctx, world):
    before = counts()
    data = rolls.as_csv(rolls.roll_rows(MAX_ROWS + 1, grids=1))
    roll = read_roll("roll.csv", data)
    assert roll.rows == [] and len(roll.problems) == 1 and str(MAX_ROWS) in str(roll.problems[0][2])
    assert counts() == before
