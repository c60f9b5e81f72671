"""The protocol endpoints (blueprint ``oidc``): discovery and JWKS, the authorization endpoint
and its resumption, the token endpoint and UserInfo, and the end_session_endpoint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oidc", __name__)

# The endpoint modules add their routes to ``bp``.
from idp.web.protocol import authorize, discovery, end_session, introspection, token, userinfo  # noqa: E402,F401
