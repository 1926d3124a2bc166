"""The monthly report (平安动态): figures equal a brute-force sum, downloads parse back, scope holds."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from PIL import Image

from admin.forms import CATEGORY_NAMES
from admin.services.monthly_report import build_report
from core.clock import SHANGHAI, shanghai_today
from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from core.identity.services import update_member
from points import ledger
from points.leaderboards import close_month
from points.models import Activity, LedgerTransaction
from rewards import stock, vouchers
from tests.factories import make_activity, make_member, make_unit, next_phone
from tests.rewards.conftest import give_points, make_reward, person, reserve_at_shop_a
from tests.support.pages import signed_in


def last_month() -> tuple[str, datetime, datetime]:
    """The month before this one (Asia/Shanghai): its name, first moment and the first of the next."""
    first_of_this = shanghai_today().replace(day=1)
    first = (first_of_this - timedelta(days=1)).replace(day=1)
    return (
        first.strftime("%Y-%m"),
        datetime.combine(first, time.min, tzinfo=SHANGHAI),
        datetime.combine(first_of_this, time.min, tzinfo=SHANGHAI),
    )


def award(member_id: int, code: str, points: int, occurred_at: datetime) -> LedgerTransaction:
    """Award points for an activity straight through the ledger."""
    begin_writing(db.session)
    activity_id = db.session.scalar(sa.select(Activity.id).where(Activity.code == code))
    transaction = ledger.award(
        member_id, points, occurred_at=occurred_at, actor_id=None, activity_id=activity_id
    )
    db.session.commit()
    return transaction


@pytest.fixture
def earned(app, world):
    """Awards in last month (and just outside it) for members of both towns; one reversed, one hidden member.

    Answers the awards that count: (member key, category, points) after the reversal.
    """
    month, start, end = last_month()
    with app.app_context():
        make_activity("publicity", points=5, category="publicity")
        make_activity("mediation", points=20, category="mediation")
        inside = start + timedelta(days=3)
        plan = [
            ("resident", "publicity", 5, inside),
            ("resident", "mediation", 20, inside),
            ("villager", "mediation", 20, inside + timedelta(hours=1)),
            ("villager", "mediation", 40, inside),
            ("neighbour", "publicity", 15, start),
            ("neighbour", "mediation", 30, end - timedelta(seconds=1)),
            ("outsider", "mediation", 50, inside),
            ("grid_worker", "publicity", 5, inside),
            ("resident", "publicity", 7, start - timedelta(seconds=1)),
            ("villager", "publicity", 9, end),
        ]
        transactions = [award(world.people[key], code, points, when) for key, code, points, when in plan]
        begin_writing(db.session)
        ledger.reverse_award(
            db.session.get(LedgerTransaction, transactions[3].id), actor_id=None, reason="重复登记"
        )
        db.session.commit()
        update_member(
            person(world, "global_admin"), db.session.get(Member, world.people["neighbour"]), {"hidden": True}
        )
    world.month = month
    world.counted = [
        (key, code, points)
        for index, (key, code, points, when) in enumerate(plan)
        if start <= when < end and index != 3
    ]
    return world


def brute_force(world, keys: set[str]) -> dict:
    """The report's figures summed by hand from the awards that count, for members ``keys``."""
    categories, members = {}, {}
    for key, code, points in world.counted:
        if key in keys:
            awards, total = categories.get(code, (0, 0))
            categories[code] = (awards + 1, total + points)
            members[key] = members.get(key, 0) + points
    return {"categories": categories, "members": members}


def test_figures_equal_a_brute_force_sum(app, earned):
    world = earned
    with app.app_context():
        report = build_report(person(world, "organiser"), world.units["town_a"], world.month)
        tables = {table.key: table for table in report.tables}
        town_a = brute_force(world, {"resident", "villager", "neighbour", "grid_worker"})
        expected = sorted(
            ([str(CATEGORY_NAMES[code]), *value] for code, value in town_a["categories"].items()),
            key=lambda row: (-row[2], row[0]),
        )
        assert tables["categories"].rows == expected
        assert tables["units"].rows == [["东街社区", 4, sum(town_a["members"].values())]]
        top = sorted(
            ((points, key) for key, points in town_a["members"].items() if key != "neighbour"),
            key=lambda row: -row[0],
        )
        assert [row[3] for row in tables["top"].rows] == [points for points, _key in top]
        assert [row[:3] for row in tables["top"].rows] == [
            [1, "张*民", "东街一网格"],
            [2, "钱*民", "东街一网格"],
            [3, "王*格", "东街一网格"],
        ]
        county = build_report(person(world, "global_admin"), world.units["county"], world.month)
        units = {row[0]: row[1:] for row in {t.key: t for t in county.tables}["units"].rows}
        assert units == {"城关镇": [4, sum(town_a["members"].values())], "河口镇": [1, 50]}
        community = build_report(person(world, "organiser"), world.units["community_a"], world.month)
        grids = {row[0]: row[2] for row in {t.key: t for t in community.tables}["units"].rows}
        assert grids == {
            "东街一网格": sum(town_a["members"][key] for key in ("resident", "villager", "grid_worker")),
            "东街二网格": town_a["members"]["neighbour"],
        }


