"""Idempotency keys: a retried POST answers its first result and posts nothing new (invariant 4)."""

import io
import threading
import time
from datetime import timedelta

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import accepts_uploads
from core.audit import AuditEntry, record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.idempotency import (
    HEADER,
    REPLAYED_HEADER,
    IdempotencyKey,
    idempotent,
    init_idempotency_cli,
    purge_idempotency_keys,
)
from core.identity.auth import current_member
from tests.conftest import dispose, make_app

GIFT, PING, UPLOAD = "probe.gift", "probe.ping", "probe.upload"
PREFIX = "/api/v1/idempotency-probe"
GIFTS = f"{PREFIX}/accounts/1/gifts"
THREADS = 8

probe = Blueprint("idempotency_probe", __name__, url_prefix=PREFIX)


class GiftSchema(ma.Schema):
    points = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    note = ma.fields.String(load_default="")


class GiftResultSchema(ma.Schema):
    id = ma.fields.Integer()
    account = ma.fields.Integer()
    points = ma.fields.Integer()
    runs = ma.fields.Integer()


@probe.route("/accounts/<id:account>/gifts")
class Gifts(MethodView):
    @probe.arguments(GiftSchema)
    @idempotent
    @probe.response(201, GiftResultSchema)
    def post(self, body, account):
        """Give points: writes one audit entry per run, refuses more than 100."""
        member = current_member()
        time.sleep(current_app.config.get("PROBE_DELAY", 0))  # long enough for retries to overlap
        begin_writing(db.session)
        entry = record_audit(member, GIFT, None, after={"account": account, **body})
        db.session.flush()
        # Both failures come after a write in the open transaction: nothing of it may stay.
        if body["points"] > 100:
            raise AppError(409, "insufficient_points", "Not enough points.", {"points": ["at most 100"]})
        if current_app.config.get("PROBE_FAIL"):
            raise RuntimeError("the disk is full")
        db.session.commit()
        return {"id": entry.id, "account": account, "points": body["points"], "runs": written(GIFT)}


@probe.post("/pings")
@idempotent
@probe.response(204)
def ping():
    """Record a ping and answer 204 (no body)."""
    member = current_member()
    begin_writing(db.session)
    record_audit(member, PING, None)
    db.session.commit()


@probe.post("/uploads")
@accepts_uploads
@idempotent
def upload():
    """Keep the name of an uploaded photo (multipart, no schema)."""
    member = current_member()
    begin_writing(db.session)
    entry = record_audit(member, UPLOAD, None, after={"name": request.files["photo"].filename})
    db.session.commit()
    return {"id": entry.id}, 201


def with_probe(app):
    """Register the probe endpoints on an app."""
    app.extensions["api"].register_blueprint(probe)
    return app


@pytest.fixture
def client(app):
    return with_probe(app).test_client()


def written(action: str = GIFT) -> int:
    """Count the audit entries one probe action wrote (inside an app context)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    )


def count(app, action: str = GIFT) -> int:
    """Count the entries one probe action wrote, from outside any request."""
    with app.app_context():
        return written(action)


def stored_keys(app) -> list[tuple[str, str]]:
    """List the stored keys as (key, state)."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(IdempotencyKey.key, IdempotencyKey.state).order_by(IdempotencyKey.id)
            )
        ]


def change_key(app, key: str, **values) -> None:
    """Change a stored key's row directly (to stage an unfinished or an old claim)."""
    with app.app_context():
        db.session.execute(sa.update(IdempotencyKey).where(IdempotencyKey.key == key).values(**values))
        db.session.commit()


def post_gift(client, headers, key=None, body=None, path=GIFTS):
    """Post a gift, with an idempotency key when one is given."""
    headers = dict(headers)
    if key is not None:
        headers[HEADER] = key
    return client.post(path, json={"points": 5} if body is None else body, headers=headers)


