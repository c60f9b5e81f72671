"""Signing keys, shared by every process and host through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base

KEY_ACTIVE = "active"
KEY_RETIRED = "retired"


class SigningKey(Base):
    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    public_jwk_json: Mapped[str] = mapped_column(Text)
    # The private JWK, encrypted with a key derived from server.secret_key (AES-GCM).
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Published from creation, but signs only from this time (`keys.publish_ahead_seconds`
    # after `idp keys rotate`), so relying parties have fetched it first. None: at once.
    sign_from: Mapped[datetime | None]
    # When it stops (or stopped) signing; may be in the future while a successor is announced.
    retired_at: Mapped[datetime | None]
