"""JSON that Python would read but no client means: a clear 4xx in the contract's shape, nothing
written, nothing in the error log — the same on both engines."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.identity.models import Member


def member_body(world, name='"新居民"', phone='"13912345678"', unit=None) -> str:
    return (
        f'{{"name": {name}, "phone": {phone}, "password": "a-good-password", '
        f'"org_unit_id": {unit if unit is not None else world.units["grid_a"]}}}'
    )


def send(client, world, raw: str, path="/api/v1/members"):
    return client.post(
        path,
        data=raw.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        headers=world.headers["organiser"],
    )


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Member))


@pytest.mark.parametrize(
    "raw, status, code",
    [
        pytest.param(
            lambda w: member_body(w, name='"\\ud800"'), 400, "bad_request", id="lone surrogate escaped"
        ),
        pytest.param(
            lambda w: member_body(w, name='"a\\udfffb"'), 400, "bad_request", id="lone low surrogate"
        ),
        pytest.param(lambda w: "[" * 5000 + "]" * 5000, 400, "bad_request", id="5,000 levels"),
        pytest.param(lambda w: '{"name": ' + "[" * 40 + "]" * 40 + "}", 400, "bad_request", id="40 levels"),
        pytest.param(
            lambda w: member_body(w, unit="9" * 5000), 422, "validation_error", id="5,000-digit integer"
        ),
        pytest.param(
            lambda w: member_body(w, unit="-" + "9" * 60), 422, "validation_error", id="60-digit integer"
        ),
        pytest.param(
            lambda w: member_body(w, unit="1" + "0" * 60 + ".5"), 422, "validation_error", id="long decimal"
        ),
        pytest.param(
            lambda w: member_body(w, name='"a\\u0000b"'), 422, "validation_error", id="NUL in a value"
        ),
        pytest.param(lambda w: '{"na\\u0000me": 1}', 422, "validation_error", id="NUL in a key"),
        pytest.param(lambda w: member_body(w, unit="NaN"), 400, "bad_request", id="NaN"),
        pytest.param(lambda w: member_body(w, unit="-Infinity"), 400, "bad_request", id="Infinity"),
        pytest.param(lambda w: '{"name": "x",}', 400, "bad_request", id="trailing comma"),
    ],
)
def test_malformed_json_is_a_clear_4xx_and_writes_nothing(app, client, world, caplog, raw, status, code):
    before = count(app)
    with caplog.at_level(logging.ERROR):
        response = send(client, world, raw(world))
    body = response.get_json()
    assert (response.status_code, body["code"], body["status"]) == (status, code, status), body
    assert body["errors"] and count(app) == before
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_lone_surrogate_in_raw_bytes_is_not_json(client, world):
    response = client.post(
        "/api/v1/members",
        data=b'{"name": "\xed\xa0\x80"}',
        content_type="application/json",
        headers=world.headers["organiser"],
    )
    assert response.status_code == 400 and response.get_json()["code"] == "bad_request"


def test_a_nul_is_refused_before_it_could_reach_either_engine(client, world):
    response = send(client, world, member_body(world, name='"a\\u0000b"'))
    assert response.get_json()["errors"] == {"name": ["must not contain the NUL character"]}


def test_ordinary_unicode_and_escaped_pairs_still_pass(client, world):
    response = send(client, world, member_body(world, name='"\\u738b\\u00e9 \\ud83d\\ude00"'))
    assert response.status_code == 201 and response.get_json()["name"] == "王é 😀"
