"""client_credentials (RFC 6749 §4.4) and private_key_jwt (RFC 7523, OpenID Connect Core §9),
with keys made here and a jwks_uri served by a real HTTP server started here."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.db import get_session
from idp.services import resource_servers
from tests.helpers.oidc import ISSUER, verify_token

TOKEN_URL = f"{ISSUER}/token"
PENSIONS = "https://pensions.example.test"


def basic(name: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


@pytest.fixture
def pensions(app):
    with app.app_context():
        db = get_session()
        resource_servers.create(db, "Pensions", PENSIONS)
        db.commit()
    return PENSIONS


@pytest.fixture
def service(make_client, pensions):
    return make_client(
        name="Batch payments",
        scopes=["openid", "benefits:read"],
        grant_types=["client_credentials"],
        audiences=[PENSIONS],
    )


def client_credentials(client, headers=None, **data):
    return client.post("/token", data={"grant_type": "client_credentials", **data}, headers=headers or {})


# --- client_credentials -------------------------------------------------------------------


def test_a_service_gets_an_access_token_for_itself_only(client, service):
    registered, secret = service
    answer = client_credentials(client, basic(registered.client_id, secret))

    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "benefits:read"  # member scopes (openid) mean nothing here
    claims = verify_token(body["access_token"], client.get("/jwks").json).claims
    assert claims["sub"] == registered.client_id == claims["client_id"]
    assert claims["aud"] == "urn:benefit-services" and "auth_time" not in claims
    # Not a member's token: UserInfo refuses it.
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401


def test_scopes_and_audiences_are_limited_to_the_registration(client, service, make_resource_server_elsewhere):
    registered, secret = service
    headers = basic(registered.client_id, secret)
    for scope in ("openid", "profile", "benefits:read email"):
        answer = client_credentials(client, headers, scope=scope)
        assert answer.status_code == 400 and answer.json["error"] == "invalid_scope", scope
    for resource in ("https://unknown.example.test", make_resource_server_elsewhere):
        answer = client_credentials(client, headers, resource=resource)
        assert answer.status_code == 400 and answer.json["error"] == "invalid_target", resource
    chosen = client_credentials(client, headers, scope="benefits:read", resource=PENSIONS)
    assert verify_token(chosen.json["access_token"], client.get("/jwks").json).claims["aud"] == PENSIONS


@pytest.fixture
def make_resource_server_elsewhere(app):
    with app.app_context():
        db = get_session()
        resource_servers.create(db, "Other", "https://other.example.test")
        db.commit()
    return "https://other.example.test"


def test_only_clients_registered_for_it_may_use_client_credentials(client, make_client):
    registered, secret = make_client()
    answer = client_credentials(client, basic(registered.client_id, secret))
    assert answer.status_code == 400 and answer.json["error"] == "unauthorized_client"
    answer = client_credentials(client, basic(registered.client_id, "wrong"))
    assert answer.status_code == 401 and answer.json["error"] == "invalid_client"


# --- private_key_jwt ---------------------------------------------------------------------------


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(8), "alg": "RS256", "use": "sig"})


def public_jwks(*keys: RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(key: RSAKey, client_id: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60}
    claims["jti"] = secrets.token_urlsafe(16)
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def with_assertion(value: str, client_id: str | None = None) -> dict:
    data = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": value,
    }
    if client_id:
        data["client_id"] = client_id
    return data


@pytest.fixture
def key():
    return new_key()


@pytest.fixture
def jwt_service(make_client, key):
    registered, secret = make_client(
        name="Ledger",
        scopes=["benefits:read"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks=json.dumps(public_jwks(key)),
    )
    assert secret is None
    return registered


def test_private_key_jwt_with_registered_keys(client, jwt_service, key):
    answer = client_credentials(client, **with_assertion(assertion(key, jwt_service.client_id)))
    assert answer.status_code == 200, answer.text
    claims = verify_token(answer.json["access_token"], client.get("/jwks").json).claims
    assert claims["client_id"] == jwt_service.client_id


def test_the_issuer_is_an_accepted_audience_too(client, jwt_service, key):
    value = assertion(key, jwt_service.client_id, aud=ISSUER)
    assert client_credentials(client, **with_assertion(value)).status_code == 200


def test_a_replayed_assertion_is_refused(client, jwt_service, key):
    value = assertion(key, jwt_service.client_id)
    assert client_credentials(client, **with_assertion(value)).status_code == 200
    replay = client_credentials(client, **with_assertion(value))
    assert replay.status_code == 400 and replay.json["error"] == "invalid_client"


def test_a_replay_is_refused_by_another_process_too(app_config, client, jwt_service, key):
    """The jti is held in the database, not in one process's memory."""
    from idp import create_app
    from idp.db import get_engine

    value = assertion(key, jwt_service.client_id)
    assert client_credentials(client, **with_assertion(value)).status_code == 200
    other = create_app(app_config)
    try:
        replay = client_credentials(other.test_client(), **with_assertion(value))
    finally:
        get_engine(other).dispose()
    assert replay.status_code == 400 and replay.json["error"] == "invalid_client"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example.test/token"},
        {"exp": int(time.time()) + 3600},  # longer than tokens.client_assertion_max_lifetime_seconds
        {"exp": int(time.time()) - 120},
        {"exp": None},
        {"jti": None},
        {"iss": "someone-else"},
    ],
)
def test_bad_assertions_are_invalid_client(client, jwt_service, key, overrides):
    answer = client_credentials(client, **with_assertion(assertion(key, jwt_service.client_id, **overrides)))
    # invalid_client; 400, not 401, as no Authorization header was used (RFC 6749 §5.2).
    assert answer.status_code == 400 and answer.json["error"] == "invalid_client", overrides


