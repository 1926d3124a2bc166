"""Idempotency keys: a retried POST that moves points or stock answers its first result.

A client that sends ``Idempotency-Key: <1–100 printable ASCII characters>`` with a
POST may send the same request again (a weak signal, a double tap) and gets the
first answer back, with ``Idempotent-Replayed: true``, while nothing runs twice.
Keys are scoped per member and per request path.

How a request with a key goes (``idempotent`` below):

1. *Claim*: insert the key in state ``in_progress`` and commit it at once, on a
   connection of its own, so that a concurrent retry sees it. The unique
   constraint (member_id, path, key) decides a race: exactly one insert wins on
   SQLite and PostgreSQL alike; a loser reads the winner's row.
2. *Run* the view; its services commit their work as usual.
3. *Store* the answer (status and the JSON body exactly as sent) and mark the key
   ``done``. An expected refusal (a 4xx, e.g. ``insufficient_points``) is stored
   too, so a retry gets the same refusal; a 5xx or an unexpected exception
   deletes the claim instead, so the client may simply try again.

A retry finds the row and answers by what it holds: another request body (a
SHA-256 over method, path, query and canonical body differs) → 422
``idempotency_conflict``; ``done`` → the stored answer; ``in_progress`` → 409
``request_in_progress`` (try again shortly).

The crash window, honestly: the work and the stored answer are two commits. A
process killed between them (or a failure to store the answer) leaves the key
``in_progress`` although the points may have moved. A retry is then refused with
409 rather than posted a second time — never a double posting, at the price of
an answer the client must look up (its ledger, its vouchers). A claim older than
``STALE_AFTER`` (5 minutes) is never taken over, because nobody can tell whether
its work committed: it stays refused with 409 ``request_in_progress``, now with
a message saying the outcome is unknown and to check before trying again with a
new key, and the claim's start under ``errors["Idempotency-Key"]``.
``flask idempotency purge`` removes it with every other key once it is older
than the 24 hours keys are kept; the key is then free again.

The answer's status and body are kept, not its headers (no endpoint that moves
points or stock sets any of its own); decorate JSON endpoints only. Page forms use
the same keys, claims and stored answers with a one-time form token in place of the
header (``core.form_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

import click
import sqlalchemy as sa
from flask import Flask, current_app, request
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import HTTPException

from core.database import begin_writing, utcnow
from core.errors import AppError, handle_app_error, handle_http_exception
from core.extensions import db
from core.identity.auth import current_member

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Printable ASCII, space included; HTTP strips spaces around a header value anyway.
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,100}")
#: How long keys are kept at least (``flask idempotency purge``): the purge never takes younger ones.
KEEP_HOURS = 24
KEEP_FOR = timedelta(hours=KEEP_HOURS)
#: After this, an unfinished claim is reported as of unknown outcome (it stays refused).
STALE_AFTER = timedelta(minutes=5)
IN_PROGRESS, DONE = "in_progress", "done"
#: Attempts to claim a key whose holder keeps freeing it (each a failed first request).
CLAIM_ATTEMPTS = 3
_IN_PROGRESS_MESSAGE = _l("A request with this Idempotency-Key is still running. Try again shortly.")


class IdempotencyKey(db.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_key"
    __table_args__ = (sa.UniqueConstraint("member_id", "path", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    path: Mapped[str] = mapped_column(sa.String(200))
    key: Mapped[str] = mapped_column(sa.String(100))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    #: in_progress while the first request runs; done once its answer is stored.
    state: Mapped[str] = mapped_column(sa.String(20), default="in_progress")
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@dataclass(frozen=True)
class _Claim:
    """A key as read at one moment; ``owned`` when this request has just claimed it."""

    id: int
    owned: bool
    request_hash: str
    state: str = IN_PROGRESS
    response_status: int | None = None
    response_body: str | None = None
    created_at: datetime | None = None


def idempotent(view):
    """Make a POST view honour an optional ``Idempotency-Key`` header.

    Place it between ``@blp.arguments`` and ``@blp.response``::

        @blp.arguments(ReviewSchema)
        @idempotent
        @blp.response(200, ContributionSchema)
        def post(self, body, contribution_id): ...

    ``@blp.arguments`` outside, so a malformed or invalid body is refused (400/422)
    before any key is claimed; ``@blp.response`` inside, so what is stored is the
    final response, dumped by the schema, byte for byte what the client got — and a
    replay returns before the view or the schema runs. Without ``@blp.arguments``
    (no body) it is the outermost of the two. Without the header the view runs as
    if undecorated.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _read_key()
        if key is None:
            return view(*args, **kwargs)
        member = current_member()
        digest = request_hash()
        claim = claim_key(member.id, request.path, key, digest)
        if not claim.owned:
            return _answer_retry(claim, digest)
        return run_claimed(claim, view, args, kwargs, _store)

    wrapper._apidoc = _documented(getattr(wrapper, "_apidoc", {}))
    wrapper.is_idempotent = True  # lets a test list the POSTs that honour the header
    return wrapper


