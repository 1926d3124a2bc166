"""Signed QR payloads and their keys: tampering, kinds, rotation, sealing and racing workers."""

from __future__ import annotations

import base64
import struct
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from core.database import begin_writing
from core.extensions import db
from core.qr import keys
from core.qr.cli import init_qr_cli
from core.qr.keys import SigningKeyError, current_signing_key, open_private_key, rotate_signing_key
from core.qr.models import SigningKey
from core.qr.signing import (
    InvalidCode,
    KindRegistry,
    PayloadKind,
    code_url,
    decode_payload,
    encode_payload,
    sign_payload,
    token_from_text,
    verify_payload,
)
from tests.conftest import dispose, make_app

# Kinds of the tests' own, in a registry of their own, so the packages' real kinds never clash.
TEST_KINDS = KindRegistry()
VOUCHER_LIKE = PayloadKind(
    "voucher_like",
    tag=2,
    registry=TEST_KINDS,
    fields=(("voucher_id", "I"), ("supermarket_id", "I"), ("points", "I"), ("expires", "I")),
)
CHECKIN_LIKE = PayloadKind(
    "checkin_like", tag=1, registry=TEST_KINDS, fields=(("event_id", "I"), ("expires", "I"))
)
EVERY_CODE = PayloadKind(
    "every_code", tag=31, registry=TEST_KINDS, fields=tuple((f"field_{code}", code) for code in "bBhHiIqQ")
)

VALUES = {"voucher_id": 4_000_000_001, "supermarket_id": 12, "points": 350, "expires": 1_795_000_000}
KEY_ID = 7


@pytest.fixture(scope="module")
def private_key():
    """A key pair made in memory, for the tests that need no database."""
    return Ed25519PrivateKey.generate()


def lookup_for(private_key, key_id=KEY_ID):
    """A public key lookup that knows one key."""
    return {key_id: private_key.public_key()}.get


def raw_bytes(token: str) -> bytes:
    return base64.b32decode(token + "=" * (-len(token) % 8))


def as_token(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def key_id_of(token: str) -> int:
    return struct.unpack_from(">H", raw_bytes(token), 1)[0]


@contextmanager
def another_app(database_url: str, **config):
    """A second application on the same database: another worker, with its own memory."""
    application = make_app(database_url, **config)
    try:
        yield application
    finally:
        dispose(application)


def count_keys() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(SigningKey))


def write_in_callers_transaction() -> None:
    """Begin as a writing service does and write a row that changes nothing."""
    begin_writing(db.session())
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))


# Payloads, with keys made in memory ------------------------------------------------------


def test_a_payload_round_trips_with_its_values(private_key):
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key)

    assert decode_payload(token, VOUCHER_LIKE, public_key_for=lookup_for(private_key)) == VALUES
    assert key_id_of(token) == KEY_ID
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_a_voucher_like_token_is_133_characters(private_key):
    # 1 kind byte + 2 key id bytes + 16 field bytes + 64 signature bytes = 83 bytes.
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key)

    assert len(raw_bytes(token)) == 83
    assert len(token) == 133


def test_every_single_flipped_bit_of_a_token_is_refused(private_key):
    raw = raw_bytes(encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key))
    accepted = []
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        try:
            decode_payload(as_token(bytes(flipped)), VOUCHER_LIKE, public_key_for=lookup_for(private_key))
        except InvalidCode as refusal:
            assert refusal.reason in ("malformed", "wrong_kind", "unknown_key", "bad_signature")
        else:
            accepted.append(bit)
    assert accepted == []


def test_every_changed_character_of_a_token_is_refused(private_key):
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    accepted = []
    for position, char in enumerate(token):
        # The last character also carries unused bits: a change there must not pass either.
        other = alphabet[(alphabet.index(char) + 1) % 32]
        changed = token[:position] + other + token[position + 1 :]
        try:
            decode_payload(changed, VOUCHER_LIKE, public_key_for=lookup_for(private_key))
        except InvalidCode:
            pass
        else:
            accepted.append(position)
    assert accepted == []


