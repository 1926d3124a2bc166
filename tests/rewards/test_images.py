"""Reward pictures: uploaded by admins, cleaned and shrunk to 640 px, served content-addressed with a strong ETag."""

from __future__ import annotations

import hashlib
import io
import random
from collections import Counter

import pytest
import sqlalchemy as sa
from PIL import Image
from werkzeug.datastructures import FileStorage

from core.audit import AuditEntry
from core.extensions import db
from rewards import images, services, stock
from rewards.models import Reward, RewardImage
from tests.points.test_ledger_concurrency import run_at_once
from tests.points.test_photos import image_bytes
from tests.rewards.conftest import make_reward, person
from tests.support.pages import signed_in


@pytest.fixture
def soap(app, world):
    """A reward without a picture, stocked at shop A; answer its id."""
    with app.app_context():
        reward_id = make_reward("肥皂", 30)
        stock.receive_stock(person(world, "clerk"), world.shops["a"], reward_id, 5)
    return reward_id


def put_image(client, world, reward_id, data, name="soap.jpg", who="global_admin"):
    return client.put(
        f"/api/v1/rewards/{reward_id}/image",
        data={"image": (io.BytesIO(data), name)},
        headers=world.headers[who],
        content_type="multipart/form-data",
    )


def pictures(app) -> dict:
    """Every stored picture (digest, mimetype, size) by reward, and the count of audit entries."""
    with app.app_context():
        rows = db.session.scalars(sa.select(RewardImage)).all()
        return {
            "images": {row.reward_id: (row.digest, row.mimetype, row.width, row.height) for row in rows},
            "audit": db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
        }


def test_an_admin_uploads_a_picture_turned_upright_shrunk_to_640_and_stripped(app, client, world, soap):
    response = put_image(client, world, soap, image_bytes(size=(2000, 1000), orientation=6))
    assert response.status_code == 200
    url = response.get_json()["image_url"]
    served = client.get(url, headers=world.headers["resident"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    digest = hashlib.sha256(served.data).hexdigest()
    assert url == f"/api/v1/rewards/{soap}/image?v={digest}"
    assert served.headers["ETag"] == f'"{digest}"'  # strong: no W/
    assert served.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    with Image.open(io.BytesIO(served.data)) as picture:
        assert picture.format == "JPEG" and picture.size == (320, 640)
        assert not picture.getexif() and "exif" not in picture.info
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "reward.image.set")).one()
        assert (entry.subject_type, entry.subject_id, entry.actor_id) == (
            "reward",
            soap,
            world.people["global_admin"],
        )
        assert entry.after["image"]["digest"] == digest and entry.before is None


def test_a_png_keeps_its_transparency(client, world, soap):
    response = put_image(client, world, soap, image_bytes("PNG", (1000, 800), "RGBA"), "soap.png")
    assert response.status_code == 200
    served = client.get(response.get_json()["image_url"], headers=world.headers["resident"])
    assert served.mimetype == "image/png"
    with Image.open(io.BytesIO(served.data)) as picture:
        assert picture.format == "PNG" and picture.size == (640, 512) and picture.mode == "RGBA"
        assert picture.getpixel((10, 10))[3] == 128


def test_replacing_a_picture_changes_its_url_and_keeps_one_row(app, client, world, soap):
    first = put_image(client, world, soap, image_bytes(size=(300, 300))).get_json()["image_url"]
    second = put_image(client, world, soap, image_bytes("PNG", (200, 100)), "new.png").get_json()["image_url"]
    assert first != second
    state = pictures(app)
    assert len(state["images"]) == 1 and state["images"][soap][1:] == ("image/png", 200, 100)
    # A page still holding the old URL gets today's picture, which no one may keep for long.
    stale = client.get(first, headers=world.headers["resident"])
    assert stale.status_code == 200 and stale.mimetype == "image/png"
    assert stale.headers["Cache-Control"] == "private, no-cache"
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "reward.image.set").order_by(AuditEntry.id)
        ).all()
        assert len(entries) == 2 and entries[1].before["image"]["mimetype"] == "image/jpeg"


