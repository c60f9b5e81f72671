"""Second factors: authenticator apps (TOTP), codes sent by email or SMS, passkeys and recovery codes.

Enrolment, verification and removal, as plain functions over a database session. The rules:
- a TOTP code is accepted once per member and time step, and never for a step older than
  the last one accepted: ``last_used_step`` moves forward with one conditional UPDATE, so two
  processes racing with the same code cannot both win;
- a code sent by email or SMS (and the code that verifies a mobile number) is 6 digits,
  bound to one sign-in transaction (a text's also to its number), single use, short-lived,
  stored as a keyed digest, allowed ``max_tries`` wrong entries, and voided by a newer one;
- recovery codes are single use, stored as digests, and regenerating them voids the old set;
- a passkey (WebAuthn, the ceremonies in ``idp.services.passkeys``) is enrolled and removed
  like any factor; its assertions, as a second factor or to sign in without a password, are
  counted by the same lockout (``check_code``, ``sign_in_with_passkey``);
- every code check is counted by the second-factor lockout (``check_code``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import IdpError
from idp.models import EmailCode, Member, RecoveryCode, SecondFactor
from idp.models.factors import (
    CHANNEL_EMAIL,
    CHANNEL_SMS,
    CHANNEL_SMS_VERIFY,
    FACTOR_EMAIL,
    FACTOR_PASSKEY,
    FACTOR_SMS,
    FACTOR_TOTP,
)
from idp.models.lockout import PASSWORD_FAILURES, SECOND_FACTOR_FAILURES
from idp.models.outbound import JOB_DONE, JOB_FAILED
from idp.runtime import SecretsAtRest
from idp.security import totp
from idp.security.crypto import SecretBox
from idp.security.tokens import (
    constant_time_equals,
    digest,
    keyed_digest,
    normalize_recovery_code,
    random_digits,
    random_recovery_code,
)
from idp.services import assurance, audit, lockout, notifications, outbound, passkeys, text_messages
from idp.services.assurance import (
    METHOD_EMAIL,
    METHOD_PASSKEY,
    METHOD_PASSKEY_SIGN_IN,
    METHOD_RECOVERY,
    METHOD_SMS,
    METHOD_TOTP,
)
from idp.services.audit import RequestOrigin
from idp.services.identifiers import is_mobile_number
from idp.services.lockout import Guard, Verdict
from idp.settings import LockoutSettings, SecuritySettings, SmsSettings

RECOVERY_CODE_COUNT = 10
EMAIL_CODE_DIGITS = 6
MAX_TOTP_FACTORS = 5


class EmailCodeTooSoon(IdpError, status=429, message_id="email_code_too_soon"):
    """A new code was asked for less than ``resend_seconds`` after the previous one."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__("email code asked for too soon")
        self.retry_at = retry_at


# Every sent code's resend interval (emailed codes came first: the name stayed).
CodeTooSoon = EmailCodeTooSoon


class EmailFactorUnavailable(IdpError, message_id="email_factor_unavailable"):
    """Emailed codes need a verified email address."""


class SmsFactorUnavailable(IdpError, message_id="sms_factor_unavailable"):
    """Codes by SMS need SMS to be on and a verified mobile number (verification: a number)."""


class SmsBudgetUsedUp(IdpError, status=429, message_id="sms_budget_used_up"):
    """The number has had as many texts for this purpose as its budget allows for now."""


# check_code's method for the code that verifies a member's number (not a sign-in method).
PHONE_VERIFICATION = "phone_verification"


class TooManyFactors(IdpError, message_id="too_many_factors"):
    """A member has as many authenticator apps (or passkeys) as allowed."""


class PasskeyRefused(IdpError, message_id="passkey_refused"):
    """A passkey's registration did not verify (the reason is audited, not shown)."""


# --- what a member has ---------------------------------------------------------------------


