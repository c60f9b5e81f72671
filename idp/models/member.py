"""A member of the program and, once activated, their online account."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The OpenID `sub`: random and opaque, never derived from the email or membership number,
    # so it survives changes to either and reveals nothing.
    subject: Mapped[str] = mapped_column(String(43), unique=True)
    membership_number: Mapped[str] = mapped_column(String(11), unique=True)
    nik: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    # Stored lower-cased; the unique index therefore makes it unique case-insensitively.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(8), default="id")
    # The zone the pages show times in (idp.i18n.TIME_ZONES); None: i18n.timezone.
    time_zone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(Text)
    # Self-activation sets a password before the email is verified; until the member opens
    # the verification link the account cannot sign in.
    activation_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised whenever something should invalidate "remember this browser" cookies
    # (a password reset, removing a second factor); cookies carry the epoch they were made in.
    security_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # argon2id through passlib; None until the member activates an online account.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Disabled by an operator (`idp members disable`), apart from the temporary lockout: the
    # member cannot sign in until `idp members enable`. Only the right password learns it.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def can_sign_in(self) -> bool:
        return self.password_hash is not None and not self.activation_pending

    def get_user_id(self) -> str:
        """Authlib asks for the user id to put in tokens: that is the opaque subject."""
        return self.subject
