"""The introspection endpoint (RFC 7662) for registered resource servers, and the revocation
endpoint (RFC 7009) for clients."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import jsonify, request

from idp.db import get_session
from idp.extensions import csrf
from idp.oauth.introspection import introspect
from idp.oauth.server import get_server
from idp.services import resource_servers
from idp.web.protocol import bp
from idp.web.ratelimits import client_authentication_limits


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _basic_credentials() -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        name, sep, secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        return (unquote(name), unquote(secret)) if sep else (None, None)
    return request.form.get("client_id"), request.form.get("client_secret")


@bp.post("/introspect")
@csrf.exempt  # Resource servers authenticate themselves; no browser session is involved.
def introspection():
    name, secret = _basic_credentials()
    # The same limits as client authentication at /token: failures per address (and address
    # and claimed name), requests per resource server only once it has authenticated.
    limits = client_authentication_limits()
    claimed = f"resource-server:{name or ''}"[:100]
    limits.before(claimed)
    server = resource_servers.authenticate(get_session(), name, secret)
    if server is None:
        limits.failed(claimed)
        response = jsonify({"error": "invalid_client"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="introspection"'
        return _no_store(response)
    limits.succeeded_as(claimed)
    return _no_store(jsonify(introspect(server, request.form.get("token"))))


@bp.post("/revoke")
@csrf.exempt  # Clients authenticate themselves (limited like /token, in authenticate_client).
def revocation():
    return _no_store(get_server().create_endpoint_response("revocation"))
