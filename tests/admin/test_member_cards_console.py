"""The console's member cards: issue and re-issue, set a PIN with the resident present, print a grid's
sheet (a PDF parsed back), and the offline counters' conflicts settled by an admin."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from core.audit import AuditEntry
from core.database import utcnow
from core.extensions import db
from core.identity import cards
from core.identity.models import Member, MemberCard, OrgUnit, Supermarket
from rewards import offline, vouchers
from tests.factories import make_member
from tests.rewards.conftest import give_points, person, reserve_at_shop_a, stocked  # noqa: F401 - the fixture
from tests.support.pages import csrf_token, signed_in

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def form_fields(html: str, action: str) -> dict:
    """The CSRF and form tokens of the form that posts to ``action``."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.S).group(0)
    return {"csrf_token": csrf_token(form), "form_token": TOKEN.search(form).group(1)}


def test_an_organiser_issues_a_card_and_sets_the_pin_on_the_members_page(app, world):
    organiser = signed_in(app, world, "organiser")
    page_url = f"/admin/members/{world.people['resident']}"
    html = organiser.get(page_url).get_data(as_text=True)
    assert "还没有会员卡" in html
    issued = organiser.post(f"{page_url}/card", data=form_fields(html, f"{page_url}/card"))
    assert issued.status_code == 303
    html = organiser.get(page_url).get_data(as_text=True)
    number = re.search(r"data-card-number>([\d ]+)<", html).group(1).replace(" ", "")
    assert cards.is_card_number(number)
    weak = organiser.post(f"{page_url}/pin", data={**form_fields(html, f"{page_url}/pin"), "pin": "123456"})
    assert weak.status_code == 422 and "请换一个密码" in weak.get_data(as_text=True)
    html = organiser.get(page_url).get_data(as_text=True)
    done = organiser.post(f"{page_url}/pin", data={**form_fields(html, f"{page_url}/pin"), "pin": "381946"})
    assert done.status_code == 303
    with app.app_context():
        assert cards.has_pin(world.people["resident"])
        actions = {entry.action for entry in db.session.scalars(sa.select(AuditEntry))}
        assert {"member.card_issue", "member.pin_set"} <= actions
    # an organiser of town A has no say over town B's residents
    assert (
        organiser.post(
            f"/admin/members/{world.people['outsider']}/card", data=form_fields(html, f"{page_url}/card")
        ).status_code
        == 403
    )


def test_a_grids_cards_are_issued_together_and_print_ten_to_an_a4_page(app, world):
    with app.app_context():
        grid_a = world.units["grid_a"]
        unit = db.session.get(OrgUnit, grid_a)
        for index in range(10):
            make_member(f"居民{index:02d}", unit)
        # a clerk who lives in the grid: above the organiser (the target rule), so left to an admin
        clerk_id = make_member(
            "网格店员", unit, role="clerk", on=db.session.get(Supermarket, world.shops["a"])
        ).id
    organiser = signed_in(app, world, "organiser")
    html = organiser.get("/admin/cards").get_data(as_text=True)
    assert f'data-grid="{grid_a}"' in html
    action = f"/admin/cards/{grid_a}/issue"
    assert organiser.post(action, data=form_fields(html, action)).status_code == 303
    with app.app_context():
        numbers = {number for (number,) in db.session.execute(sa.select(MemberCard.number))}
        assert len(numbers) == 13  # the grid's 10 new residents, the resident, the villager, its grid worker
        assert cards.live_card(clerk_id) is None
    sheet = organiser.get(f"/api/v1/members/cards.pdf?org_unit_id={grid_a}")
    assert sheet.status_code == 200 and sheet.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(sheet.data))
    assert len(reader.pages) == 2
    assert [round(float(value)) for value in reader.pages[0].mediabox[2:]] == [595, 842]  # A4 in points
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "居民00" in text and "东街一网格" in text and "平安积分 · 会员卡" in text
    printed = {re.sub(r"\s", "", match) for match in re.findall(r"\d{4} \d{4} \d{4}", text)}
    assert printed == numbers
    assert reader.pages[0].extract_text().count("会员卡") == 10
    outsider = signed_in(app, world, "grid_worker")
    assert outsider.get(f"/api/v1/members/cards.pdf?org_unit_id={grid_a}").status_code == 403


