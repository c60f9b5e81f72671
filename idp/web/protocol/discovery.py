"""OpenID Provider metadata and the public signing keys."""

from __future__ import annotations

from flask import current_app, jsonify, request

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
    """The published keys: the body is serialized once per key set and process (see
    services/keys.py), with an ETag, so a relying party revalidating gets a 304."""
    current = runtime()
    published = key_service.published(
        get_session(),
        current.settings.keys.retired_key_publish_seconds,
        current.settings.keys.cache_seconds,
        current.secrets.signing_keys,
    )
    if request.if_none_match.contains(published.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(published.body, mimetype="application/jwk-set+json")
    response.set_etag(published.etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
