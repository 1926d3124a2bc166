"""Signing keys: created once in the database, cached by every process, rotated by adding a key.

The private half of each key is sealed with **AES-256-GCM** under a 32-byte key derived from
the app's ``SECRET_KEY`` with HKDF-SHA256. The associated data binds the sealed bytes to
their key id and public key, so a sealed key copied into another row does not open. A key
never changes once written, so each process keeps the keys it has seen; only the question
"which key signs now?" is asked again, every ``CURRENT_KEY_TTL`` seconds, so that a rotation
made by another process reaches every worker within that time (older keys keep verifying,
so codes signed meanwhile stay good).

Key rows are written in a short transaction of their own, never in the caller's: a key is
shared by every worker the moment it exists and must not vanish with a caller's rollback.
The one exception is SQLite while the caller holds the write lock (a service that began
with ``core.database.begin_writing``): SQLite has one writer at a time, so a second
connection would wait for the caller, who waits for us. There the first key joins the
caller's transaction instead (no other process can be creating one meanwhile) and is only
cached once committed.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.database import SAFE_METHODS, begin_writing, utcnow
from core.extensions import db
from core.qr.models import SigningKey

#: Seconds a process trusts its idea of the current key before asking the database again.
CURRENT_KEY_TTL = 60.0
#: Tries at inserting a key when other processes keep winning the race for the same id.
CREATE_ATTEMPTS = 5
#: Key ids are two bytes in a payload and a SMALLINT in the database.
MAX_KEY_ID = 32767

HKDF_SALT = b"pingan-points/qr/signing-key"
HKDF_INFO = b"AES-256-GCM key for sealing Ed25519 private keys, v1"
NONCE_BYTES = 12
_STORE = "qr_signing_keys"


class SigningKeyError(RuntimeError):
    """A signing key cannot be used: sealed under another ``SECRET_KEY``, or no id is left."""


@dataclass(frozen=True)
class KeyPair:
    """A signing key ready to sign: its id (the one inside payloads) and both halves."""

    id: int
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey


def derive_sealing_key(secret_key: str) -> bytes:
    """Derive the 32-byte AES key that seals private keys from ``SECRET_KEY``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO)
    return hkdf.derive(secret_key.encode("utf-8"))


def _associated_data(key_id: int, public_key: bytes) -> bytes:
    return b"signing_key" + struct.pack(">H", key_id) + public_key


def seal_private_key(private_key: Ed25519PrivateKey, key_id: int, secret_key: str) -> bytes:
    """Encrypt a private key for storage: nonce ‖ AES-GCM ciphertext and tag."""
    public = private_key.public_key().public_bytes_raw()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive_sealing_key(secret_key)).encrypt(
        nonce, private_key.private_bytes_raw(), _associated_data(key_id, public)
    )
    return nonce + sealed


def open_private_key(row: SigningKey, secret_key: str) -> Ed25519PrivateKey:
    """Decrypt a stored private key, or raise ``SigningKeyError`` under another secret."""
    nonce, sealed = row.private_key_encrypted[:NONCE_BYTES], row.private_key_encrypted[NONCE_BYTES:]
    try:
        raw = AESGCM(derive_sealing_key(secret_key)).decrypt(
            nonce, sealed, _associated_data(row.id, row.public_key)
        )
    except InvalidTag:
        raise SigningKeyError(
            f"signing key {row.id} cannot be decrypted with this SECRET_KEY (was it changed?); "
            "run `flask qr rotate-key` to start signing with a new key"
        ) from None
    return Ed25519PrivateKey.from_private_bytes(raw)


class KeyStore:
    """What one process knows about signing keys (one store per app, so per worker)."""

    def __init__(self, secret_key: str):
        self.secret_key = secret_key
        self.public: dict[int, Ed25519PublicKey] = {}
        self.pairs: dict[int, KeyPair] = {}
        self.current_id: int | None = None
        self.current_until = 0.0
        self.lock = threading.Lock()

    def current(self) -> KeyPair | None:
        """Return the key that signs now, if this process learnt it less than a TTL ago."""
        if self.current_id is not None and time.monotonic() < self.current_until:
            return self.pairs[self.current_id]
        return None

    def remember_current(self, row: SigningKey) -> KeyPair:
        """Open a committed key row, keep it, and note it as the key that signs now."""
        pair = self.pairs.get(row.id)
        if pair is None:
            private = open_private_key(row, self.secret_key)
            pair = KeyPair(row.id, private, private.public_key())
        with self.lock:
            self.pairs[row.id] = pair
            self.public[row.id] = pair.public_key
            self.current_id, self.current_until = row.id, time.monotonic() + CURRENT_KEY_TTL
        return pair


def _store() -> KeyStore:
    """Return this app's key store, starting a new one if ``SECRET_KEY`` changed."""
    secret = current_app.config["SECRET_KEY"]
    store = current_app.extensions.get(_STORE)
    if store is None or store.secret_key != secret:
        store = current_app.extensions[_STORE] = KeyStore(secret)
    return store