def _grid_counts(html: str, grid_id: int) -> tuple[int, int]:
    """A grid's row on the member cards page: its members and those with a card."""
    row = re.search(rf'<tr data-grid="{grid_id}">.*?</tr>', html, re.S).group(0)
    members, carded = (int(value) for value in re.findall(r'data-label="[^"]+">(\d+)</td>', row))
    return members, carded


def test_a_suspended_members_card_does_not_count_as_an_active_members(app, world):
    grid_a = world.units["grid_a"]
    organiser = signed_in(app, world, "organiser")
    before = _grid_counts(organiser.get("/admin/cards").get_data(as_text=True), grid_a)
    with app.app_context():
        unit = db.session.get(OrgUnit, grid_a)
        suspended = make_member("停用居民", unit, status="suspended")
        db.session.add(MemberCard(member_id=suspended.id, number=cards.new_card_number()))
        make_member("新居民", unit)  # active, no card yet
        db.session.commit()
    html = organiser.get("/admin/cards").get_data(as_text=True)
    members, carded = _grid_counts(html, grid_a)
    assert (members, carded) == (before[0] + 1, before[1])
    assert f'action="/admin/cards/{grid_a}/issue"' in html  # the new resident's card is still missing


def test_an_admin_settles_an_offline_conflict_in_the_console(app, stocked):
    with app.app_context():
        give_points(stocked.people["villager"], 10)
        voucher = reserve_at_shop_a(stocked, stocked.rewards["soap"])
        vouchers.fulfil_voucher(person(stocked, "clerk"), voucher.id, short_code=voucher.short_code)
        offline.record_offline_fulfilments(
            person(stocked, "clerk"),
            stocked.shops["a"],
            [
                {
                    "scan_id": str(uuid.uuid4()),
                    "voucher_id": voucher.id,
                    "code": voucher.short_code,
                    "scanned_at": utcnow() - timedelta(minutes=3),
                }
            ],
        )
    admin = signed_in(app, stocked, "admin")
    html = admin.get("/admin/offline-conflicts").get_data(as_text=True)
    conflict = re.search(r'data-conflict="(\d+)" data-reason="already_fulfilled"', html).group(1)
    assert "张居民" in html
    action = f"/admin/offline-conflicts/{conflict}/resolve"
    assert (
        admin.post(action, data={**form_fields(html, action), "note": "已核实：同一张券扫了两次"}).status_code
        == 303
    )
    assert "data-conflict" not in admin.get("/admin/offline-conflicts").get_data(as_text=True)
    assert "同一张券扫了两次" in admin.get("/admin/offline-conflicts?resolved=1").get_data(as_text=True)
    assert signed_in(app, stocked, "clerk").get("/admin/offline-conflicts").status_code == 403


def test_the_ticked_members_cards_print_from_the_members_list_and_nothing_else(app, world):
    with app.app_context():
        unit = db.session.get(OrgUnit, world.units["grid_a"])
        organiser = db.session.get(Member, world.people["organiser"])
        carded = [make_member(f"持卡{index}", unit) for index in range(3)]
        numbers = {member.id: cards.issue_card(organiser, member).number for member in carded}
        cardless = make_member("无卡居民", unit).id
        ticked = [carded[0].id, carded[2].id, cardless]
        wanted = {numbers[carded[0].id], numbers[carded[2].id]}
    browser = signed_in(app, world, "organiser")
    listing = browser.get("/admin/members?q=持卡").get_data(as_text=True)
    assert (
        'id="print-cards"' in listing
        and f'name="member_id" value="{ticked[0]}" form="print-cards"' in listing
    )
    sheet = browser.get("/admin/cards/print?" + "&".join(f"member_id={member_id}" for member_id in ticked))
    assert sheet.status_code == 200 and sheet.mimetype == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(sheet.data)).pages)
    printed = {re.sub(r"\s", "", match) for match in re.findall(r"\d{4} \d{4} \d{4}", text)}
    assert printed == wanted and "持卡1" not in text
    for query, says in (
        ("", "请勾选要打印会员卡的成员"),
        (f"member_id={cardless}", "都还没有会员卡"),
        (f"member_id={world.people['outsider']}", ""),
    ):
        refused = browser.get(f"/admin/cards/print?{query}")
        assert refused.status_code == 303 and refused.headers["Location"].endswith("/admin/members")
        assert says in browser.get("/admin/members").get_data(as_text=True)
    assert (
        signed_in(app, world, "grid_worker").get(f"/admin/cards/print?member_id={ticked[0]}").status_code
        == 403
    )
