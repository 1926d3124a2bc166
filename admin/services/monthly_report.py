"""The monthly report (平安动态) of one org unit: assembled from the points and rewards report
queries, and written out as CSV and XLSX tables and as a printable A4 honour roll (PNG or PDF).

The honour roll is the leaderboards' published roll of the closed month when there is one;
before the month is closed it is the report's own top members (the same rules: no staff,
hidden or suspended members; names masked).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from openpyxl import Workbook
from PIL import Image, ImageDraw

from admin.forms import CATEGORY_NAMES
from admin.services.spreadsheets import safe_cell
from core.clock import parse_month, period_bounds
from core.errors import AppError
from core.identity.access import require
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit, mask_name
from core.printing import A4, GREY, MARGIN, centred_line
from points import reports as points_reports
from points.leaderboards import honour_roll
from points.leaderboards.boards import display_name, shared_ranks
from points.stats import earned_by_category
from rewards import reports as rewards_reports

TOP = 10


@dataclass
class Table:
    """One section of the report: a title, its column headings and rows."""

    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)


@dataclass
class MonthlyReport:
    """Everything the report page, downloads and honour roll show for one unit and month."""

    unit: OrgUnit
    month: str
    start: datetime
    end: datetime
    tables: list[Table]
    honours: list[dict]
    honours_source: str


def _ranked(top: list[tuple[Member, int]]) -> list[tuple[int, Member, int]]:
    """Give the top members shared ranks (1, 2, 2, 4) in their order."""
    ranks = shared_ranks([points for _member, points in top])
    return [(rank, member, points) for rank, (member, points) in zip(ranks, top, strict=True)]


def _honours(unit: OrgUnit, month: str, ranked: list[tuple[int, Member, int]]) -> tuple[list[dict], str]:
    """The month's published honour roll, else the report's top members: rank, name, grid, points."""
    try:
        roll = honour_roll(unit.id, month)
    except AppError:
        return [
            {
                "rank": rank,
                "display_name": str(display_name(member.name, member.anonymous)),
                "grid": member.org_unit.name if member.org_unit else "",
                "points": points,
            }
            for rank, member, points in ranked
        ], "report"
    return [
        {
            "rank": entry["rank"],
            "display_name": str(entry["display_name"]),
            "grid": (entry["org_unit"] or {}).get("name", ""),
            "points": entry["points"],
        }
        for entry in roll["entries"]
    ], "published"


def build_report(actor: Member, org_unit_id: int, month: str) -> MonthlyReport:
    """Gather the month's figures of an org unit in the actor's scope (organisers and admins)."""
    unit = get_org_unit(org_unit_id)
    first = parse_month(month)
    require(actor, "member.manage", unit)
    start, end = period_bounds("month", first)
    ranked = _ranked(points_reports.top_earners(unit, start, end, TOP))
    honours, source = _honours(unit, month, ranked)
    tables = [
        Table(
            "categories",
            _("Points by category"),
            [_("Category"), _("Awards"), _("Points")],
            [
                [str(CATEGORY_NAMES.get(category, category)), awards, points]
                for category, awards, points in earned_by_category(
                    OrgUnit.path.startswith(unit.path), start, end
                )
            ],
        ),
        Table(
            "units",
            _("Points by unit"),
            [_("Unit"), _("Members who earned"), _("Points")],
            [
                [child.name, members, points]
                for child, members, points in points_reports.points_by_child_unit(unit, start, end)
            ],
        ),
        Table(
            "top",
            _("Top members"),
            [_("Rank"), _("Name"), _("Grid"), _("Points")],
            [
                [rank, mask_name(member.name), member.org_unit.name if member.org_unit else "", points]
                for rank, member, points in ranked
            ],
        ),
        Table(
            "redemptions",
            _("Redemptions"),
            [_("Reward"), _("Vouchers"), _("Units"), _("Points")],
            [
                [reward.name, vouchers, units, points]
                for reward, vouchers, units, points in rewards_reports.redemptions_by_reward(unit, start, end)
            ],
        ),
        Table(
            "stock",
            _("Stock movements"),
            [_("Supermarket"), _("Reward"), _("Received"), _("Handed over"), _("Corrected")],
            [
                [shop.name, reward.name, moved["received"], moved["handed_over"], moved["corrected"]]
                for shop, reward, moved in rewards_reports.stock_movements(unit, start, end)
            ],
        ),
    ]
    return MonthlyReport(unit, month, start, end, tables, honours, source)


# --- downloads ---------------------------------------------------------------------------------


def report_csv(report: MonthlyReport) -> bytes:
    """The report as CSV (UTF-8 with BOM, so Excel reads the Chinese): one titled table after another."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([safe_cell(f"{report.unit.name} {report.month}")])
    for table in report.tables:
        writer.writerow([])
        writer.writerow([safe_cell(table.title)])
        writer.writerow([safe_cell(column) for column in table.columns])
        writer.writerows([[safe_cell(value) for value in row] for row in table.rows])
    return ("\ufeff" + text.getvalue()).encode()


def report_xlsx(report: MonthlyReport) -> bytes:
    """The report as an XLSX workbook: one sheet per table."""
    workbook = Workbook(write_only=True)
    for table in report.tables:
        sheet = workbook.create_sheet(table.title[:31])
        sheet.append([safe_cell(column) for column in table.columns])
        for row in table.rows:
            sheet.append([safe_cell(value) for value in row])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def render_honour_roll(report: MonthlyReport, fmt: str) -> bytes:
    """Draw the honour roll (光荣榜) on an A4 page with the CJK font, as PNG or PDF."""
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, A4[0], 150), fill="#b3261e")
    centred_line(draw, 40, "平安积分 · 光荣榜", 64, fill="white")
    y = centred_line(draw, 200, report.unit.name, 72)
    y = centred_line(draw, y, f"{report.month[:4]} 年 {int(report.month[5:])} 月", 44, fill=GREY)
    y += 30
    if not report.honours:
        centred_line(draw, y + 200, "本月暂无上榜成员", 48, fill=GREY)
    for entry in report.honours[:15]:
        line = f"第 {entry['rank']} 名   {entry['display_name']}   {entry['grid']}   {entry['points']} 分"
        y = centred_line(
            draw,
            y + 20,
            line,
            48 if entry["rank"] <= 3 else 40,
            fill="#b3261e" if entry["rank"] <= 3 else "#1d2329",
        )
    centred_line(draw, A4[1] - MARGIN - 40, "感谢每一位为平安建设出力的居民", 36, fill=GREY)
    output = io.BytesIO()
    if fmt == "pdf":
        page.save(output, "PDF", resolution=150)
    else:
        page.save(output, "PNG", optimize=True)
    return output.getvalue()