def test_redemptions_and_stock_movements_of_the_month(app, world):
    with app.app_context():
        soap = make_reward("肥皂", 30)
        clerk = person(world, "clerk")
        stock.receive_stock(clerk, world.shops["a"], soap, 10)
        stock.correct_stock(clerk, world.shops["a"], soap, 9, "盘点少一块")
        give_points(world.people["resident"], 100)
        voucher = reserve_at_shop_a(world, soap, 2)
        vouchers.fulfil_voucher(clerk, voucher.id, short_code=voucher.short_code)
        month = shanghai_today().strftime("%Y-%m")
        tables = {
            t.key: t for t in build_report(person(world, "organiser"), world.units["town_a"], month).tables
        }
        assert tables["redemptions"].rows == [["肥皂", 1, 2, 60]]
        assert tables["stock"].rows == [["城关镇平安超市", "肥皂", 10, 2, -1]]
        outside = {
            t.key: t for t in build_report(person(world, "global_admin"), world.units["town_b"], month).tables
        }
        assert outside["redemptions"].rows == [] and outside["stock"].rows == []


def test_the_csv_and_xlsx_downloads_parse_back_to_the_report(app, earned):
    world = earned
    browser = signed_in(app, world, "organiser")
    query = f"org_unit_id={world.units['town_a']}&month={world.month}"
    with app.app_context():
        report = build_report(person(world, "organiser"), world.units["town_a"], world.month)
    page = browser.get(f"/admin/reports?{query}")
    assert page.status_code == 200 and "调解矛盾纠纷" in page.get_data(as_text=True)
    answer = browser.get(f"/admin/reports/report.csv?{query}")
    assert answer.status_code == 200 and answer.data.startswith("\ufeff".encode())
    sections = answer.data.decode("utf-8-sig").split("\r\n\r\n")
    assert len(sections) == len(report.tables) + 1
    for table, section in zip(report.tables, sections[1:], strict=True):
        rows = list(csv.reader(io.StringIO(section)))
        assert rows[0] == [table.title] and rows[1] == table.columns
        assert rows[2:] == [[str(value) for value in row] for row in table.rows]
    answer = browser.get(f"/admin/reports/report.xlsx?{query}")
    workbook = load_workbook(io.BytesIO(answer.data), read_only=True)
    assert workbook.sheetnames == [table.title for table in report.tables]
    for table in report.tables:
        rows = [list(row) for row in workbook[table.title].iter_rows(values_only=True)]
        assert rows == [table.columns, *table.rows]


def test_the_honour_roll_is_an_a4_png_and_pdf_and_uses_the_published_roll(app, earned):
    world = earned
    browser = signed_in(app, world, "organiser")
    query = f"org_unit_id={world.units['town_a']}&month={world.month}"
    png = browser.get(f"/admin/reports/honour-roll.png?{query}")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert Image.open(io.BytesIO(png.data)).size == (1240, 1754)
    pdf = browser.get(f"/admin/reports/honour-roll.pdf?{query}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    with app.app_context():
        organiser = person(world, "organiser")
        before = build_report(organiser, world.units["town_a"], world.month)
        assert before.honours_source == "report"
        assert [entry["points"] for entry in before.honours] == [row[3] for row in before.tables[2].rows]
        close_month(world.month)
        after = build_report(organiser, world.units["town_a"], world.month)
        assert after.honours_source == "published"
        assert [(entry["display_name"], entry["points"]) for entry in after.honours] == [
            (entry["display_name"], entry["points"]) for entry in before.honours
        ]


def test_an_organiser_of_one_town_cannot_report_on_another(app, earned):
    world = earned
    browser = signed_in(app, world, "organiser")
    for path in (
        "/admin/reports",
        "/admin/reports/report.csv",
        "/admin/reports/report.xlsx",
        "/admin/reports/honour-roll.png",
    ):
        assert (
            browser.get(f"{path}?org_unit_id={world.units['town_b']}&month={world.month}").status_code == 403
        )
        assert (
            browser.get(f"{path}?org_unit_id={world.units['town_a']}&month={world.month}").status_code == 200
        )
    assert browser.get(f"/admin/reports?org_unit_id={world.units['town_a']}&month=2026-13").status_code == 422
    assert signed_in(app, world, "grid_worker").get("/admin/reports").status_code == 403
    with app.app_context():
        with pytest.raises(AppError) as refused:
            build_report(person(world, "organiser"), world.units["county"], world.month)
        assert refused.value.status == 403


@settings(max_examples=10, deadline=None)
@given(
    awards=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["publicity", "mediation"]),
            st.integers(1, 10_000),
            st.booleans(),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_every_point_is_counted_once_in_each_table(app, world, awards):
    """Random awards (some reversed) in a fresh village: categories, units and top members all sum to them."""
    month, start, _end = last_month()
    with app.app_context():
        if db.session.scalar(sa.select(Activity.id).where(Activity.code == "mediation")) is None:
            make_activity("publicity", points=5, category="publicity")
            make_activity("mediation", points=20, category="mediation")
        village = make_unit(f"村{next_phone()}", "community", db.session.get(OrgUnit, world.units["town_a"]))
        grids = [make_unit(f"网格{index}", "grid", village) for index in range(2)]
        members = [make_member(f"村民{index}", grids[index % 2]) for index in range(4)]
        expected = 0
        for who, code, points, reversed_ in awards:
            transaction = award(members[who].id, code, points, start + timedelta(days=1))
            if reversed_:
                begin_writing(db.session)
                ledger.reverse_award(
                    db.session.get(LedgerTransaction, transaction.id),
                    actor_id=None,
                    reason="更正",
                    force=True,
                )
                db.session.commit()
            else:
                expected += points
        tables = {t.key: t for t in build_report(person(world, "organiser"), village.id, month).tables}
        assert sum(row[2] for row in tables["categories"].rows) == expected
        assert sum(row[2] for row in tables["units"].rows) == expected
        assert sum(row[3] for row in tables["top"].rows) == expected