def test_an_assertion_signed_by_another_key_is_refused(client, jwt_service, key):
    stranger = new_key(kid=key.kid)
    answer = client_credentials(client, **with_assertion(assertion(stranger, jwt_service.client_id)))
    assert answer.status_code == 400 and answer.json["error"] == "invalid_client"


def test_a_secret_is_no_way_in_for_a_private_key_jwt_client(client, jwt_service):
    answer = client_credentials(client, basic(jwt_service.client_id, "anything"))
    assert answer.status_code == 401


# --- jwks_uri ---------------------------------------------------------------------------


class JwksServer:
    """A real HTTP server publishing a JWKS; ``keys`` can change, ``delay`` and ``padding``
    make it slow or large; ``hits`` counts requests."""

    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.delay = 0.0
        self.padding = 0
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                time.sleep(outer.delay)
                body = json.dumps({**public_jwks(*outer.keys), "pad": "x" * outer.padding}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def jwks_server():
    with JwksServer().running() as server:
        yield server


@pytest.fixture
def uri_service(make_client, jwks_server):
    registered, _ = make_client(
        name="Ledger",
        scopes=["benefits:read"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=jwks_server.url,
    )
    return registered


def test_keys_from_jwks_uri_are_cached_and_refetched_for_an_unknown_kid(client, uri_service, jwks_server):
    first = new_key()
    jwks_server.keys = [first]
    for _ in range(2):
        answer = client_credentials(client, **with_assertion(assertion(first, uri_service.client_id)))
        assert answer.status_code == 200, answer.text
    assert jwks_server.hits == 1  # cached

    # The client rotates: a new kid makes idp fetch again (not more than every 2 seconds).
    second = new_key()
    jwks_server.keys = [second]
    time.sleep(2.1)
    answer = client_credentials(client, **with_assertion(assertion(second, uri_service.client_id)))
    assert answer.status_code == 200, answer.text
    assert jwks_server.hits == 2


@pytest.mark.settings(tokens={"jwks_uri_timeout_seconds": 1})
def test_a_slow_jwks_uri_is_given_up_on_within_the_timeout(client, uri_service, jwks_server):
    key = new_key()
    jwks_server.keys = [key]
    jwks_server.delay = 3
    started = time.monotonic()
    answer = client_credentials(client, **with_assertion(assertion(key, uri_service.client_id)))
    assert answer.status_code == 400 and answer.json["error"] == "invalid_client"
    assert time.monotonic() - started < 2.5


@pytest.mark.settings(tokens={"jwks_uri_max_bytes": 4096})
def test_a_too_large_jwks_is_refused(client, uri_service, jwks_server):
    key = new_key()
    jwks_server.keys = [key]
    jwks_server.padding = 10_000
    answer = client_credentials(client, **with_assertion(assertion(key, uri_service.client_id)))
    assert answer.status_code == 400 and answer.json["error"] == "invalid_client"
