"""The review queue: tick many claims, approve or reject them with a reason; one's own is refused
on its row while the others go through."""

import io
import re
from datetime import timedelta
from decimal import Decimal

from PIL import Image

from core.database import utcnow
from points import contributions
from tests.rewards.conftest import person
from tests.support.contributions import available, post_contribution
from tests.support.pages import csrf_token, signed_in, submit_form


def status_of(client, world, claim_id):
    return client.get(f"/api/v1/contributions/{claim_id}", headers=world.headers["global_admin"]).get_json()[
        "status"
    ]


def own_claim(app, world, who="grid_worker", activity="mediation", quantity=1):
    with app.app_context():
        return contributions.record_contribution(
            person(world, who), world.people[who], activity, Decimal(quantity), utcnow() - timedelta(hours=1)
        ).id


def test_bulk_approval_with_ones_own_claim_inside_approves_the_others(app, client, console):
    mine = own_claim(app, console)
    reviewer = signed_in(app, console, "grid_worker")
    page = reviewer.get("/admin/review").get_data(as_text=True)
    assert f'value="{mine}"' in page and "您自己的申报" in page
    ticked = [console.claims["resident"], console.claims["villager"], mine]
    response = reviewer.post(
        "/admin/review",
        data={
            "csrf_token": csrf_token(page),
            "decision": "approve",
            "claim": [str(claim) for claim in ticked],
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = re.search(rf'<tr id="claim-{mine}" class="refused">.*?</tr>', html, re.S)
    assert row and "您自己的申报" in row.group(0) and 'role="alert"' in row.group(0)
    assert f'id="claim-{console.claims["resident"]}"' not in html
    assert "已处理：2" in html
    assert status_of(client, console, console.claims["resident"]) == "approved"
    assert status_of(client, console, console.claims["villager"]) == "approved"
    assert status_of(client, console, mine) == "pending"
    assert available(client, console, "resident") == 20 and available(client, console, "villager") == 20
    assert available(client, console, "grid_worker") == 0


def test_a_daily_cap_refuses_only_its_own_row_and_writes_nothing_of_it(app, client, console):
    capped = own_claim(app, console, "neighbour", "publicity", 5)  # 25 points, over the cap of 20
    reviewer = signed_in(app, console, "organiser")
    response = submit_form(
        reviewer,
        "/admin/review",
        {
            "decision": "approve",
            "claim": [str(capped), str(console.claims["resident"])],
        },
    )
    row = re.search(
        rf'<tr id="claim-{capped}" class="refused">.*?</tr>', response.get_data(as_text=True), re.S
    )
    assert row and "今日积分已达上限" in row.group(0)
    assert status_of(client, console, capped) == "pending"
    assert status_of(client, console, console.claims["resident"]) == "approved"
    assert available(client, console, "neighbour") == 0


def test_rejecting_needs_a_reason_and_keeps_the_ticks_when_refused(app, client, console):
    reviewer = signed_in(app, console, "organiser")
    token = csrf_token(reviewer.get("/admin/review").get_data(as_text=True))
    ticked = [str(console.claims["resident"]), str(console.claims["villager"])]
    refused = reviewer.post(
        "/admin/review", data={"csrf_token": token, "decision": "reject", "reason": " ", "claim": ticked}
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "驳回时请填写理由" in html
    for claim in ticked:
        assert re.search(rf'value="{claim}" id="tick-{claim}"[^>]*checked', html)
    assert re.search(r'<option selected value="reject">|<option value="reject" selected>', html)
    done = reviewer.post(
        "/admin/review",
        data={"csrf_token": token, "decision": "reject", "reason": "照片不清楚", "claim": ticked},
    )
    assert done.status_code == 200
    assert status_of(client, console, console.claims["resident"]) == "rejected"
    assert status_of(client, console, console.claims["villager"]) == "rejected"
    assert available(client, console, "resident") == 0


def test_submitting_with_nothing_ticked_is_refused_and_changes_nothing(app, client, console):
    reviewer = signed_in(app, console, "organiser")
    token = csrf_token(reviewer.get("/admin/review").get_data(as_text=True))
    response = reviewer.post("/admin/review", data={"csrf_token": token, "decision": "approve"})
    assert response.status_code == 422
    assert status_of(client, console, console.claims["resident"]) == "pending"


def test_the_queue_shows_the_evidence_photo_to_the_reviewer(app, client, console):
    image = io.BytesIO()
    Image.new("RGB", (800, 600), (20, 120, 40)).save(image, "JPEG")
    photo = client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(image.getvalue()), "patrol.jpg")},
        headers=console.headers["neighbour"],
        content_type="multipart/form-data",
    ).get_json()
    claim = post_contribution(client, console, "neighbour", "mediation", photo_id=photo["id"]).get_json()
    reviewer = signed_in(app, console, "organiser")
    row = re.search(
        rf'<tr id="claim-{claim["id"]}">.*?</tr>', reviewer.get("/admin/review").get_data(as_text=True), re.S
    )
    source = re.search(r'<img class="thumb" src="([^"]+)"', row.group(0)).group(1)
    served = reviewer.get(source)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert signed_in(app, console, "outsider").get(source).status_code in (403, 404)
