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
