"""Fixtures for the benefits-portal example: real keys, and a small OpenID
provider served over real HTTP on 127.0.0.1, so the portal and the verifier
run their genuine network code."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

AUDIENCE = "urn:benefit-services"
CLIENT_ID = "benefits-portal"
CLIENT_SECRET = "portal-test-secret"
MEMBER = {
    "sub": "4f9c2a7e-member",
    "name": "Siti Rahayu",
    "birthdate": "1984-03-17",
    "locale": "id-ID",
    "email": "siti@example.test",
    "email_verified": True,
    "membership_number": "22041984001",
}


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)


@pytest.fixture(scope="session")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)


@pytest.fixture
def issuer(rsa_key, ec_key):
    """A ``LocalIssuer`` publishing both keys and signing with the RSA key."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IssuerRequestHandler)
    host, port = server.server_address[:2]
    server.issuer = LocalIssuer(f"http://{host}:{port}", signing_key=rsa_key)
    server.issuer.publish(rsa_key, ec_key)
    # A short poll interval keeps shutdown() (and so every test) fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server.issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LocalIssuer:
    """The parts of idp the portal talks to: discovery, JWKS, token and UserInfo.

    The authorization endpoint is not served: ``approve`` plays the member
    signing in and returns the query string idp would redirect back with.
    Tests change ``published_keys``, ``id_token_overrides`` or
    ``access_token_overrides`` to make it misbehave.
    """

    def __init__(self, url: str, signing_key: Key):
        self.url = url
        self.signing_key = signing_key
        self.published_keys: list[dict[str, Any]] = []
        self.id_token_overrides: dict[str, Any] = {}
        self.access_token_overrides: dict[str, Any] = {}
        self.requests: dict[str, int] = {"discovery": 0, "jwks": 0, "token": 0, "userinfo": 0}
        self._pending_codes: dict[str, dict[str, str]] = {}
        self._issued_access_tokens: set[str] = set()
        self._lock = threading.Lock()

    def count_request(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/jwks"

    def publish(self, *keys: Key) -> None:
        self.published_keys = [key.as_dict(private=False) for key in keys]

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def access_token(
        self,
        key: Key,
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        without: tuple[str, ...] = (),
    ) -> str:
        """An RFC 9068 access token for ``MEMBER``; ``claims``/``header`` override, ``without`` drops claims."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "sub": MEMBER["sub"],
            "aud": AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "jti": secrets.token_hex(8),
            "client_id": CLIENT_ID,
            "scope": "openid profile email membership benefits:read",
        }
        body.update(claims or {})
        for name in without:
            body.pop(name)
        protected = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **(header or {})}
        return jwt.encode(protected, body, key, algorithms=[protected["alg"]])

    # -- the member at the authorization endpoint ---------------------------

    def approve(self, authorization_url: str, iss: str | None = None) -> str:
        """Consent to the portal's authorization request; return the callback's query string."""
        request = {name: values[0] for name, values in parse_qs(urlsplit(authorization_url).query).items()}
        assert request["response_type"] == "code"
        assert request["client_id"] == CLIENT_ID
        assert request["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self._pending_codes[code] = request
        return f"code={code}&state={request['state']}&iss={iss or self.url}"

    # -- HTTP endpoints -----------------------------------------------------

    def token_endpoint(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if authorization != "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode():
            return 401, {"error": "invalid_client"}
        request = self._pending_codes.pop(form.get("code", ""), None)
        if (
            request is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != request["redirect_uri"]
            or base64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) != request["code_challenge"]
        ):
            return 400, {"error": "invalid_grant"}
        claims = {"scope": request["scope"], **self.access_token_overrides}
        access_token = self.access_token(self.signing_key, claims=claims)
        with self._lock:
            self._issued_access_tokens.add(access_token)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": request["scope"],
            "id_token": self._id_token(request["nonce"], access_token),
        }

    def userinfo_endpoint(self, authorization: str | None) -> tuple[int, dict[str, Any]]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or token not in self._issued_access_tokens:
            return 401, {"error": "invalid_token"}
        return 200, dict(MEMBER)

    def _id_token(self, nonce: str, access_token: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims = {
            "iss": self.url,
            "sub": MEMBER["sub"],
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": nonce,
            "at_hash": base64url(digest[:16]),
            **self.id_token_overrides,
        }
        header = {"alg": self.signing_key.alg, "kid": self.signing_key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])


class _IssuerRequestHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        issuer: LocalIssuer = self.server.issuer
        path = urlsplit(self.path).path
        if path == "/.well-known/openid-configuration":
            self._count("discovery")
            self._send_json(200, issuer.metadata())
        elif path == "/jwks":
            self._count("jwks")
            self._send_json(200, {"keys": issuer.published_keys})
        elif path == "/userinfo":
            self._count("userinfo")
            self._send_json(*issuer.userinfo_endpoint(self.headers.get("Authorization")))
        else:
            self._send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/token":
            self._send_json(404, {"error": "not_found"})
            return
        self._count("token")
        length = int(self.headers.get("Content-Length", "0"))
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        self._send_json(*self.server.issuer.token_endpoint(form, self.headers.get("Authorization")))

    def _count(self, endpoint: str) -> None:
        self.server.issuer.count_request(endpoint)

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet
