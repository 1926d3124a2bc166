"""Points pages: my points with the running balance, the claim form, and the review list."""

import io
import random
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image

from tests.factories import make_member
from tests.support.contributions import available, hours_ago, post_contribution
from tests.support.pages import csrf_token, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")


def jpeg(size=(1600, 1200)):
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def local_time(hours_ago=1.0):
    return (datetime.now(SHANGHAI) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def claim_form(browser, **fields):
    token = csrf_token(browser.get("/me/claims/new").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "activity": "mediation",
        "quantity": "1",
        "occurred_at": local_time(),
        "note": "调解了邻里纠纷",
        **fields,
    }
    return browser.post("/me/claims/new", data=data, content_type="multipart/form-data")


def record(client, world, member="resident", activity="publicity", quantity="1", who="grid_worker"):
    """Staff record a contribution for someone in scope: approved at once."""
    response = post_contribution(
        client, world, who, activity, quantity, member=member, occurred_at=hours_ago(2)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def contributions(client, world, who="resident", status=None):
    query = f"?member_id={world.people[who]}" + (f"&status={status}" if status else "")
    return client.get("/api/v1/contributions" + query, headers=world.headers[who]).get_json()["items"]


def test_the_home_links_to_the_points_pages_only_when_signed_in(app, client, activities):
    world = activities
    assert "/me/points" not in client.get("/").get_data(as_text=True)
    assert client.get("/me/points").status_code == 302
    resident = signed_in(app, world, "resident").get("/").get_data(as_text=True)
    assert "/me/points" in resident and "/me/claims/new" in resident and 'href="/review"' not in resident
    assert 'href="/review"' in signed_in(app, world, "grid_worker").get("/").get_data(as_text=True)


def test_my_points_shows_balances_and_the_running_balance_newest_first(app, client, activities):
    world = activities
    record(client, world, activity="publicity", quantity="2")  # 10
    record(client, world, activity="mediation")  # 20 → 30
    browser = signed_in(app, world, "resident")
    assert claim_form(browser, note="").status_code == 303
    page = browser.get("/me/points")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "我的积分" in html and re.search(r"data-available>30<", html)
    assert re.findall(r"data-balance-after>(\d+)<", html) == ["30", "10"]
    assert "+20" in html and "+10" in html
    assert "等待审核" in html and "20 分" in html  # the pending mediation claim
    assert len(page.data) < 100 * 1024


def test_the_ledger_on_my_points_is_paged_twenty_at_a_time(app, client, activities):
    world = activities
    for _ in range(21):
        record(client, world, activity="mediation")
    browser = signed_in(app, world, "resident")
    first = browser.get("/me/points").get_data(as_text=True)
    assert re.findall(r"data-balance-after>(\d+)<", first)[:2] == ["420", "400"]
    assert len(re.findall(r"data-balance-after>", first)) == 20 and "?page=2" in first
    second = browser.get("/me/points?page=2").get_data(as_text=True)
    assert re.findall(r"data-balance-after>(\d+)<", second) == ["20"]


def test_the_claim_form_creates_a_pending_claim_with_a_photo(app, client, activities):
    world = activities
    browser = signed_in(app, world, "resident")
    form = browser.get("/me/claims/new").get_data(as_text=True)
    assert 'type="datetime-local"' in form and 'enctype="multipart/form-data"' in form
    response = claim_form(browser, photo=(io.BytesIO(jpeg()), "IMG_0001.jpg"))
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/points")
    assert "已提交审核" in browser.get("/me/points").get_data(as_text=True)
    [claim] = contributions(client, world, status="pending")
    assert claim["activity_code"] == "mediation" and claim["points"] == 20 and claim["photo_id"]
    assert claim["note"] == "调解了邻里纠纷"
    # The time typed in the form is Shanghai time.
    typed = datetime.strptime(local_time(), "%Y-%m-%dT%H:%M").replace(tzinfo=SHANGHAI)
    assert abs(datetime.fromisoformat(claim["occurred_at"]) - typed) < timedelta(minutes=2)
    photo = client.get(f"/api/v1/photos/{claim['photo_id']}", headers=world.headers["grid_worker"])
    assert photo.status_code == 200 and Image.open(io.BytesIO(photo.data)).size == (1280, 960)


def test_the_claim_form_takes_a_camera_photo_of_six_megabytes_sent_without_the_shrinking_script(
    app, client, activities
):
    world = activities
    out = io.BytesIO()
    Image.frombytes("RGB", (4000, 3000), random.Random(6).randbytes(4000 * 3000 * 3)).save(
        out, "JPEG", quality=70
    )
    assert len(out.getvalue()) > 6 * 1024 * 1024
    resident = signed_in(app, world, "resident")
    form = resident.get("/me/claims/new").get_data(as_text=True)
    assert 'data-shrink="1600"' in form and f'data-max-bytes="{20 * 1024 * 1024}"' in form
    response = claim_form(resident, photo=(io.BytesIO(out.getvalue()), "IMG_0001.jpg"))
    assert response.status_code == 303
    photo = client.get(
        f"/api/v1/photos/{contributions(client, world)[0]['photo_id']}", headers=world.headers["resident"]
    )
    assert Image.open(io.BytesIO(photo.data)).size == (1280, 960)


def test_the_claim_form_takes_a_phone_sized_photo_above_the_one_megabyte_limit(app, client, activities):
    world = activities
    out = io.BytesIO()
    Image.frombytes("RGB", (1500, 1000), random.Random(3).randbytes(1500 * 1000 * 3)).save(out, "PNG")
    assert len(out.getvalue()) > 1024 * 1024
    response = claim_form(signed_in(app, world, "resident"), photo=(io.BytesIO(out.getvalue()), "big.png"))
    assert response.status_code == 303
    assert contributions(client, world)[0]["photo_id"]


def test_a_refused_claim_shows_why_and_keeps_what_was_typed(app, client, activities):
    world = activities
    browser = signed_in(app, world, "resident")
    future = claim_form(browser, occurred_at=local_time(-3), note="明天的巡逻")
    assert future.status_code == 422
    html = future.get_data(as_text=True)
    assert "明天的巡逻" in html and 'aria-invalid="true"' in html
    assert 'value="mediation" selected' in html or 'selected value="mediation"' in html
    # daily_checkin is approved at once and capped at 1 point a day: 2 points are refused whole.
    capped = claim_form(browser, activity="daily_checkin", quantity="2", note="报平安")
    assert capped.status_code == 409 and 'data-code="daily_cap_reached"' in capped.get_data(as_text=True)
    assert "报平安" in capped.get_data(as_text=True)
    empty = claim_form(browser, quantity="", note="忘了数量")
    assert empty.status_code == 422 and "忘了数量" in empty.get_data(as_text=True)
    assert contributions(client, world) == []


def test_a_claim_refused_after_its_photo_was_stored_keeps_the_photo(app, client, activities):
    world = activities
    browser = signed_in(app, world, "resident")
    refused = claim_form(
        browser, occurred_at=local_time(24 * 40), photo=(io.BytesIO(jpeg((40, 30))), "a.jpg")
    )
    assert refused.status_code == 422
    photo_id = re.search(
        r'name="photo_id"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="photo_id"', refused.get_data(as_text=True)
    )
    photo_id = next(group for group in photo_id.groups() if group)
    assert claim_form(browser, photo_id=photo_id).status_code == 303
    assert contributions(client, world)[0]["photo_id"] == int(photo_id)


def test_a_claim_cannot_carry_someone_elses_photo(app, client, activities):
    world = activities
    other = client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(jpeg((20, 20))), "x.jpg")},
        headers=world.headers["villager"],
        content_type="multipart/form-data",
    )
    browser = signed_in(app, world, "resident")
    response = claim_form(browser, photo_id=str(other.get_json()["id"]))
    assert response.status_code == 403 and 'aria-invalid="true"' in response.get_data(as_text=True)
    assert contributions(client, world) == []


