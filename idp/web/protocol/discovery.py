"""OpenID Provider metadata and the public signing keys.

Both are public, the same for every caller, and fetched far more often than they change
(every relying party and resource server at start-up, on each unknown `kid`, and whenever a
cache expires). So a GET or HEAD of either is answered by `PublicDocuments`, in front of
Flask, from bytes made once: no request context, no session, no hooks (issue 12: these
endpoints should cost no more than a bare JSON endpoint). It sends every header Flask's hooks
would have added (security headers, the request id, CORS for any origin). The Flask views
below answer the rest: OPTIONS, and the JWKS when this process's key snapshot is due for a
refresh (`services/keys.py`), after which the fast path has it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.http import parse_etags

from idp.db import get_engine, get_session
from idp.oauth.metadata import provider_metadata
from idp.runtime import runtime
from idp.services import keys as key_service
from idp.web import metrics, request_ids, security_headers
from idp.web.protocol import bp

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"
# Relying parties fetch the document at start-up and now and then; it changes only with the
# settings or the code, i.e. at a deploy. Caches revalidate after five minutes with the ETag.
DISCOVERY_CACHE_CONTROL = "public, max-age=300"
# Verifiers cache the keys; a new key is published `keys.publish_ahead` before it signs, so a
# five-minute cache never misses one.
JWKS_CACHE_CONTROL = "public, max-age=300"
DISCOVERY_TYPE = "application/json"
JWKS_TYPE = "application/jwk-set+json"
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


@bp.get(DISCOVERY_PATH)
def discovery():
    document = discovery_document(current_app)
    return _flask_response(document.body, document.etag, DISCOVERY_TYPE, DISCOVERY_CACHE_CONTROL)


@bp.get(JWKS_PATH)
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
    return _flask_response(published.body, published.etag, JWKS_TYPE, JWKS_CACHE_CONTROL)


def _flask_response(body: bytes, etag: str, content_type: str, cache_control: str):
    if _not_modified(request.headers.get("If-None-Match"), etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _not_modified(if_none_match: str | None, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match compares weakly; "*" matches any current representation.
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(etag)


def init_app(app: Flask) -> None:
    """Put the fast path in front of the app (inside the metrics timer, which wraps later)."""
    app.wsgi_app = PublicDocuments(app, app.wsgi_app)  # type: ignore[method-assign]


class PublicDocuments:
    """GET and HEAD of the discovery document and the JWKS, answered from prepared bytes."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        current = runtime(app)
        self.app = app
        self.wsgi_app = wsgi_app
        self.discovery = discovery_document(app)
        self.trust_the_proxy = current.settings.server.trusted_proxies > 0
        self.retired_publish_seconds = current.settings.keys.retired_key_publish_seconds
        self.cache_seconds = current.settings.keys.cache_seconds
        self.common_headers = security_headers.headers_for(current.settings.issuer_is_https)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path not in (DISCOVERY_PATH, JWKS_PATH) or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        if path == DISCOVERY_PATH:
            body, etag = self.discovery.body, self.discovery.etag
            content_type, cache_control, endpoint = DISCOVERY_TYPE, DISCOVERY_CACHE_CONTROL, "oidc.discovery"
        else:
            keys = key_service.published_from_cache(
                get_engine(self.app), self.retired_publish_seconds, self.cache_seconds
            )
            if keys is None:  # due for a refresh from the database: Flask's view does it
                return self.wsgi_app(environ, start_response)
            body, etag = keys.body, keys.etag
            content_type, cache_control, endpoint = JWKS_TYPE, JWKS_CACHE_CONTROL, "oidc.jwks"
        metrics.name_endpoint(environ, endpoint)
        headers = [("ETag", f'"{etag}"'), ("Cache-Control", cache_control), *self.common_headers]
        headers.append((request_ids.HEADER, request_ids.for_answer_in_front(environ, self.trust_the_proxy)))
        if environ.get("HTTP_ORIGIN"):
            headers.append(("Access-Control-Allow-Origin", "*"))
        if _not_modified(environ.get("HTTP_IF_NONE_MATCH"), etag):
            start_response("304 NOT MODIFIED", headers)
            return []
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
