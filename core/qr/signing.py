"""Signed QR payloads: compact binary, Ed25519-signed, base32 so an upper-case URL stays small.

A token is RFC 4648 base32 (upper case, no ``=`` padding) of::

    byte 0      format version (top 3 bits) and the kind's tag (low 5 bits)
    bytes 1-2   key id, big-endian
    ...         the kind's fields, packed big-endian with ``struct``
    last 64     Ed25519 signature over everything before it

Packages declare their own kinds where they use them; the tag in byte 0 keeps one kind's
code from passing as another's, so every tag is declared once per process::

    VOUCHER = PayloadKind("voucher", tag=2, fields=(
        ("voucher_id", "I"), ("supermarket_id", "I"), ("points", "I"), ("expires", "I")))
    token = sign_payload(VOUCHER, voucher_id=7, supermarket_id=3, points=120, expires=1795000000)
    verify_payload(token, VOUCHER)  # -> {"voucher_id": 7, ...}

Verifying checks the format and the signature only: expiry, "already used" and "for
another supermarket" are the caller's to check against its own rows.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask_babel import lazy_gettext as _l

from core.errors import AppError

FORMAT_VERSION = 1
#: The version/kind byte and the key id.
HEADER = struct.Struct(">BH")
SIGNATURE_BYTES = 64
MAX_TAG = 0x1F
#: Longer texts are refused before decoding: no code of ours comes near this.
MAX_TEXT_LENGTH = 1000
#: struct codes for integer fields (standard sizes, big-endian).
INTEGER_CODES = frozenset("bBhHiIlLqQ")
#: What QR alphanumeric mode can hold; a code URL outside it would need a larger code.
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

#: Why a code is refused: the first four come from decoding; the rest from the package that
#: looks up what a well-signed code names (nothing, something else, another object, a card
#: replaced by a newer one, a one-time code already used).
REASONS = (
    "malformed",
    "wrong_kind",
    "unknown_key",
    "bad_signature",
    "unknown",
    "mismatch",
    "another_voucher",
    "revoked",
    "used",
)


class InvalidCode(AppError):
    """A QR payload that is not ours, altered, of another kind, or signed by an unknown key."""

    def __init__(self, reason: str, field: str = "payload"):
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
        super().__init__(400, "invalid_code", _l("This code is not valid."), errors={field: [reason]})
        self.reason = reason


class KindRegistry:
    """The kinds declared in this process, so that no two share a tag or a name."""

    def __init__(self):
        self.by_tag: dict[int, PayloadKind] = {}
        self.by_name: dict[str, PayloadKind] = {}

    def add(self, kind: PayloadKind) -> None:
        """Record ``kind``; refuse a tag or name already declared differently."""
        for taken in (self.by_tag.get(kind.tag), self.by_name.get(kind.name)):
            if taken is not None and taken != kind:
                raise ValueError(
                    f"payload kind {kind.name!r} (tag {kind.tag}) clashes with "
                    f"{taken.name!r} (tag {taken.tag})"
                )
        self.by_tag[kind.tag] = kind
        self.by_name[kind.name] = kind


#: Every kind the packages declare.
KINDS = KindRegistry()


class PayloadKind:
    """A kind of signed payload: a unique name and tag (1-31) and its integer fields in order."""

    __slots__ = ("name", "tag", "fields", "_body")

    def __init__(
        self, name: str, tag: int, fields: Iterable[tuple[str, str]], *, registry: KindRegistry | None = KINDS
    ):
        fields = tuple((str(field), str(code)) for field, code in fields)
        if not name:
            raise ValueError("a payload kind needs a name")
        if not isinstance(tag, int) or not 1 <= tag <= MAX_TAG:
            raise ValueError(f"tag must be an integer from 1 to {MAX_TAG}, not {tag!r}")
        if not fields:
            raise ValueError("a payload kind needs at least one field")
        names = [field for field, _code in fields]
        if len(set(names)) != len(names) or not all(field.isidentifier() for field in names):
            raise ValueError(f"field names must be distinct identifiers: {names}")
        bad = [code for _field, code in fields if code not in INTEGER_CODES]
        if bad:
            raise ValueError(
                f"fields are integers, one struct code each ({''.join(sorted(INTEGER_CODES))}), not {bad}"
            )
        self.name, self.tag, self.fields = name, tag, fields
        self._body = struct.Struct(">" + "".join(code for _field, code in fields))
        if registry is not None:
            registry.add(self)

    def __eq__(self, other):
        if not isinstance(other, PayloadKind):
            return NotImplemented
        return (self.name, self.tag, self.fields) == (other.name, other.tag, other.fields)

    def __hash__(self):
        return hash((self.name, self.tag, self.fields))

    def __repr__(self):
        return f"PayloadKind({self.name!r}, tag={self.tag}, fields={self.fields!r})"

    @property
    def header_byte(self) -> int:
        """Return byte 0 of this kind's payloads: the format version and the tag."""
        return FORMAT_VERSION << 5 | self.tag

    @property
    def size(self) -> int:
        """Return the number of bytes a whole token of this kind decodes to."""
        return HEADER.size + self._body.size + SIGNATURE_BYTES

    def pack(self, values: Mapping[str, int]) -> bytes:
        """Pack the fields, refusing missing, unknown or out-of-range values (``ValueError``)."""
        names = [field for field, _code in self.fields]
        missing, unknown = set(names) - set(values), set(values) - set(names)
        if missing or unknown:
            raise ValueError(f"{self.name} payload: missing {sorted(missing)}, unknown {sorted(unknown)}")
        ordered = [values[field] for field in names]
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in ordered):
            raise ValueError(f"{self.name} payload fields are integers: {dict(values)}")
        try:
            return self._body.pack(*ordered)
        except struct.error as error:
            raise ValueError(f"{self.name} payload: {error}") from None

    def unpack(self, body: bytes) -> dict[str, int]:
        """Unpack the fields of a payload body into a dict."""
        return dict(zip((field for field, _code in self.fields), self._body.unpack(body)))


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _b32decode(token: str) -> bytes:
    """Decode a canonical unpadded base32 token, or raise ``InvalidCode("malformed")``."""
    if not set(token) <= _BASE32_ALPHABET:
        raise InvalidCode("malformed")
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        raise InvalidCode("malformed") from None
    # Unused trailing bits must be zero: one payload, one spelling.
    if _b32encode(raw) != token:
        raise InvalidCode("malformed")
    return raw


