"""OpenID Connect Back-Channel Logout 1.0: telling a client that a session it took part in
has ended, with a signed logout token POSTed to its ``backchannel_logout_uri``.

Run by the outbound queue (job kind ``backchannel_logout``, queued by
``idp.services.session_end``), never inside a member's request: a relying party that is slow,
down or hanging costs the member nothing. One try waits at most
``logout.backchannel_timeout_seconds``; a failed try is retried with the queue's backoff and
given up after ``outbound.max_attempts`` (audited). A 4xx answer other than 408 and 429 is
the RP refusing the token (§2.8): retrying cannot help, so the job is given up at once.
"""

from __future__ import annotations

import logging

import requests

from idp.clock import utcnow
from idp.db import get_session
from idp.models import Client
from idp.runtime import runtime
from idp.security.jose import sign_jwt_with
from idp.security.tokens import random_token
from idp.services import keys as key_service
from idp.services.clients import find_client
from idp.services.outbound import GiveUp

log = logging.getLogger("idp.backchannel_logout")

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # §2.4, as the spec's later errata recommend
_RETRYABLE_CLIENT_ERRORS = {408, 429}


class DeliveryFailed(Exception):
    """The relying party did not accept the logout token this time (retried)."""


def logout_token(client: Client, sub: str | None, sid: str | None) -> str:
    """A logout token for ``client`` (§2.4): iss, aud, iat, exp, jti, sub and sid, events;
    never a nonce. Signed like the client's ID tokens."""
    current = runtime()
    settings = current.settings
    now = int(utcnow().timestamp())
    claims: dict = {
        "iss": settings.server.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + settings.logout.logout_token_ttl_seconds,
        "jti": random_token(18),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    alg = client.id_token_signed_response_alg or settings.tokens.default_id_token_signing_alg
    signer = key_service.signer(get_session(), current.secrets.signing_keys, alg, settings.keys.cache_seconds)
    return sign_jwt_with(signer.key, signer.kid, signer.alg, claims, typ=LOGOUT_TOKEN_TYPE)


def deliver(payload: dict) -> None:
    """The queue's handler: POST a fresh logout token (a new jti and iat on every try)."""
    db = get_session()
    client = find_client(db, payload["client_id"])
    if client is None or not client.backchannel_logout_uri:
        raise GiveUp("the client or its back-channel logout URI is gone")
    token = logout_token(client, payload.get("sub"), payload.get("sid"))
    db.rollback()  # nothing to keep; do not hold a transaction open while waiting on the RP
    timeout = runtime().settings.logout.backchannel_timeout_seconds
    try:
        answer = requests.post(
            client.backchannel_logout_uri,
            data={"logout_token": token},
            headers={"Cache-Control": "no-store"},
            timeout=(timeout, timeout),
            allow_redirects=False,
        )
    except requests.RequestException as error:
        log.warning(
            "back-channel logout not delivered",
            extra={"client_id": client.client_id, "error": type(error).__name__},
        )
        raise DeliveryFailed(type(error).__name__) from None
    if 200 <= answer.status_code < 300:
        log.info("back-channel logout delivered", extra={"client_id": client.client_id, "status": answer.status_code})
        return
    log.warning("back-channel logout refused", extra={"client_id": client.client_id, "status": answer.status_code})
    if 400 <= answer.status_code < 500 and answer.status_code not in _RETRYABLE_CLIENT_ERRORS:
        raise GiveUp(f"the relying party answered {answer.status_code}")
    raise DeliveryFailed(f"the relying party answered {answer.status_code}")