def test_a_signature_by_another_key_pair_is_refused(private_key):
    impostor = Ed25519PrivateKey.generate()
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=impostor)

    with pytest.raises(InvalidCode) as refusal:
        decode_payload(token, VOUCHER_LIKE, public_key_for=lookup_for(private_key))
    assert refusal.value.reason == "bad_signature"


def test_a_payload_of_another_kind_is_refused_as_wrong_kind(private_key):
    token = encode_payload(
        CHECKIN_LIKE, {"event_id": 5, "expires": 1_795_000_000}, key_id=KEY_ID, private_key=private_key
    )

    with pytest.raises(InvalidCode) as refusal:
        decode_payload(token, VOUCHER_LIKE, public_key_for=lookup_for(private_key))
    assert refusal.value.reason == "wrong_kind"


def test_a_key_id_nobody_knows_is_refused_as_unknown_key(private_key):
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID + 1, private_key=private_key)

    with pytest.raises(InvalidCode) as refusal:
        decode_payload(token, VOUCHER_LIKE, public_key_for=lookup_for(private_key))
    assert refusal.value.reason == "unknown_key"


def _good_token() -> tuple[str, object]:
    key = Ed25519PrivateKey.generate()
    return encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=key), key


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda token: "", id="empty"),
        pytest.param(lambda token: "   \n", id="blank"),
        pytest.param(lambda token: None, id="not-text"),
        pytest.param(lambda token: token[:-1], id="one-character-short"),
        pytest.param(lambda token: token[:-8], id="five-bytes-short"),
        pytest.param(lambda token: token[:20], id="truncated"),
        pytest.param(lambda token: token + "A", id="one-character-long"),
        pytest.param(lambda token: token + "AAAAAAAA", id="five-bytes-long"),
        pytest.param(lambda token: "HELLO, WORLD!", id="garbage"),
        pytest.param(lambda token: token[:60] + "1" + token[61:], id="not-base32"),
        pytest.param(lambda token: "二维码" * 10, id="chinese"),
        pytest.param(lambda token: "A" * 5000, id="huge"),
        pytest.param(lambda token: "HTTPS://PINGAN.EXAMPLE.CN/V/", id="url-without-token"),
        pytest.param(
            lambda token: as_token(bytes([0x42]) + raw_bytes(token)[1:]), id="unknown-format-version"
        ),
    ],
)
def test_truncated_garbage_and_empty_texts_are_refused_as_malformed(spoil):
    token, key = _good_token()

    with pytest.raises(InvalidCode) as refusal:
        decode_payload(spoil(token), VOUCHER_LIKE, public_key_for=lookup_for(key))
    assert refusal.value.reason == "malformed"
    assert (refusal.value.status, refusal.value.code) == (400, "invalid_code")


def test_an_invalid_code_answers_the_contracts_400_with_its_reason(app):
    from core.errors import handle_app_error

    with app.test_request_context("/api/v1/vouchers/scan"):
        response = handle_app_error(InvalidCode("bad_signature"))
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid_code"
    assert body["errors"] == {"payload": ["bad_signature"]}


@given(
    values=st.fixed_dictionaries(
        {
            f"field_{code}": st.integers(
                *(
                    (-(2 ** (8 * struct.calcsize(code) - 1)), 2 ** (8 * struct.calcsize(code) - 1) - 1)
                    if code.islower()
                    else (0, 2 ** (8 * struct.calcsize(code)) - 1)
                )
            )
            for code in "bBhHiIqQ"
        }
    ),
    key_id=st.integers(1, 32767),
)
def test_any_field_values_in_range_round_trip(private_key, values, key_id):
    token = encode_payload(EVERY_CODE, values, key_id=key_id, private_key=private_key)

    assert decode_payload(token, EVERY_CODE, public_key_for=lookup_for(private_key, key_id)) == values


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({**VALUES, "points": -1}, id="below-range"),
        pytest.param({**VALUES, "points": 2**32}, id="above-range"),
        pytest.param({k: v for k, v in VALUES.items() if k != "points"}, id="missing"),
        pytest.param({**VALUES, "member_id": 3}, id="unknown"),
        pytest.param({**VALUES, "points": "350"}, id="not-an-integer"),
        pytest.param({**VALUES, "points": True}, id="a-boolean"),
    ],
)
def test_signing_refuses_missing_unknown_or_out_of_range_values(private_key, values):
    with pytest.raises(ValueError):
        encode_payload(VOUCHER_LIKE, values, key_id=KEY_ID, private_key=private_key)


