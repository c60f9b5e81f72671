"""Test helpers that act as a relying party and as a member's browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

DEFAULT_REDIRECT_URI = "https://rp.example.test/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class AuthorizationRequest:
    """Builds /authorize URLs with state, nonce and PKCE, as a careful RP would."""

    client_id: str
    redirect_uri: str = DEFAULT_REDIRECT_URI
    scope: str = "openid profile email"
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    use_pkce: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()

    def params(self) -> dict:
        values = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
        }
        if self.use_pkce:
            values["code_challenge"] = self.challenge
            values["code_challenge_method"] = "S256"
        values.update(self.extra)
        return {k: v for k, v in values.items() if v is not None}

    def url(self) -> str:
        return "/authorize?" + urlencode(self.params())


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Browser:
    """Drives the hosted pages through the Flask test client, like a member would."""

    def __init__(self, client) -> None:
        self.client = client

    def start(self, request: AuthorizationRequest):
        return self.client.get(request.url())

    def login(self, interaction_location: str, identifier: str, password: str):
        page = self.client.get(path_of(interaction_location))
        assert page.status_code == 200, page.status_code
        uid = urlsplit(interaction_location).path.rsplit("/", 1)[-1]
        return self.client.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password},
        )

    def follow_to_client(self, response, allow_consent: bool = True, max_hops: int = 6):
        """Follow idp-internal redirects (consenting on the way) until one leaves for the RP."""
        for _ in range(max_hops):
            assert response.status_code in (302, 303), (response.status_code, response.text[:500])
            location = response.headers["Location"]
            if not location.startswith("/"):
                return location
            page = self.client.get(path_of(location))
            if page.status_code == 200 and 'data-testid="consent-form"' in page.text:
                uid = urlsplit(location).path.rsplit("/", 1)[-1]
                choice = {"allow": "Allow"} if allow_consent else {"deny": "Deny"}
                response = self.client.post(
                    f"/interaction/{uid}/consent", data={"csrf_token": csrf_token(page.text), **choice}
                )
            else:
                response = page
        raise AssertionError("too many redirects inside idp")

    def sign_in(self, request: AuthorizationRequest, identifier: str, password: str, allow_consent: bool = True) -> str:
        """The whole front channel: returns the redirect back to the client."""
        started = self.start(request)
        assert started.status_code == 303, (started.status_code, started.text[:500])
        logged_in = self.login(started.headers["Location"], identifier, password)
        return self.follow_to_client(logged_in, allow_consent=allow_consent)


def exchange_code(client, code: str, request: AuthorizationRequest, secret: str | None = None, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
    }
    headers = {}
    if secret is None:
        data["client_id"] = request.client_id
    else:
        basic = base64.b64encode(f"{request.client_id}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/token", data=data, headers=headers)


def verify_token(token: str, jwks: dict, algorithms=("RS256", "ES256")):
    """Verify a JWT as an independent RP would: joserfc, the published JWKS, our algorithms only."""
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(algorithms))


# --- Shared helpers for the HTTP tests ------------------------------------------------------

ISSUER = "http://idp.test"


def interaction_uid(location: str) -> str:
    """The uid of an /interaction/<uid> location."""
    path = urlsplit(location).path
    assert path.startswith("/interaction/"), location
    return path.rsplit("/", 1)[-1]


def assert_error_page(response, error: str | None = None) -> str:
    """Our own authorization error page: 400, never a redirect. Returns the error code shown."""
    assert response.status_code == 400, (response.status_code, response.headers.get("Location"))
    assert "Location" not in response.headers
    match = re.search(r'data-testid="authorization-error" data-error="([^"]*)"', response.text)
    assert match, response.text[:500]
    if error is not None:
        assert match.group(1) == error, match.group(1)
    return match.group(1)


def assert_error_redirect(response, request: AuthorizationRequest, error: str, issuer: str = ISSUER) -> dict:
    """An authorization error sent back to the client (RFC 6749 §4.1.2.1, RFC 9207)."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    location = response.headers["Location"]
    assert location.startswith(request.redirect_uri + "?"), location
    params = query_of(location)
    assert params.get("error") == error, params
    assert params.get("state") == request.state, params
    assert params.get("iss") == issuer, params
    assert "code" not in params
    return params


def code_from(location: str, request: AuthorizationRequest, issuer: str = ISSUER) -> str:
    """The code of a successful authorization response, after checking state and iss."""
    assert location.startswith(request.redirect_uri + "?"), location
    params = query_of(location)
    assert "error" not in params, params
    assert params["state"] == request.state
    assert params["iss"] == issuer
    return params["code"]


def half_hash(value: str) -> str:
    """at_hash / c_hash for the SHA-256 algorithms: base64url of the left half of the digest."""
    full = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(full[: len(full) // 2]).rstrip(b"=").decode()


def set_cookies(response) -> dict[str, dict]:
    """The cookies a response sets: name -> {"value": ..., lower-cased attribute: value or True}."""
    cookies: dict[str, dict] = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        parsed: dict = {"value": value}
        for attribute in attributes:
            key, sep, attr_value = attribute.partition("=")
            parsed[key.lower()] = attr_value if sep else True
        cookies[name] = parsed
    return cookies


def login_page_uid(response) -> str:
    """The interaction uid a 303 from /authorize leads to."""
    assert response.status_code == 303, (response.status_code, response.headers.get("Location"), response.text[:300])
    return interaction_uid(response.headers["Location"])


class LoginPage:
    """One pending authorization request in one browser, to post sign-in attempts to."""

    def __init__(self, client, client_id: str) -> None:
        self.client = client
        started = Browser(client).start(AuthorizationRequest(client_id))
        assert started.status_code == 303
        self.location = started.headers["Location"]

    def attempt(self, identifier: str, password: str):
        page = self.client.get(path_of(self.location))
        return self.client.post(
            f"{path_of(self.location)}/login",
            data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password},
        )
