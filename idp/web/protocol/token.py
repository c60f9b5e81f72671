"""The token endpoint and UserInfo: called by relying parties, never by a browser session."""

from __future__ import annotations

from flask import current_app, request

from idp.extensions import csrf
from idp.oauth.server import get_server
from idp.web.protocol import bp


@bp.post("/token")
@csrf.exempt  # Clients authenticate themselves; there is no browser session to forge.
def token():
    # Rate limited around client authentication (``web.ratelimits.client_authentication_limits``):
    # per client only once it has authenticated, failures per address.
    response = get_server().create_token_response()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt  # Bearer-token authenticated, not cookie authenticated.
def userinfo():
    if not request.headers.get("Authorization"):
        # RFC 6750 §3.1: a request with no credentials at all gets the challenge without an
        # error code (Authlib would say "missing_authorization", which is not a 6750 code).
        response = current_app.response_class(status=401)
        response.headers["WWW-Authenticate"] = "Bearer"
        response.headers["Cache-Control"] = "no-store"
        return response
    response = get_server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    _bearer_challenge(response)
    return response


# The error codes RFC 6750 §3.1 defines, and the scope UserInfo needs (OpenID Connect Core §5.3).
_BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}
USERINFO_SCOPE = "openid"


def _bearer_challenge(response) -> None:
    """RFC 6750 §3: every error answer carries ``WWW-Authenticate: Bearer error=...``
    (Authlib adds it for invalid_token, not for insufficient_scope), and insufficient_scope
    names the scope needed."""
    if response.status_code < 400 or "WWW-Authenticate" in response.headers:
        return
    error = (response.get_json(silent=True) or {}).get("error")
    if error not in _BEARER_ERRORS:
        return
    challenge = f'Bearer error="{error}"'
    if error == "insufficient_scope":
        challenge += f', scope="{USERINFO_SCOPE}"'
    response.headers["WWW-Authenticate"] = challenge