# Prebuilt (see idp.db): every password sign-in asks what else the member has.
_ACTIVE_FACTORS = (
    select(SecondFactor)
    .where(SecondFactor.member_id == bindparam("member_id"), SecondFactor.confirmed_at.is_not(None))
    .order_by(SecondFactor.created_at, SecondFactor.id)
)


def active_factors(db: Session, member_id: int) -> list[SecondFactor]:
    """The member's confirmed factors, oldest first."""
    return list(db.scalars(_ACTIVE_FACTORS, {"member_id": member_id}))


def active_kinds(db: Session, member_id: int) -> set[str]:
    return {factor.kind for factor in active_factors(db, member_id)}


def unused_recovery_codes(db: Session, member_id: int) -> int:
    return db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.member_id == member_id, RecoveryCode.used_at.is_(None))
    )


def email_factor_possible(member: Member) -> bool:
    return bool(member.email) and member.email_verified


def possible_kinds(member: Member) -> set[str]:
    """The kinds of factor this member could enrol now."""
    kinds = {FACTOR_TOTP, FACTOR_PASSKEY} | ({FACTOR_EMAIL} if email_factor_possible(member) else set())
    return kinds | ({FACTOR_SMS} if sms_factor_possible(member) else set())


def usable_methods(db: Session, member: Member) -> list[str]:
    """The ways this member can pass a second-factor check now, the strongest first."""
    kinds = active_kinds(db, member.id)
    methods = []
    if FACTOR_PASSKEY in kinds:
        methods.append(METHOD_PASSKEY)
    if FACTOR_TOTP in kinds:
        methods.append(METHOD_TOTP)
    sent = []
    if FACTOR_EMAIL in kinds and email_factor_possible(member):
        sent.append(METHOD_EMAIL)
    if FACTOR_SMS in kinds and sms_factor_possible(member):
        sent.append(METHOD_SMS)
    # Strongest first: an operator may rank SMS codes above emailed ones (sms.acr).
    methods.extend(sorted(sent, key=lambda method: -assurance.rank(assurance.METHODS[method].acr)))
    if kinds and unused_recovery_codes(db, member.id):
        methods.append(METHOD_RECOVERY)
    return methods


# The method each kind of factor is passed with.
METHOD_OF_KIND = {FACTOR_TOTP: METHOD_TOTP, FACTOR_EMAIL: METHOD_EMAIL, FACTOR_SMS: METHOD_SMS}


def preferred_method(db: Session, member: Member, offered: list[str]) -> str | None:
    """The method of the factor the member chose to be asked for first, when it is among
    ``offered`` (a factor that cannot be used now, or does not reach the level, is skipped)."""
    for factor in active_factors(db, member.id):
        if factor.preferred and METHOD_OF_KIND.get(factor.kind) in offered:
            return METHOD_OF_KIND[factor.kind]
    return None


