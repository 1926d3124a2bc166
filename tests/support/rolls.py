"""Village rolls for tests and benchmarks: ordinary ones, and files built to exhaust a reader.

The hostile ones are written by hand (a workbook is a zip of XML parts), so each holds exactly
the trick it names: a declared dimension of a million rows, a CSV of blank lines, a row of
thousands of cells, a table of a million shared strings.
"""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

HEADER = ["姓名", "手机号", "网格", "期初积分"]

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "{shared_type}</Types>"
)
SHARED_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>{shared}</Relationships>'
)
SHARED_REL = (
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/>'
)
SHEET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
)


def _cell(column: int, row: int, text: str) -> str:
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f'<c r="{letters}{row}" t="inlineStr"><is><t>{text}</t></is></c>'


def _row(number: int, values: list[str]) -> str:
    return (
        f'<row r="{number}">'
        + "".join(_cell(index, number, value) for index, value in enumerate(values, start=1))
        + "</row>"
    )


def hand_made_xlsx(rows_xml: str, dimension: str = "A1:D2", shared_strings: str | None = None) -> bytes:
    """A workbook of one sheet whose XML parts are exactly these (deflated, as Excel writes them)."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            CONTENT_TYPES.format(shared_type=SHARED_TYPE if shared_strings is not None else ""),
        )
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            WORKBOOK_RELS.format(shared=SHARED_REL if shared_strings is not None else ""),
        )
        archive.writestr("xl/worksheets/sheet1.xml", SHEET.format(dimension=dimension, rows=rows_xml))
        if shared_strings is not None:
            archive.writestr("xl/sharedStrings.xml", shared_strings)
    return output.getvalue()


def declared_dimension_bomb(grid: str = "东街一网格", corner: bool = True) -> bytes:
    """About 1.6 kB: a header and one member in a sheet that declares A1:CV1048576 (100 × 1,048,576
    cells) and, with ``corner``, holds one empty cell in that last corner — a million rows apart."""
    rows = _row(1, HEADER[:3]) + _row(2, ["张三", "13800000000", grid])
    if corner:
        rows += '<row r="1048576"><c r="CV1048576"/></row>'
    return hand_made_xlsx(rows, dimension="A1:CV1048576")


def blank_lines_csv(size: int = 19 * 1024 * 1024) -> bytes:
    """A header, then nothing but line breaks up to ``size`` bytes."""
    header = (",".join(HEADER) + "\r\n").encode()
    return header + b"\n" * (size - len(header))


def wide_row_xlsx(cells: int = 200_000) -> bytes:
    """A header, then one row of ``cells`` empty cells: a few hundred kB packed, tens of MB unpacked."""
    wide = '<row r="2">' + '<c r="A2"/>' * cells + "</row>"
    return hand_made_xlsx(_row(1, HEADER[:3]) + wide)


def shared_strings_bomb(strings: int = 1_000_000) -> bytes:
    """A one-row sheet and a table of ``strings`` distinct shared strings that openpyxl would load whole."""
    table = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{strings}" '
        f'uniqueCount="{strings}">'
        + "".join(f"<si><t>{index}</t></si>" for index in range(strings))
        + "</sst>"
    )
    return hand_made_xlsx(_row(1, HEADER[:3]), shared_strings=table)


def roll_rows(count: int, first_phone: int = 15000000000, grids: int = 50) -> list[list]:
    """``count`` members spread over grids named 网格0 … 网格<grids-1>, each with an opening balance."""
    return [
        [f"居民{index}", str(first_phone + index), f"网格{index % grids}", index % 500 + 1]
        for index in range(count)
    ]


def as_csv(rows: list[list]) -> bytes:
    """A roll as CSV with the Chinese header."""
    return ("\r\n".join(",".join(map(str, row)) for row in [HEADER, *rows]) + "\r\n").encode()


def as_xlsx(rows: list[list]) -> bytes:
    """A roll as an XLSX workbook with the Chinese header (written as openpyxl writes it)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in [HEADER, *rows]:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
