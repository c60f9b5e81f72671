"""JSON Web Keys and signed JWTs: the only module that imports joserfc."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey, import_key

SUPPORTED_SIGNING_ALGS = ("RS256", "ES256")
_RSA_BITS = 2048
# Tokens a VerifiedTokens remembers, at most. An access token's digest, header and claims take
# about 2.5 KiB in memory (measured with tracemalloc), so about 5 MiB per process when full;
# it is emptied at least every keys.cache_seconds, when its key set is replaced.
VERIFIED_TOKENS_KEPT = 2048


class GeneratedKey(NamedTuple):
    kid: str  # the RFC 7638 thumbprint
    public_jwk: dict[str, Any]
    private_jwk: dict[str, Any]
    key: Any  # the key object, ready to sign with (importing the JWK again costs ~20 ms for RSA)


def generate_signing_key(alg: str) -> GeneratedKey:
    """A new key for ``alg``."""
    parameters = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        key = RSAKey.generate_key(_RSA_BITS, parameters=parameters, auto_kid=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return GeneratedKey(key.kid, key.as_dict(private=False), key.as_dict(private=True), key)


def load_private_key(private_jwk: dict[str, Any]):
    """A joserfc key object from a private JWK (what Authlib's OpenIDCode accepts)."""
    return import_key(private_jwk)


def sign_jwt(private_jwk: dict[str, Any], claims: dict[str, Any], typ: str = "JWT") -> str:
    return sign_jwt_with(import_key(private_jwk), private_jwk["kid"], private_jwk["alg"], claims, typ)


def sign_jwt_with(key, kid: str, alg: str, claims: dict[str, Any], typ: str = "JWT") -> str:
    """Sign with an already imported key (importing an RSA key costs more than signing)."""
    header = {"alg": alg, "kid": kid, "typ": typ}
    return jwt.encode(header, claims, key, algorithms=[alg])


def import_jwk(jwk: dict[str, Any]):
    """A key object from a JWK, to keep and sign or verify with many times."""
    return import_key(jwk)


def import_key_set(public_jwks: dict[str, Any]):
    """A key set object from a JWKS, to keep and verify with many times. Raises InvalidJWT
    when the JWKS is not one."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not public_jwks.get("keys"):
        # No key published yet (a fresh installation): nothing verifies against it.
        return KeySet([])
    try:
        return KeySet.import_key_set(public_jwks)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise InvalidJWT(f"not a usable JWKS: {error}") from None


def dumps_jwk(jwk: dict[str, Any]) -> str:
    return json.dumps(jwk, sort_keys=True)


class InvalidJWT(Exception):
    """Signature, format or algorithm of a JWT is not acceptable."""


def verify_jwt(token: str, public_jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature against the given public keys; returns (header, claims).

    Only the algorithms we sign with are accepted, so `none` and HMAC tokens are refused.
    Claim checks (iss, exp, typ) are the caller's.
    """
    return verify_jwt_with(token, import_key_set(public_jwks))


def verify_jwt_with(
    token: str, key_set, algorithms: tuple[str, ...] = SUPPORTED_SIGNING_ALGS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``verify_jwt`` with a key set already imported (see ``import_key_set``)."""
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, key_set, algorithms=list(algorithms))
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as error:
        raise InvalidJWT(str(error)) from None
    return dict(decoded.header), dict(decoded.claims)


class VerifiedTokens:
    """``verify_jwt_with`` against one imported key set, remembering the tokens it verified.

    A resource server introspects, and a relying party calls UserInfo with, the same access
    token many times in its life; parsing and verifying it again (joserfc and one RS256 check)
    was about half of what either fast path cost (issue 12). Whether a given string verifies
    against a given key set never changes, so what is remembered can never be wrong: it is
    keyed by a digest of the whole token (header, claims and signature; an ES256 signature is
    not unique to its message) and lives with its key set, which is replaced when the
    published keys change and at least every ``keys.cache_seconds`` (``services/keys.py``).
    Expiry, revocation and every other check stay with the caller, on each use.

    Only tokens that verified are remembered, so only tokens signed with our keys can fill
    it; once it holds ``capacity`` of them, further tokens are verified every time until the
    key set is replaced. Callers get copies of the header and claims (nested values, such as
    an ``aud`` list, are shared: read them, do not change them).
    """

    def __init__(self, key_set, capacity: int = VERIFIED_TOKENS_KEPT) -> None:
        self.key_set = key_set
        self.capacity = capacity
        self._verified: dict[bytes, tuple[dict[str, Any], dict[str, Any]]] = {}

    def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, claims) of ``token`` if its signature verifies; raises InvalidJWT."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = self._verified.get(digest)
        if found is None:
            found = verify_jwt_with(token, self.key_set)
            # Unlocked: threads adding at once may pass the capacity by a few entries.
            if len(self._verified) < self.capacity:
                self._verified[digest] = found
        header, claims = found
        return dict(header), dict(claims)
