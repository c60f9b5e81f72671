"""Password hashing: the only module that imports passlib.

argon2id through a CryptContext, so that a change of parameters is noticed
(``needs_update``) and the hash is renewed on the member's next successful sign-in.
"""

from __future__ import annotations

import logging
import unicodedata

from passlib.context import CryptContext

log = logging.getLogger("idp.passwords")

# A password longer than this is refused before hashing: no member needs more, and hashing
# megabytes on request would be a cheap denial of service.
MAX_PASSWORD_LENGTH = 128

# OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1 as the floor for argon2id. The
# settings (passwords.hash_*) choose; these are their defaults.
DEFAULT_PARAMETERS = (19456, 2, 1)


def _context_for(memory_kib: int, time_cost: int, parallelism: int) -> tuple[CryptContext, str]:
    context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=time_cost,
        argon2__parallelism=parallelism,
    )
    # Verified against when the identifier matches no account, so that the answer takes the
    # same time whether or not the account exists: made with the same parameters.
    return context, context.hash("not a real password: timing equaliser")


_contexts: dict[tuple[int, int, int], tuple[CryptContext, str]] = {}
_context, _DUMMY_HASH = _contexts.setdefault(DEFAULT_PARAMETERS, _context_for(*DEFAULT_PARAMETERS))


def configure(memory_kib: int, time_cost: int, parallelism: int) -> None:
    """Hash with these parameters from now on (called by ``create_app`` with the settings,
    which validate them). One process serves one configuration; tests that make apps with
    other parameters get theirs at each ``create_app``."""
    global _context, _DUMMY_HASH
    parameters = (memory_kib, time_cost, parallelism)
    if parameters not in _contexts:
        _contexts[parameters] = _context_for(*parameters)
    _context, _DUMMY_HASH = _contexts[parameters]


def normalize(password: str) -> str:
    """NIST SP 800-63B: passwords are compared after Unicode NFKC normalization."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _context.hash(normalize(password))


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; with no hash, spend the same time and return False."""
    if len(password) > MAX_PASSWORD_LENGTH * 4:
        return False
    if password_hash is None:
        _context.verify(normalize(password), _DUMMY_HASH)
        return False
    try:
        return _context.verify(normalize(password), password_hash)
    except ValueError:
        # A stored hash passlib cannot read: refuse the sign-in (and say so in the log, without
        # the hash) rather than fail the request.
        log.error("unreadable password hash")
        return False


def needs_rehash(password_hash: str) -> bool:
    return _context.needs_update(password_hash)
