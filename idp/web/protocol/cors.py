"""CORS for what browser-based relying parties (single-page apps, public clients) call directly.

Discovery and the JWKS are public: any origin. The token and UserInfo endpoints are not
cookie-authenticated, but they answer only origins that some registered client redirects
to, so an unrelated site's script cannot use them from a member's browser.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Flask, request
from sqlalchemy import select

from idp.db import get_session
from idp.models import Client

PUBLIC_ENDPOINTS = {"oidc.discovery", "oidc.jwks"}
CLIENT_ENDPOINTS = {"oidc.token", "oidc.userinfo", "oidc.revocation"}


def init_app(app: Flask) -> None:
    @app.after_request
    def cors_headers(response):
        origin = request.headers.get("Origin")
        if not origin or request.endpoint not in PUBLIC_ENDPOINTS | CLIENT_ENDPOINTS:
            return response
        if request.endpoint in PUBLIC_ENDPOINTS:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif _is_registered_origin(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        else:
            return response
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response


def _is_registered_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        return False
    wanted = f"{parts.scheme}://{parts.netloc}".lower()
    for uris in get_session().scalars(select(Client.redirect_uris_json)):
        for uri in json.loads(uris):
            candidate = urlsplit(uri)
            if f"{candidate.scheme}://{candidate.netloc}".lower() == wanted:
                return True
    return False
