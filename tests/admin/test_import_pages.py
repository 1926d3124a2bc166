"""The import pages: upload → dry-run report → the same file again → slips; templates to download."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from admin.services.roll_import import read_roll
from core.extensions import db
from core.identity.models import Member
from tests.admin.test_import import GRID_A, counts, csv_bytes
from tests.support.pages import csrf_token, signed_in


def upload(browser, path: str, data: bytes, token: str, filename: str = "roll.csv", **fields):
    return browser.post(
        path,
        data={"csrf_token": token, "roll": (io.BytesIO(data), filename), **fields},
        content_type="multipart/form-data",
    )


def checked_token(html: str) -> str:
    return re.search(r'name="checked"[^>]*value="([^"]+)"', html).group(1)


def test_a_bad_row_is_reported_then_the_fixed_file_imports_and_prints_slips(app, world):
    browser = signed_in(app, world, "organiser")
    token = csrf_token(browser.get("/admin/import").get_data(as_text=True))
    bad = csv_bytes([["王五", "13812345678", GRID_A, ""], ["赵六", "1381234", GRID_A, ""]])
    report = upload(browser, "/admin/import", bad, token)
    html = report.get_data(as_text=True)
    assert report.status_code == 422
    assert "发现 1 处问题" in html and "不是有效的手机号" in html
    assert 'name="checked"' not in html
    with app.app_context():
        before = counts()
    fixed = csv_bytes([["王五", "13812345678", GRID_A, ""], ["赵六", "13812345679", GRID_A, ""]])
    report = upload(browser, "/admin/import", fixed, token)
    assert report.status_code == 200 and "2 名成员可以导入" in report.get_data(as_text=True)
    proof = checked_token(report.get_data(as_text=True))
    other = upload(browser, "/admin/import/confirm", fixed + b"x,13812345670,x,\r\n", token, checked=proof)
    assert other.status_code == 422 and "这不是刚才检查过的文件" in other.get_data(as_text=True)
    with app.app_context():
        assert counts() == before
    slips = upload(browser, "/admin/import/confirm", fixed, token, checked=proof)
    html = slips.get_data(as_text=True)
    assert slips.status_code == 200
    assert "已导入 2 名成员" in html and "138****5678" in html and "13812345678" not in html
    assert len(re.findall(r'class="slip-code">([A-Z0-9]{8})<', html)) == 2
    with app.app_context():
        assert counts()["members"] == before["members"] + 2
    again = upload(browser, "/admin/import/confirm", fixed, token, checked=proof)
    assert again.status_code == 422 and "已注册" in again.get_data(as_text=True)


def test_residents_and_clerks_cannot_open_the_import(app, world):
    for who in ("resident", "clerk", "grid_worker"):
        browser = signed_in(app, world, who)
        assert browser.get("/admin/import").status_code == 403


def test_the_templates_download_and_read_back_as_rolls(app, world):
    browser = signed_in(app, world, "organiser")
    for fmt in ("csv", "xlsx"):
        response = browser.get(f"/admin/import/template.{fmt}")
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
        roll = read_roll(f"template.{fmt}", response.data)
        assert roll.problems == []
        assert [row.grid for row in roll.rows] == [GRID_A, "城关镇/东街社区/东街二网格"]


def test_a_reissued_code_prints_one_slip(app, world):
    browser = signed_in(app, world, "organiser")
    token = csrf_token(browser.get("/admin/import").get_data(as_text=True))
    answer = browser.post(
        "/admin/import/reissue", data={"csrf_token": token, "phone": world.phones["villager"]}
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "钱村民" in html
    assert len(re.findall(r'class="slip-code">([A-Z0-9]{8})<', html)) == 1
    outside = browser.post(
        "/admin/import/reissue", data={"csrf_token": token, "phone": world.phones["outsider"]}
    )
    assert outside.status_code == 403
    with app.app_context():
        assert (
            db.session.scalar(sa.select(Member.password_hash).where(Member.phone == world.phones["villager"]))
            is not None
        )
