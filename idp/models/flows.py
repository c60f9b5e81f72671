"""Browser-side state kept on the server: sign-in sessions and pending authorization requests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base
from idp.errors import InteractionExpired


class BrowserSession(Base):
    """A server-side session. The cookie holds a random id; only its digest is stored, so a
    copy of the database does not hand out live sessions. ``member_id`` is set once the
    member has signed in, which lets logout, reset and "sign out everywhere" end sessions."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Public session id for the ID token `sid` claim (never the cookie value).
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    data_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    authenticated_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_address: Mapped[str | None] = mapped_column(String(64))

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.data_json)


INTERACTION_LOGIN = "login"
# The password was right; a second factor (or enrolling one) is still due. Nothing is issued
# and no session is signed in until it is done. A step-up of an existing session starts here.
INTERACTION_SECOND_FACTOR = "second_factor"
INTERACTION_CONSENT = "consent"
INTERACTION_READY = "ready"
INTERACTION_DONE = "done"


class Interaction(Base):
    """An authorization request held while the member signs in and consents.

    Bound to the browser session that started it, single use, and short-lived. The state
    moves only forward, through the methods below, each of which checks the current state
    (InteractionExpired otherwise); ``idp.services.interactions`` starts, loads and consumes::

        start ──must sign in──▶ login ──password_verified(member)──▶ second_factor
          │                       │                                  │   ▲ factor_proven(method):
          │                       │                                  │   └ a weaker factor passed
          │                       │                                  │     before enrolling one
          │                       └──login_completed(member)─┐       │
          ├──step-up of a session──▶ second_factor ──second_factor_passed()─┤
          ├──consent missing──▶ consent ◀──────────────(consent needed)─────┤
          │                       └──consented()──▶ ready ◀─────────────────┘
          └──nothing to do──────────────────────▶ ready ──consume()──▶ done
    """

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    browser_binding: Mapped[str] = mapped_column(String(64))
    # None for the account pages' own sign-in, which returns to ``return_to`` instead of a client.
    client_id: Mapped[str | None] = mapped_column(String(64))
    return_to: Mapped[str | None] = mapped_column(String(300))
    # The member this request is answered for, fixed once known: a different member
    # signing in to the same browser mid-way cannot inherit the pending request.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    params_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    # Set when this interaction's own login step succeeded: prompt=login and max_age are
    # satisfied by that sign-in, not by an older one.
    login_completed_at: Mapped[datetime | None]
    # The password step passed, the second factor not yet: nothing is issued in between.
    password_verified_at: Mapped[datetime | None]
    # The acr the relying party (acr_values, essential acr claim, or the client's registration)
    # requires; the second-factor step must reach it.
    required_acr: Mapped[str | None] = mapped_column(String(64))
    # A factor below the required level passed (e.g. an emailed code when an app is
    # required): the member may now set up one that reaches it.
    factor_proven_method: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    # The state is the row's version: the ORM writes a step only where the row still has the
    # state this request loaded (UPDATE ... WHERE state = <loaded>), and raises StaleDataError
    # otherwise (shown as an expired interaction: ``idp.errors``). So of two requests that
    # loaded the same step at once (a login form sent twice), the second cannot move the
    # interaction back from where the first took it, and be answered again.
    __mapper_args__ = {"version_id_col": state, "version_id_generator": False}

    @property
    def params(self) -> dict[str, str]:
        return json.loads(self.params_json)

    @property
    def is_own_sign_in(self) -> bool:
        """Whether this interaction's login step verified the password (not a step-up)."""
        return self.password_verified_at is not None

    def login_completed(self, member_id: int, consent_needed: bool) -> None:
        """The password was right and no second factor is due: the member is signed in."""
        self._expect(INTERACTION_LOGIN)
        self.member_id = member_id
        self.login_completed_at = utcnow()
        self.state = INTERACTION_CONSENT if consent_needed else INTERACTION_READY

    def password_verified(self, member_id: int) -> None:
        """The password was right and a second factor is due: fix the member, issue nothing yet."""
        self._expect(INTERACTION_LOGIN)
        self.member_id = member_id
        self.password_verified_at = utcnow()
        self.state = INTERACTION_SECOND_FACTOR

    def factor_proven(self, method: str) -> None:
        """A factor below the required level passed: enrolling a stronger one is allowed."""
        self._expect(INTERACTION_SECOND_FACTOR)
        self.factor_proven_method = method

    def second_factor_passed(self, consent_needed: bool) -> None:
        self._expect(INTERACTION_SECOND_FACTOR)
        if self.is_own_sign_in:
            # This interaction's own sign-in (password and second factor) is now complete.
            self.login_completed_at = utcnow()
        self.state = INTERACTION_CONSENT if consent_needed else INTERACTION_READY

    def consented(self) -> None:
        self._expect(INTERACTION_CONSENT)
        self.state = INTERACTION_READY

    def _expect(self, state: str) -> None:
        if self.state != state:
            raise InteractionExpired(f"step {state} is not current (state {self.state})")


class PasswordResetToken(Base):
    """A single-use link to choose a new password. Only the digest of the token is stored;
    a newer request or any password change voids it."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]


class EmailVerificationToken(Base):
    """A single-use link proving the member controls an address: on activation, and before an
    email change takes effect. Stored as a digest; a newer link voids older ones."""

    __tablename__ = "email_verification_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # "activation" or "email_change"
    purpose: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