def encode_payload(
    kind: PayloadKind, values: Mapping[str, int], *, key_id: int, private_key: Ed25519PrivateKey
) -> str:
    """Sign ``values`` as a ``kind`` payload with the given key; return the base32 token."""
    message = HEADER.pack(kind.header_byte, key_id) + kind.pack(values)
    return _b32encode(message + private_key.sign(message))


def decode_payload(
    text: str, kind: PayloadKind, *, public_key_for: Callable[[int], Ed25519PublicKey | None]
) -> dict[str, int]:
    """Check a token (or a code's URL) of ``kind`` with ``public_key_for``; return its fields."""
    raw = _b32decode(token_from_text(text))
    if len(raw) < HEADER.size + SIGNATURE_BYTES:
        raise InvalidCode("malformed")
    first, key_id = HEADER.unpack_from(raw)
    if first >> 5 != FORMAT_VERSION:
        raise InvalidCode("malformed")
    if first & MAX_TAG != kind.tag:
        raise InvalidCode("wrong_kind")
    if len(raw) != kind.size:
        raise InvalidCode("malformed")
    public = public_key_for(key_id)
    if public is None:
        raise InvalidCode("unknown_key")
    message, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise InvalidCode("bad_signature") from None
    return kind.unpack(message[HEADER.size :])


def sign_payload(kind: PayloadKind, **values: int) -> str:
    """Sign ``values`` as a ``kind`` payload with the current key; return the base32 token."""
    from core.qr.keys import current_signing_key

    key = current_signing_key()
    return encode_payload(kind, values, key_id=key.id, private_key=key.private_key)


def verify_payload(text: str, kind: PayloadKind) -> dict[str, int]:
    """Check a token, or the URL holding it, of ``kind``; return its fields or raise ``InvalidCode``."""
    from core.qr.keys import public_key

    return decode_payload(text, kind, public_key_for=public_key)


def code_url(base_url: str, route_letter: str, token: str) -> str:
    """Return the text a code holds, ``HTTPS://HOST/R/TOKEN``, all upper case for a small code."""
    parts = urlsplit(base_url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base_url must be http(s)://host[/prefix], not {base_url!r}")
    if not (len(route_letter) == 1 and route_letter.isascii() and route_letter.isalnum()):
        raise ValueError(f"route_letter must be one letter or digit, not {route_letter!r}")
    # Scheme and host are case-insensitive; the path (prefix included) is routed in upper case.
    url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/{route_letter}/{token}".upper()
    if not set(url) <= QR_ALPHANUMERIC:
        raise ValueError(f"{url!r} has characters outside QR alphanumeric mode; the code would grow")
    return url


def token_from_text(text: str) -> str:
    """Return the upper-case token from a code's text: its URL in any case, or the bare token."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
        raise InvalidCode("malformed")
    text = text.strip()
    if "/" in text:
        text = urlsplit(text).path.rstrip("/").rpartition("/")[2]
    token = text.strip().upper().rstrip("=")
    if not token:
        raise InvalidCode("malformed")
    return token
