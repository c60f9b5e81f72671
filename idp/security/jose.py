"""JSON Web Keys and signed JWTs: the only module that imports joserfc."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey, import_key

SUPPORTED_SIGNING_ALGS = ("RS256", "ES256")
_RSA_BITS = 2048


def generate_signing_key(alg: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new key for ``alg``: returns (kid, public JWK, private JWK). kid is the RFC 7638 thumbprint."""
    parameters = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        key = RSAKey.generate_key(_RSA_BITS, parameters=parameters, auto_kid=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return key.kid, key.as_dict(private=False), key.as_dict(private=True)


def load_private_key(private_jwk: dict[str, Any]):
    """A joserfc key object from a private JWK (what Authlib's OpenIDCode accepts)."""
    return import_key(private_jwk)


def sign_jwt(private_jwk: dict[str, Any], claims: dict[str, Any], typ: str = "JWT") -> str:
    key = import_key(private_jwk)
    header = {"alg": private_jwk["alg"], "kid": private_jwk["kid"], "typ": typ}
    return jwt.encode(header, claims, key, algorithms=[private_jwk["alg"]])


def dumps_jwk(jwk: dict[str, Any]) -> str:
    return json.dumps(jwk, sort_keys=True)


class InvalidJWT(Exception):
    """Signature, format or algorithm of a JWT is not acceptable."""


def verify_jwt(token: str, public_jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature against the given public keys; returns (header, claims).

    Only the algorithms we sign with are accepted, so `none` and HMAC tokens are refused.
    Claim checks (iss, exp, typ) are the caller's.
    """
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        key_set = KeySet.import_key_set(public_jwks)
        decoded = jwt.decode(token, key_set, algorithms=list(SUPPORTED_SIGNING_ALGS))
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidJWT(str(error)) from None
    return dict(decoded.header), dict(decoded.claims)
