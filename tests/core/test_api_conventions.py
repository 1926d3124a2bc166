"""The API's conventions: one error shape for every failure, pagination, body limits, OpenAPI."""

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from openapi_spec_validator import validate

from core.api import MAX_ID, PageQuerySchema, page_schema, paginate
from core.errors import AppError

probe = Blueprint("probe", __name__, url_prefix="/api/v1/probe")


class EchoSchema(ma.Schema):
    name = ma.fields.String(required=True)
    count = ma.fields.Integer(required=True)


class NumberSchema(ma.Schema):
    n = ma.fields.Integer()


@probe.route("/echo")
class Echo(MethodView):
    @probe.arguments(EchoSchema)
    @probe.response(201, EchoSchema)
    def post(self, body):
        """Echo a valid body."""
        return body


@probe.get("/boom")
def boom():
    """Fail unexpectedly."""
    raise RuntimeError("secret internals: /srv/pingan/db.py line 12")


@probe.get("/refuse")
def refuse():
    """Refuse with a domain code."""
    raise AppError(409, "insufficient_points", "Not enough points.", {"points": ["need 30"]})


@probe.get("/aborted")
def aborted():
    """Stop with flask-smorest's own ``abort``."""
    abort(409, message="taken")


@probe.get("/items/<id:item>")
def item(item):
    """Answer the id in the path."""
    return {"item": item}


@probe.get("/numbers")
@probe.arguments(PageQuerySchema, location="query")
@probe.response(200, page_schema(NumberSchema))
def numbers(query):
    """List numbers one page at a time."""
    statement = sa.select(sa.literal(1).label("n")).union_all(
        *[sa.select(sa.literal(i).label("n")) for i in range(2, 46)]
    )
    page = paginate(sa.select(statement.subquery().c.n), **query)
    page["items"] = [{"n": n} for n in page["items"]]
    return page


@pytest.fixture
def client(app):
    app.extensions["api"].register_blueprint(probe)
    return app.test_client()


def assert_error(response, status, code):
    """Check the contract's error shape, status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == code
    assert body["status"] == status
    assert body["message"]
    assert isinstance(body["errors"], dict)
    return body


def test_a_valid_body_is_accepted(client):
    response = client.post("/api/v1/probe/echo", json={"name": "张三", "count": 2})
    assert response.status_code == 201
    assert response.get_json() == {"name": "张三", "count": 2}


def test_malformed_json_is_a_bad_request(client):
    response = client.post("/api/v1/probe/echo", data='{"name": ', content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_a_body_that_is_not_json_is_refused_with_415(client):
    response = client.post(
        "/api/v1/probe/echo", data="name=x&count=1", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_missing_and_wrongly_typed_fields_are_listed(client):
    response = client.post("/api/v1/probe/echo", json={"count": "many"})
    body = assert_error(response, 422, "validation_error")
    assert set(body["errors"]) == {"name", "count"}
    assert all(isinstance(problems, list) for problems in body["errors"].values())


def test_a_body_over_one_megabyte_is_refused_with_413(client):
    response = client.post(
        "/api/v1/probe/echo", data="[" + "1," * 600_000 + "1]", content_type="application/json"
    )
    assert_error(response, 413, "payload_too_large")


def test_an_unknown_route_is_404_in_the_error_shape(client):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_a_wrong_method_is_405_and_says_which_are_allowed(client):
    response = client.delete("/api/v1/probe/echo")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_error_is_500_without_a_stack_trace(client):
    response = client.get("/api/v1/probe/boom")
    body = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
    assert body["errors"] == {}


def test_a_domain_refusal_keeps_its_code_and_field_errors(client):
    body = assert_error(client.get("/api/v1/probe/refuse"), 409, "insufficient_points")
    assert body["errors"] == {"points": ["need 30"]}


def test_lists_answer_items_page_page_size_and_total(client):
    body = client.get("/api/v1/probe/numbers?page=3&page_size=20").get_json()
    assert body["page"] == 3 and body["page_size"] == 20 and body["total"] == 45
    assert [item["n"] for item in body["items"]] == [41, 42, 43, 44, 45]


@pytest.mark.parametrize("query", ["page_size=101", "page=0", "page_size=abc"])
def test_page_size_is_at_most_100_and_pages_start_at_1(client, query):
    assert_error(client.get(f"/api/v1/probe/numbers?{query}"), 422, "validation_error")


def test_the_openapi_document_is_valid_and_documents_the_error_shape(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {
        "code",
        "status",
        "message",
        "errors",
    }
    assert "/api/v1/probe/echo" in spec["paths"]


def test_the_api_docs_page_is_served_locally_without_inline_script(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    assert "<script>" not in html
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/js/api-docs.js"):
        assert asset in html
        assert client.get(asset).status_code == 200


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


@probe.get("/locked")
def locked():
    """Fail as SQLite does when the write lock stays taken past the busy timeout."""
    import sqlite3

    raise sa.exc.OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))


def test_a_locked_database_is_a_503_with_retry_after_one_second_never_a_500(client):
    response = client.get("/api/v1/probe/locked")
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"


@probe.get("/server-gone")
def server_gone():
    """Fail as a write does when the database server restarts under it."""
    raise sa.exc.OperationalError(
        "INSERT x", {}, Exception("terminating connection due to administrator command")
    )


def test_a_connection_that_cannot_even_roll_back_is_thrown_away_and_answered_503(client, monkeypatch):
    from core.extensions import db

    def rollback_on_a_broken_connection():
        raise sa.exc.OperationalError("ROLLBACK", {}, Exception("cannot exit pipeline mode while busy"))

    thrown_away = []
    monkeypatch.setattr(db.session, "rollback", rollback_on_a_broken_connection)
    monkeypatch.setattr(sa.orm.Session, "invalidate", lambda _session: thrown_away.append(True))
    response = client.get("/api/v1/probe/server-gone")
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5" and thrown_away == [True]


def test_flask_smorests_own_abort_is_answered_in_the_contracts_shape(client):
    """core.errors' handler for HTTPException replaces the one flask-smorest registers."""
    assert_error(client.get("/api/v1/probe/aborted"), 409, "conflict")


def test_ids_in_paths_are_bounded_and_flasks_int_converter_is_left_alone(client, app):
    """``<id:…>`` matches what the databases hold; every route uses it rather than plain ``int``."""
    assert client.get(f"/api/v1/probe/items/{MAX_ID}").get_json() == {"item": MAX_ID}
    assert_error(client.get(f"/api/v1/probe/items/{MAX_ID + 1}"), 404, "not_found")
    assert app.url_map.converters["int"] is not app.url_map.converters["id"]
    plain = [rule.rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]
    assert plain == [], "use <id:…> for ids in paths"
