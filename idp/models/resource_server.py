"""A resource server (a benefit service) registered by the operator: the audience its access
tokens carry, and the credentials it introspects tokens with (RFC 7662)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base


class ResourceServer(Base):
    __tablename__ = "resource_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The `aud` of tokens meant for it, and the RFC 8707 `resource` value that selects it.
    audience: Mapped[str] = mapped_column(String(200), unique=True)
    # Its introspection credentials (HTTP Basic); the secret as a SHA-256 digest of 256 bits.
    introspection_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
