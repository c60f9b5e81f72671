"""The id of each request: on every log line it causes (``idp.logs``), on the error pages, and
in the ``X-Request-ID`` response header, so a member's "reference" and an operator's log
search meet. Behind a trusted proxy (``server.trusted_proxies``) the proxy's own id is taken,
so its access log and idp's lines share it; from anywhere else a client cannot choose it."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from idp.logs import request_id
from idp.runtime import settings

HEADER = "X-Request-ID"
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{8,64}")


def from_proxy(incoming: str | None, trust_the_proxy: bool) -> str | None:
    """The proxy's id, when the proxy is trusted and the id is of an accepted shape."""
    if trust_the_proxy and incoming and _ACCEPTED.fullmatch(incoming):
        return incoming
    return None


def for_answer_in_front(environ: dict, trust_the_proxy: bool) -> str:
    """The id of a request answered in front of Flask (web/protocol/discovery.py, in_front.py),
    where no request context makes one: the proxy's, or a new one."""
    return from_proxy(environ.get("HTTP_X_REQUEST_ID"), trust_the_proxy) or uuid.uuid4().hex


def init_app(app: Flask) -> None:
    trust_the_proxy = settings(app).server.trusted_proxies > 0

    @app.before_request
    def take_the_proxys_id():
        taken = from_proxy(request.headers.get(HEADER), trust_the_proxy)
        if taken is not None and "request_id" not in g:
            g.request_id = taken

    @app.after_request
    def tell_the_id(response):
        response.headers[HEADER] = request_id()
        return response
