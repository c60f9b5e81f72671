"""What the layers answering client calls in front of Flask share (UserInfo,
``web/protocol/userinfo.py``; introspection, ``web/protocol/introspection.py``): the one route
and method they take, the key snapshot they need fresh, the standing reads
(``idp.db.StandingReads``), and a 200 JSON answer with the headers the views send (no-store,
the security headers, the request id) and counted in the metrics. A subclass's ``answer``
gives the body, or None when Flask's view must answer instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from flask import Flask

from idp.db import standing_reads
from idp.runtime import runtime
from idp.services import keys as key_service
from idp.web import metrics, request_ids, security_headers


class ClientCallInFront(ABC):
    PATH: str
    METHOD: str
    ENDPOINT: str

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        current = runtime(app)
        self.app = app
        self.wsgi_app = wsgi_app
        self.issuer = current.settings.server.issuer
        self.trust_the_proxy = current.settings.server.trusted_proxies > 0
        self.retired_publish_seconds = current.settings.keys.retired_key_publish_seconds
        self.cache_seconds = current.settings.keys.cache_seconds
        self.reads = standing_reads(app)  # one connection per thread for both fast paths
        self.common_headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            *security_headers.headers_for(current.settings.issuer_is_https),
        ]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        taken = environ.get("PATH_INFO") == self.PATH and environ.get("REQUEST_METHOD") == self.METHOD
        body = self.answer(environ) if taken else None
        if body is None:
            return self.wsgi_app(environ, start_response)
        metrics.name_endpoint(environ, self.ENDPOINT)
        start_response(
            "200 OK",
            [
                ("Content-Length", str(len(body))),
                *self.common_headers,
                (request_ids.HEADER, request_ids.for_answer_in_front(environ, self.trust_the_proxy)),
            ],
        )
        return [body]

    @abstractmethod
    def answer(self, environ: dict) -> bytes | None:
        """The body the view would send with 200, or None when the view must answer."""

    def fresh_keys(self) -> key_service.PublishedKeys | None:
        """The published keys from this process's snapshot; None when it is due for a refresh
        from the database, which the view does."""
        return key_service.published_from_cache(self.reads.engine, self.retired_publish_seconds, self.cache_seconds)

    def json(self, value: dict) -> bytes:
        """``value`` as the view writes it; by default as Authlib's Flask integration does
        (``flask.json.dumps``, the app's JSON provider)."""
        return self.app.json.dumps(value).encode()
