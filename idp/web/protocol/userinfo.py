"""UserInfo (OpenID Connect Core §5.3): the Flask view, which answers every case through
Authlib's UserInfo endpoint, and `BearerUserInfo`, in front of Flask, which answers the common
one, a GET with a good bearer token, in one statement and without Flask's request machinery.

Resource servers and relying parties call UserInfo after every sign-in and on every page
that shows the member's name, so it is one of the busiest endpoints (issue 12: at least 0.8
of a bare JSON endpoint). The fast path decides nothing of its own: it answers only what the
view would answer with 200 and the same body (``oauth/userinfo.py`` applies the same checks
and the same claims function), with the same headers. Anything else, an unknown, expired or
revoked token, a missing scope, a cross-origin call (CORS is the view's), a POST, a query
string, the key snapshot due for a refresh, the database away, goes to the view, which
answers it, errors and their ``WWW-Authenticate`` included.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import csrf
from idp.oauth.server import form_body_bearer_tokens, get_server
from idp.oauth.userinfo import USERINFO_SCOPE, released_claims
from idp.web.protocol import bp
from idp.web.protocol.in_front import ClientCallInFront

USERINFO_PATH = "/userinfo"
ENDPOINT = "oidc.userinfo"


@bp.route(USERINFO_PATH, methods=["GET", "POST"])
@csrf.exempt  # Bearer-token authenticated, not cookie authenticated.
def userinfo():
    if not request.headers.get("Authorization") and not form_body_bearer_tokens():
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


# The error codes RFC 6750 §3.1 defines.
_BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}


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


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app (inside the metrics timer, which wraps later)."""
    app.wsgi_app = BearerUserInfo(app, app.wsgi_app)  # type: ignore[method-assign]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1), as Authlib's
    resource protector reads it; None for any other header."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class BearerUserInfo(ClientCallInFront):
    """GET /userinfo with a good bearer token, answered in one statement."""

    PATH, METHOD, ENDPOINT = USERINFO_PATH, "GET", ENDPOINT

    def answer(self, environ: dict) -> bytes | None:
        if environ.get("QUERY_STRING") or environ.get("HTTP_ORIGIN"):
            return None
        token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        keys = self.fresh_keys()
        if keys is None:
            return None
        try:
            claims = released_claims(self.reads, token, keys.verified, self.issuer)
        except SQLAlchemyError:
            return None  # the view meets the same error and answers it (web/unavailable.py)
        if claims is None:
            return None
        return self.json(claims)
