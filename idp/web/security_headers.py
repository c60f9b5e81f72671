"""Security headers on every response (OWASP ASVS V14.4): a CSP without inline script,
no framing, no MIME sniffing, no Referer, and HSTS on an https issuer."""

from __future__ import annotations

from flask import Flask

from idp.runtime import settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def headers_for(https: bool) -> list[tuple[str, str]]:
    """The headers every answer carries; also sent by the public documents' fast path
    (web/protocol/discovery.py), which answers before Flask's hooks run."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if https:
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers


def init_app(app: Flask) -> None:
    headers = headers_for(settings(app).issuer_is_https)

    @app.after_request
    def security_headers(response):
        for name, value in headers:
            response.headers.setdefault(name, value)
        return response
