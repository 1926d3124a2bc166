"""The console in words people read: member edits that save, codes in Chinese, warnings in the review
queue, the balance after each approval, screens for rewards, supermarkets and org units, slips with a QR."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.database import utcnow
from core.extensions import db
from core.identity.models import OrgUnit, Supermarket
from points import contributions
from points.models import Contribution
from rewards.models import Reward
from tests.rewards.conftest import person
from tests.support.pages import csrf_token, signed_in
from tests.support.scene import picture

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def form_of(html: str, action: str | None = None) -> dict:
    """The CSRF and form tokens of the form posting to ``action`` (the first posting form: None)."""
    start = rf'<form method="post" action="{re.escape(action)}"' if action else r'<form method="post"'
    form = re.search(start + r".*?</form>", html, re.S).group(0)
    return {"csrf_token": csrf_token(form), "form_token": TOKEN.search(form).group(1)}


def test_the_member_page_shows_the_member_s_grid_and_saving_it_unchanged_works(app, console):
    organiser = signed_in(app, console, "organiser")
    member = console.people["villager"]
    html = organiser.get(f"/admin/members/{member}").get_data(as_text=True)
    grid = re.search(r'<select[^>]*name="org_unit".*?</select>', html, re.S).group(0)
    assert re.search(rf'<option selected value="{console.units["grid_a"]}">', grid)
    typed = {"name": "钱新名", "phone": console.phones["villager"], "org_unit": str(console.units["grid_a"])}
    saved = organiser.post(
        f"/admin/members/{member}", data={**form_of(html, f"/admin/members/{member}"), **typed}
    )
    assert saved.status_code == 303
    assert "钱新名" in organiser.get(saved.headers["Location"]).get_data(as_text=True)


def test_the_review_queue_warns_of_duplicates_and_large_claims_and_ticks_all(app, console):
    with app.app_context():
        resident = person(console, "resident")
        # the twin falls on the same Shanghai day as the fixture's claim, whatever the hour now
        when = db.session.get(Contribution, console.claims["resident"]).occurred_at
        twin = contributions.record_contribution(resident, resident.id, "mediation", Decimal(1), when).id
        big = contributions.record_contribution(resident, resident.id, "publicity", Decimal(12), when).id
    html = signed_in(app, console, "organiser").get("/admin/review").get_data(as_text=True)

    def row(claim_id):
        return re.search(rf'<tr id="claim-{claim_id}".*?</tr>', html, re.S).group(0)

    assert 'data-warning="duplicate"' in row(twin) and 'data-warning="duplicate"' in row(
        console.claims["resident"]
    )
    assert 'data-warning="duplicate"' not in row(console.claims["villager"])
    assert 'data-warning="large"' in row(big) and 'data-warning="over_daily_cap"' in row(big)
    assert "疑似重复" in row(twin) and "超过该项目的每日上限" in row(big)
    assert 'data-select-all="claim"' in html


def test_each_approval_says_the_balance_right_after_it(app, console):
    with app.app_context():
        resident = person(console, "resident")
        second = contributions.record_contribution(
            resident, resident.id, "publicity", Decimal(1), utcnow().replace(microsecond=0)
        ).id
    organiser = signed_in(app, console, "organiser")
    html = organiser.get("/admin/review").get_data(as_text=True)
    done = organiser.post(
        "/admin/review",
        data={
            **form_of(html, "/admin/review?page=1"),
            "decision": "approve",
            "claim": [str(console.claims["resident"]), str(second)],
        },
    )
    lines = re.findall(r"<li>(张居民：[^<]+)</li>", done.get_data(as_text=True))
    assert lines == ["张居民：+20 积分，余额 20。", "张居民：+5 积分，余额 25。"]


def test_codes_are_shown_in_chinese_on_the_audit_log_and_the_stock_history(app, console):
    admin = signed_in(app, console, "global_admin")
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert "入库" in audit and "<code>stock.receive</code>" in audit and "库存变动 #" in audit
    history = admin.get(f"/admin/supermarkets/{console.shops['a']}").get_data(as_text=True)
    stock_history = history[history.index("库存记录") :]
    assert "入库 +10" in stock_history and "肥皂" in stock_history and "received" not in stock_history


def test_every_console_page_carries_the_console_menu(app, console):
    organiser = signed_in(app, console, "organiser")
    for path in ("/admin/import", "/admin/reports", "/admin/dashboard", "/admin/members"):
        assert 'class="console-nav"' in organiser.get(path).get_data(as_text=True), path


def test_an_administrator_creates_and_edits_a_reward_with_its_picture(app, console):
    admin = signed_in(app, console, "global_admin")
    html = admin.get("/admin/rewards/new").get_data(as_text=True)
    assert '<fieldset class="prices">' in html
    created = admin.post(
        "/admin/rewards/new",
        data={
            **form_of(html, "/admin/rewards/new"),
            "name": "手电筒",
            "name_en": "Torch",
            "description": "",
            "points_cost": "50",
            "per_member_limit": "1",
            "active": "y",
        },
    )
    assert created.status_code == 303
    with app.app_context():
        reward = db.session.scalar(sa.select(Reward).where(Reward.name == "手电筒"))
        assert (reward.points_cost, reward.per_member_limit, reward.active) == (50, 1, True)
    edit = admin.get(created.headers["Location"]).get_data(as_text=True)
    assert 'value="50"' in edit
    saved = admin.post(
        f"/admin/rewards/{reward.id}",
        data={**form_of(edit, f"/admin/rewards/{reward.id}"), "name": "手电筒", "points_cost": "60"},
    )
    assert saved.status_code == 303
    uploaded = admin.post(
        f"/admin/rewards/{reward.id}/picture",
        data={
            **form_of(edit, f"/admin/rewards/{reward.id}/picture"),
            "image": (io.BytesIO(picture()), "soap.png"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303
    with app.app_context():
        reward = db.session.get(Reward, reward.id)
        assert reward.points_cost == 60 and reward.active is False and reward.image is not None
    assert "/api/v1/rewards/" in admin.get("/admin/rewards").get_data(as_text=True)
    assert signed_in(app, console, "organiser").get("/admin/rewards").status_code == 403


def test_an_administrator_opens_and_edits_a_supermarket_in_their_area_only(app, console):
    admin = signed_in(app, console, "admin")  # town A's administrator
    html = admin.get("/admin/supermarkets/new").get_data(as_text=True)
    assert f'value="{console.units["town_b"]}"' not in html
    created = admin.post(
        "/admin/supermarkets/new",
        data={
            **form_of(html),
            "name": "东街平安超市",
            "org_unit": str(console.units["community_a"]),
            "address": "东街 8 号",
            "opening_hours": "8:00–18:00",
        },
    )
    assert created.status_code == 303
    with app.app_context():
        shop_id = db.session.scalar(sa.select(Supermarket.id).where(Supermarket.name == "东街平安超市"))
    edit = admin.get(f"/admin/supermarkets/{shop_id}/edit").get_data(as_text=True)
    assert 'value="东街 8 号"' in edit
    moved = admin.post(
        f"/admin/supermarkets/{shop_id}/edit",
        data={
            **form_of(edit),
            "name": "东街平安超市",
            "address": "东街 9 号",
            "org_unit": str(console.units["town_b"]),
        },
    )
    assert moved.status_code == 422  # town B is outside this administrator's area
    edit = admin.get(f"/admin/supermarkets/{shop_id}/edit").get_data(as_text=True)  # a fresh form
    saved = admin.post(
        f"/admin/supermarkets/{shop_id}/edit",
        data={
            **form_of(edit),
            "name": "东街平安超市",
            "address": "东街 9 号",
            "org_unit": str(console.units["town_a"]),
        },
    )
    assert saved.status_code == 303
    with app.app_context():
        shop = db.session.get(Supermarket, shop_id)
        assert (shop.address, shop.org_unit_id) == ("东街 9 号", console.units["town_a"])
        assert (
            db.session.scalar(
                sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "supermarket.update")
            )
            == 1
        )
    assert admin.get(f"/admin/supermarkets/{console.shops['b']}/edit").status_code == 403


def test_an_administrator_adds_renames_and_moves_org_units(app, console):
    admin = signed_in(app, console, "admin")
    html = admin.get("/admin/org-units").get_data(as_text=True)
    assert "城关镇" in html and "河口镇" not in html
    added = admin.post(
        "/admin/org-units",
        data={
            **form_of(html),
            "name": "南街社区",
            "kind": "community",
            "parent": str(console.units["town_a"]),
        },
    )
    assert added.status_code == 303
    with app.app_context():
        unit = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.name == "南街社区"))
    edit = admin.get(f"/admin/org-units/{unit.id}").get_data(as_text=True)
    renamed = admin.post(
        f"/admin/org-units/{unit.id}",
        data={**form_of(edit), "name": "南街新社区", "parent": str(console.units["town_a"])},
    )
    assert renamed.status_code == 303
    grid = admin.get(f"/admin/org-units/{console.units['grid_a2']}").get_data(as_text=True)
    moved = admin.post(
        f"/admin/org-units/{console.units['grid_a2']}",
        data={**form_of(grid), "name": "东街二网格", "parent": str(unit.id)},
    )
    assert moved.status_code == 303
    with app.app_context():
        assert db.session.get(OrgUnit, unit.id).name == "南街新社区"
        assert db.session.get(OrgUnit, console.units["grid_a2"]).parent_id == unit.id
    assert signed_in(app, console, "organiser").get("/admin/org-units").status_code == 403


@pytest.mark.parametrize("who", ["organiser"])
def test_activation_slips_carry_the_qr_code_of_the_activation_page(app, console, who):
    from core.identity.activation import issue_activation_codes

    with app.app_context():
        issue_activation_codes([console.people["villager"]], None)
        db.session.commit()
    organiser = signed_in(app, console, who)
    html = organiser.get("/admin/import").get_data(as_text=True)
    slips = organiser.post(
        "/admin/import/reissue",
        data={**form_of(html, "/admin/import/reissue"), "phone": console.phones["villager"]},
    ).get_data(as_text=True)
    assert slips.count('class="slip-qr" src="/admin/import/activation-qr.svg"') == 1
    assert "http://localhost/activate" in slips
    code = organiser.get("/admin/import/activation-qr.svg")
    assert code.status_code == 200 and code.mimetype == "image/svg+xml" and b"<path" in code.data
    assert signed_in(app, console, "resident").get("/admin/import/activation-qr.svg").status_code == 403
