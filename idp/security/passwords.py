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

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    # OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1 as the floor for argon2id.
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)

# Verified against when the identifier matches no account, so that the answer takes the
# same time whether or not the account exists.
_DUMMY_HASH = _context.hash("not a real password: timing equaliser")


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
