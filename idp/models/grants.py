"""What members grant to clients: authorization codes, issued tokens and remembered consents."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.clock import utcnow
from idp.db import Base
from idp.models.authentication import AuthenticationContext
from idp.models.member import Member


class AuthorizationCode(Base):
    """A code as Authlib sees it, but stored as a digest and remembered after use.

    Authlib's own mixin stores the raw code and derives expiry from ``auth_time``; this one
    keeps ``issued_at`` for expiry, the real sign-in time for ``auth_time``, and
    ``consumed_at`` so that a second use is detected and what the first use issued revoked.
    """

    __tablename__ = "authorization_codes"
    # The nonce replay check at /authorize looks up (client_id, nonce); queries by client_id
    # alone use the same index.
    __table_args__ = (Index("ix_authorization_codes_client_id_nonce", "client_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[datetime]
    acr: Mapped[str | None] = mapped_column(String(64))
    amr_json: Mapped[str] = mapped_column(Text, default="[]")
    session_sid: Mapped[str | None] = mapped_column(String(64))
    # RFC 8707: the registered audience the request named with `resource` (None: the default).
    resource: Mapped[str | None] = mapped_column(String(200))
    # The OpenID Connect `claims` request parameter (Core §5.5), as validated JSON, or None.
    claims_json: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(lazy="joined")

    # --- Authlib AuthorizationCodeMixin ----------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return json.loads(self.amr_json) or None

    @property
    def authentication(self) -> AuthenticationContext:
        return AuthenticationContext(
            auth_time=self.auth_time, acr=self.acr, amr=tuple(json.loads(self.amr_json)), sid=self.session_sid
        )


class IssuedToken(Base):
    """A record of every access token issued (by its `jti`), so tokens can be revoked:
    when their code is reused now, and by introspection, revocation and logout later."""

    __tablename__ = "issued_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    # None for a client_credentials token: the client acts for itself.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    # The sign-in session and refresh-token family it came from, so ending either revokes it.
    session_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    family_id: Mapped[str | None] = mapped_column(String(32), index=True)
    audience: Mapped[str | None] = mapped_column(String(200))
    # The `claims` request's userinfo member (Core §5.5), as JSON, for UserInfo; or None.
    claims_json: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    member: Mapped[Member | None] = relationship(lazy="joined")


class RefreshToken(Base):
    """One refresh token (RFC 6749 §6), stored as a digest. Every use rotates it: the row is
    marked used and a new one joins its family (RFC 9700 §4.14.2). A used token presented
    again revokes the whole family. The sign-in it came from (auth_time, acr, amr, sid)
    travels with it so refreshed ID tokens keep them."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    session_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    audience: Mapped[str | None] = mapped_column(String(200))
    auth_time: Mapped[datetime]
    acr: Mapped[str | None] = mapped_column(String(64))
    amr_json: Mapped[str] = mapped_column(Text, default="[]")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Idle lifetime: unused this long, the token expires.
    expires_at: Mapped[datetime]
    # Absolute lifetime of the family, counted from the sign-in's first token.
    family_expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(lazy="joined")

    @property
    def authentication(self) -> AuthenticationContext:
        return AuthenticationContext(
            auth_time=self.auth_time, acr=self.acr, amr=tuple(json.loads(self.amr_json)), sid=self.session_sid
        )


class ClientAssertionJti(Base):
    """A `jti` of a client assertion (RFC 7523) already accepted, kept until the assertion
    expires: the unique constraint refuses a replay, in every process at once."""

    __tablename__ = "client_assertion_jtis"
    __table_args__ = (UniqueConstraint("client_id", "jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SessionClient(Base):
    """A client that got tokens in a sign-in session (by its public ``sid``): when the session
    ends, these are the clients told by back-channel logout. Kept apart from the session row,
    which is gone by then."""

    __tablename__ = "session_clients"
    __table_args__ = (UniqueConstraint("sid", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    first_issued_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """Scopes a member has allowed a (third-party) client, remembered for next time."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("member_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
