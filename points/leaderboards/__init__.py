"""Leaderboards: the per-member period totals (``totals``), boards (``boards``), honour rolls (``honour``)."""

from core.clock import PERIODS
from points.leaderboards.boards import HISTOGRAMS, board_areas, member_board, org_unit_board
from points.leaderboards.honour import close_month, closed_months, honour_roll
from points.leaderboards.totals import (
    METRICS,
    expected_totals,
    rebuild_totals,
    record_earning,
)

__all__ = [
    "HISTOGRAMS",
    "METRICS",
    "PERIODS",
    "board_areas",
    "close_month",
    "closed_months",
    "expected_totals",
    "honour_roll",
    "member_board",
    "org_unit_board",
    "rebuild_totals",
    "record_earning",
]