def test_a_tag_or_name_declared_twice_differently_is_refused():
    registry = KindRegistry()
    fields = (("event_id", "I"),)
    PayloadKind("checkin", tag=1, fields=fields, registry=registry)

    PayloadKind("checkin", tag=1, fields=fields, registry=registry)  # the same again is harmless
    with pytest.raises(ValueError, match="clashes"):
        PayloadKind("voucher", tag=1, fields=fields, registry=registry)
    with pytest.raises(ValueError, match="clashes"):
        PayloadKind("checkin", tag=2, fields=fields, registry=registry)
    with pytest.raises(ValueError, match="clashes"):
        PayloadKind("checkin", tag=1, fields=(("event_id", "Q"),), registry=registry)


@pytest.mark.parametrize(
    "tag, fields",
    [
        pytest.param(0, (("a", "I"),), id="tag-zero"),
        pytest.param(32, (("a", "I"),), id="tag-too-big"),
        pytest.param(3, (), id="no-fields"),
        pytest.param(3, (("a", "f"),), id="a-float"),
        pytest.param(3, (("a", "10s"),), id="bytes"),
        pytest.param(3, (("a", "I"), ("a", "H")), id="a-name-twice"),
        pytest.param(3, (("not a name", "I"),), id="not-an-identifier"),
    ],
)
def test_a_kind_declaration_refuses_bad_tags_and_fields(tag, fields):
    with pytest.raises(ValueError):
        PayloadKind("bad", tag=tag, fields=fields, registry=None)


# The text a code holds ------------------------------------------------------------------


def test_code_url_is_upper_case_from_scheme_to_token(private_key):
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key)

    url = code_url("https://jifen.example.cn/", "v", token)

    assert url == f"HTTPS://JIFEN.EXAMPLE.CN/V/{token}"
    assert code_url("http://127.0.0.1:8000", "R", token) == f"HTTP://127.0.0.1:8000/R/{token}"
    assert code_url("https://gov.example.cn/pingan", "E", token) == f"HTTPS://GOV.EXAMPLE.CN/PINGAN/E/{token}"


@pytest.mark.parametrize(
    "base_url, route_letter",
    [
        pytest.param("jifen.example.cn", "V", id="no-scheme"),
        pytest.param("ftp://jifen.example.cn", "V", id="not-http"),
        pytest.param("https://jifen.example.cn/?a=1", "V", id="a-query"),
        pytest.param("https://jifen.example.cn/#top", "V", id="a-fragment"),
        pytest.param("https://jifen_example.cn", "V", id="outside-alphanumeric-mode"),
        pytest.param("https://jifen.example.cn", "VV", id="two-letters"),
        pytest.param("https://jifen.example.cn", "", id="no-letter"),
        pytest.param("https://jifen.example.cn", "/", id="a-slash"),
    ],
)
def test_code_url_refuses_what_would_not_make_a_small_routable_code(base_url, route_letter):
    with pytest.raises(ValueError):
        code_url(base_url, route_letter, "ABC")


def test_the_url_form_round_trips_through_token_from_text_in_upper_and_lower_case(private_key):
    token = encode_payload(VOUCHER_LIKE, VALUES, key_id=KEY_ID, private_key=private_key)
    url = code_url("https://jifen.example.cn", "V", token)
    lookup = lookup_for(private_key)

    for text in (
        url,
        url.lower(),
        f"  {url}\n",
        "https://JIFEN.example.CN/V/" + token.lower(),
        token,
        token.lower(),
        f"\t{token.lower()} ",
        token + "=" * 3,
    ):
        assert token_from_text(text) == token, text
        assert decode_payload(text, VOUCHER_LIKE, public_key_for=lookup) == VALUES, text


