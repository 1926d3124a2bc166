"""Activation of imported members: one-time codes that expire, are rate limited and can be re-issued."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from admin.services.roll_import import import_roll, read_roll
from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.activation import activate_member, reissue_activation_code
from core.identity.models import ActivationCode, Member
from core.identity.passwords import verify_password
from tests.admin.test_import import GRID_A, counts, csv_bytes
from tests.factories import next_phone
from tests.points.test_ledger_concurrency import run_at_once
from tests.rewards.conftest import person
from tests.support.pages import csrf_token

NEW_PASSWORD = "a new password"


def imported(app, world, how_many: int = 1) -> list[dict]:
    """Import members through the roll import; answer their phones and codes."""
    with app.app_context():
        rows = [[f"村民{index}", next_phone(), GRID_A, ""] for index in range(how_many)]
        _checked, slips, _expires = import_roll(
            person(world, "organiser"), read_roll("roll.csv", csv_bytes(rows))
        )
        return [{"phone": row[1], "code": slip["code"]} for row, slip in zip(rows, slips, strict=True)]


def activate(client, phone: str, code: str, password: str = NEW_PASSWORD):
    return client.post("/api/v1/auth/activate", json={"phone": phone, "code": code, "password": password})


def test_a_code_sets_the_first_password_signs_in_and_works_once(app, client, world):
    member = imported(app, world)[0]
    answer = activate(client, member["phone"], member["code"].lower())
    assert answer.status_code == 201, answer.get_json()
    token = answer.get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    signed = client.post("/api/v1/auth/tokens", json={"phone": member["phone"], "password": NEW_PASSWORD})
    assert signed.status_code == 201
    again = activate(client, member["phone"], member["code"], "another password")
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    with app.app_context():
        stored = db.session.scalar(sa.select(Member).where(Member.phone == member["phone"]))
        assert verify_password(stored.password_hash, NEW_PASSWORD)
        assert not verify_password(stored.password_hash, "another password")


def test_a_wrong_code_or_phone_is_refused_clearly_and_changes_nothing(app, client, world):
    first, second = imported(app, world, 2)
    with app.app_context():
        before = counts()
    for phone, code in (
        (first["phone"], second["code"]),
        (first["phone"], "AAAAAAAA"),
        (next_phone(), first["code"]),
        (first["phone"], "not a code at all"),
    ):
        answer = activate(client, phone, code)
        assert answer.status_code == 400, (phone, code, answer.get_json())
        assert answer.get_json()["code"] == "invalid_code"
        assert answer.get_json()["errors"] == {"code": ["is not correct"]}
    short = activate(client, first["phone"], first["code"], "short")
    assert short.status_code == 422 and "password" in short.get_json()["errors"]
    with app.app_context():
        assert counts() == before
        assert (
            db.session.scalar(sa.select(Member.password_hash).where(Member.phone == first["phone"])) is None
        )


def test_an_expired_code_is_refused_with_410(app, world):
    member = imported(app, world)[0]
    with app.app_context():
        later = utcnow() + timedelta(days=app.config["ACTIVATION_CODE_TTL_DAYS"], seconds=1)
        with pytest.raises(AppError) as refused:
            activate_member(member["phone"], member["code"], NEW_PASSWORD, now=later)
        assert (refused.value.status, refused.value.code) == (410, "expired")
        db.session.rollback()
        nearly = utcnow() + timedelta(days=app.config["ACTIVATION_CODE_TTL_DAYS"]) - timedelta(minutes=1)
        assert activate_member(member["phone"], member["code"], NEW_PASSWORD, now=nearly).password_hash


def test_failed_activations_are_rate_limited_per_phone(app, client, world):
    member = imported(app, world)[0]
    for _ in range(5):
        assert activate(client, member["phone"], "AAAAAAAA").status_code == 400
    blocked = activate(client, member["phone"], member["code"])
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_a_reissued_code_replaces_the_old_one_and_only_in_scope(app, client, world):
    member = imported(app, world)[0]
    with app.app_context():
        target = db.session.scalar(sa.select(Member).where(Member.phone == member["phone"]))
        with pytest.raises(AppError) as refused:
            reissue_activation_code(person(world, "grid_worker_b"), target)
        assert refused.value.status == 403
        code, expires_at = reissue_activation_code(person(world, "organiser"), target)
        assert expires_at > utcnow() + timedelta(days=29)
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(ActivationCode)
                .where(ActivationCode.member_id == target.id, ActivationCode.revoked_at.is_(None))
            )
            == 1
        )
    assert activate(client, member["phone"], member["code"]).status_code == 400
    assert activate(client, member["phone"], code).status_code == 201


def test_two_activations_of_one_code_at_once_set_one_password(app, world):
    member = imported(app, world)[0]
    outcomes = run_at_once(
        app,
        [
            lambda index=index: activate_member(member["phone"], member["code"], f"password number {index}")
            for index in range(4)
        ],
    )
    assert outcomes == Counter({"ok": 1, "invalid_state": 3})
    with app.app_context():
        used = db.session.scalars(sa.select(ActivationCode.used_at)).all()
        assert sum(value is not None for value in used) == 1


def test_the_activate_page_sets_the_password_and_signs_in(app, world):
    member = imported(app, world)[0]
    browser = app.test_client()
    page = browser.get("/activate")
    assert page.status_code == 200 and "激活账号" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    wrong = browser.post(
        "/activate",
        data={
            "csrf_token": token,
            "phone": member["phone"],
            "code": "AAAAAAAA",
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400 and "手机号或激活码不正确" in wrong.get_data(as_text=True)
    done = browser.post(
        "/activate",
        data={
            "csrf_token": token,
            "phone": member["phone"],
            "code": member["code"],
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert browser.get("/account").status_code == 200
