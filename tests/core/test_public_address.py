"""The address inside QR codes never comes from an unchecked Host header: production requires
PUBLIC_BASE_URL; elsewhere the request's host must be one of TRUSTED_HOSTS (400 otherwise)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from core.config import ConfigError
from core.database import utcnow
from core.extensions import db
from points import events
from tests.conftest import dispose, make_app
from tests.factories import build_world, make_activity
from tests.rewards.conftest import person

PUBLIC = "https://points.example.gov.cn"


def event_in(app) -> tuple[int, dict]:
    """An event running now, and the organiser's bearer headers."""
    with app.app_context():
        world = build_world()
        make_activity("publicity", points=5)
        event = events.create_event(
            person(world, "organiser"),
            "宣传日",
            "publicity",
            world.units["town_a"],
            utcnow() - timedelta(hours=1),
            utcnow() + timedelta(hours=1),
        )
        return event.id, world.headers["organiser"]


@pytest.mark.parametrize("host", ["evil_host", "evil.example", "evil.example:8000", "localhost.evil.example"])
@pytest.mark.parametrize(
    "path", ["/api/v1/events/{id}", "/api/v1/events/{id}/qr.svg", "/api/v1/events/{id}/poster.png"]
)
def test_an_untrusted_host_is_refused_before_anything_is_signed(app, host, path):
    event_id, headers = event_in(app)
    response = app.test_client().get(path.format(id=event_id), headers={**headers, "Host": host})
    assert response.status_code == 400 and response.get_json()["code"] == "bad_request"


def test_a_trusted_host_builds_the_codes_of_local_development(app):
    event_id, headers = event_in(app)
    response = app.test_client().get(
        f"/api/v1/events/{event_id}", headers={**headers, "Host": "127.0.0.1:8000"}
    )
    assert response.status_code == 200 and response.get_json()["checkin_url"].startswith(
        "HTTP://127.0.0.1:8000/E/"
    )


def test_the_public_address_wins_over_any_host_and_its_host_is_trusted(database_url):
    app = make_app(database_url, PUBLIC_BASE_URL=PUBLIC)
    try:
        event_id, headers = event_in(app)
        client = app.test_client()
        for host in ("localhost", "points.example.gov.cn"):
            body = client.get(f"/api/v1/events/{event_id}", headers={**headers, "Host": host}).get_json()
            assert body["checkin_url"].startswith("HTTPS://POINTS.EXAMPLE.GOV.CN/E/")
    finally:
        dispose(app)


def test_in_production_no_host_header_ever_reaches_a_signed_payload(database_url):
    app = make_app(
        database_url, APP_ENV="production", SECRET_KEY=secrets.token_urlsafe(48), PUBLIC_BASE_URL=PUBLIC
    )
    try:
        event_id, headers = event_in(app)
        response = app.test_client().get(
            f"/api/v1/events/{event_id}", headers={**headers, "Host": "evil.example"}
        )
        assert response.status_code == 200
        assert "EVIL" not in response.get_json()["checkin_url"]
        assert response.get_json()["checkin_url"].startswith("HTTPS://POINTS.EXAMPLE.GOV.CN/E/")
    finally:
        dispose(app)


@pytest.mark.parametrize(
    "url", ["points.example.gov.cn", "ftp://points.example.gov.cn", "https://", "https://x/?a=1"]
)
def test_a_public_address_that_is_no_web_address_is_refused_at_start(tmp_path, url):
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        make_app(f"sqlite:///{tmp_path}/p.db", PUBLIC_BASE_URL=url)


def test_without_a_public_address_the_hosts_must_be_checked(tmp_path):
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        make_app(f"sqlite:///{tmp_path}/p.db", TRUSTED_HOSTS=None)


def test_trusted_hosts_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUSTED_HOSTS", "points.lan, .village.lan")
    app = make_app(f"sqlite:///{tmp_path}/p.db")
    assert app.config["TRUSTED_HOSTS"] == ["points.lan", ".village.lan"]
    with app.app_context():
        db.create_all()
    assert app.test_client().get("/", headers={"Host": "a.village.lan"}).status_code == 200
    assert app.test_client().get("/", headers={"Host": "localhost"}).status_code == 400
    dispose(app)
