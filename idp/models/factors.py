"""Second factors: authenticator apps (TOTP), emailed codes, and recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base

FACTOR_TOTP = "totp"
FACTOR_EMAIL = "email"
# A passkey (WebAuthn); what WebAuthn needs besides is in models/passkeys.py.
FACTOR_PASSKEY = "passkey"
FACTOR_SMS = "sms"

# The ways a code is sent (EmailCode.channel): a sign-in code by email or SMS, and the code
# that verifies a mobile number before it is used for sign-in codes.
CHANNEL_EMAIL = "email"
CHANNEL_SMS = "sms"
CHANNEL_SMS_VERIFY = "sms_verify"


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
    # The factor the member chose to be asked for first (at most one per member).
    preferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RecoveryCode(Base):
    """A single-use fallback code, stored as a digest; regenerating voids the whole set."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class EmailCode(Base):
    """A one-time code sent to the member (by email, or by SMS: ``channel``), bound to one
    sign-in transaction (interaction) or account-page check. The table kept its first name."""

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
    channel: Mapped[str] = mapped_column(String(16), default=CHANNEL_EMAIL, server_default=CHANNEL_EMAIL)
    # The outbound job that delivers it (an SMS), so the page can say when delivery is delayed.
    delivery_job_id: Mapped[int | None] = mapped_column(Integer)
