"""Second factors: authenticator apps (TOTP), emailed codes, and recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base

FACTOR_TOTP = "totp"
FACTOR_EMAIL = "email"
# A passkey (WebAuthn); what WebAuthn needs besides is in models/passkeys.py.
FACTOR_PASSKEY = "passkey"


class SecondFactor(Base):
    """One enrolled factor. A TOTP factor is active only once ``confirmed_at`` is set (the member
    entered a valid code); its seed is encrypted at rest."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(100))
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # The last TOTP time step accepted: a code of that step or any older one is refused, so a
    # code is never accepted twice, in any process.
    last_used_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """A single-use fallback code, stored as a digest; regenerating voids the whole set."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class EmailCode(Base):
    """A one-time sign-in code sent by email, bound to one sign-in transaction (interaction)."""

    __tablename__ = "email_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # The interaction uid (sign-in transaction) the code belongs to.
    transaction: Mapped[str] = mapped_column(String(64), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
