"""The monthly report in a real browser: shown for the organiser's town and downloaded as XLSX and CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from core.database import begin_writing, utcnow
from core.extensions import db
from points import ledger
from points.models import Activity
from tests.browser.conftest import console_errors, serve, sign_in
from tests.factories import PASSWORD, build_world, make_activity


def world_with_points():
    """The standard world, and this month a mediation award for the resident of town A."""
    world = build_world()
    make_activity("mediation", points=20, category="mediation")
    begin_writing(db.session)
    activity_id = db.session.scalar(sa.select(Activity.id).where(Activity.code == "mediation"))
    ledger.award(
        world.people["resident"],
        20,
        occurred_at=utcnow() - timedelta(minutes=5),
        actor_id=None,
        activity_id=activity_id,
    )
    db.session.commit()
    return world


@pytest.fixture
def report_server(tmp_path, sqlite_template):
    with serve(tmp_path, sqlite_template, world_with_points) as served:
        yield served


def test_the_organiser_downloads_the_monthly_report(page, report_server, tmp_path):
    base, world = report_server
    errors = console_errors(page)
    sign_in(page, base, world.phones["organiser"], PASSWORD)
    page.goto(base + "/admin/reports")
    page.get_by_label("组织单位").select_option(str(world.units["town_a"]))
    page.get_by_role("button", name="查看").click()
    page.locator("#top tbody tr").first.wait_for()
    assert "张*民" in page.locator("#top").inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    workbook = load_workbook(path, read_only=True)
    top = [list(row) for row in workbook["积分前列成员"].iter_rows(values_only=True)]
    assert top[1] == [1, "张*民", "东街一网格", 20]

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = download.value.path().read_bytes().decode("utf-8-sig")
    assert "张*民,东街一网格,20" in text
    assert errors == [], f"console errors: {errors}"