def _newest_active_and_highest_id(session: Session) -> tuple[SigningKey | None, int]:
    """Read the key that should sign now and the highest id in use (0 when none).

    One statement, so both answers come from the same moment: read apart, a key committed
    in between would make us skip its id and add a second key instead of colliding.
    """
    rows = session.scalars(sa.select(SigningKey).order_by(SigningKey.id.desc())).all()
    newest = next((row for row in rows if row.retired_at is None), None)
    return newest, rows[0].id if rows else 0


def _new_key_row(key_id: int, secret_key: str) -> SigningKey:
    if key_id > MAX_KEY_ID:
        raise SigningKeyError(f"no signing key id is left (the most is {MAX_KEY_ID})")
    private = Ed25519PrivateKey.generate()
    return SigningKey(
        id=key_id,
        public_key=private.public_key().public_bytes_raw(),
        private_key_encrypted=seal_private_key(private, key_id, secret_key),
    )


def _caller_holds_sqlite_write_lock() -> bool:
    """Tell whether the caller's SQLite transaction holds the write lock (see the module doc)."""
    session = db.session()
    if db.engine.dialect.name != "sqlite" or not session.in_transaction():
        return False
    connection = session.connection()
    if connection.info.get("immediate"):  # begun with BEGIN IMMEDIATE by begin_writing()
        return True
    dbapi_connection = connection.connection.dbapi_connection
    # Where the driver begins transactions itself, it does so at the first write only.
    return dbapi_connection.isolation_level is not None and dbapi_connection.in_transaction


def current_signing_key() -> KeyPair:
    """Return the newest key that is not retired, creating the first one if there is none."""
    store = _store()
    pair = store.current()
    if pair is not None:
        return pair
    for _attempt in range(CREATE_ATTEMPTS):
        with Session(db.engine, expire_on_commit=False) as session:
            newest, _highest = _newest_active_and_highest_id(session)
            if newest is not None:
                return store.remember_current(newest)
            if _caller_holds_sqlite_write_lock():
                # A second connection would wait for the caller's own lock: stay in its transaction.
                return _current_key_in_callers_transaction(store)
            # Read again as a writer: on SQLite nobody else can add a key until we commit.
            begin_writing(session)
            newest, highest = _newest_active_and_highest_id(session)
            if newest is not None:
                return store.remember_current(newest)
            row = _new_key_row(highest + 1, store.secret_key)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                # Another process created this id since we read: read again and use theirs.
                session.rollback()
                continue
            return store.remember_current(row)
    raise SigningKeyError(f"could not create a signing key in {CREATE_ATTEMPTS} attempts")


def _current_key_in_callers_transaction(store: KeyStore) -> KeyPair:
    """Find or add the current key inside the caller's SQLite transaction, without caching it."""
    newest, highest = _newest_active_and_highest_id(db.session)
    if newest is None:
        newest = _new_key_row(highest + 1, store.secret_key)
        with db.session.begin_nested():
            db.session.add(newest)
    # Not remembered: if the caller rolls back, this key never existed for anyone else.
    private = open_private_key(newest, store.secret_key)
    return KeyPair(newest.id, private, private.public_key())


def rotate_signing_key() -> KeyPair:
    """Add a new key that signs from now on; older keys are retired but keep verifying."""
    store = _store()
    for _attempt in range(CREATE_ATTEMPTS):
        with Session(db.engine, expire_on_commit=False) as session:
            begin_writing(session)
            _newest, highest = _newest_active_and_highest_id(session)
            row = _new_key_row(highest + 1, store.secret_key)
            session.execute(
                sa.update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=utcnow())
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # a concurrent rotation took this id: take the next one
                continue
            return store.remember_current(row)
    raise SigningKeyError(f"could not add a signing key in {CREATE_ATTEMPTS} attempts")


def warm_signing_key() -> None:
    """Learn (or create) the current key before a write request takes any lock.

    Creating the first key needs SQLite's write lock; done here, before the request's
    own transaction begins, it never waits for the request itself.
    """
    from flask import request

    if request.method not in SAFE_METHODS:
        try:
            current_signing_key()
        except SigningKeyError as error:  # only requests that sign codes need the key: they say why
            current_app.logger.error("QR signing key unusable: %s", error)


def public_key(key_id: int) -> Ed25519PublicKey | None:
    """Return the public key with this id, asking the database once when it is new here."""
    store = _store()
    known = store.public.get(key_id)
    if known is not None or not 0 < key_id <= MAX_KEY_ID:
        return known
    with Session(db.engine) as session:
        raw = session.scalar(sa.select(SigningKey.public_key).where(SigningKey.id == key_id))
    if raw is None:
        return None
    key = Ed25519PublicKey.from_public_bytes(raw)
    store.public[key_id] = key
    return key


def public_keys() -> list[tuple[int, bytes]]:
    """Every key id with its raw 32-byte public key, retired keys too (all a verifier needs)."""
    with Session(db.engine) as session:
        return [
            (key_id, bytes(raw))
            for key_id, raw in session.execute(
                sa.select(SigningKey.id, SigningKey.public_key).order_by(SigningKey.id)
            )
        ]
