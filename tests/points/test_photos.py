"""Photo evidence: JPEG or PNG up to 20 MB, cleaned and shrunk, readable by its uploader and reviewers."""

import io
import random

import pytest
from PIL import Image

from core.errors import AppError
from tests.support.contributions import post_contribution

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def image_bytes(fmt="JPEG", size=(2000, 1000), mode="RGB", orientation=None):
    """Make a real image with Pillow; JPEGs carry a camera make, a GPS block and maybe an orientation."""
    image = Image.new(mode, size, (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    out = io.BytesIO()
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"
        exif.get_ifd(GPS_IFD)[2] = (30.0, 15.0, 0.0)
        if orientation:
            exif[ORIENTATION] = orientation
        image.save(out, fmt, exif=exif.tobytes())
    else:
        image.save(out, fmt)
    return out.getvalue()


def upload(client, world, who, data, name="photo.jpg"):
    return client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(data), name)},
        headers=world.headers[who],
        content_type="multipart/form-data",
    )


def test_a_jpeg_is_turned_upright_shrunk_to_1280_and_stripped_of_metadata(client, world):
    # Orientation 6: the camera held the phone upright; the pixels lie on their side.
    response = upload(client, world, "resident", image_bytes(orientation=6))
    assert response.status_code == 201
    body = response.get_json()
    assert (body["width"], body["height"]) == (640, 1280)
    served = client.get(f"/api/v1/photos/{body['id']}", headers=world.headers["resident"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "private, max-age=86400"
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.format == "JPEG" and image.size == (640, 1280)
        assert not image.getexif() and "exif" not in image.info


def test_a_png_with_transparency_is_stored_as_a_small_jpeg(client, world):
    response = upload(client, world, "resident", image_bytes("PNG", (300, 200), "RGBA"), "shot.png")
    assert response.status_code == 201
    assert (response.get_json()["width"], response.get_json()["height"]) == (300, 200)
    served = client.get(f"/api/v1/photos/{response.get_json()['id']}", headers=world.headers["resident"])
    assert Image.open(io.BytesIO(served.data)).format == "JPEG"


def test_text_named_like_a_jpeg_is_refused(client, world):
    response = upload(client, world, "resident", b"this is not a photo at all\n" * 50)
    assert response.status_code == 415 and response.get_json()["code"] == "unsupported_media_type"


def test_a_gif_is_refused(client, world):
    response = upload(client, world, "resident", image_bytes("GIF", (20, 20)), "anim.gif")
    assert response.status_code == 415


def test_a_truncated_jpeg_is_refused(client, world):
    data = image_bytes(size=(800, 600))
    response = upload(client, world, "resident", data[: len(data) // 2])
    assert response.status_code == 422 and "photo" in response.get_json()["errors"]


def test_an_upload_without_a_photo_is_refused(client, world):
    response = client.post(
        "/api/v1/photos",
        data={"other": "x"},
        headers=world.headers["resident"],
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "photo" in response.get_json()["errors"]


def test_more_than_twenty_megabytes_are_refused_with_413(client, world):
    response = upload(client, world, "resident", b"\xff\xd8" + b"\0" * (21 * 1024 * 1024))
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"


def test_a_photo_just_above_the_app_wide_limit_is_accepted(client, world):
    # Noise does not compress: a 1500 px PNG of it is well above the 1 MB JSON limit.
    noise = Image.frombytes("RGB", (1500, 1000), random.Random(7).randbytes(1500 * 1000 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert 1024 * 1024 < len(out.getvalue()) < 5 * 1024 * 1024
    assert upload(client, world, "resident", out.getvalue(), "big.png").status_code == 201


def test_uploading_and_reading_need_a_signed_in_member(client, world):
    data = {"photo": (io.BytesIO(image_bytes(size=(10, 10))), "p.jpg")}
    assert client.post("/api/v1/photos", data=data, content_type="multipart/form-data").status_code == 401
    assert client.get("/api/v1/photos/1").status_code == 401


def test_another_member_cannot_read_my_photo_but_my_grid_worker_can_once_it_is_attached(client, activities):
    world = activities
    photo_id = upload(client, world, "resident", image_bytes(size=(64, 48))).get_json()["id"]
    path = f"/api/v1/photos/{photo_id}"
    assert client.get(path, headers=world.headers["villager"]).status_code == 403
    assert client.get(path, headers=world.headers["grid_worker"]).status_code == 403
    claim = post_contribution(client, world, "resident", "mediation", "1", photo_id=photo_id)
    assert claim.status_code == 201 and claim.get_json()["status"] == "pending"
    assert client.get(path, headers=world.headers["grid_worker"]).status_code == 200
    assert client.get(path, headers=world.headers["villager"]).status_code == 403
    assert client.get(path, headers=world.headers["grid_worker_b"]).status_code == 403
    assert client.get("/api/v1/photos/999999", headers=world.headers["resident"]).status_code == 404


def test_a_member_may_attach_only_a_photo_they_uploaded(app, client, world):
    from core.extensions import db
    from core.identity.models import Member
    from points.photos import check_photo_owner

    photo_id = upload(client, world, "resident", image_bytes(size=(10, 10))).get_json()["id"]
    with app.app_context():
        resident = db.session.get(Member, world.people["resident"])
        villager = db.session.get(Member, world.people["villager"])
        check_photo_owner(resident, photo_id)
        check_photo_owner(villager, None)
        with pytest.raises(AppError) as refused:
            check_photo_owner(villager, photo_id)
        assert refused.value.status == 403 and "photo_id" in refused.value.errors
        with pytest.raises(AppError) as missing:
            check_photo_owner(resident, photo_id + 1000)
        assert missing.value.status == 422
