"""Passwords hashed with argon2id, t=2, m=19 MiB, p=1 (OWASP's baseline); weak ones refused.

A new password must be at least 8 characters, not all blank, not one character repeated,
and not one of the commonest passwords (the bundled ``common_passwords.txt``, whatever
the case): the lists attackers try first.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of the commonest passwords, lower case."""
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Say what makes a new password unacceptable, or None when it will do."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if not password.strip():
        return "must not be blank"
    if len(set(password)) == 1:
        return "must not be one character repeated"
    if password.lower() in common_passwords():
        return "is one of the commonest passwords: choose another"
    return None


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash("a password nobody has")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time so unknown phones are not revealed."""
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters than today's."""
    return HASHER.check_needs_rehash(password_hash)
