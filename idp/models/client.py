"""A registered relying party, with the Authlib ClientMixin methods it needs."""

from __future__ import annotations

import json
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from sqlalchemy import Boolean, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base
from idp.security.tokens import matches_digest

PUBLIC_CLIENT_AUTH_METHOD = "none"
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
TOKEN_ENDPOINT_AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, PUBLIC_CLIENT_AUTH_METHOD)
SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
ID_TOKEN_SIGNING_ALGS = ("RS256", "ES256")


class JsonList:
    """A list kept as JSON text in the column attribute ``column`` (lists of URIs and names
    that are only ever read whole)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def __get__(self, instance, owner=None) -> list[str]:
        if instance is None:
            return self  # type: ignore[return-value]
        return json.loads(getattr(instance, self.column))

    def __set__(self, instance, values: list[str]) -> None:
        setattr(instance, self.column, json.dumps(list(values)))


class Client(Base, ClientMixin):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of a 256-bit random secret; None for public clients. A fast digest is enough
    # for a secret that long, and keeps the token endpoint from becoming a hashing service.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris_json: Mapped[str] = mapped_column(Text, default="[]")
    scope: Mapped[str] = mapped_column(Text, default="openid")
    grant_types_json: Mapped[str] = mapped_column(Text, default='["authorization_code"]')
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    # The level every sign-in for this client must reach (an acr of
    # idp.services.assurance.LEVELS), as if the client asked for it as essential; None: any.
    required_acr: Mapped[str | None] = mapped_column(String(64))
    # RP-Initiated Logout 1.0: where the member may be sent after signing out (exact match).
    post_logout_redirect_uris_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # Back-Channel Logout 1.0: where logout tokens are POSTed when a session it took part in
    # ends; None: the client is not told.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    # The client needs `sid` in logout tokens (always sent by idp, so only advertised back).
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # --- token lifecycle (issue 9) ---
    # private_key_jwt: the client's public keys, inline (a JWKS as JSON) or by URL.
    jwks_json: Mapped[str | None] = mapped_column(Text)
    jwks_uri: Mapped[str | None] = mapped_column(Text)
    # Registered resource-server audiences (RFC 8707 `resource`) it may get tokens for,
    # besides tokens.access_token_audience.
    audiences_json: Mapped[str] = mapped_column(Text, default="[]")
    # Its own access-token lifetime (None: tokens.access_token_ttl_seconds).
    access_token_ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    # Registered policy: a refresh token with every code exchange, without offline_access.
    always_issue_refresh_token: Mapped[bool] = mapped_column(Boolean, default=False)

    redirect_uris = JsonList("redirect_uris_json")
    grant_types = JsonList("grant_types_json")
    audiences = JsonList("audiences_json")
    post_logout_redirect_uris = JsonList("post_logout_redirect_uris_json")

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_CLIENT_AUTH_METHOD

    @property
    def allowed_scopes(self) -> list[str]:
        return scope_to_list(self.scope) or []

    @property
    def client_metadata(self) -> dict:
        """What Authlib's UserInfo endpoint reads; we sign no UserInfo responses."""
        return {}

    # --- Authlib ClientMixin -------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # Never fall back to a registered URI: a request must name its redirect_uri exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.allowed_scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 §4.1.3): no prefix, case or port leniency.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret_hash is None:
            return False
        return matches_digest(client_secret, self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
