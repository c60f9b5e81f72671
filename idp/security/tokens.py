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
