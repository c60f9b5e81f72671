"""Random values, digests of secrets, and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def random_token(num_bytes: int = 32) -> str:
    """A URL-safe random string with ``num_bytes * 8`` bits of entropy."""
    return secrets.token_urlsafe(num_bytes)


def digest(secret: str) -> str:
    """SHA-256 hex digest, for high-entropy secrets (codes, session ids, client secrets).

    A fast digest is right for values with 128+ bits of randomness: nothing to brute force,
    and lookups by digest stay indexable. Passwords use ``passwords.py`` instead.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches_digest(secret: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), expected_digest)


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def keyed_digest(key: bytes, value: str) -> str:
    """HMAC-SHA-256 hex digest, for short secrets (six-digit codes): without the key, a copy of
    the database does not reveal them by trying all values."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def random_digits(count: int) -> str:
    """``count`` decimal digits, uniformly random (leading zeros kept)."""
    return f"{secrets.randbelow(10**count):0{count}d}"


# Recovery codes: no 0/o, 1/l/i look-alikes. 31 symbols, 12 of them: 59 bits per code.
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def random_recovery_code() -> str:
    """A code like ``abcd-efgh-jkmn``: 12 symbols of RECOVERY_CODE_ALPHABET, in groups of four."""
    symbols = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(12))
    return "-".join(symbols[i : i + 4] for i in range(0, 12, 4))


def normalize_recovery_code(value: str | None) -> str | None:
    """A recovery code as stored (lower case, dashes between groups), or None if it cannot be one."""
    if not value:
        return None
    compact = "".join(ch for ch in value.lower() if ch not in " -\t")
    if len(compact) != 12 or any(ch not in RECOVERY_CODE_ALPHABET for ch in compact):
        return None
    return "-".join(compact[i : i + 4] for i in range(0, 12, 4))