# Keys in the database, on each engine ---------------------------------------------------


def test_the_first_signed_payload_creates_the_first_key_and_verifies(app):
    with app.app_context():
        token = sign_payload(VOUCHER_LIKE, **VALUES)

        assert verify_payload(token, VOUCHER_LIKE) == VALUES
        assert key_id_of(token) == 1
        assert count_keys() == 1
        assert current_signing_key().id == 1


def test_verifying_accepts_the_whole_url_the_code_holds(app):
    with app.app_context():
        url = code_url("https://jifen.example.cn", "V", sign_payload(VOUCHER_LIKE, **VALUES))

        assert verify_payload(url.lower(), VOUCHER_LIKE) == VALUES


def test_rotation_keeps_old_codes_verifiable_and_signs_new_ones_with_the_new_key(app):
    with app.app_context():
        old = sign_payload(VOUCHER_LIKE, **VALUES)
        rotated = rotate_signing_key()
        new = sign_payload(VOUCHER_LIKE, **{**VALUES, "voucher_id": 2})

        assert (key_id_of(old), rotated.id, key_id_of(new)) == (1, 2, 2)
        assert verify_payload(old, VOUCHER_LIKE) == VALUES
        assert verify_payload(new, VOUCHER_LIKE)["voucher_id"] == 2
        first, second = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.id))
        assert first.retired_at is not None and second.retired_at is None


def test_another_worker_verifies_a_new_key_after_one_lookup_and_signs_with_it_after_the_ttl(
    app, database_url, monkeypatch
):
    monkeypatch.setattr(keys, "CURRENT_KEY_TTL", 0.0)
    with app.app_context():
        first = sign_payload(VOUCHER_LIKE, **VALUES)
    with another_app(database_url) as other, other.app_context():
        assert verify_payload(first, VOUCHER_LIKE) == VALUES  # learns key 1 from the database
        rotate_signing_key()
        second = sign_payload(VOUCHER_LIKE, **VALUES)
    queries = []
    with app.app_context():
        sa.event.listen(
            db.engine, "before_cursor_execute", lambda _c, _cur, statement, *_: queries.append(statement)
        )
        for _ in range(3):
            assert verify_payload(second, VOUCHER_LIKE) == VALUES
        assert len([q for q in queries if "signing_key" in q]) == 1
        assert key_id_of(sign_payload(VOUCHER_LIKE, **VALUES)) == 2


def test_a_code_signed_with_a_key_id_not_in_the_database_is_refused_as_unknown_key(app):
    stranger = Ed25519PrivateKey.generate()
    with app.app_context():
        sign_payload(VOUCHER_LIKE, **VALUES)
        token = encode_payload(VOUCHER_LIKE, VALUES, key_id=9, private_key=stranger)

        with pytest.raises(InvalidCode) as refusal:
            verify_payload(token, VOUCHER_LIKE)
    assert refusal.value.reason == "unknown_key"


def test_a_forged_code_with_the_current_key_id_is_refused_as_bad_signature(app):
    stranger = Ed25519PrivateKey.generate()
    with app.app_context():
        key = current_signing_key()
        token = encode_payload(VOUCHER_LIKE, VALUES, key_id=key.id, private_key=stranger)

        with pytest.raises(InvalidCode) as refusal:
            verify_payload(token, VOUCHER_LIKE)
    assert refusal.value.reason == "bad_signature"


def test_the_private_key_is_not_stored_in_clear(app):
    with app.app_context():
        key = current_signing_key()
        raw = key.private_key.private_bytes_raw()
        row = db.session.execute(sa.text("SELECT * FROM signing_key")).one()

        stored = [bytes(value) for value in row if isinstance(value, (bytes, memoryview))]
        assert stored, "the row holds the keys as bytes"
        assert all(raw not in value for value in stored)
        assert all(raw.hex() not in str(value) for value in row)
        assert len(row.private_key_encrypted) == 12 + 32 + 16  # nonce, sealed key, tag


