"""Passkeys (WebAuthn credentials) and the challenges of their ceremonies.

A passkey is a second factor like the others: its ``SecondFactor`` row (kind "passkey")
carries the member's name for it, when it was added and last used, and goes through the
same enrolment, removal and reset; this table holds what WebAuthn needs besides, and goes
with that row (ON DELETE CASCADE)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base

CHALLENGE_REGISTER = "register"
CHALLENGE_SIGN_IN = "sign_in"  # passwordless: any discoverable passkey may answer
CHALLENGE_SECOND_FACTOR = "second_factor"  # the member's own passkeys only


class Passkey(Base):
    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    factor_id: Mapped[int] = mapped_column(ForeignKey("second_factors.id", ondelete="CASCADE"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # The authenticator's credential id, base64url (what an assertion names).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    # The WebAuthn user.id given at registration (random, one per member): a discoverable
    # passkey returns it at passwordless sign-in, and it must match.
    user_handle: Mapped[str] = mapped_column(String(100), index=True)
    # The authenticator's signature counter: it must grow when it is not zero, else the
    # passkey was copied (a cloned authenticator) and is refused.
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    # Backup eligibility never changes over a credential's life; the backup state may.
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_state: Mapped[bool] = mapped_column(Boolean, default=False)
    user_verified: Mapped[bool] = mapped_column(Boolean, default=False)  # at registration
    transports: Mapped[str | None] = mapped_column(String(100))  # space-separated hints
    aaguid: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PasskeyChallenge(Base):
    """One ceremony's challenge: single use (``used_at`` set with a conditional UPDATE), short
    lived, bound to a transaction (the interaction uid, or an account-page transaction kept in
    the server-side session), stored as a digest. A newer one for the same transaction and
    purpose voids the older."""

    __tablename__ = "passkey_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_digest: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    transaction: Mapped[str] = mapped_column(String(64), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    # A registration's: the user handle the options gave the authenticator (stored with the
    # passkey once it verifies).
    user_handle: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