def test_a_fake_photo_on_the_claim_form_is_refused_next_to_the_field(app, client, activities):
    world = activities
    browser = signed_in(app, world, "resident")
    response = claim_form(browser, photo=(io.BytesIO(b"not an image"), "fake.jpg"))
    assert response.status_code == 415 and "调解了邻里纠纷" in response.get_data(as_text=True)
    assert contributions(client, world) == []


def test_the_review_list_shows_claims_in_scope_only(app, client, activities):
    world = activities
    claim_form(signed_in(app, world, "resident"), photo=(io.BytesIO(jpeg((50, 50))), "p.jpg"))
    [claim] = contributions(client, world, status="pending")
    reviewer = signed_in(app, world, "grid_worker").get("/review")
    html = reviewer.get_data(as_text=True)
    assert reviewer.status_code == 200 and "张居民" in html and "调解了邻里纠纷" in html
    assert f'src="/api/v1/photos/{claim["photo_id"]}"' in html
    assert signed_in(app, world, "grid_worker").get(f"/api/v1/photos/{claim['photo_id']}").status_code == 200
    assert f"/review/{claim['id']}/approve" in html and 'name="reason"' in html
    assert signed_in(app, world, "resident").get("/review").status_code == 403
    with app.app_context():
        from core.extensions import db
        from core.identity.models import OrgUnit

        make_member(
            "郑组织", role="organiser", on=db.session.get(OrgUnit, world.units["town_b"]), phone="13900000077"
        )
    world.phones["organiser_b"] = "13900000077"
    other_town = signed_in(app, world, "organiser_b").get("/review")
    assert other_town.status_code == 200 and "张居民" not in other_town.get_data(as_text=True)
    assert "张居民" in signed_in(app, world, "organiser").get("/review").get_data(as_text=True)


