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
    return response