def request_hash() -> str:
    """Return the SHA-256 of the request itself: method, path, query and canonical body."""
    parts: dict = {
        "method": request.method,
        "path": request.path,
        "query": sorted(request.args.items(multi=True)),
    }
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # By fields and file contents: a rebuilt multipart body has a new random boundary.
        parts["form"] = sorted(request.form.items(multi=True))
        parts["files"] = sorted(
            (name, upload.filename or "", _file_digest(upload.stream))
            for name, upload in request.files.items(multi=True)
        )
    else:
        body = request.get_json(silent=True) if request.is_json else None
        if body is not None:
            parts["json"] = body  # canonical below: key order and spacing do not count
        else:
            parts["data"] = hashlib.sha256(request.get_data()).hexdigest()
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))  # ASCII: lone surrogates too
    return hashlib.sha256(canonical.encode()).hexdigest()


def purge_idempotency_keys(older_than: timedelta = KEEP_FOR, *, now: datetime | None = None) -> int:
    """Delete idempotency keys created more than ``older_than`` ago; answer how many."""
    if older_than < KEEP_FOR:
        raise ValueError(f"idempotency keys are kept at least {KEEP_FOR}")
    cutoff = (now or utcnow()) - older_than
    begin_writing(db.session)
    result = db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    db.session.commit()
    return result.rowcount


def init_idempotency_cli(app: Flask) -> None:
    """Add ``flask idempotency purge`` to the app's command line."""
    group = AppGroup("idempotency", help="Keys of retried POST requests.")

    @group.command("purge")
    @click.option(
        "--older-than-hours",
        type=click.IntRange(min=KEEP_HOURS),
        default=KEEP_HOURS,
        show_default=True,
        help="Delete keys older than this many hours (at least 24).",
    )
    def purge(older_than_hours: int):
        """Delete idempotency keys older than 24 hours (or the hours given)."""
        count = purge_idempotency_keys(timedelta(hours=older_than_hours))
        click.echo(f"Deleted {count} idempotency keys older than {older_than_hours} hours.")

    app.cli.add_command(group)


def _read_key() -> str | None:
    """Return the request's idempotency key, None without one, or refuse a malformed one."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1 or not KEY_PATTERN.fullmatch(values[0]):
        raise AppError(
            422,
            "validation_error",
            errors={HEADER: ["must be one value of 1 to 100 printable ASCII characters"]},
        )
    return values[0]


def _file_digest(stream) -> str:
    """Return the SHA-256 of an uploaded file, leaving it readable from the start."""
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(64 * 1024), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def claim_key(member_id: int, path: str, key: str, request_hash: str) -> _Claim:
    """Claim the key for this request, or read the claim another request holds."""
    # The request's session has only read so far (the caller's token). On SQLite
    # that read snapshot would predate the claim's commit, and a view that then
    # writes without begin_writing() would fail with SQLITE_BUSY_SNAPSHOT.
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("@idempotent must run before anything is changed in the session")
    _end_request_transaction()
    for _attempt in range(CLAIM_ATTEMPTS):
        with Session(db.engine, expire_on_commit=False) as session:
            begin_writing(session)
            row = IdempotencyKey(
                member_id=member_id, path=path, key=key, request_hash=request_hash, state=IN_PROGRESS
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # taken: the unique constraint decided the race
            else:
                return _Claim(id=row.id, owned=True, request_hash=request_hash)
            existing = _read_claim(session, member_id, path, key)
            if existing is not None:
                return existing
        # The holder failed and freed the key between our insert and our read: claim again.
    raise AppError(409, "request_in_progress", _IN_PROGRESS_MESSAGE)


def read_claim(member_id: int, path: str, key: str) -> _Claim | None:
    """Read a key as it stands now (on a connection of its own, as a reader that never waits for
    SQLite's write lock), or None when nobody holds it."""
    with Session(db.engine) as session:
        return _read_claim(session, member_id, path, key)


def _read_claim(session: Session, member_id: int, path: str, key: str) -> _Claim | None:
    """Read a key held by another request, or None."""
    existing = session.scalar(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.member_id == member_id, IdempotencyKey.path == path, IdempotencyKey.key == key
        )
    )
    if existing is None:
        return None
    return _Claim(
        id=existing.id,
        owned=False,
        request_hash=existing.request_hash,
        state=existing.state,
        response_status=existing.response_status,
        response_body=existing.response_body,
        created_at=existing.created_at,
    )


