"""Phones: people type them with spaces, dashes, +86 and full-width digits; we store the canonical
11 ASCII digits, so no two members can share a number that looks the same, everywhere a phone
comes in (API, pages, imports, activation, sign-in)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from admin.services.roll_import import check_file, read_roll
from core.extensions import db
from core.identity.models import Member
from core.identity.phones import normalise_phone
from tests.factories import PASSWORD
from tests.rewards.conftest import person
from tests.support.pages import csrf_token


@pytest.mark.parametrize(
    "typed, canonical",
    [
        ("13900000016", "13900000016"),
        ("139 0000 0016", "13900000016"),
        ("139-0000-0016", "13900000016"),
        ("+86 139 0000 0016", "13900000016"),
        ("+86-139-0000-0016", "13900000016"),
        ("8613900000016", "13900000016"),
        (" 13900000016 ", "13900000016"),
        ("１３９００００００１６", "13900000016"),  # full-width, from a Chinese input method
        ("139\u30000000\u30000016", "13900000016"),  # ideographic spaces
    ],
)
def test_what_people_type_becomes_the_eleven_digits(typed, canonical):
    assert normalise_phone(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "13900000016\n1",
        "1390000001",
        "139000000161",
        "12900000016",
        "139٠٠٠٠٠٠١٦",
        "١٣٩٠٠٠٠٠٠١٦",
        "13900000016x",
        "+8513900000016",
        "86 1390000001",
        "",
        "1" * 200,
        None,
        13900000016,
    ],
)
def test_anything_else_is_no_mobile_number(typed):
    assert normalise_phone(typed) is None


def create(client, world, phone):
    return client.post(
        "/api/v1/members",
        headers=world.headers["organiser"],
        json={
            "name": "新居民",
            "phone": phone,
            "password": "a-good-password",
            "org_unit_id": world.units["grid_a"],
        },
    )


@pytest.mark.parametrize(
    "look_alike", ["13900000016\n", "139００００００１６", "１３９００００００１６", "+86 139 0000 0016"]
)
def test_a_number_that_looks_the_same_as_a_members_is_a_duplicate(client, world, app, look_alike):
    first = create(client, world, "13900000016")
    assert first.status_code == 201 and first.get_json()["phone"] == "13900000016"
    second = create(client, world, look_alike)
    assert second.status_code == 409 and second.get_json()["code"] == "duplicate"
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(Member).where(Member.phone.like("%13900000016%"))
            )
            == 1
        )


@pytest.mark.parametrize("foreign", ["139٠٠٠٠٠٠١٦", "١٣٩٠٠٠٠٠٠١٦", "13900000016\n7"])
def test_digits_of_other_scripts_and_trailing_text_are_refused(client, world, foreign):
    response = create(client, world, foreign)
    assert response.status_code == 422 and "phone" in response.get_json()["errors"]


def test_the_stored_form_is_canonical_when_a_phone_is_changed(client, world, app):
    response = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        headers=world.headers["organiser"],
        json={"phone": "+86 139-0000-0017"},
    )
    assert response.status_code == 200 and response.get_json()["phone"] == "13900000017"


def test_signing_in_takes_the_number_as_people_type_it(client, world):
    phone = world.phones["resident"]
    spaced = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    assert client.post("/api/v1/auth/tokens", json={"phone": spaced, "password": PASSWORD}).status_code == 201
    browser = client.application.test_client()
    token = csrf_token(browser.get("/login").get_data(as_text=True))
    page = browser.post("/login", data={"csrf_token": token, "phone": spaced, "password": PASSWORD})
    assert page.status_code == 302


def test_an_imported_roll_stores_canonical_phones_and_finds_look_alikes(ctx, world):
    grid = "城关镇/东街社区/东街一网格"
    data = (
        "姓名,手机号,网格\r\n"
        f"张三,+86 139 0000 0018,{grid}\r\n"
        f"李四,１３９００００００１８,{grid}\r\n"
        f"王五,{world.phones['resident'][:3]} {world.phones['resident'][3:]},{grid}\r\n"
    ).encode()
    checked = check_file(person(world, "organiser"), read_roll("roll.csv", data))
    assert [member["phone"] for member in checked.members] == ["13900000018"]
    assert {(line, column) for line, column, _message in checked.problems} == {(3, "phone"), (4, "phone")}


def test_activation_takes_the_number_as_people_type_it(client, world, app):
    from core.identity.activation import issue_activation_codes

    with app.app_context():
        member = db.session.get(Member, world.people["villager"])
        member.password_hash = None
        code = issue_activation_codes([member.id], None)[member.id]
        db.session.commit()
    phone = world.phones["villager"]
    response = client.post(
        "/api/v1/auth/activate",
        json={
            "phone": f"{phone[:3]} {phone[3:7]} {phone[7:]}",
            "code": code,
            "password": "my-first-password",
        },
    )
    assert response.status_code == 201
