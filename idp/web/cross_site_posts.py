"""Refuse browser form posts that say they come from another site.

Defence in depth beside the CSRF tokens: Flask-WTF's own https Referer check is off (our pages
send no Referer), so this checks ``Origin`` (or ``Referer``, when a browser sends one) on every
POST that a browser makes with our cookies. Endpoints for clients (token, userinfo, the
authorization endpoint's form-post variant) are cross-site by design and are left out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, request

from idp.runtime import settings

CROSS_SITE_BY_DESIGN = {"oidc.token", "oidc.userinfo", "oidc.authorize", "oidc.end_session"}


def init_app(app: Flask) -> None:
    issuer = urlsplit(settings(app).server.issuer)

    @app.before_request
    def same_origin_post() -> None:
        if request.method != "POST" or request.endpoint in CROSS_SITE_BY_DESIGN:
            return
        own = {(parts.scheme, parts.netloc) for parts in (issuer, urlsplit(request.host_url))}
        for header in ("Origin", "Referer"):
            value = request.headers.get(header)
            if not value or value == "null":
                # Privacy settings and our own no-referrer policy omit these; the CSRF token
                # still protects the post.
                continue
            parts = urlsplit(value)
            if (parts.scheme, parts.netloc) not in own:
                abort(400)
