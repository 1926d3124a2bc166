"""A member sets their own counter PIN on their account page, with their password."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.errors import AppError
from core.extensions import db
from core.identity import cards
from core.identity.models import Member
from tests.factories import PASSWORD
from tests.support.pages import csrf_token, signed_in

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def pin_form(html: str) -> dict:
    form = re.search(r'<form method="post" action="/account/pin".*?</form>', html, re.S).group(0)
    return {"csrf_token": csrf_token(form), "form_token": TOKEN.search(form).group(1)}


def test_a_member_sets_their_own_pin_with_their_password_and_it_works_at_the_counter(app, world):
    resident_id = world.people["resident"]
    browser = signed_in(app, world, "resident")
    html = browser.get("/account").get_data(as_text=True)
    assert "还没有会员卡" in html and "卡密码：未设置" in html
    with app.app_context():
        card = cards.issue_card(
            db.session.get(Member, world.people["organiser"]), db.session.get(Member, resident_id)
        )
        number = card.number
    html = browser.get("/account").get_data(as_text=True)
    assert re.search(r"data-card-number>([\d ]+)<", html).group(1).replace(" ", "") == number
    for pin, password, status, says in (
        ("480275", "not my password", 422, "密码不正确"),
        ("111111", PASSWORD, 422, "请换一个密码"),
        ("4802", PASSWORD, 422, "请输入 6 位数字"),
    ):
        refused = browser.post("/account/pin", data={**pin_form(html), "pin": pin, "password": password})
        html = refused.get_data(as_text=True)
        assert refused.status_code == status and says in html, says
        with app.app_context():
            assert not cards.has_pin(resident_id)
    done = browser.post("/account/pin", data={**pin_form(html), "pin": "480275", "password": PASSWORD})
    assert done.status_code == 303
    assert "卡密码：已设置" in browser.get("/account").get_data(as_text=True)
    with app.app_context():
        card = cards.live_card(resident_id)
        cards.check_pin(card, "480275")  # the counter takes it
        with pytest.raises(AppError) as wrong:
            cards.check_pin(card, "480276")
        assert wrong.value.code == "invalid_pin"
        audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "member.pin_set")).all()
        assert [(entry.actor_id, entry.after) for entry in audit] == [(resident_id, {"by": "self"})]
