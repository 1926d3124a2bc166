"""The health check tells a load balancer whether the database answers."""

from tests.conftest import dispose, make_app


def test_healthz_is_503_in_the_error_shape_when_the_database_does_not_answer(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/app.db")
    try:
        response = app.test_client().get("/healthz")
    finally:
        dispose(app)
    assert response.status_code == 503
    assert response.get_json()["code"] == "unavailable"


def test_healthz_says_ok_and_where_failures_are_counted(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "failure_store": "database"}


def read_only(database_url: str) -> str:
    """The same database, opened so that it answers reads and refuses every write."""
    if database_url.startswith("sqlite:///"):
        return f"sqlite:///file:{database_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return database_url + "?options=-c%20default_transaction_read_only%3Don"


def test_healthz_is_503_naming_the_database_when_it_answers_but_refuses_writes(app, database_url):
    with app.app_context():  # the database was written to: it exists, with its tables
        assert app.test_client().get("/healthz").status_code == 200
    frozen = make_app(read_only(database_url))
    try:
        response = frozen.test_client().get("/healthz")
        refused = frozen.test_client().post(
            "/api/v1/auth/tokens", json={"phone": "13800000000", "password": "x"}
        )
    finally:
        dispose(frozen)
    body = response.get_json()
    assert response.status_code == 503 and body["code"] == "unavailable"
    assert list(body["errors"]) == ["database"] and body["errors"]["database"][0].startswith(
        "does not accept writes"
    )
    assert refused.status_code == 503  # as every write does, which is why the health check must say so


def test_healthz_names_the_failure_store_when_redis_does_not_answer(database_url):
    app = make_app(database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_ENABLED=False)
    try:
        response = app.test_client().get("/healthz")
    finally:
        dispose(app)
    assert response.status_code == 503
    assert list(response.get_json()["errors"]) == ["failure_store"]
