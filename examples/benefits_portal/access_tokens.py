"""Resource-server verification of idp access tokens (JWT profile, RFC 9068).

Framework-free on purpose: a benefit service can copy this module as it is and
call ``AccessTokenVerifier.verify`` from Flask, Django, FastAPI or a worker.
The only dependency is joserfc.

Every refusal raises ``InvalidAccessToken`` carrying an RFC 6750 error code, so
the caller only has to turn it into a 401 or 403 with ``www_authenticate``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet

INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"

# Asymmetric algorithms only: accepting HS256 would let anyone who knows a
# public key forge tokens, and "none" would let anyone forge them outright.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
# RFC 9068 section 2.1; media types compare case-insensitively (RFC 2045).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# RFC 9068 section 2.2: an access token without one of these is not one.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")

MAX_JWKS_BYTES = 256 * 1024

JwksFetcher = Callable[[str], Mapping[str, Any]]


class InvalidAccessToken(Exception):
    """The bearer token must be refused.

    ``error`` is an RFC 6750 error code (``invalid_token`` or
    ``insufficient_scope``); ``description`` is safe to show to the caller.
    """

    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    @property
    def status_code(self) -> int:
        return 403 if self.error == INSUFFICIENT_SCOPE else 401


class KeySetUnavailable(Exception):
    """The issuer's keys could not be fetched or read.

    Kept apart from ``InvalidAccessToken`` because it is the server's problem,
    not the caller's: answer 503, so clients do not throw away good tokens.
    """


def fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET a JSON document with the standard library (the default JWKS fetcher)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"refusing to fetch a non-HTTP URL: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the open response; left to the GC it leaks the socket
        raise ValueError(f"HTTP {error.code} from {url}") from None
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("JWKS document is too large")
    return json.loads(body)


class AccessTokenVerifier:
    """Checks idp access tokens for one resource (audience).

    Keys come from ``jwks_uri`` and are cached for ``jwks_max_age`` seconds
    (if the idp is unreachable then, the cached keys stay in use). A token
    signed with a key id that is not in the cache triggers one refetch, since
    the idp may have rotated its keys. Fetches are at least
    ``min_refetch_interval`` seconds apart, so forged tokens with random key
    ids cannot turn this service into a flood of requests against the idp.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_uri: str,
        required_scope: str | None = None,
        leeway: int = 30,
        fetch: JwksFetcher = fetch_json,
        jwks_max_age: float = 3600.0,
        min_refetch_interval: float = 10.0,
    ):
        self.issuer = issuer
        self.audience = audience
        self.jwks_uri = jwks_uri
        self.required_scope = required_scope
        self.leeway = leeway
        self._fetch = fetch
        self._jwks_max_age = jwks_max_age
        self._min_refetch_interval = min_refetch_interval
        self._jws_registry = jws.JWSRegistry(algorithms=ALLOWED_ALGORITHMS)
        self._key_set: KeySet | None = None
        self._fetched_at = float("-inf")  # last successful JWKS fetch
        self._attempted_at = float("-inf")  # last JWKS fetch attempt, successful or not
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise ``InvalidAccessToken``.

        Raises ``KeySetUnavailable`` when the issuer's keys cannot be loaded.
        """
        header = self._read_header(token)
        key = self._signing_key(header["kid"], header["alg"])
        claims = self._verified_claims(token, key)
        self._check_claims(claims)
        self._check_scope(claims)
        return claims

    # -- header -------------------------------------------------------------

    def _read_header(self, token: str) -> dict[str, Any]:
        """Check the unverified header before any key lookup or crypto work."""
        header = self._decode_header(token)
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise _invalid("The token is not signed with an accepted algorithm")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            # Stops an ID token or any other JWT from the same issuer being
            # replayed as an access token (RFC 9068 section 4).
            raise _invalid("The token is not a JWT access token (typ must be at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _invalid("The token header has no key id")
        return header

    def _decode_header(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise _invalid("The access token is empty")
        try:
            header = jws.extract_compact(token.encode("ascii"), registry=self._jws_registry).headers()
        except (JoseError, ValueError, TypeError):
            raise _invalid("The access token is not a well-formed JWT") from None
        if not isinstance(header, dict):
            raise _invalid("The access token is not a well-formed JWT")
        return header

    # -- keys ---------------------------------------------------------------

    def _signing_key(self, kid: str, alg: str) -> Key:
        with self._lock:
            self._ensure_key_set()
            key = self._find_key(kid, alg)
            if key is None:
                # Maybe the idp rotated its keys since the last fetch.
                self._refresh_key_set()
                key = self._find_key(kid, alg)
        if key is None:
            raise _invalid("The token is signed with an unknown key")
        return key

    def _ensure_key_set(self) -> None:
        if self._key_set is None:
            self._refresh_key_set()
        elif time.monotonic() - self._fetched_at > self._jwks_max_age:
            # Keep verifying with the cached keys while the idp is unreachable.
            with contextlib.suppress(KeySetUnavailable):
                self._refresh_key_set()

    def _refresh_key_set(self) -> None:
        """Fetch the JWKS, unless another attempt was made very recently."""
        now = time.monotonic()
        if now - self._attempted_at < self._min_refetch_interval:
            if self._key_set is None:
                raise KeySetUnavailable(f"the JWKS at {self.jwks_uri} could not be loaded recently")
            return
        self._attempted_at = now
        try:
            key_set = KeySet.import_key_set(dict(self._fetch(self.jwks_uri)))
        except Exception as error:  # network, HTTP, JSON and JWK errors alike
            raise KeySetUnavailable(f"could not load the JWKS from {self.jwks_uri}: {error}") from error
        self._key_set = key_set
        self._fetched_at = now

    def _find_key(self, kid: str, alg: str) -> Key | None:
        if self._key_set is None:
            return None
        try:
            # A published key that names another "alg" or "use" must not verify this token.
            return self._key_set.get_by_kid(kid, {"alg": alg, "use": "sig"})
        except InvalidKeyIdError:
            return None

    # -- signature and claims -----------------------------------------------

    def _verified_claims(self, token: str, key: Key) -> dict[str, Any]:
        try:
            return jwt.decode(token, key, registry=self._jws_registry).claims
        except BadSignatureError:
            raise _invalid("The token signature is invalid") from None
        except (JoseError, ValueError, TypeError):
            raise _invalid("The access token could not be decoded") from None

    def _check_claims(self, claims: dict[str, Any]) -> None:
        required = {name: {"essential": True} for name in REQUIRED_CLAIMS}
        required["iss"]["value"] = self.issuer
        required["aud"]["value"] = self.audience
        registry = jwt.JWTClaimsRegistry(leeway=self.leeway, **required)
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise _invalid("The token has expired") from None
        except MissingClaimError as error:
            raise _invalid(f"The token lacks the {error.claim} claim") from None
        except ClaimError as error:
            raise _invalid(f"The token's {error.claim} claim is not acceptable") from None

    def _check_scope(self, claims: dict[str, Any]) -> None:
        if self.required_scope is None:
            return
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise _invalid("The token's scope claim must be a space-separated string")
        if self.required_scope not in scope.split():
            raise InvalidAccessToken(INSUFFICIENT_SCOPE, f"The token does not grant the {self.required_scope} scope")


def www_authenticate(error: InvalidAccessToken | None = None, scope: str | None = None) -> str:
    """The ``WWW-Authenticate`` value for a refused request (RFC 6750 section 3).

    Without ``error`` (the request carried no token at all) the challenge has
    no error code, as section 3.1 asks.
    """
    params = []
    if error is not None:
        params.append(f'error="{_quotable(error.error)}"')
        params.append(f'error_description="{_quotable(error.description)}"')
        if error.error == INSUFFICIENT_SCOPE and scope:
            params.append(f'scope="{_quotable(scope)}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _quotable(text: str) -> str:
    # RFC 6750 allows only printable ASCII without '"' and '\' in these values.
    return "".join(ch for ch in text if " " <= ch <= "~" and ch not in '"\\')


def _invalid(description: str) -> InvalidAccessToken:
    return InvalidAccessToken(INVALID_TOKEN, description)
