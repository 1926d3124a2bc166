"""The roll import in a real browser: a bad row is shown by the dry run, the fixed file imports."""

from __future__ import annotations

import pytest

from tests.admin.test_import import GRID_A, csv_bytes
from tests.browser.conftest import console_errors, serve, sign_in
from tests.factories import PASSWORD, build_world


@pytest.fixture
def console_server(tmp_path, sqlite_template):
    """The app with the standard world; yields its URL and the world."""
    with serve(tmp_path, sqlite_template, build_world) as served:
        yield served


def roll_file(rows) -> dict:
    return {"name": "名单.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows, encoding="gbk")}


def test_a_bad_row_is_shown_then_the_fixed_file_imports_and_prints_slips(page, console_server):
    base, world = console_server
    errors = console_errors(page)
    sign_in(page, base, world.phones["organiser"], PASSWORD)
    page.goto(base + "/admin/import")
    page.get_by_label("名册文件").set_input_files(
        roll_file([["王五", "13812345678", GRID_A, ""], ["赵六", "1381234567", "东街二网格", ""]])
    )
    page.get_by_role("button", name="检查文件").click()
    problems = page.locator("#problems tbody tr")
    problems.first.wait_for()
    assert problems.count() == 1
    assert "3" in problems.first.inner_text() and "不是有效的手机号" in problems.first.inner_text()

    page.get_by_role("link", name="检查另一个文件").click()
    fixed = roll_file([["王五", "13812345678", GRID_A, ""], ["赵六", "13812345679", "东街二网格", ""]])
    page.get_by_label("名册文件").set_input_files(fixed)
    page.get_by_role("button", name="检查文件").click()
    page.get_by_text("2 名成员可以导入").wait_for()
    page.get_by_label("名册文件").set_input_files(fixed)
    page.get_by_role("button", name="导入这些成员").click()
    page.get_by_text("已导入 2 名成员").wait_for()
    codes = page.locator(".slip-code").all_inner_texts()
    assert len(codes) == 2 and all(len(code) == 8 for code in codes)
    assert "138****5679" in page.locator(".slips").inner_text()
    refusals = [error for error in errors if "status of 422" not in error]  # the dry run's answer, on purpose
    assert refusals == [], f"console errors (CSP, script or a missing asset): {refusals}"

    page.context.clear_cookies()
    page.goto(base + "/activate")
    page.get_by_label("手机号").fill("13812345678")
    page.get_by_label("激活码").fill(codes[0])
    page.get_by_label("新密码", exact=True).fill("my new password")
    page.get_by_label("再次输入新密码").fill("my new password")
    page.get_by_role("button", name="激活").click()
    page.wait_for_url(base + "/")  # the resident's home
    assert "王五" in page.locator(".bar").inner_text()
