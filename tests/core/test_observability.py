"""Request ids, the JSON access log, and the Prometheus metrics page."""

import json
import logging

import pytest

from core.observability import ACCESS_LOGGER
from tests.conftest import dispose, make_app

METRICS_TOKEN = "scraper-token-of-this-test"


@pytest.fixture
def logged_app(database_url):
    """An app that writes its access log and serves metrics to ``METRICS_TOKEN``."""
    application = make_app(database_url, ACCESS_LOG=True, METRICS_TOKEN=METRICS_TOKEN)
    yield application
    dispose(application)


@pytest.fixture
def access_lines(logged_app, caplog):
    """The access log's records, as the dicts the JSON formatter writes."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    formatter = logger.handlers[0].formatter

    def lines():
        return [
            json.loads(formatter.format(record)) for record in caplog.records if record.name == ACCESS_LOGGER
        ]

    yield lines
    logger.removeHandler(caplog.handler)


def test_every_answer_carries_a_request_id_and_keeps_a_sane_one_from_the_caller(logged_app):
    client = logged_app.test_client()
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert (
        client.get("/healthz", headers={"X-Request-ID": "lb-1234abcd"}).headers["X-Request-ID"]
        == "lb-1234abcd"
    )
    forged = client.get("/healthz", headers={"X-Request-ID": '" INJECTED {}'}).headers["X-Request-ID"]
    assert len(forged) == 32 and "INJECTED" not in forged


def test_the_access_log_is_one_json_line_naming_the_route_and_the_member(logged_app, access_lines):
    from core.extensions import db
    from tests.factories import auth, make_member

    with logged_app.app_context():
        member = make_member("日志")
        headers = auth(member)
        member_id = member.id
        db.session.remove()
    client = logged_app.test_client()
    client.get("/api/v1/me", headers={**headers, "X-Request-ID": "req-0000001"})
    client.get("/V/SECRETPAYLOADTHATMUSTNOTBELOGGED")

    me, voucher = access_lines()[-2:]
    assert me["request_id"] == "req-0000001"
    assert me["route"] == "/api/v1/me" and me["status"] == 200 and me["method"] == "GET"
    assert me["member_id"] == member_id and me["latency_ms"] >= 0
    assert voucher["route"] == "/V/<token>"
    assert "SECRETPAYLOAD" not in json.dumps(voucher)


def test_metrics_need_the_scrapers_token(logged_app):
    client = logged_app.test_client()
    client.get("/healthz")
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert 'pingan_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text
    assert "pingan_http_request_duration_seconds_bucket" in text


def test_there_is_no_metrics_page_without_a_token_configured(client):
    assert client.get("/metrics").status_code == 404