def set_preferred(db: Session, member: Member, factor_id: int, origin: RequestOrigin) -> SecondFactor | None:
    """Make one of the member's factors the one the challenge opens with (the others lose the
    mark). None when the member has no such factor."""
    factor = next((f for f in active_factors(db, member.id) if f.id == factor_id), None)
    if factor is None:
        return None
    db.execute(
        update(SecondFactor)
        .where(SecondFactor.member_id == member.id)
        .values(preferred=SecondFactor.id == factor.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(db, "second_factor_preferred", "success", origin, member_id=member.id, kind=factor.kind)
    db.commit()
    return factor


# --- authenticator apps -----------------------------------------------------------------------


def new_totp_seed(box: SecretBox) -> str:
    """A fresh seed, encrypted: kept (in the server-side session) until the member confirms it."""
    return box.encrypt(totp.new_seed().encode("ascii"))


def seed_of(encrypted_seed: str, box: SecretBox) -> str:
    return box.decrypt(encrypted_seed).decode("ascii")


def confirm_totp(
    db: Session,
    member: Member,
    encrypted_seed: str,
    code: str,
    box: SecretBox,
    label: str | None,
    origin: RequestOrigin,
) -> SecondFactor | None:
    """Activate an authenticator app once the member has typed a valid code from it; None when
    the code is wrong. The code's step counts as used, so it cannot sign in afterwards."""
    step = totp.verify(seed_of(encrypted_seed, box), code)
    if step is None:
        return None
    if len([f for f in active_factors(db, member.id) if f.kind == FACTOR_TOTP]) >= MAX_TOTP_FACTORS:
        raise TooManyFactors(f"at most {MAX_TOTP_FACTORS} authenticator apps")
    now = utcnow()
    factor = SecondFactor(
        member_id=member.id,
        kind=FACTOR_TOTP,
        label=(label or "").strip()[:100] or None,
        # Re-encrypted: a fresh nonce for what is stored.
        secret_encrypted=box.encrypt(seed_of(encrypted_seed, box).encode("ascii")),
        last_used_step=step,
        created_at=now,
        confirmed_at=now,
        last_used_at=now,
    )
    return _enrolled(db, member, factor, origin)


def _enrolled(
    db: Session, member: Member, factor: SecondFactor, origin: RequestOrigin, details: list | None = None
) -> SecondFactor:
    """Store a new factor (and ``details``, rows of its own that need its id, e.g. a passkey's
    credential); audited, and the member is told by mail."""
    db.add(factor)
    db.flush()
    for row in details or ():
        row.factor_id = factor.id
        db.add(row)
    db.flush()
    audit.record(db, "second_factor_enrolled", "success", origin, member_id=member.id, kind=factor.kind)
    db.commit()
    notifications.factor_notice(member, notifications.FACTOR_ENROLLED, factor.kind, origin)
    return factor


def verify_totp(db: Session, member_id: int, code: str, box: SecretBox) -> bool:
    """Whether the code is valid for one of the member's apps and its time step is newer than
    any accepted before (the step is recorded in the same conditional UPDATE)."""
    factors = [f for f in active_factors(db, member_id) if f.kind == FACTOR_TOTP and f.secret_encrypted]
    for factor in factors:
        step = totp.verify(seed_of(factor.secret_encrypted, box), code)
        if step is None:
            continue
        claimed = db.execute(
            update(SecondFactor)
            .where(
                SecondFactor.id == factor.id,
                or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step),
            )
            .values(last_used_step=step, last_used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return claimed.rowcount == 1
    return False


# --- passkeys -------------------------------------------------------------------------------


def enrol_passkey(
    db: Session,
    member: Member,
    relying_party: passkeys.RelyingParty,
    transaction: str,
    response_json: str,
    label: str | None,
    origin: RequestOrigin,
) -> SecondFactor:
    """Store the passkey a ``create()`` answer made, once it verifies against this
    transaction's challenge. Raises PasskeyRefused (audited) or TooManyFactors."""
    if len([f for f in active_factors(db, member.id) if f.kind == FACTOR_PASSKEY]) >= passkeys.MAX_PASSKEYS:
        raise TooManyFactors(f"at most {passkeys.MAX_PASSKEYS} passkeys")
    try:
        passkey = passkeys.verify_new_passkey(db, member, relying_party, transaction, response_json)
    except passkeys.CeremonyFailed as failed:
        audit.record(
            db,
            "second_factor_enrolled",
            "failure",
            origin,
            member_id=member.id,
            kind=FACTOR_PASSKEY,
            reason=str(failed)[:200],
        )
        db.commit()
        raise PasskeyRefused("the passkey did not verify") from failed
    now = utcnow()
    factor = SecondFactor(
        member_id=member.id,
        kind=FACTOR_PASSKEY,
        label=(label or "").strip()[: passkeys.LABEL_LENGTH] or None,
        created_at=now,
        confirmed_at=now,
    )
    return _enrolled(db, member, factor, origin, details=[passkey])


def _check_passkey(
    db: Session,
    member: Member,
    response_json: str,
    purpose: str,
    transaction: str | None,
    relying_party: passkeys.RelyingParty | None,
    origin: RequestOrigin,
) -> tuple[bool, str | None]:
    if relying_party is None or transaction is None:
        return False, "invalid"
    passkey = passkeys.find_passkey(db, response_json, member.id)
    if passkey is None:
        return False, "unknown"
    result = passkeys.verify_assertion(db, passkey, relying_party, response_json, purpose, transaction, origin)
    return result.ok, result.reason


@dataclass(frozen=True)
class PasskeySignIn:
    member: Member | None  # who signed in (None: refused)
    reason: str | None = None


def sign_in_with_passkey(
    db: Session,
    relying_party: passkeys.RelyingParty,
    response_json: str,
    transaction: str,
    policy: LockoutSettings,
    origin: RequestOrigin,
) -> PasskeySignIn:
    """A sign-in without a password: a discoverable passkey, user verified, answering this
    interaction's challenge. Counted by the member's second-factor lockout once the passkey
    names a member (AccountLocked while locked, or when this failure starts a lock); an
    unknown passkey names nobody to count against and is only audited."""
    passkey = passkeys.find_passkey(db, response_json, None)
    member = db.get(Member, passkey.member_id) if passkey is not None else None
    if member is None or not member.can_sign_in:
        audit.record(db, "second_factor", "failure", origin, method=METHOD_PASSKEY_SIGN_IN, reason="unknown")
        db.commit()
        return PasskeySignIn(None, "unknown")
    account_lock = lockout.current_lock(db, lockout.subject_key_for_member(member.id), PASSWORD_FAILURES)
    if account_lock is not None and account_lock.permanently_locked:
        # Locked until an operator unlocks it (`idp members lock`, or too many locks): no way in,
        # a passkey included. A temporary password lock does not stop a passkey: someone
        # guessing the password must not keep the member out.
        audit.record(db, "second_factor", "locked", origin, member_id=member.id, method=METHOD_PASSKEY_SIGN_IN)
        db.commit()
        raise lockout.AccountLocked(None)

    def check() -> Verdict:
        result = passkeys.verify_assertion(
            db, passkey, relying_party, response_json, passkeys.CHALLENGE_SIGN_IN, transaction, origin
        )
        if result.ok:
            return Verdict(ok=True, outcome="success")
        return Verdict(ok=False, outcome="failure", detail={"reason": result.reason})

    guard = replace(CODE_CHECK, detail={"method": METHOD_PASSKEY_SIGN_IN})
    verdict = lockout.guarded_check(db, guard, lockout.member_subject(member), policy, origin, check)
    if not verdict.ok:
        return PasskeySignIn(None, verdict.detail.get("reason"))
    # A whole sign-in, like a right password and its factor: in the trail as one.
    audit.record(db, "sign_in", "success", origin, member_id=member.id, method=METHOD_PASSKEY_SIGN_IN)
    db.commit()
    return PasskeySignIn(member)


# --- sent codes: by email, by SMS ------------------------------------------------------------
#
# One set of rules for every code idp sends (``EmailCode`` rows, by ``channel``): 6 digits,
# a keyed digest at rest bound to the transaction (and, for a text, to the number it went
# to), a short lifetime, ``max_tries`` wrong entries, a resend interval, and the newest code
# of a transaction voids the older ones of its channel.


@dataclass(frozen=True)
class CodeRules:
    ttl_seconds: int
    max_tries: int
    resend_seconds: int


def email_code_rules(security: SecuritySettings) -> CodeRules:
    return CodeRules(security.email_code_ttl_seconds, security.email_code_max_tries, security.email_code_resend_seconds)


def sms_code_rules(sms: SmsSettings) -> CodeRules:
    return CodeRules(sms.code_ttl_seconds, sms.code_max_tries, sms.code_resend_seconds)


def enable_email_factor(db: Session, member: Member, origin: RequestOrigin) -> SecondFactor:
    """Emailed codes as a factor (the address is already verified). Idempotent."""
    if not email_factor_possible(member):
        raise EmailFactorUnavailable("no verified email address")
    return _enable_sent_code_factor(db, member, FACTOR_EMAIL, origin)


def _enable_sent_code_factor(db: Session, member: Member, kind: str, origin: RequestOrigin) -> SecondFactor:
    for factor in active_factors(db, member.id):
        if factor.kind == kind:
            return factor
    now = utcnow()
    factor = SecondFactor(member_id=member.id, kind=kind, created_at=now, confirmed_at=now)
    return _enrolled(db, member, factor, origin)


def send_email_code(
    db: Session,
    member: Member,
    transaction: str,
    requested_by: str | None,
    secrets: SecretsAtRest,
    security: SecuritySettings,
    origin: RequestOrigin,
) -> None:
    """Issue a code for this sign-in transaction (voiding the earlier ones) and mail it,
    saying which site asked (``requested_by``, a client's name; None: idp's own pages).
    Raises EmailCodeTooSoon when the previous one is younger than the resend interval. Over
    the member's mail budget the mail is dropped silently, like every throttled mail."""
    rules = email_code_rules(security)
    check_resend(db, member.id, transaction, CHANNEL_EMAIL, rules)
    code, _ = issue_code(db, member.id, transaction, CHANNEL_EMAIL, secrets.code_digest_key, rules)
    audit.record(db, "email_code_sent", "success", origin, member_id=member.id)
    db.commit()
    email = notifications.email_code(member, code, requested_by, security.email_code_ttl_seconds, origin)
    notifications.send_within_budget(email, notifications.code_budget(member.id))


def check_resend(db: Session, member_id: int, transaction: str, channel: str, rules: CodeRules) -> None:
    """Raise CodeTooSoon when this transaction's newest code of ``channel`` is younger than
    the resend interval."""
    newest = db.scalar(
        select(func.max(EmailCode.created_at)).where(
            EmailCode.member_id == member_id, EmailCode.transaction == transaction, EmailCode.channel == channel
        )
    )
    if newest is not None and newest + timedelta(seconds=rules.resend_seconds) > utcnow():
        raise CodeTooSoon(newest + timedelta(seconds=rules.resend_seconds))


def issue_code(
    db: Session, member_id: int, transaction: str, channel: str, key: bytes, rules: CodeRules, bound_to: str = ""
) -> tuple[str, EmailCode]:
    """A new code for the transaction, voiding its earlier live ones of the channel. The
    caller checked the resend interval, records the audit event and commits."""
    now = utcnow()
    db.execute(
        update(EmailCode)
        .where(
            EmailCode.member_id == member_id,
            EmailCode.transaction == transaction,
            EmailCode.channel == channel,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    code = random_digits(EMAIL_CODE_DIGITS)
    record = EmailCode(
        member_id=member_id,
        transaction=transaction,
        channel=channel,
        code_digest=_code_digest(key, channel, transaction, code, bound_to),
        created_at=now,
        expires_at=now + timedelta(seconds=rules.ttl_seconds),
        attempts=0,
    )
    db.add(record)
    db.flush()
    return code, record


def latest_code(db: Session, member_id: int, transaction: str, channel: str) -> EmailCode | None:
    """The transaction's newest code of the channel that was not voided (used or not)."""
    return db.scalar(
        select(EmailCode)
        .where(
            EmailCode.member_id == member_id,
            EmailCode.transaction == transaction,
            EmailCode.channel == channel,
            EmailCode.voided_at.is_(None),
        )
        .order_by(EmailCode.created_at.desc(), EmailCode.id.desc())
        .limit(1)
    )


def email_code_sent(db: Session, member_id: int, transaction: str) -> bool:
    """Whether a code was sent for this transaction (and not voided since)."""
    return latest_code(db, member_id, transaction, CHANNEL_EMAIL) is not None


def verify_email_code(db: Session, member_id: int, transaction: str, code: str, key: bytes, max_tries: int) -> str:
    return verify_sent_code(db, member_id, transaction, CHANNEL_EMAIL, code, key, max_tries)


def verify_sent_code(
    db: Session,
    member_id: int,
    transaction: str,
    channel: str,
    code: str,
    key: bytes,
    max_tries: int,
    bound_to: str = "",
) -> str:
    """ "ok", or why not: "wrong", "expired", "exhausted" (too many tries) or "none" (no live
    code for this transaction). Each try is counted before the comparison."""
    now = utcnow()
    live = (EmailCode.used_at.is_(None), EmailCode.voided_at.is_(None))
    record = db.scalar(
        select(EmailCode)
        .where(
            EmailCode.member_id == member_id,
            EmailCode.transaction == transaction,
            EmailCode.channel == channel,
            *live,
        )
        .order_by(EmailCode.created_at.desc(), EmailCode.id.desc())
        .limit(1)
    )
    if record is None:
        return "none"
    if record.expires_at <= now:
        return "expired"
    counted = db.execute(
        update(EmailCode)
        .where(EmailCode.id == record.id, EmailCode.attempts < max_tries, EmailCode.expires_at > now, *live)
        .values(attempts=EmailCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    if counted.rowcount != 1:
        return "exhausted"
    typed = totp.normalize_code(code)
    expected = record.code_digest
    if typed is None or not constant_time_equals(_code_digest(key, channel, transaction, typed, bound_to), expected):
        return "wrong"
    used = db.execute(
        update(EmailCode)
        .where(EmailCode.id == record.id, *live)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return "ok" if used.rowcount == 1 else "none"


def _code_digest(key: bytes, channel: str, transaction: str, code: str, bound_to: str = "") -> str:
    # Bound to the transaction: the same digits for another sign-in are another digest; a text
    # also to its number, so a code sent to a number proves nothing about another one.
    if channel == CHANNEL_EMAIL:
        return keyed_digest(key, f"{transaction}:{code}")
    return keyed_digest(key, f"{channel}:{transaction}:{bound_to}:{code}")


# --- codes by SMS ---------------------------------------------------------------------------


def sms_factor_possible(member: Member) -> bool:
    """Codes by SMS need SMS to be on and a verified mobile number."""
    return (
        text_messages.sms_available()
        and bool(member.phone)
        and member.phone_verified
        and is_mobile_number(member.phone)
    )


def enable_sms_factor(db: Session, member: Member, origin: RequestOrigin) -> SecondFactor:
    """Codes by SMS as a factor (the number is already verified). Idempotent."""
    if not sms_factor_possible(member):
        raise SmsFactorUnavailable("no verified mobile number")
    return _enable_sent_code_factor(db, member, FACTOR_SMS, origin)


def send_sms_code(
    db: Session,
    member: Member,
    transaction: str,
    channel: str,
    secrets: SecretsAtRest,
    sms: SmsSettings,
    origin: RequestOrigin,
) -> EmailCode:
    """Issue a code for this transaction (voiding the earlier ones of the channel) and queue a
    text with it to the member's number: a sign-in code (channel sms: the number must be
    verified) or the code that verifies the number (channel sms_verify). Raises CodeTooSoon
    inside the resend interval, SmsFactorUnavailable without a usable number, and
    SmsBudgetUsedUp when the number's budget for this purpose is used up (nothing is sent)."""
    number = member.phone
    if channel == CHANNEL_SMS and not sms_factor_possible(member):
        raise SmsFactorUnavailable("no verified mobile number")
    if channel == CHANNEL_SMS_VERIFY and not phone_verification_possible(member):
        raise SmsFactorUnavailable("no mobile number to verify")
    rules = sms_code_rules(sms)
    check_resend(db, member.id, transaction, channel, rules)
    purpose = text_messages.PURPOSE_VERIFICATION if channel == CHANNEL_SMS_VERIFY else text_messages.PURPOSE_SIGN_IN
    if not text_messages.within_budget(purpose, number):
        audit.record(db, "sms_code_sent", "budget_used_up", origin, member_id=member.id, purpose=purpose)
        db.commit()
        raise SmsBudgetUsedUp(purpose)
    code, record = issue_code(db, member.id, transaction, channel, secrets.code_digest_key, rules, bound_to=number)
    audit.record(db, "sms_code_sent", "success", origin, member_id=member.id, purpose=purpose)
    db.commit()
    record.delivery_job_id = text_messages.queue_code(number, code, member.locale, purpose, record.id)
    db.commit()
    return record


def phone_verification_possible(member: Member) -> bool:
    """A number waiting to be verified, that can receive texts, with SMS on."""
    return (
        text_messages.sms_available()
        and bool(member.phone)
        and not member.phone_verified
        and is_mobile_number(member.phone)
    )


def sms_delivery(db: Session, member_id: int, transaction: str | None, channel: str = CHANNEL_SMS) -> str | None:
    """How the newest text of this transaction is doing, for the page: None (none sent),
    "queued", "sent", "delayed" (the gateway failed; the queue tries again) or "failed"
    (given up)."""
    if transaction is None:
        return None
    record = latest_code(db, member_id, transaction, channel)
    if record is None:
        return None
    state = outbound.job_state(db, record.delivery_job_id) if record.delivery_job_id else None
    if state is None or state.state == JOB_DONE:
        return "sent" if state is not None else "queued"
    if state.state == JOB_FAILED:
        return "failed"
    return "delayed" if state.retrying else "queued"


# --- recovery codes -------------------------------------------------------------------------


def generate_recovery_codes(db: Session, member: Member, origin: RequestOrigin) -> list[str]:
    """A new set of single-use codes (shown once); the previous set stops working."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.member_id == member.id))
    now = utcnow()
    codes = [random_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.add(RecoveryCode(member_id=member.id, code_digest=digest(code), created_at=now))
    audit.record(db, "recovery_codes_generated", "success", origin, member_id=member.id, count=len(codes))
    db.commit()
    return codes


def first_recovery_codes(db: Session, member: Member, origin: RequestOrigin) -> list[str]:
    """Recovery codes come with the first factor (shown once); later factors keep the set:
    a new set when the member has none left, else nothing."""
    if unused_recovery_codes(db, member.id):
        return []
    return generate_recovery_codes(db, member, origin)


def regenerate_recovery_codes(db: Session, member: Member, origin: RequestOrigin) -> list[str]:
    """A new set replacing the old one, at the member's request: they are told by mail."""
    codes = generate_recovery_codes(db, member, origin)
    notifications.factor_notice(member, notifications.RECOVERY_CODES_REGENERATED, None, origin)
    return codes


def use_recovery_code(db: Session, member_id: int, code: str) -> bool:
    normalized = normalize_recovery_code(code)
    if normalized is None:
        return False
    used = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.member_id == member_id,
            RecoveryCode.code_digest == digest(normalized),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return used.rowcount == 1


# --- checking a code, under the second-factor lockout ----------------------------------------

CODE_CHECK = Guard("second_factor", kind=SECOND_FACTOR_FAILURES, on_lock_started=notifications.lock_started)


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    # Why not, for the page: "wrong", and for emailed codes "expired", "exhausted", "none".
    reason: str | None = None


def check_code(
    db: Session,
    member: Member,
    method: str,
    code: str,
    transaction: str | None,
    secrets: SecretsAtRest,
    security: SecuritySettings,
    policy: LockoutSettings,
    origin: RequestOrigin,
    relying_party: passkeys.RelyingParty | None = None,
    sms: SmsSettings | None = None,
) -> CodeCheck:
    """Check one second-factor code under the member's second-factor lockout (a code that
    verifies the member's number, ``PHONE_VERIFICATION``, too: it is a code sent to them). Raises
    AccountLocked, without looking at the code, while that counter is locked, and when this
    wrong code starts a lock (the member is told by mail). For a passkey the "code" is the
    browser's ``get()`` answer (JSON) to this transaction's challenge."""

    def check() -> Verdict:
        reason = "wrong"
        if method == METHOD_TOTP:
            ok = verify_totp(db, member.id, code, secrets.totp_seeds)
        elif method == METHOD_RECOVERY:
            ok = use_recovery_code(db, member.id, code)
        elif method == METHOD_EMAIL and transaction is not None:
            result = verify_email_code(
                db, member.id, transaction, code, secrets.code_digest_key, security.email_code_max_tries
            )
            ok = result == "ok"
            reason = None if ok else result
        elif method == METHOD_PASSKEY:
            ok, reason = _check_passkey(
                db, member, code, passkeys.CHALLENGE_SECOND_FACTOR, transaction, relying_party, origin
            )
        elif method in (METHOD_SMS, PHONE_VERIFICATION) and transaction is not None and member.phone:
            channel = CHANNEL_SMS if method == METHOD_SMS else CHANNEL_SMS_VERIFY
            result = verify_sent_code(
                db, member.id, transaction, channel, code, secrets.code_digest_key, sms.code_max_tries, member.phone
            )
            ok = result == "ok"
            reason = None if ok else result
        else:
            ok = False
        if ok:
            return Verdict(ok=True, outcome="success")
        return Verdict(ok=False, outcome="failure", detail={"reason": reason})

    sms = sms or SmsSettings()
    guard = replace(CODE_CHECK, detail={"method": method})
    verdict = lockout.guarded_check(db, guard, lockout.member_subject(member), policy, origin, check)
    return CodeCheck(ok=verdict.ok, reason=verdict.detail.get("reason"))


def current_lock(db: Session, member_id: int):
    """The member's second-factor lock, if one is in force (for showing it before any try)."""
    return lockout.current_lock(db, lockout.subject_key_for_member(member_id), SECOND_FACTOR_FAILURES)


# --- removing -------------------------------------------------------------------------------


def remove_factor(db: Session, member: Member, factor_id: int, origin: RequestOrigin) -> SecondFactor | None:
    """Remove one of the member's factors. Remembered browsers stop working; when it was the
    last factor, the recovery codes go too. None when the member has no such factor."""
    factor = db.scalar(
        select(SecondFactor).where(
            SecondFactor.id == factor_id,
            SecondFactor.member_id == member.id,
            SecondFactor.confirmed_at.is_not(None),
        )
    )
    if factor is None:
        return None
    db.delete(factor)
    member.security_epoch += 1
    db.flush()
    if not active_factors(db, member.id):
        db.execute(delete(RecoveryCode).where(RecoveryCode.member_id == member.id))
    audit.record(db, "second_factor_removed", "success", origin, member_id=member.id, kind=factor.kind)
    db.commit()
    notifications.factor_notice(member, notifications.FACTOR_REMOVED, factor.kind, origin)
    return factor


@dataclass(frozen=True)
class FactorsReset:
    removed: int  # active factors removed
    notified: bool  # the member was mailed about it


def reset_by_operator(db: Session, member: Member, actor: str) -> FactorsReset:
    """Remove every factor, recovery code and pending emailed code of the member (support,
    for a member who lost their phone), record who did it, and tell the member by mail.
    Remembered browsers stop skipping the second factor; with security.require_mfa the
    member sets up a new factor at the next sign-in."""
    removed = _remove_all(db, member)
    outcome = "success" if removed else "no_factors"
    audit.record(db, "second_factor_reset", outcome, member_id=member.id, actor=actor, removed=removed)
    db.commit()
    email = notifications.factor_changed(member, notifications.FACTORS_RESET, None, origin=None) if removed else None
    if removed:
        notifications.send_notice(email, member, "second_factors_reset")
    return FactorsReset(removed=removed, notified=email is not None)


def _remove_all(db: Session, member: Member) -> int:
    removed = len(active_factors(db, member.id))
    db.execute(delete(SecondFactor).where(SecondFactor.member_id == member.id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.member_id == member.id))
    db.execute(
        update(EmailCode)
        .where(EmailCode.member_id == member.id, EmailCode.used_at.is_(None), EmailCode.voided_at.is_(None))
        .values(voided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    member.security_epoch += 1
    db.flush()
    return removed
