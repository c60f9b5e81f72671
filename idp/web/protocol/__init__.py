"""The protocol endpoints (blueprint ``oidc``): discovery and JWKS, the authorization endpoint
and its resumption, the token endpoint and UserInfo."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oidc", __name__)

# The endpoint modules add their routes to ``bp``.
from idp.web.protocol import authorize, discovery, introspection, token  # noqa: E402,F401