def test_the_private_key_cannot_be_decrypted_with_another_secret_key(app, database_url):
    with app.app_context():
        token = sign_payload(VOUCHER_LIKE, **VALUES)
    with another_app(database_url, SECRET_KEY="another-secret-key-that-is-long-enough") as other:
        with other.app_context():
            row = db.session.get(SigningKey, 1)
            with pytest.raises(SigningKeyError):
                open_private_key(row, other.config["SECRET_KEY"])
            with pytest.raises(SigningKeyError, match="rotate-key"):
                sign_payload(VOUCHER_LIKE, **VALUES)
            # Verifying needs the public key only: codes already issued still scan.
            assert verify_payload(token, VOUCHER_LIKE) == VALUES
            # A rotation under the new secret lets it sign again.
            rotate_signing_key()
            assert verify_payload(sign_payload(VOUCHER_LIKE, **VALUES), VOUCHER_LIKE) == VALUES


def test_a_sealed_key_copied_into_another_row_does_not_open(app):
    with app.app_context():
        current_signing_key()
        rotate_signing_key()
        first, second = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.id))
        second.private_key_encrypted = first.private_key_encrypted

        with pytest.raises(SigningKeyError):
            open_private_key(second, app.config["SECRET_KEY"])
        db.session.rollback()


def test_concurrent_first_use_from_several_threads_creates_exactly_one_key(database_url):
    workers = 6
    # One app per thread: each is a worker with its own memory, engine and connections.
    apps = [make_app(database_url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def first_use(application):
        with application.app_context():
            try:
                barrier.wait(timeout=30)
                key = current_signing_key()
                results.append((key.id, key.public_key.public_bytes_raw()))
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=first_use, args=(application,)) for application in apps]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert len(results) == workers
        assert len(set(results)) == 1
        with apps[0].app_context():
            assert count_keys() == 1
    finally:
        for application in apps:
            dispose(application)


def test_a_worker_that_loses_the_race_for_the_first_key_uses_the_winners(app, database_url, monkeypatch):
    with another_app(database_url) as other, other.app_context():
        winner = current_signing_key()
    real_read = keys._newest_active_and_highest_id
    reads = []

    def read_before_the_winner_committed(session):
        reads.append(session)
        return (None, 0) if len(reads) == 1 else real_read(session)

    monkeypatch.setattr(keys, "_newest_active_and_highest_id", read_before_the_winner_committed)
    with app.app_context():
        key = current_signing_key()  # inserts key 1, collides, reads again

        assert len(reads) == 2
        assert key.id == winner.id
        assert key.public_key.public_bytes_raw() == winner.public_key.public_bytes_raw()
        assert count_keys() == 1


def test_signing_after_the_caller_has_written_does_not_wait_for_its_own_lock(database_url):
    # A short busy timeout: waiting for our own SQLite write lock would fail at once.
    with another_app(database_url, SQLITE_BUSY_TIMEOUT_MS=200) as application:
        with application.app_context():
            write_in_callers_transaction()
            token = sign_payload(VOUCHER_LIKE, **VALUES)
            db.session.commit()

            assert verify_payload(token, VOUCHER_LIKE) == VALUES
            assert count_keys() == 1


def test_a_first_key_made_in_a_transaction_that_rolls_back_is_not_remembered(database_url):
    with another_app(database_url, SQLITE_BUSY_TIMEOUT_MS=200) as application:
        with application.app_context():
            write_in_callers_transaction()
            sign_payload(VOUCHER_LIKE, **VALUES)
            db.session.rollback()  # on SQLite the key goes with it; elsewhere it was committed apart

            token = sign_payload(VOUCHER_LIKE, **VALUES)

            assert verify_payload(token, VOUCHER_LIKE) == VALUES
            assert count_keys() == 1


def test_the_rotate_key_command_makes_a_new_key_current(app):
    init_qr_cli(app)
    with app.app_context():
        current_signing_key()

    result = app.test_cli_runner().invoke(args=["qr", "rotate-key"])

    assert result.exit_code == 0, result.output
    assert "Signing key 2" in result.output
    with app.app_context():
        assert current_signing_key().id == 2
        assert count_keys() == 2
