"""A client's public keys for private_key_jwt (RFC 7523): registered inline (``jwks``) or
fetched from its ``jwks_uri`` with a timeout and a size limit, cached per process, and fetched
again when an assertion names a kid the cached set lacks (the client rotated its keys)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

# An unknown kid refetches at most this often per client, so assertions with made-up kids
# cannot turn idp into a request generator against the client's server.
REFETCH_INTERVAL_SECONDS = 2


class ClientKeysUnavailable(Exception):
    """The client's JWKS could not be had (unreachable, too slow, too large, not a JWKS)."""


@dataclass(frozen=True)
class FetchLimits:
    timeout_seconds: float
    max_bytes: int
    cache_seconds: int


@dataclass
class _Fetched:
    jwks: dict[str, Any]
    fetched_at: float


_cache: dict[str, _Fetched] = {}
_lock = threading.Lock()


def parse_jwks(text: str | bytes) -> dict[str, Any]:
    try:
        jwks = json.loads(text)
    except (ValueError, UnicodeError):
        raise ClientKeysUnavailable("not JSON") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ClientKeysUnavailable("not a JWKS (no 'keys' list)")
    if any(not isinstance(key, dict) or "d" in key or key.get("kty") == "oct" for key in jwks["keys"]):
        # A private or symmetric key has no business in a published set.
        raise ClientKeysUnavailable("a JWKS of public keys only")
    return jwks


def fetch(uri: str, limits: FetchLimits) -> dict[str, Any]:
    """GET the JWKS at ``uri``: no redirects, at most ``max_bytes``, within the timeout."""
    started = time.monotonic()
    try:
        with requests.get(
            uri,
            timeout=limits.timeout_seconds,
            stream=True,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise ClientKeysUnavailable(f"jwks_uri answered {response.status_code}")
            body = b""
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > limits.max_bytes:
                    raise ClientKeysUnavailable("jwks_uri answered more than tokens.jwks_uri_max_bytes")
                if time.monotonic() - started > limits.timeout_seconds:
                    raise ClientKeysUnavailable("jwks_uri too slow")
    except requests.RequestException as error:
        raise ClientKeysUnavailable(f"jwks_uri unreachable: {type(error).__name__}") from None
    return parse_jwks(body)


def client_jwks(
    jwks_json: str | None, jwks_uri: str | None, limits: FetchLimits, wanted_kid: str | None = None
) -> dict[str, Any]:
    """The client's JWKS: the registered one, or its jwks_uri's (cached; refetched when
    stale, or when ``wanted_kid`` is missing from it and the last fetch is not too recent)."""
    if jwks_json:
        return parse_jwks(jwks_json)
    if not jwks_uri:
        raise ClientKeysUnavailable("the client registered no keys")
    now = time.monotonic()
    cached = _cache.get(jwks_uri)
    if cached is not None:
        fresh = now - cached.fetched_at < limits.cache_seconds
        known = wanted_kid is None or any(key.get("kid") == wanted_kid for key in cached.jwks["keys"])
        if fresh and (known or now - cached.fetched_at < REFETCH_INTERVAL_SECONDS):
            return cached.jwks
    jwks = fetch(jwks_uri, limits)
    with _lock:
        _cache[jwks_uri] = _Fetched(jwks=jwks, fetched_at=time.monotonic())
    return jwks
