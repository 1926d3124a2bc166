"""One-time form tokens: a page form sent twice writes once and answers both with the first result."""

from __future__ import annotations

import io
import re
import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.idempotency import IdempotencyKey
from points.models import Contribution, DailyCheckin
from tests.factories import make_activity
from tests.support.pages import csrf_token, signed_in
from tests.support.scene import build_scene

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
#: Page POST views that write nothing, so they need no token: signing in and out, a scan that only
#: looks a code up, a roll's dry run, and the language and elder-mode switches (GETs anyway).
READ_ONLY_POSTS = {
    "identity_pages.login",
    "identity_pages.logout",
    "identity_pages.activate",
    "rewards_pages.scan",
    "admin.imports",
    "rewards_pages.sell",
}  # looks the card or pay code up; the sale is its confirm form


def form_fields(html: str) -> dict:
    """The CSRF and form tokens of the first form of a page."""
    return {"csrf_token": csrf_token(html), "form_token": TOKEN.search(html).group(1)}


def count(model, **where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).filter_by(**where))


def flashes(browser) -> list[str]:
    """The messages the next page shows (read from that page)."""
    html = browser.get("/me/points").get_data(as_text=True)
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]+)</p>', html)


def claim_form(app, world):
    """The resident's browser on the claim form, and the form filled in: one mediation (20 points)."""
    with app.app_context():
        make_activity("mediation", points=20, category="mediation")
    browser = signed_in(app, world, "resident")
    fields = form_fields(browser.get("/me/claims/new").get_data(as_text=True))
    return browser, {**fields, "activity": "mediation", "quantity": "1", "occurred_at": "2026-12-01T09:00"}