def test_approve_and_reject_from_the_review_page_write_the_ledger(app, client, activities):
    world = activities
    resident = signed_in(app, world, "resident")
    claim_form(resident, activity="mediation")
    claim_form(resident, activity="publicity", quantity="2")
    mediation, publicity = sorted(
        contributions(client, world, status="pending"), key=lambda c: c["points"], reverse=True
    )
    reviewer = signed_in(app, world, "grid_worker")
    token = csrf_token(reviewer.get("/review").get_data(as_text=True))
    approved = reviewer.post(f"/review/{mediation['id']}/approve", data={"csrf_token": token})
    assert approved.status_code == 303 and approved.headers["Location"].startswith("/review")
    assert "已批准" in reviewer.get("/review").get_data(as_text=True)
    no_reason = reviewer.post(f"/review/{publicity['id']}/reject", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 303 and "flash-error" in reviewer.get("/review").get_data(as_text=True)
    rejected = reviewer.post(
        f"/review/{publicity['id']}/reject", data={"csrf_token": token, "reason": "照片不清楚"}
    )
    assert rejected.status_code == 303
    assert available(client, world, "resident") == 20
    statuses = {c["id"]: (c["status"], c["review_reason"]) for c in contributions(client, world)}
    assert statuses == {mediation["id"]: ("approved", None), publicity["id"]: ("rejected", "照片不清楚")}
    page = resident.get("/me/points").get_data(as_text=True)
    assert re.findall(r"data-balance-after>(\d+)<", page) == ["20"]


def test_refusals_on_the_review_page_are_flashed_never_a_500(app, client, activities):
    world = activities
    claim_form(signed_in(app, world, "resident"))
    [claim] = contributions(client, world, status="pending")
    reviewer = signed_in(app, world, "grid_worker")
    token = csrf_token(reviewer.get("/review").get_data(as_text=True))
    assert reviewer.post(f"/review/{claim['id']}/approve", data={"csrf_token": token}).status_code == 303
    again = reviewer.post(f"/review/{claim['id']}/approve", data={"csrf_token": token})
    assert again.status_code == 303
    assert "flash-error" in reviewer.get("/review").get_data(as_text=True)
    claim_form(reviewer)  # the grid worker's own claim
    [own] = contributions(client, world, who="grid_worker", status="pending")
    listed = reviewer.get("/review").get_data(as_text=True)
    assert f"/review/{own['id']}/approve" not in listed
    assert reviewer.post(f"/review/{own['id']}/approve", data={"csrf_token": token}).status_code == 303
    assert "flash-error" in reviewer.get("/review").get_data(as_text=True)
    assert contributions(client, world, who="grid_worker", status="pending")[0]["id"] == own["id"]
    outsider = signed_in(app, world, "grid_worker_b")
    token_b = csrf_token(outsider.get("/me").get_data(as_text=True))
    assert (
        outsider.post(f"/review/{own['id']}/reject", data={"csrf_token": token_b, "reason": "x"}).status_code
        == 303
    )
    assert contributions(client, world, who="grid_worker", status="pending")[0]["id"] == own["id"]


def test_forms_without_a_csrf_token_are_refused_with_400(app, client, activities):
    world = activities
    resident = signed_in(app, world, "resident")
    assert (
        resident.post(
            "/me/claims/new", data={"activity": "mediation", "quantity": "1", "occurred_at": local_time()}
        ).status_code
        == 400
    )
    claim_form(resident)
    [claim] = contributions(client, world, status="pending")
    reviewer = signed_in(app, world, "grid_worker")
    assert reviewer.post(f"/review/{claim['id']}/approve").status_code == 400
    assert reviewer.post(f"/review/{claim['id']}/reject", data={"reason": "x"}).status_code == 400
    assert contributions(client, world, status="pending")[0]["id"] == claim["id"]
