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
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(lazy="joined")


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