def test_a_claim_sent_twice_is_recorded_once_and_both_answers_say_the_same(app, world):
    browser, data = claim_form(app, world)
    first = browser.post("/me/claims/new", data=data)
    first_message = flashes(browser)
    second = browser.post("/me/claims/new", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"] == "/me/points"
    assert first_message == flashes(browser) == ["您的申报已提交审核。"]
    with app.app_context():
        assert count(Contribution, member_id=world.people["resident"]) == 1


def test_a_refused_form_sent_again_shows_the_same_refusal_and_keeps_what_was_typed(app, world):
    browser, claim = claim_form(app, world)
    data = {**claim, "quantity": "1.3", "note": "帮邻居修水管"}
    first, second = (browser.post("/me/claims/new", data=data) for _ in range(2))
    assert first.status_code == second.status_code == 422
    assert "帮邻居修水管" in second.get_data(as_text=True)
    assert TOKEN.findall(first.get_data(as_text=True)) == TOKEN.findall(second.get_data(as_text=True))
    with app.app_context():
        assert count(Contribution) == 0


def test_the_same_token_with_other_fields_is_refused_and_writes_nothing(app, world):
    browser, data = claim_form(app, world)
    assert browser.post("/me/claims/new", data=data).status_code == 303
    other = browser.post("/me/claims/new", data={**data, "quantity": "2"})
    assert other.status_code == 422 and "重新打开页面" in other.get_data(as_text=True)
    with app.app_context():
        assert count(Contribution) == 1


def test_a_form_without_a_token_still_works_and_a_malformed_token_is_refused(app, world):
    browser = signed_in(app, world, "resident")
    token = csrf_token(browser.get("/me").get_data(as_text=True))
    assert browser.post("/me/checkin", data={"csrf_token": token}).status_code == 303
    assert browser.post("/me/checkin", data={"csrf_token": token, "form_token": "x;y"}).status_code == 400
    with app.app_context():
        assert count(DailyCheckin) == 1 and count(IdempotencyKey) == 0


def test_two_taps_at_once_check_in_once_and_both_see_the_one_result(app, world):
    browser = signed_in(app, world, "resident")
    fields = form_fields(browser.get("/earn").get_data(as_text=True))
    cookie = browser.get_cookie("session")
    taps = []
    for _ in range(2):
        tap = app.test_client()
        tap.set_cookie("session", cookie.value)
        taps.append(tap)
    answers = [None, None]
    start = threading.Barrier(2)

    def send(index):
        start.wait()
        answers[index] = taps[index].post("/me/checkin?next=/earn", data=fields)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [answer.status_code for answer in answers] == [303, 303]
    assert {urlsplit(answer.headers["Location"]).path for answer in answers} == {"/earn"}
    with app.app_context():
        assert count(DailyCheckin, member_id=world.people["resident"]) == 1
    for tap in taps:  # each browser shows "checked in", never "already checked in"
        page = tap.get("/earn").get_data(as_text=True)
        assert "报平安成功" in page and "flash-error" not in page


def test_activation_codes_are_shown_once_even_when_the_form_is_sent_twice(app, world):
    from core.identity.activation import issue_activation_codes
    from core.identity.models import Member

    with app.app_context():
        member = db.session.get(Member, world.people["villager"])
        issue_activation_codes([member.id], None)
        db.session.commit()
        phone = member.phone
    admin = signed_in(app, world, "organiser")
    page = admin.get("/admin/import").get_data(as_text=True)
    reissue = page[page.index('action="/admin/import/reissue"') :]
    data = {**form_fields(reissue), "phone": phone}
    first = admin.post("/admin/import/reissue", data=data)
    again = admin.post("/admin/import/reissue", data=data)
    assert first.status_code == 200 and "slip-code" in first.get_data(as_text=True)
    assert again.status_code == 409 and "slip-code" not in again.get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalars(sa.select(IdempotencyKey.response_body)).all()
        code = re.search(r'class="slip-code">([^<]+)<', first.get_data(as_text=True)).group(1)
        assert stored and not any(code in body for body in stored)


@pytest.fixture
def scene(app):
    with app.app_context():
        return build_scene()


@pytest.mark.parametrize("who", ["global_admin", "resident", "clerk", "grid_worker"])
def test_every_page_form_that_writes_carries_a_token_its_view_honours(app, scene, who):
    post_views = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/")
    }
    unguarded = {
        endpoint
        for endpoint in post_views - READ_ONLY_POSTS
        if not getattr(app.view_functions[endpoint], "once_per_form", False)
    }
    assert not unguarded, f"page forms that write without @once_per_form: {sorted(unguarded)}"
    browser = signed_in(app, scene.world, who)
    adapter = app.url_map.bind("localhost")
    pages = [
        "/",
        "/me",
        "/earn",
        "/me/points",
        "/me/claims/new",
        "/review",
        "/shops",
        f"/shops/{scene.shop('inside')}",
        "/me/vouchers",
        f"/me/vouchers/{scene.ids['inside']['voucher']}",
        "/account",
        "/counter/stock",
        "/admin/review",
        "/admin/activities",
        "/admin/activities/new",
        "/admin/events",
        f"/admin/events/{scene.ids['inside']['event']}",
        "/admin/members/new",
        f"/admin/members/{scene.world.people['villager']}",
        "/admin/import",
        f"/admin/supermarkets/{scene.shop('inside')}",
        "/admin/supermarkets/new",
        "/admin/rewards/new",
        f"/admin/rewards/{scene.reward_id}",
        "/admin/org-units",
        "/wishes/new",
        "/wishes/vet",
        "/admin/patrols/new",
        "/counter/sell",
        "/admin/cards",
        "/admin/offline-conflicts",
    ]
    with app.app_context():  # a wish at each step, so that each of its forms shows to someone
        wishes = [
            scene.ids["inside"]["wish"],
            scene.fresh_wish("inside", "submitted"),
            scene.fresh_wish("inside", "taken"),
            scene.fresh_wish("inside", "done", done_days_ago=4),
        ]
        pages += [f"{prefix}/wishes/{wish}" for wish in wishes for prefix in ("", "/admin")]
        pages.append(urlsplit(scene.checkpoint_code(scene.ids["inside"]["route"])).path)
    checked, missing = 0, []
    for path in pages:
        response = browser.get(path)
        if response.status_code != 200:
            continue
        html = response.get_data(as_text=True)
        for form in re.findall(r'<form method="post"[^>]*>.*?</form>', html, re.S):
            action = re.search(r'action="([^"]*)"', form.split(">", 1)[0])
            target = urlsplit(action.group(1) if action else path).path
            endpoint, _args = adapter.match(target, method="POST")
            if endpoint in READ_ONLY_POSTS:
                continue
            checked += 1
            if 'name="form_token"' not in form:
                missing.append(f"{path} → {target}")
    assert checked >= 3 and not missing, missing


def test_a_photo_too_large_for_the_server_says_so_and_leads_back_to_the_form(app, world):
    browser = signed_in(app, world, "resident")
    fields = form_fields(browser.get("/me/claims/new").get_data(as_text=True))
    huge = b"\xff\xd8" + b"\0" * (21 * 1024 * 1024)
    refused = browser.post(
        "/me/claims/new",
        data={**fields, "photo": (io.BytesIO(huge), "IMG.jpg")},
        content_type="multipart/form-data",
        headers={"Referer": "http://localhost/me/claims/new"},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 413 and "20 MB" in html
    assert '<a class="button" href="/me/claims/new" data-back>' in html
    other_site = browser.post(
        "/me/claims/new",
        data={**fields, "photo": (io.BytesIO(huge), "IMG.jpg")},
        content_type="multipart/form-data",
        headers={"Referer": "https://evil.example/x"},
    )
    assert "data-back" not in other_site.get_data(as_text=True)
