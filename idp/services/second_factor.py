"""Second factors: authenticator apps (TOTP), emailed codes and recovery codes.

Enrolment, verification and removal, as plain functions over a database session. The rules:
- a TOTP code is accepted once per member and time step, and never for a step older than
  the last one accepted: ``last_used_step`` moves forward with one conditional UPDATE, so two
  processes racing with the same code cannot both win;
- an emailed code is 6 digits, bound to one sign-in transaction, single use, short-lived,
  stored as a keyed digest, allowed ``max_tries`` wrong entries, and voided by a newer one;
- recovery codes are single use, stored as digests, and regenerating them voids the old set;
- every code check is counted by the second-factor lockout (``check_code``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import IdpError
from idp.models import EmailCode, Member, RecoveryCode, SecondFactor
from idp.models.factors import FACTOR_EMAIL, FACTOR_TOTP
from idp.models.lockout import SECOND_FACTOR_FAILURES
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
from idp.services import audit, lockout, notifications
from idp.services.assurance import METHOD_EMAIL, METHOD_RECOVERY, METHOD_TOTP
from idp.services.audit import RequestOrigin
from idp.services.lockout import Guard, Verdict
from idp.settings import LockoutSettings, SecuritySettings

RECOVERY_CODE_COUNT = 10
EMAIL_CODE_DIGITS = 6
MAX_TOTP_FACTORS = 5


class EmailCodeTooSoon(IdpError, status=429, message_id="email_code_too_soon"):
    """A new code was asked for less than ``resend_seconds`` after the previous one."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__("email code asked for too soon")
        self.retry_at = retry_at


class EmailFactorUnavailable(IdpError, message_id="email_factor_unavailable"):
    """Emailed codes need a verified email address."""


class TooManyFactors(IdpError, message_id="too_many_factors"):
    """A member has as many authenticator apps as allowed."""


# --- what a member has ---------------------------------------------------------------------


def active_factors(db: Session, member_id: int) -> list[SecondFactor]:
    """The member's confirmed factors, oldest first."""
    return list(
        db.scalars(
            select(SecondFactor)
            .where(SecondFactor.member_id == member_id, SecondFactor.confirmed_at.is_not(None))
            .order_by(SecondFactor.created_at, SecondFactor.id)
        )
    )


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
    return {FACTOR_TOTP} | ({FACTOR_EMAIL} if email_factor_possible(member) else set())


def usable_methods(db: Session, member: Member) -> list[str]:
    """The ways this member can pass a second-factor check now, the strongest first."""
    kinds = active_kinds(db, member.id)
    methods = []
    if FACTOR_TOTP in kinds:
        methods.append(METHOD_TOTP)
    if FACTOR_EMAIL in kinds and email_factor_possible(member):
        methods.append(METHOD_EMAIL)
    if kinds and unused_recovery_codes(db, member.id):
        methods.append(METHOD_RECOVERY)
    return methods


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


def _enrolled(db: Session, member: Member, factor: SecondFactor, origin: RequestOrigin) -> SecondFactor:
    """Store a new factor; audited, and the member is told by mail."""
    db.add(factor)
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


# --- emailed codes --------------------------------------------------------------------------


def enable_email_factor(db: Session, member: Member, origin: RequestOrigin) -> SecondFactor:
    """Emailed codes as a factor (the address is already verified). Idempotent."""
    if not email_factor_possible(member):
        raise EmailFactorUnavailable("no verified email address")
    for factor in active_factors(db, member.id):
        if factor.kind == FACTOR_EMAIL:
            return factor
    now = utcnow()
    factor = SecondFactor(member_id=member.id, kind=FACTOR_EMAIL, created_at=now, confirmed_at=now)
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
    code = _issue_email_code(db, member, transaction, secrets.code_digest_key, security, origin)
    email = notifications.email_code(member, code, requested_by, security.email_code_ttl_seconds, origin)
    notifications.send_within_budget(email, notifications.code_budget(member.id))


def _issue_email_code(
    db: Session, member: Member, transaction: str, key: bytes, security: SecuritySettings, origin: RequestOrigin
) -> str:
    ttl_seconds = security.email_code_ttl_seconds
    resend_seconds = security.email_code_resend_seconds
    now = utcnow()
    newest = db.scalar(
        select(func.max(EmailCode.created_at)).where(
            EmailCode.member_id == member.id, EmailCode.transaction == transaction
        )
    )
    if newest is not None and newest + timedelta(seconds=resend_seconds) > now:
        raise EmailCodeTooSoon(newest + timedelta(seconds=resend_seconds))
    db.execute(
        update(EmailCode)
        .where(
            EmailCode.member_id == member.id,
            EmailCode.transaction == transaction,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    code = random_digits(EMAIL_CODE_DIGITS)
    db.add(
        EmailCode(
            member_id=member.id,
            transaction=transaction,
            code_digest=_email_code_digest(key, transaction, code),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            attempts=0,
        )
    )
    audit.record(db, "email_code_sent", "success", origin, member_id=member.id)
    db.commit()
    return code


def email_code_sent(db: Session, member_id: int, transaction: str) -> bool:
    """Whether a code was sent for this transaction (and not voided since)."""
    found = db.scalar(
        select(EmailCode.id)
        .where(EmailCode.member_id == member_id, EmailCode.transaction == transaction, EmailCode.voided_at.is_(None))
        .limit(1)
    )
    return found is not None


def verify_email_code(db: Session, member_id: int, transaction: str, code: str, key: bytes, max_tries: int) -> str:
    """ "ok", or why not: "wrong", "expired", "exhausted" (too many tries) or "none" (no live
    code for this transaction). Each try is counted before the comparison."""
    now = utcnow()
    record = db.scalar(
        select(EmailCode)
        .where(
            EmailCode.member_id == member_id,
            EmailCode.transaction == transaction,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
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
        .where(
            EmailCode.id == record.id,
            EmailCode.attempts < max_tries,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
            EmailCode.expires_at > now,
        )
        .values(attempts=EmailCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    if counted.rowcount != 1:
        return "exhausted"
    typed = totp.normalize_code(code)
    if typed is None or not constant_time_equals(_email_code_digest(key, transaction, typed), record.code_digest):
        return "wrong"
    used = db.execute(
        update(EmailCode)
        .where(EmailCode.id == record.id, EmailCode.used_at.is_(None), EmailCode.voided_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return "ok" if used.rowcount == 1 else "none"


def _email_code_digest(key: bytes, transaction: str, code: str) -> str:
    # Bound to the transaction: the same digits for another sign-in are another digest.
    return keyed_digest(key, f"{transaction}:{code}")


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
) -> CodeCheck:
    """Check one second-factor code under the member's second-factor lockout. Raises
    AccountLocked, without looking at the code, while that counter is locked, and when this
    wrong code starts a lock (the member is told by mail)."""

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
        else:
            ok = False
        if ok:
            return Verdict(ok=True, outcome="success")
        return Verdict(ok=False, outcome="failure", detail={"reason": reason})

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