def assert_error(response, status, code):
    """Check the contract's error shape, status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code and body["status"] == status and body["message"]
    return body


def test_a_retry_replays_the_first_answer_and_writes_nothing(app, client, world):
    first = post_gift(client, world.headers["resident"], key="k-1")
    retry = post_gift(client, world.headers["resident"], key="k-1")
    assert first.status_code == 201 and REPLAYED_HEADER not in first.headers
    assert retry.status_code == 201 and retry.headers[REPLAYED_HEADER] == "true"
    assert retry.get_data() == first.get_data()
    assert retry.mimetype == "application/json"
    assert first.get_json()["runs"] == 1
    assert count(app) == 1
    assert stored_keys(app) == [("k-1", "done")]


def test_the_same_body_with_keys_in_another_order_and_spacing_is_a_retry(app, client, world):
    headers = {**world.headers["resident"], HEADER: "k-1", "Content-Type": "application/json"}
    first = client.post(GIFTS, data='{"points": 5, "note": "巡逻"}', headers=headers)
    retry = client.post(GIFTS, data='{ "note":"巡逻","points":5 }', headers=headers)
    assert retry.headers[REPLAYED_HEADER] == "true"
    assert retry.get_data() == first.get_data()
    assert count(app) == 1


def test_the_same_key_with_another_body_is_an_idempotency_conflict(app, client, world):
    first = post_gift(client, world.headers["resident"], key="k-1", body={"points": 5})
    conflict = post_gift(client, world.headers["resident"], key="k-1", body={"points": 6})
    body = assert_error(conflict, 422, "idempotency_conflict")
    assert HEADER in body["errors"]
    assert count(app) == 1
    retry = post_gift(client, world.headers["resident"], key="k-1", body={"points": 5})
    assert retry.get_data() == first.get_data()


def test_another_member_with_the_same_key_runs_on_its_own(app, client, world):
    mine = post_gift(client, world.headers["resident"], key="shared")
    theirs = post_gift(client, world.headers["villager"], key="shared")
    assert mine.status_code == theirs.status_code == 201
    assert REPLAYED_HEADER not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert count(app) == 2


def test_another_path_with_the_same_key_runs_on_its_own(app, client, world):
    one = post_gift(client, world.headers["resident"], key="shared", path=f"{PREFIX}/accounts/1/gifts")
    two = post_gift(client, world.headers["resident"], key="shared", path=f"{PREFIX}/accounts/2/gifts")
    assert one.status_code == two.status_code == 201
    assert REPLAYED_HEADER not in two.headers
    assert two.get_json()["account"] == 2
    assert count(app) == 2


def test_a_refusal_is_stored_and_the_retry_gets_the_same_refusal(app, client, world):
    first = post_gift(client, world.headers["resident"], key="k-1", body={"points": 500})
    assert assert_error(first, 409, "insufficient_points")["errors"] == {"points": ["at most 100"]}
    retry = post_gift(client, world.headers["resident"], key="k-1", body={"points": 500})
    assert retry.status_code == 409 and retry.headers[REPLAYED_HEADER] == "true"
    assert retry.get_data() == first.get_data()
    assert count(app) == 0  # the refused run's write was rolled back
    assert stored_keys(app) == [("k-1", "done")]


def test_an_unexpected_failure_frees_the_key_for_a_retry(app, client, world):
    app.config["PROBE_FAIL"] = True
    failed = post_gift(client, world.headers["resident"], key="k-1")
    assert_error(failed, 500, "internal_error")
    assert stored_keys(app) == [] and count(app) == 0
    app.config["PROBE_FAIL"] = False
    retry = post_gift(client, world.headers["resident"], key="k-1")
    assert retry.status_code == 201 and REPLAYED_HEADER not in retry.headers
    assert count(app) == 1


def test_requests_without_the_header_run_every_time(app, client, world):
    answers = [post_gift(client, world.headers["resident"]) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert all(REPLAYED_HEADER not in answer.headers for answer in answers)
    assert [answer.get_json()["runs"] for answer in answers] == [1, 2]
    assert stored_keys(app) == []


@pytest.mark.parametrize(
    "key",
    ["", "x" * 101, "clé", "tab\tkey"],
    ids=["empty", "101-characters", "not-ascii", "control-character"],
)
def test_a_malformed_key_is_refused_with_422_naming_the_header(app, client, world, key):
    body = assert_error(post_gift(client, world.headers["resident"], key=key), 422, "validation_error")
    assert HEADER in body["errors"]
    assert count(app) == 0 and stored_keys(app) == []


def test_a_key_of_100_printable_characters_is_accepted(app, client, world):
    key = "".join(chr(code) for code in range(0x21, 0x7F)) + " 12345"
    assert len(key) == 100
    assert post_gift(client, world.headers["resident"], key=key).status_code == 201
    assert stored_keys(app) == [(key, "done")]


def test_a_malformed_key_is_refused_before_the_caller_is_asked_for(client):
    assert_error(post_gift(client, {}, key="x" * 101), 422, "validation_error")
    assert_error(post_gift(client, {}, key="k-1"), 401, "unauthorized")


def test_a_body_that_fails_validation_claims_no_key(app, client, world):
    invalid = post_gift(client, world.headers["resident"], key="k-1", body={"points": 0})
    assert_error(invalid, 422, "validation_error")
    assert stored_keys(app) == []
    valid = post_gift(client, world.headers["resident"], key="k-1", body={"points": 5})
    assert valid.status_code == 201 and REPLAYED_HEADER not in valid.headers


def test_a_retry_while_the_first_still_runs_is_refused_with_request_in_progress(app, client, world):
    post_gift(client, world.headers["resident"], key="k-1")
    change_key(app, "k-1", state="in_progress", response_status=None, response_body=None)
    retry = post_gift(client, world.headers["resident"], key="k-1")
    assert assert_error(retry, 409, "request_in_progress")["errors"] == {}
    assert count(app) == 1


def test_an_unfinished_claim_older_than_five_minutes_stays_refused_as_of_unknown_outcome(app, client, world):
    post_gift(client, world.headers["resident"], key="k-1")
    change_key(app, "k-1", state="in_progress", response_status=None, response_body=None)
    fresh = post_gift(client, world.headers["resident"], key="k-1")
    change_key(app, "k-1", created_at=utcnow() - timedelta(minutes=6))
    stale = post_gift(client, world.headers["resident"], key="k-1")
    # Waiting will not help: the answer says so, and the key is never taken over.
    assert HEADER in assert_error(stale, 409, "request_in_progress")["errors"]
    assert stale.get_json()["message"] != fresh.get_json()["message"]
    assert count(app) == 1
    assert stored_keys(app) == [("k-1", "in_progress")]


def test_a_view_function_answering_204_is_replayed_too(app, client, world):
    headers = {**world.headers["resident"], HEADER: "ping-1"}
    first = client.post(f"{PREFIX}/pings", headers=headers)
    retry = client.post(f"{PREFIX}/pings", headers=headers)
    assert first.status_code == retry.status_code == 204
    assert retry.headers[REPLAYED_HEADER] == "true" and retry.get_data() == first.get_data()
    assert count(app, PING) == 1


def test_a_multipart_upload_is_compared_by_its_fields_and_files_not_its_boundary(app, client, world):
    headers = {**world.headers["resident"], HEADER: "photo-1"}

    def send(content: bytes):
        return client.post(
            f"{PREFIX}/uploads",
            headers=headers,
            content_type="multipart/form-data",
            data={"photo": (io.BytesIO(content), "patrol.jpg")},
        )

    first = send(b"\xff\xd8 the same photo")
    retry = send(b"\xff\xd8 the same photo")  # werkzeug picks a new boundary every time
    assert first.status_code == 201
    assert retry.headers[REPLAYED_HEADER] == "true" and retry.get_data() == first.get_data()
    assert_error(send(b"\xff\xd8 another photo"), 422, "idempotency_conflict")
    assert count(app, UPLOAD) == 1


def test_purge_removes_only_keys_older_than_24_hours(app, client, world):
    for key in ("old", "recent", "new"):
        post_gift(client, world.headers["resident"], key=key)
    change_key(app, "old", created_at=utcnow() - timedelta(hours=25))
    change_key(app, "recent", created_at=utcnow() - timedelta(hours=23))
    with app.app_context():
        assert purge_idempotency_keys() == 1
    assert [key for key, _state in stored_keys(app)] == ["recent", "new"]
    retry = post_gift(client, world.headers["resident"], key="old")
    assert REPLAYED_HEADER not in retry.headers  # a purged key is free again


def test_purge_keeps_every_key_at_least_24_hours(app, runner):
    with app.app_context(), pytest.raises(ValueError):
        purge_idempotency_keys(timedelta(hours=1))
    init_idempotency_cli(app)
    result = runner.invoke(args=["idempotency", "purge", "--older-than-hours", "1"])
    assert result.exit_code != 0


def test_flask_idempotency_purge_deletes_keys_older_than_24_hours(app, client, runner, world):
    for key in ("old", "new"):
        post_gift(client, world.headers["resident"], key=key)
    change_key(app, "old", created_at=utcnow() - timedelta(days=2))
    init_idempotency_cli(app)
    result = runner.invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 " in result.output
    assert [key for key, _state in stored_keys(app)] == ["new"]


def test_the_openapi_document_shows_the_header_and_keeps_the_body(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"][f"{PREFIX}/accounts/{{account}}/gifts"]["post"]
    header = next(p for p in operation["parameters"] if p["in"] == "header")
    assert header["name"] == HEADER and header["required"] is False
    assert header["schema"]["maxLength"] == 100
    assert "application/json" in operation["requestBody"]["content"]
    assert {"201", "409", "422"} <= set(operation["responses"])


def test_decorated_views_say_they_honour_the_header(app, client):
    view = app.view_functions["idempotency_probe.Gifts"].view_class.post
    assert view.is_idempotent
    assert app.view_functions["idempotency_probe.ping"].is_idempotent


def test_simultaneous_first_requests_with_one_key_post_once(app, world, database_url):
    # Separate apps (each with its own engine and pool) stand for separate workers.
    apps = [with_probe(make_app(database_url, PROBE_DELAY=0.3)) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    answers: list = [None] * THREADS
    failures: list = []

    def send(index: int) -> None:
        try:
            client = apps[index].test_client()
            barrier.wait(timeout=30)
            answers[index] = post_gift(client, world.headers["resident"], key="race")
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for each in apps:
            dispose(each)
    assert not failures, failures
    firsts = [a for a in answers if a.status_code == 201 and REPLAYED_HEADER not in a.headers]
    assert len(firsts) == 1, [(a.status_code, a.get_data(as_text=True)) for a in answers]
    others = [a for a in answers if a is not firsts[0]]
    for answer in others:
        if answer.status_code == 201:
            assert answer.headers[REPLAYED_HEADER] == "true"
            assert answer.get_data() == firsts[0].get_data()
        else:
            assert_error(answer, 409, "request_in_progress")
    assert any(answer.status_code == 409 for answer in others)  # the requests did overlap
    assert count(app) == 1
    retry = post_gift(with_probe(app).test_client(), world.headers["resident"], key="race")
    assert retry.headers[REPLAYED_HEADER] == "true" and retry.get_data() == firsts[0].get_data()
