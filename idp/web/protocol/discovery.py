"""OpenID Provider metadata and the public signing keys."""

from __future__ import annotations

from flask import jsonify

from idp.db import get_session
from idp.oauth.metadata import provider_metadata
from idp.runtime import runtime
from idp.services import keys as key_service
from idp.web.protocol import bp


@bp.get("/.well-known/openid-configuration")
def discovery():
    settings = runtime().settings
    response = jsonify(provider_metadata(settings.server.issuer, settings.i18n.supported_locales))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/jwks")
def jwks():
    current = runtime()
    body = key_service.published_jwks(
        get_session(), current.settings.keys.retired_key_publish_seconds, current.secrets.signing_keys
    )
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.mimetype = "application/jwk-set+json"
    return response
