"""Cells written to files a spreadsheet opens (CSV, XLSX): text a spreadsheet would run as a
formula is kept as text."""

from __future__ import annotations

#: How a cell a spreadsheet runs as a formula starts.
FORMULA_START = ("=", "+", "-", "@")
#: What a written cell may not start with: a formula, or a tab or carriage return before one.
UNSAFE_START = (*FORMULA_START, "\t", "\r")


def safe_cell(value):
    """A value safe to open in a spreadsheet: text that could run as a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(UNSAFE_START):
        return "'" + value
    return value
