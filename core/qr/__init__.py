"""QR codes for the platform: signed compact payloads, their signing keys, and SVG/PNG images.

Packages declare their own payload kinds and call these; this package knows none of them::

    from core.qr import PayloadKind, code_url, render_svg, sign_payload, verify_payload
"""

from core.qr.keys import KeyPair, SigningKeyError, current_signing_key, public_key, rotate_signing_key
from core.qr.render import qr_version, render_png, render_svg
from core.qr.signing import (
    InvalidCode,
    PayloadKind,
    code_url,
    decode_payload,
    encode_payload,
    sign_payload,
    token_from_text,
    verify_payload,
)

__all__ = [
    "InvalidCode",
    "KeyPair",
    "PayloadKind",
    "SigningKeyError",
    "code_url",
    "current_signing_key",
    "decode_payload",
    "encode_payload",
    "public_key",
    "qr_version",
    "render_png",
    "render_svg",
    "rotate_signing_key",
    "sign_payload",
    "token_from_text",
    "verify_payload",
]
