"""Failure counters and locks, one row per account (or per unknown identifier) and kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base

PASSWORD_FAILURES = "password"
SECOND_FACTOR_FAILURES = "second_factor"


class LoginThrottle(Base):
    """Counts sign-in failures for one subject and decides locks.

    ``subject_key`` is ``member:<id>`` when the identifier names an account, so every spelling
    of it (email, membership number, letter case) shares one counter; otherwise
    ``identifier:<digest>``, so an unknown identifier is locked exactly like a real one.
    Every change is a single conditional UPDATE, so concurrent attempts from many processes
    cannot overrun the limit.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("subject_key", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # Attempts counted in the current failure window (each reserved before the check).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    # Evaluations in the current hour: the hard cap of 100 per account per hour.
    hourly_attempts: Mapped[int] = mapped_column(Integer, default=0)
    hour_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(index=True)
    # How many locks so far: each one doubles the next duration.
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    permanently_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # The lockout.max_failures in force when ``failures`` was last counted: after a policy
    # change (a lower max_failures) old counts are not a lock nobody announced.
    counted_under_max_failures: Mapped[int | None] = mapped_column(Integer)
    lock_reason: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(100))
