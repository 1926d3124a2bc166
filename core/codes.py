"""Short codes that people read off paper and type: 8 characters without look-alikes."""

from __future__ import annotations

import secrets

#: No look-alikes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
CODE_LENGTH = 8


def new_code(length: int = CODE_LENGTH) -> str:
    """Return a random code of ``length`` characters from the look-alike-free alphabet."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(text: str, length: int = CODE_LENGTH) -> str | None:
    """Upper-case a typed code and drop spaces and dashes; None when it cannot be one of ours."""
    code = "".join(str(text).split()).replace("-", "").upper()
    if len(code) != length or not set(code) <= set(CODE_ALPHABET):
        return None
    return code
