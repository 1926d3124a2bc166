"""The console's money pages: unit costs on the reward form, every shop's settlement of a month, one
month confirmed once and downloaded to sign, and the budgets with their use and warning."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from pypdf import PdfReader

from admin.services.settlement_sheets import settlement_pdf, settlement_xlsx
from core.clock import SHANGHAI, last_month, shanghai_today
from core.database import utcnow
from core.extensions import db
from core.identity.models import Supermarket
from points import budgets
from rewards import vouchers
from rewards.models import RewardCost, Settlement
from rewards.settlements import Line, SettlementView
from tests.rewards.conftest import give_points, person, reserve_at_shop_a
from tests.support.pages import csrf_token, signed_in

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
YEAR = shanghai_today().year


def form_fields(html: str) -> dict:
    return {"csrf_token": csrf_token(html), "form_token": TOKEN.search(html).group(1)}


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF, read back."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def fulfilled_last_month(app, world, reward_key: str, units: int) -> str:
    """A voucher of the resident handed over at shop A in the middle of last month; answer the month."""
    month = last_month()
    with app.app_context():
        give_points(world.people["resident"], 500)
        moment = utcnow().astimezone(SHANGHAI).replace(day=1) - timedelta(days=15)
        voucher = reserve_at_shop_a(world, world.rewards[reward_key], units, now=moment)
        vouchers.fulfil_voucher(
            person(world, "clerk"), voucher.id, short_code=voucher.short_code, now=moment + timedelta(hours=1)
        )
    return month


def test_the_reward_form_takes_the_unit_cost_in_yuan_and_keeps_its_history(app, console):
    admin = signed_in(app, console, "global_admin")
    soap = console.rewards["soap"]
    page = admin.get(f"/admin/rewards/{soap}").get_data(as_text=True)
    assert 'name="unit_cost_fen"' in page and 'inputmode="decimal"' in page
    base = {**form_fields(page), "name": "肥皂", "points_cost": "30", "active": "y"}
    refused = admin.post(f"/admin/rewards/{soap}", data={**base, "unit_cost_fen": "3.456"})
    assert refused.status_code == 422 and 'value="3.456"' in refused.get_data(as_text=True)
    page = admin.get(f"/admin/rewards/{soap}").get_data(as_text=True)
    saved = admin.post(f"/admin/rewards/{soap}", data={**base, **form_fields(page), "unit_cost_fen": "3.50"})
    assert saved.status_code == 303
    page = admin.get(f"/admin/rewards/{soap}").get_data(as_text=True)
    assert 'value="3.50"' in page and "3.50 元" in page
    with app.app_context():
        assert [cost.unit_cost_fen for cost in db.session.query(RewardCost).filter_by(reward_id=soap)] == [
            350
        ]
    assert "3.50 元" in admin.get("/admin/rewards").get_data(as_text=True)


def test_every_shops_month_is_listed_and_one_is_confirmed_once_and_downloaded(app, console):
    with app.app_context():
        from rewards import services

        services.update_reward(
            person(console, "global_admin"), console.rewards["soap"], {"unit_cost_fen": 350}
        )
    month = fulfilled_last_month(app, console, "soap", 2)
    admin = signed_in(app, console, "admin")
    overview = admin.get("/admin/settlements").get_data(as_text=True)
    row = re.search(rf'<tr id="settlement-{console.shops["a"]}".*?</tr>', overview, re.S).group(0)
    assert 'data-status="draft"' in row and 'data-total-fen="700"' in row and "7.00 元" in row
    assert f'id="settlement-{console.shops["b"]}"' not in overview  # town B's shop: not in scope
    url = f"/admin/settlements/{console.shops['a']}/{month}"
    page = admin.get(url).get_data(as_text=True)
    assert "肥皂" in page and "确认本月" in page
    fields = form_fields(page)
    first, second = admin.post(url, data=fields), admin.post(url, data=fields)  # a double tap
    assert first.status_code == second.status_code == 303
    with app.app_context():
        assert db.session.query(Settlement).count() == 1
    page = admin.get(url).get_data(as_text=True)
    assert 'data-status="confirmed"' in page and "确认本月" not in page
    sheet = admin.get(f"{url}/settlement.xlsx")
    assert sheet.status_code == 200 and "attachment" in sheet.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert ("肥皂", 2, 3.5, 7) in [
        tuple(
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and k > 1 else v
            for k, v in enumerate(row[:4])
        )
        for row in rows
    ]
    assert any(row[0] == "合计" and float(row[3]) == 7.0 for row in rows)
    pdf = admin.get(f"{url}/settlement.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "平安超市结算单" in text and f"{month} · " in text and "确认" in text
    assert re.search(r"肥皂\s+2\s+3\.50\s+7\.00", text) and re.search(r"合计\s+2\s+7\.00 元", text)
    assert "超市（签字盖章）" in text
    assert admin.get(f"{url}/settlement.doc").status_code == 404
    clerk = signed_in(app, console, "clerk")
    assert clerk.get(url).status_code == 200 and "确认本月" not in clerk.get(url).get_data(as_text=True)
    assert clerk.get(f"/admin/settlements/{console.shops['b']}/{month}").status_code == 403
    assert signed_in(app, console, "organiser").get("/admin/settlements").status_code == 403


def test_a_refused_confirmation_says_why_on_the_page(app, console):
    admin = signed_in(app, console, "admin")
    month = shanghai_today().strftime("%Y-%m")
    url = f"/admin/settlements/{console.shops['a']}/{month}"
    page = admin.get(url).get_data(as_text=True)
    assert "确认本月" not in page and "本月尚未结束" in page
    refused = admin.post(
        url,
        data=form_fields(
            admin.get(f"/admin/settlements/{console.shops['a']}/{last_month()}").get_data(as_text=True)
        ),
    )
    assert refused.status_code == 409 and "月份结束后才能确认" in refused.get_data(as_text=True)
    assert admin.get("/admin/settlements?month=2026-13").status_code == 422


def test_budgets_show_their_use_warn_from_80_percent_and_admins_set_them(app, console):
    admin = signed_in(app, console, "admin")
    page = admin.get("/admin/budgets").get_data(as_text=True)
    set_one = admin.post(
        "/admin/budgets",
        data={
            **form_fields(page),
            "org_unit": str(console.units["town_a"]),
            "year": str(YEAR),
            "points": "100",
        },
    )
    assert set_one.status_code == 303
    with app.app_context():
        give = person(console, "organiser")
        from points import contributions

        contributions.record_contribution(
            give, console.people["neighbour"], "mediation", 4, utcnow() - timedelta(hours=1)
        )
    page = admin.get(f"/admin/budgets?year={YEAR}").get_data(as_text=True)
    row = re.search(rf'<tr id="budget-{console.units["town_a"]}".*?</tr>', page, re.S).group(0)
    assert (
        ">100<" in row and ">80<" in row and ">20<" in row and "data-warning" in row and "已用超过 80%" in row
    )
    page = admin.get("/admin/budgets").get_data(as_text=True)
    refused = admin.post(
        "/admin/budgets",
        data={
            **form_fields(page),
            "org_unit": str(console.units["town_b"]),
            "year": str(YEAR),
            "points": "50",
        },
    )
    assert refused.status_code == 422  # town B is not among the units offered to town A's admin
    organiser = signed_in(app, console, "organiser")
    read_only = organiser.get("/admin/budgets")
    assert read_only.status_code == 200 and 'name="points"' not in read_only.get_data(as_text=True)
    assert ">80<" in read_only.get_data(as_text=True)
    assert signed_in(app, console, "resident").get("/admin/budgets").status_code == 403
    with app.app_context():
        assert budgets.verify_budgets() == []


def test_a_long_sheet_runs_on_over_pages_and_both_formats_add_up_to_the_total(app, console):
    """70 lines (adjustments among them): every line and the total are in the XLSX and, in the CJK
    font, on the PDF's pages, read back as text."""
    lines = [
        Line(index, f"奖品{index}号", index % 7 + 1, 100 * index + 5, "2026-01" if index % 10 == 0 else None)
        for index in range(1, 71)
    ]
    with app.test_request_context(headers={"Accept-Language": "zh"}), app.app_context():
        view = SettlementView(db.session.get(Supermarket, console.shops["a"]), "2026-02", "draft", lines)
        reader = PdfReader(io.BytesIO(settlement_pdf(view)))
        workbook = load_workbook(io.BytesIO(settlement_xlsx(view)))
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    for line in lines:
        name = f"{line.reward_name}（{line.adjusts_month} 补记）" if line.adjusts_month else line.reward_name
        assert re.search(
            rf"{re.escape(name)}\s+{line.quantity}\s+{line.unit_cost_fen / 100:.2f}\s+"
            rf"{line.amount_fen / 100:.2f}(\s|$)",
            text,
        ), name
    total = sum(line.amount_fen for line in lines)
    assert f"{total // 100}.{total % 100:02d} 元" in text and "草稿" in text
    rows = list(workbook.active.iter_rows(values_only=True))
    amounts = [row[3] for row in rows if isinstance(row[0], str) and row[0].startswith("奖品")]
    assert [round(amount * 100) for amount in amounts] == [line.amount_fen for line in lines]
    assert round(next(row for row in rows if row[0] == "合计")[3] * 100) == total