def test_deleting_a_picture_removes_it_and_a_second_delete_writes_nothing(app, client, world, soap):
    put_image(client, world, soap, image_bytes(size=(300, 300)))
    gone = client.delete(f"/api/v1/rewards/{soap}/image", headers=world.headers["global_admin"])
    assert gone.status_code == 204
    assert client.get(f"/api/v1/rewards/{soap}/image", headers=world.headers["resident"]).status_code == 404
    shown = client.get(f"/api/v1/rewards/{soap}", headers=world.headers["resident"]).get_json()
    assert shown["image_url"] is None
    before = pictures(app)
    assert before["images"] == {}
    again = client.delete(f"/api/v1/rewards/{soap}/image", headers=world.headers["global_admin"])
    assert again.status_code == 204 and pictures(app) == before
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "reward.image.delete")
            )
            == 1
        )


def too_large() -> bytes:
    """A real PNG of noise just over 5 MB."""
    rng = random.Random(5)
    noise = Image.frombytes("RGB", (1400, 1300), rng.randbytes(1400 * 1300 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > 5 * 1024 * 1024
    return data


@pytest.mark.parametrize(
    "data, name, status, code",
    [
        (b"this is not a picture at all\n" * 50, "soap.jpg", 415, "unsupported_media_type"),
        (image_bytes("GIF", (20, 20)), "soap.gif", 415, "unsupported_media_type"),
        (image_bytes(size=(800, 600))[:4000], "soap.jpg", 422, "validation_error"),
        (b"", "soap.jpg", 422, "validation_error"),
        (None, "soap.jpg", 413, "payload_too_large"),
    ],
)
def test_a_bad_file_is_refused_and_the_old_picture_stays(app, client, world, soap, data, name, status, code):
    put_image(client, world, soap, image_bytes(size=(300, 300)))
    before = pictures(app)
    response = put_image(client, world, soap, too_large() if data is None else data, name)
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == code and body["status"] == status
    if status != 413:
        assert "image" in body["errors"]
    assert pictures(app) == before


def test_a_body_that_is_not_an_upload_is_refused(app, client, world, soap):
    before = pictures(app)
    missing = client.put(
        f"/api/v1/rewards/{soap}/image",
        data={"photo": (io.BytesIO(image_bytes()), "a.jpg")},
        headers=world.headers["global_admin"],
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422 and "image" in missing.get_json()["errors"]
    as_json = client.put(
        f"/api/v1/rewards/{soap}/image", json={"image": "x"}, headers=world.headers["global_admin"]
    )
    assert as_json.status_code == 422 and "image" in as_json.get_json()["errors"]
    assert pictures(app) == before


@pytest.mark.parametrize("who", ["resident", "clerk", "organiser"])
def test_only_admins_may_change_a_picture(app, client, world, soap, who):
    put_image(client, world, soap, image_bytes(size=(300, 300)))
    before = pictures(app)
    response = put_image(client, world, soap, image_bytes(size=(400, 300)), who=who)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    deleted = client.delete(f"/api/v1/rewards/{soap}/image", headers=world.headers[who])
    assert deleted.status_code == 403
    assert pictures(app) == before


def test_a_clerk_of_another_supermarket_may_not_change_a_picture(app, client, world, soap):
    from core.identity.models import Supermarket
    from tests.factories import auth, make_member

    with app.app_context():
        clerk_b = make_member("何店员", role="clerk", on=db.session.get(Supermarket, world.shops["b"]))
        world.headers["clerk_b"] = auth(clerk_b)
    before = pictures(app)
    assert put_image(client, world, soap, image_bytes(size=(300, 300)), who="clerk_b").status_code == 403
    assert pictures(app) == before


def test_signed_out_and_unknown_rewards_are_refused(app, client, world, soap):
    data = {"image": (io.BytesIO(image_bytes(size=(300, 300))), "a.jpg")}
    signed_out = client.put(f"/api/v1/rewards/{soap}/image", data=data, content_type="multipart/form-data")
    assert signed_out.status_code == 401
    assert client.get(f"/api/v1/rewards/{soap}/image").status_code == 401
    assert put_image(client, world, 999_999, image_bytes(size=(300, 300))).status_code == 404
    assert (
        client.delete("/api/v1/rewards/999999/image", headers=world.headers["global_admin"]).status_code
        == 404
    )
    assert client.get("/api/v1/rewards/999999/image", headers=world.headers["resident"]).status_code == 404
    assert pictures(app)["images"] == {}


def test_a_browser_holding_the_picture_gets_304(client, world, soap):
    url = put_image(client, world, soap, image_bytes(size=(300, 300))).get_json()["image_url"]
    digest = url.rsplit("=", 1)[1]
    same = client.get(url, headers={**world.headers["resident"], "If-None-Match": f'"{digest}"'})
    assert same.status_code == 304 and same.data == b""
    assert same.headers["ETag"] == f'"{digest}"' and "immutable" in same.headers["Cache-Control"]
    other = client.get(url, headers={**world.headers["resident"], "If-None-Match": '"0123"'})
    assert other.status_code == 200 and hashlib.sha256(other.data).hexdigest() == digest


def test_the_catalogue_shows_the_picture_without_loading_its_bytes(app, client, world, soap):
    with app.app_context():
        plain = make_reward("毛巾", 10)
        stock.receive_stock(person(world, "clerk"), world.shops["a"], plain, 5)
    url = put_image(client, world, soap, image_bytes(size=(300, 300))).get_json()["image_url"]

    items = client.get(
        f"/api/v1/supermarkets/{world.shops['a']}/catalogue", headers=world.headers["resident"]
    ).get_json()["items"]
    assert {item["reward_id"]: item["image_url"] for item in items} == {soap: url, plain: None}
    listed = client.get("/api/v1/rewards", headers=world.headers["resident"]).get_json()["items"]
    assert {item["id"]: item["image_url"] for item in listed} == {soap: url, plain: None}

    html = signed_in(app, world, "resident").get(f"/shops/{world.shops['a']}").get_data(as_text=True)
    assert html.count("<img ") == 1
    assert f'<img class="reward-picture" src="{url.replace("&", "&amp;")}" alt="" loading="lazy"' in html
    assert 'width="64" height="64"' in html

    with app.app_context():
        rewards = db.session.scalars(sa.select(Reward).order_by(Reward.id)).all()
        assert [reward.image is not None for reward in rewards] == [True, False]
        assert "content" in sa.inspect(rewards[0].image).unloaded


def test_concurrent_uploads_leave_one_picture_and_every_change_audited(app, world, soap):
    uploads = [image_bytes(size=(100 + 10 * n, 100)) for n in range(6)]

    def uploader(data):
        def upload():
            images.set_reward_image(
                person(world, "global_admin"), soap, FileStorage(io.BytesIO(data), "a.jpg")
            )

        return upload

    outcomes = run_at_once(app, [uploader(data) for data in uploads])
    assert outcomes == Counter({"ok": len(uploads)}), outcomes
    state = pictures(app)
    assert len(state["images"]) == 1
    assert state["images"][soap][2] in {100 + 10 * n for n in range(len(uploads))}
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "reward.image.set").order_by(AuditEntry.id)
        ).all()
        assert len(entries) == len(uploads) and entries[0].before is None
        # Uploads took turns: each one replaced the one before, and the last one stays.
        assert all(
            entry.before["image"] == previous.after["image"] for previous, entry in zip(entries, entries[1:])
        )
        assert services.get_reward(soap).image.digest == entries[-1].after["image"]["digest"]