def _answer_retry(claim: _Claim, request_hash: str):
    """Replay the stored answer, or refuse a different request or one still running."""
    if claim.request_hash != request_hash:
        raise AppError(
            422,
            "idempotency_conflict",
            _l("This Idempotency-Key was already used with a different request."),
            errors={HEADER: ["was used with a different request body"]},
        )
    if claim.state == DONE:
        response = current_app.response_class(
            claim.response_body or "", status=claim.response_status, mimetype="application/json"
        )
        response.headers[REPLAYED_HEADER] = "true"
        return response
    if claim.created_at is not None and utcnow() - claim.created_at > STALE_AFTER:
        # Never taken over: its work may have committed before the process died.
        raise AppError(
            409,
            "request_in_progress",
            _l(
                "A request with this Idempotency-Key started but did not finish; its outcome is "
                "unknown. Check before trying again with a new key."
            ),
            errors={HEADER: [f"started at {claim.created_at.isoformat()} and did not finish"]},
        )
    raise AppError(409, "request_in_progress", _IN_PROGRESS_MESSAGE)


def run_claimed(claim: _Claim, view, args, kwargs, store) -> object:
    """Run the view under the claim: ``store(claim, response)`` its answer (an expected 4xx
    refusal too), or free the key when it failed."""
    try:
        result = view(*args, **kwargs)
    except AppError as error:
        if error.status >= 500:
            release_key(claim)
        else:
            store(claim, handle_app_error(error))
        raise
    except HTTPException as error:
        if error.code is not None and 400 <= error.code < 500:
            store(claim, handle_http_exception(error))
        else:
            release_key(claim)
        raise
    except BaseException:
        release_key(claim)
        raise
    try:
        response = current_app.make_response(result)
    except TypeError as error:
        release_key(claim)
        raise TypeError("@idempotent must sit above @blp.response (it stores the final response)") from error
    if response.status_code >= 500:
        release_key(claim)
    else:
        store(claim, response)
    return response


def _store(claim: _Claim, response) -> None:
    """Keep the answer the client gets, so that retries get it too."""
    store_answer(claim, response.status_code, response.get_data(as_text=True))


def store_answer(claim: _Claim, status: int, body: str) -> None:
    """Keep an answer under a claimed key and mark it done (a failure to store is only logged)."""
    try:
        _end_request_transaction()
        with Session(db.engine) as session:
            begin_writing(session)
            session.execute(
                sa.update(IdempotencyKey)
                .where(IdempotencyKey.id == claim.id)
                .values(state=DONE, response_status=status, response_body=body)
            )
            session.commit()
    except Exception:  # noqa: BLE001 - the work is done: answer it; retries get 409 (the crash window)
        log.exception("could not store the answer for idempotency key %s", claim.id)


def release_key(claim: _Claim) -> None:
    """Delete a claim whose request failed, so that the client may try again."""
    try:
        _end_request_transaction()
        with Session(db.engine) as session:
            begin_writing(session)
            session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.id == claim.id))
            session.commit()
    except Exception:  # noqa: BLE001 - keep the original failure; the key then stays refused
        log.exception("could not free idempotency key %s", claim.id)


def _end_request_transaction() -> None:
    """End the request session's transaction before the key is written on another connection.

    On SQLite that connection would wait for the write lock while this request's
    own session held it (a view that failed mid-transaction). Rolling back is what
    the request's teardown does anyway: services commit their work themselves.
    """
    db.session.rollback()


def _documented(apidoc: dict) -> dict:
    """Add the header and its refusals to flask-smorest's doc of the view (a copy)."""
    apidoc = deepcopy(apidoc)  # as smorest's decorators do: never change the wrapped view's doc
    arguments = apidoc.setdefault("arguments", {})
    arguments.setdefault("parameters", []).append(
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[ -~]+$"},
            "description": "Send the same key again to retry safely: the first answer is replayed "
            f"(with `{REPLAYED_HEADER}: true`) and nothing runs twice. Keys are kept "
            "24 hours, per member and path.",
        }
    )
    responses = arguments.setdefault("responses", {})
    responses.setdefault(409, "CONFLICT")
    responses.setdefault(422, "UNPROCESSABLE_ENTITY")
    return apidoc


__all__ = [
    "DONE",
    "HEADER",
    "REPLAYED_HEADER",
    "IdempotencyKey",
    "claim_key",
    "idempotent",
    "init_idempotency_cli",
    "purge_idempotency_keys",
    "read_claim",
    "release_key",
    "request_hash",
    "run_claimed",
    "store_answer",
]
