"""OpenID Provider metadata and the public signing keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from flask import Flask, current_app, request

from idp.db import get_session
from idp.oauth.metadata import provider_metadata
from idp.runtime import runtime
from idp.services import keys as key_service
from idp.web.protocol import bp
from idp.web.ratelimits import not_rate_limited

# Relying parties fetch the document at start-up and now and then; it changes only with the
# settings or the code, i.e. at a deploy. Caches revalidate after five minutes with the ETag.
DISCOVERY_CACHE_CONTROL = "public, max-age=300"
_DISCOVERY_KEY = "idp.discovery_document"


@dataclass(frozen=True)
class DiscoveryDocument:
    """The metadata as the bytes sent, and their strong ETag (the same on every worker and
    host with the same settings, so a load balancer's caches agree)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, metadata: dict) -> DiscoveryDocument:
        body = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
        return cls(body=body, etag=hashlib.sha256(body).hexdigest()[:32])


def discovery_document(app: Flask) -> DiscoveryDocument:
    """Built once per app: nothing in it depends on the request."""
    document = app.extensions.get(_DISCOVERY_KEY)
    if document is None:
        settings = runtime(app).settings
        document = DiscoveryDocument.of(provider_metadata(settings.server.issuer, settings.i18n.supported_locales))
        app.extensions[_DISCOVERY_KEY] = document
    return document


@bp.get("/.well-known/openid-configuration")
@not_rate_limited
def discovery():
    document = discovery_document(current_app)
    if request.if_none_match.contains_weak(document.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(document.body, mimetype="application/json")
    response.set_etag(document.etag)
    response.headers["Cache-Control"] = DISCOVERY_CACHE_CONTROL
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
