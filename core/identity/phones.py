"""Mainland mobile numbers: what people type, made canonical (the 11 ASCII digits we store).

People type "+86 139 0000 0016", "139-0000-0016" or full-width digits from a Chinese input
method; all of them are the number 13900000016. Anything else — a trailing newline, digits of
another script (Arabic-Indic ٣), a landline — is no mobile number, so no two members can
share a number that looks the same.
"""

from __future__ import annotations

import re
import unicodedata

#: The canonical form: 11 ASCII digits, 1 then 3–9.
MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
#: What people put between digit groups: spaces of any kind and dashes.
SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]")
#: Longer input than this is no phone number, however it is spaced.
MAX_TYPED_LENGTH = 40


def normalise_phone(text: object) -> str | None:
    """Answer the canonical 11 digits of a typed mobile number, or None when it is none.

    Full-width characters become their ASCII selves (NFKC); spaces and dashes go; a leading
    ``+86`` or ``86`` (the country code) goes; what is left must be exactly ``1[3-9]`` and
    nine more ASCII digits.
    """
    if not isinstance(text, str) or len(text) > MAX_TYPED_LENGTH:
        return None
    digits = SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if MOBILE.fullmatch(digits) else None
