"""The introspection endpoint (RFC 7662) for registered resource servers, and the revocation
endpoint (RFC 7009) for clients."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import jsonify, request

from idp.db import get_session
from idp.extensions import csrf, limiter
from idp.oauth.introspection import introspect
from idp.oauth.server import get_server
from idp.services import resource_servers
from idp.web.protocol import bp
from idp.web.ratelimits import client_key, token_limit


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
@limiter.limit(token_limit, key_func=client_key)
def introspection():
    name, secret = _basic_credentials()
    server = resource_servers.authenticate(get_session(), name, secret)
    if server is None:
        response = jsonify({"error": "invalid_client"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="introspection"'
        return _no_store(response)
    return _no_store(jsonify(introspect(server, request.form.get("token"))))


@bp.post("/revoke")
@csrf.exempt  # Clients authenticate themselves.
@limiter.limit(token_limit, key_func=client_key)
def revocation():
    return _no_store(get_server().create_endpoint_response("revocation"))
