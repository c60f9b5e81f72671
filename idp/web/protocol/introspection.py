"""The introspection endpoint (RFC 7662) for registered resource servers, and the revocation
endpoint (RFC 7009) for clients.

Benefit services that do not verify tokens offline introspect each one they are shown, so
introspection is as busy as UserInfo (issue 12). `IntrospectionFastPath`, in front of Flask,
answers a plain request (a form POST from a resource server whose credentials are right and
whose limits are not reached) with the view's answer, active or not, from standing reads
(``idp.db.StandingReads``). The view answers everything else: wrong credentials (it counts
the failure), a reached limit, a cross-site or cookie-carrying post, a form it must refuse,
the key snapshot due, the database away.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

from flask import Flask, current_app, jsonify, request
from limits.errors import StorageError
from sqlalchemy.exc import SQLAlchemyError

from idp.db import get_session
from idp.extensions import csrf
from idp.oauth.introspection import authenticated_introspection, introspect
from idp.oauth.server import get_server
from idp.services import resource_servers
from idp.web.protocol import bp
from idp.web.protocol.in_front import ClientCallInFront
from idp.web.ratelimits import TooManyRequests, client_authentication_limits

INTROSPECTION_PATH = "/introspect"
ENDPOINT = "oidc.introspection"
FORM_TYPE = "application/x-www-form-urlencoded"
# A token is at most 8192 characters (tokens.access_token_claims); a longer form is the view's.
LARGEST_FAST_FORM = 16384


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def credentials(authorization: str, form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The resource server's id and secret: HTTP Basic, or ``client_id`` and ``client_secret``
    in the form."""
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        name, sep, secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        return (unquote(name), unquote(secret)) if sep else (None, None)
    return form.get("client_id"), form.get("client_secret")


def claimed_name(name: str | None) -> str:
    """The name a resource server's limits are counted under."""
    return f"resource-server:{name or ''}"[:100]


@bp.post(INTROSPECTION_PATH)
@csrf.exempt  # Resource servers authenticate themselves; no browser session is involved.
def introspection():
    name, secret = credentials(request.headers.get("Authorization", ""), request.form)
    # The same limits as client authentication at /token: failures per address (and address
    # and claimed name), requests per resource server only once it has authenticated.
    limits = client_authentication_limits()
    claimed = claimed_name(name)
    limits.before(claimed)
    server = resource_servers.authenticate(get_session(), name, secret)
    if server is None:
        limits.failed(claimed)
        response = jsonify({"error": "invalid_client"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="introspection"'
        return _no_store(response)
    limits.succeeded_as(claimed)
    body = answer_body(current_app, introspect(server.audience, request.form.get("token")))
    return _no_store(current_app.response_class(body, mimetype=current_app.json.mimetype))


def answer_body(app: Flask, answer: dict) -> bytes:
    """An introspection answer as the view and the fast path both send it: compact JSON, as
    ``jsonify`` writes it outside debug mode (without building a response object, which was a
    tenth of the fast path's cost)."""
    return app.json.dumps(answer, separators=(",", ":")).encode() + b"\n"


@bp.post("/revoke")
@csrf.exempt  # Clients authenticate themselves (limited like /token, in authenticate_client).
def revocation():
    return _no_store(get_server().create_endpoint_response("revocation"))


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app (inside the metrics timer, which wraps later)."""
    app.wsgi_app = IntrospectionFastPath(app, app.wsgi_app)  # type: ignore[method-assign]


class IntrospectionFastPath(ClientCallInFront):
    """A resource server's plain introspection request, answered from standing reads."""

    PATH, METHOD, ENDPOINT = INTROSPECTION_PATH, "POST", ENDPOINT

    def json(self, value: dict) -> bytes:
        return answer_body(self.app, value)

    def answer(self, environ: dict) -> bytes | None:
        form = self._plain_form(environ)
        if form is None:
            return None
        keys = self.fresh_keys()
        if keys is None:
            return None
        name, secret = credentials(environ.get("HTTP_AUTHORIZATION", ""), form)
        claimed = claimed_name(name)
        # ProxyFix, when configured, wraps this layer too: REMOTE_ADDR is the client's.
        limits = client_authentication_limits(address_of=lambda: environ.get("REMOTE_ADDR") or "")
        with self.app.app_context():
            try:
                limits.before(claimed)
                answer = authenticated_introspection(
                    self.reads, keys.verified, self.issuer, name, secret, form.get("token")
                )
                if answer is None:
                    return None  # the view counts the failure and answers 401
                # Counted here; should this reach the limit, the view counts once more and
                # answers 429.
                limits.succeeded_as(claimed)
            except (TooManyRequests, StorageError, SQLAlchemyError):
                return None  # the view meets the same and answers it (429, 503)
            return self.json(answer)

    @staticmethod
    def _plain_form(environ: dict) -> dict[str, str] | None:
        """The form of a plain POST, or None. The body, once read, is put back for the view."""
        if environ.get("QUERY_STRING") or any(
            environ.get(header) for header in ("HTTP_ORIGIN", "HTTP_REFERER", "HTTP_COOKIE")
        ):
            return None  # cross-site and cookie checks are the view's (web/cross_site_posts.py)
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != FORM_TYPE:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= LARGEST_FAST_FORM:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return None
        form = dict(pairs)
        if len(form) != len(pairs) or any("\x00" in item for pair in pairs for item in pair):
            return None  # a repeated field, or a NUL (web/request_input.py refuses it)
        return form
