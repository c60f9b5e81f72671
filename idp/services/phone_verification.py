"""Proving a mobile number is the member's before it is used for sign-in codes: a code sent
to it by SMS (``second_factor.send_sms_code``, channel sms_verify: bound to the transaction
and to the number, short-lived, a few tries, a resend interval, the newest voids the older),
typed back on the profile page or during activation, and checked under the member's
second-factor lockout like every code idp sends. A number that changes is unverified again
(``profile.update_contact``, ``member_import``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from idp.models import Member
from idp.models.factors import CHANNEL_SMS_VERIFY
from idp.runtime import SecretsAtRest
from idp.services import audit
from idp.services import second_factor as factors
from idp.services.audit import RequestOrigin
from idp.settings import LockoutSettings, SecuritySettings, SmsSettings


def send_code(
    db: Session, member: Member, transaction: str, secrets: SecretsAtRest, sms: SmsSettings, origin: RequestOrigin
) -> None:
    """Text a verification code to the member's (unverified) number. Raises CodeTooSoon,
    SmsFactorUnavailable (no number to verify, or SMS off) or SmsBudgetUsedUp."""
    factors.send_sms_code(db, member, transaction, CHANNEL_SMS_VERIFY, secrets, sms, origin)


def code_sent(db: Session, member: Member, transaction: str | None) -> str | None:
    """The delivery of the newest verification text of this transaction (see
    ``second_factor.sms_delivery``), None when none was sent."""
    return factors.sms_delivery(db, member.id, transaction, CHANNEL_SMS_VERIFY)


def verify(
    db: Session,
    member: Member,
    transaction: str,
    code: str,
    secrets: SecretsAtRest,
    security: SecuritySettings,
    sms: SmsSettings,
    policy: LockoutSettings,
    origin: RequestOrigin,
) -> factors.CodeCheck:
    """Check the code under the second-factor lockout (AccountLocked while locked, or when
    this try starts a lock); when right, the number is verified."""
    result = factors.check_code(
        db, member, factors.PHONE_VERIFICATION, code, transaction, secrets, security, policy, origin, sms=sms
    )
    if result.ok:
        member.phone_verified = True
        audit.record(db, "phone_verified", "success", origin, member_id=member.id)
        db.commit()
    return result
