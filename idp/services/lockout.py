"""Temporary, growing account lockout, counted atomically in the database, and the one guard
that every credential check runs under.

``guarded_check`` is the whole sequence, for every check of something only the member should
know (the password at sign-in and on the account pages, the membership record at activation,
second-factor codes):
1. ``reserve_attempt``: one conditional UPDATE that counts the attempt *before* the check, and
   refuses it when the subject is locked, already has ``max_failures`` attempts in the
   window, or has reached the hard cap of failed checks this hour. So with any number of
   concurrent attempts, from any number of processes, at most ``max_failures`` checks run
   before the lock, and nothing is checked during it. The same statement reads back whether
   an operator locked the account (RETURNING), which is told only to the right credential.
2. The caller's check runs.
3. ``record_success`` clears the failures and gives the attempt back to the hourly cap (which
   therefore counts failures only, NIST SP 800-63B §5.2.2: a member who signs in often is
   never locked for it), or ``record_failure`` starts a lock when the window is full (a
   conditional UPDATE, so exactly one request starts it); the lock is audited, the member is
   told by mail, and the caller gets ``AccountLocked``. The outcome
   and its audit records are committed together (one commit after the check).
Password and second-factor failures are counted separately (``kind``).

Counts remember the ``max_failures`` they were counted under: after the policy is lowered,
old counts give one more attempt (whose failure starts an announced lock) instead of a lock
nobody started or told of.

An account an operator disabled (``Member.disabled``) or locked (``lock_by_operator``) is
checked like any other: a wrong credential fails, and is counted, exactly as for an unknown
identifier; only the right one learns the account is disabled (``AccountDisabled``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, delete, or_, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import UTCDateTime, insert_unless_present, run_table_statement
from idp.errors import IdpError
from idp.models import LoginThrottle, Member
from idp.models.lockout import PASSWORD_FAILURES
from idp.services import audit
from idp.services.audit import RequestOrigin
from idp.services.identifiers import Identifier
from idp.settings import LockoutSettings

# NIST SP 800-63B §5.2.2 / SECURITY.md: never more than 100 failed checks per account per hour,
# whatever the lockout settings say (successful ones give their attempt back).
HOURLY_EVALUATION_CAP = 100
HOUR = timedelta(hours=1)


def duration_of_lock(policy: LockoutSettings, earlier_locks: int) -> timedelta:
    """Each further lock doubles the duration, up to the maximum."""
    seconds = policy.base_duration_seconds * (2 ** min(earlier_locks, 32))
    return timedelta(seconds=min(seconds, policy.max_duration_seconds))


class AccountLocked(IdpError, status=423, message_id="account_locked"):
    """The account (or identifier) is locked: the credential was not checked."""

    def __init__(self, locked_until: datetime | None) -> None:
        super().__init__("locked")
        self.locked_until = locked_until  # None: until an operator unlocks it


class AccountDisabled(AccountLocked, status=423, message_id="account_disabled"):
    """The right credential, for an account an operator disabled or locked: only someone who
    knows it may learn that (and that support can help)."""

    def __init__(self) -> None:
        super().__init__(None)


# Who locked, when an operator did not say (a row with ``locked_by`` is an operator's lock).
OPERATOR = "operator"


@dataclass(frozen=True)
class LockStarted:
    locked_until: datetime | None
    lock_count: int


# --- the guard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a check is counted against: the account when the identifier names one (so every
    spelling of it shares one counter), otherwise the normalized identifier itself (so an
    unknown identifier is locked exactly like a real one)."""

    key: str
    member: Member | None
    identifier_digest: str | None = None

    @property
    def member_id(self) -> int | None:
        return self.member.id if self.member is not None else None


def subject_of(member: Member | None, identifier: Identifier) -> Subject:
    return Subject(subject_key(member, identifier), member, identifier.digest)


def member_subject(member: Member) -> Subject:
    return Subject(subject_key_for_member(member.id), member)


@dataclass(frozen=True)
class Verdict:
    """What the check found. ``outcome`` names it in the audit trail (None: the caller records
    the success itself); ``detail`` goes with that record."""

    ok: bool
    outcome: str | None
    detail: dict[str, Any] = field(default_factory=dict)


# Told when a check starts a lock: the member, the kind of counter, the lock, the origin.
LockListener = Callable[[Member, str, LockStarted, RequestOrigin], None]


@dataclass(frozen=True)
class Guard:
    """How one kind of check is counted and recorded."""

    event: str  # the audit event of every attempt ("sign_in", "second_factor", ...)
    kind: str = PASSWORD_FAILURES
    # Told when a lock starts on an account (not on an unknown identifier).
    on_lock_started: LockListener | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # recorded with every attempt


def guarded_check(
    db: Session,
    guard: Guard,
    subject: Subject,
    policy: LockoutSettings,
    origin: RequestOrigin,
    check: Callable[[], Verdict],
    commit_success: bool = True,
) -> Verdict:
    """Run ``check`` under the lockout (see the module docstring). Raises AccountLocked,
    without running the check, while the subject is locked, and when this failure starts a
    lock; otherwise returns the verdict (the caller raises its own error for a failure).
    ``commit_success=False``: a success is left for the caller to commit with what the success
    leads to (a sign-in: one commit fewer per sign-in); every other outcome is committed here."""
    try:
        reserved = reserve_attempt(db, subject.key, subject.member_id, policy, kind=guard.kind)
    except AccountLocked:
        _audit_attempt(db, guard, subject, origin, "locked", {})
        db.commit()
        raise
    blocked = _blocked_by_operator(db, subject, guard.kind, reserved)
    verdict = check()
    if verdict.ok and blocked:
        record_success(db, subject.key, kind=guard.kind)
        _audit_attempt(db, guard, subject, origin, "disabled", {})
        db.commit()
        raise AccountDisabled()
    if verdict.ok:
        record_success(db, subject.key, kind=guard.kind)
        if verdict.outcome is not None:
            _audit_attempt(db, guard, subject, origin, verdict.outcome, verdict.detail)
        if commit_success:
            db.commit()
        return verdict
    started = record_failure(db, subject.key, policy, kind=guard.kind)
    if verdict.outcome is not None:
        _audit_attempt(db, guard, subject, origin, verdict.outcome, verdict.detail)
    if started is None:
        db.commit()
        return verdict
    audit.record(
        db,
        "lock_started",
        "locked",
        origin,
        member_id=subject.member_id,
        identifier_digest=subject.identifier_digest,
        kind=guard.kind,
        via=guard.event,
        locked_until=started.locked_until,
        lock_count=started.lock_count,
    )
    db.commit()
    if subject.member is not None and guard.on_lock_started is not None:
        guard.on_lock_started(subject.member, guard.kind, started, origin)
    raise AccountLocked(started.locked_until)


def _blocked_by_operator(db: Session, subject: Subject, kind: str, reserved: Reservation) -> bool:
    """Whether an operator disabled the account or locked it (checked after the credential).
    An operator's lock is kept on the password counter: when that is the counter the attempt
    was reserved on, the reservation already read it (no statement of its own)."""
    if subject.member is None:
        return False
    if subject.member.disabled:
        return True
    if kind == PASSWORD_FAILURES:
        return reserved.locked_by_operator
    return db.scalar(_LOCKED_BY_OPERATOR, {"counter_key": subject.key}) is not None


def _audit_attempt(db: Session, guard: Guard, subject: Subject, origin, outcome: str, detail: dict) -> None:
    audit.record(
        db,
        guard.event,
        outcome,
        origin,
        member_id=subject.member_id,
        identifier_digest=subject.identifier_digest,
        **{**guard.detail, **detail},
    )


# --- the counters -----------------------------------------------------------------------------


def subject_key(member: Member | None, identifier: Identifier) -> str:
    return subject_key_for_member(member.id) if member is not None else f"identifier:{identifier.digest}"


def subject_key_for_member(member_id: int) -> str:
    return f"member:{member_id}"


@dataclass(frozen=True)
class Reservation:
    """An attempt counted on a subject's counter, with what the counter said of operators."""

    # The counter carries an operator's lock (lock_by_operator); only the password counter can.
    locked_by_operator: bool


def reserve_attempt(
    db: Session, key: str, member_id: int | None, policy: LockoutSettings, kind: str = PASSWORD_FAILURES
) -> Reservation:
    """Count one attempt before it is evaluated; AccountLocked when it may not be."""
    now = utcnow()
    reserved = _try_reserve(db, key, kind, policy, now)
    if reserved is not None:
        return reserved
    # Perhaps the first attempt on this subject: create its counters (a no-op when they exist,
    # also when a concurrent first attempt just made them), then count the attempt. Checking
    # for the row first would race: a concurrent first attempt could create it in between,
    # and this one would be refused as if locked.
    _ensure_row(db, key, kind, member_id, now)
    reserved = _try_reserve(db, key, kind, policy, now)
    if reserved is not None:
        return reserved
    raise AccountLocked(_locked_until(db, key, kind, policy, now))


# Prebuilt (see idp.db): every credential check reserves its attempt with this statement,
# and a successful one clears the counter with the next. Built per call, the reservation's
# conditions and CASEs cost far more than running it (720 against 88 µs on SQLite, bench/lookups.py).
# Both are the table's statements (see idp.db.run_table_statement).
_THROTTLES = LoginThrottle.__table__
_NOW = bindparam("now", type_=UTCDateTime())
_MAXIMUM = bindparam("maximum", type_=Integer())
# (Not named after columns: an UPDATE reserves those names for its SET values.)
_SUBJECT = (
    _THROTTLES.c.subject_key == bindparam("counter_key"),
    _THROTTLES.c.kind == bindparam("counter_kind"),
)
_WINDOW_EXPIRED = _THROTTLES.c.window_started_at <= bindparam("window_start", type_=UTCDateTime())
_HOUR_EXPIRED = _THROTTLES.c.hour_started_at <= bindparam("hour_start", type_=UTCDateTime())
_RESERVE = (
    update(_THROTTLES)
    .where(
        *_SUBJECT,
        # An operator's lock is no reason to skip the check: see guarded_check.
        or_(_THROTTLES.c.permanently_locked.is_(False), _THROTTLES.c.locked_by.is_not(None)),
        or_(_THROTTLES.c.locked_until.is_(None), _THROTTLES.c.locked_until <= _NOW),
        or_(
            _WINDOW_EXPIRED,
            _THROTTLES.c.failures < _MAXIMUM,
            # Counted under another max_failures (the policy changed since): not a lock of its own.
            _THROTTLES.c.counted_under_max_failures.is_(None),
            _THROTTLES.c.counted_under_max_failures != _MAXIMUM,
        ),
        or_(_HOUR_EXPIRED, _THROTTLES.c.hourly_attempts < HOURLY_EVALUATION_CAP),
    )
    .values(
        # Old counts above a lowered maximum leave room for exactly this one attempt.
        failures=case(
            (_WINDOW_EXPIRED, 1), (_THROTTLES.c.failures >= _MAXIMUM, _MAXIMUM), else_=_THROTTLES.c.failures + 1
        ),
        counted_under_max_failures=_MAXIMUM,
        window_started_at=case((_WINDOW_EXPIRED, _NOW), else_=_THROTTLES.c.window_started_at),
        hourly_attempts=case((_HOUR_EXPIRED, 1), else_=_THROTTLES.c.hourly_attempts + 1),
        hour_started_at=case((_HOUR_EXPIRED, _NOW), else_=_THROTTLES.c.hour_started_at),
    )
    # What guarded_check asks next, read by the same statement: one round trip fewer.
    .returning(_THROTTLES.c.permanently_locked, _THROTTLES.c.locked_by)
)
# Every failed check reads what it filled; every second-factor check whether an operator
# locked the account (kept on the password counter).
_FAILURES = select(LoginThrottle.failures, LoginThrottle.lock_count).where(*_SUBJECT)
_LOCKED_BY_OPERATOR = select(LoginThrottle.id).where(
    LoginThrottle.subject_key == bindparam("counter_key"),
    LoginThrottle.kind == PASSWORD_FAILURES,
    LoginThrottle.permanently_locked.is_(True),
    LoginThrottle.locked_by.is_not(None),
)
_RECORD_SUCCESS = (
    update(_THROTTLES)
    .where(*_SUBJECT)
    .values(
        failures=0,
        lock_count=0,
        hourly_attempts=case((_THROTTLES.c.hourly_attempts > 0, _THROTTLES.c.hourly_attempts - 1), else_=0),
    )
)


def _try_reserve(db: Session, key: str, kind: str, policy: LockoutSettings, now: datetime) -> Reservation | None:
    row = run_table_statement(
        db,
        _RESERVE,
        {
            "counter_key": key,
            "counter_kind": kind,
            "now": now,
            "maximum": policy.max_failures,
            "window_start": now - timedelta(seconds=policy.window_seconds),
            "hour_start": now - HOUR,
        },
    ).first()
    db.commit()
    if row is None:
        return None
    return Reservation(locked_by_operator=bool(row.permanently_locked) and row.locked_by is not None)


def record_success(db: Session, key: str, kind: str = PASSWORD_FAILURES) -> None:
    """A successful sign-in clears the failures and the growth of future locks, and gives its
    attempt back to the hourly cap, which counts failed checks only. The caller commits
    (``guarded_check``, with the attempt's audit record: one commit)."""
    run_table_statement(db, _RECORD_SUCCESS, {"counter_key": key, "counter_kind": kind})


def record_failure(db: Session, key: str, policy: LockoutSettings, kind: str = PASSWORD_FAILURES) -> LockStarted | None:
    """The reserved attempt failed. When that fills the window, start a lock (exactly one
    concurrent request does: the UPDATE is conditional, and holds the row until the caller
    commits it with the audit records) and return it; otherwise None."""
    now = utcnow()
    row = db.execute(_FAILURES, {"counter_key": key, "counter_kind": kind}).one()
    if row.failures < policy.max_failures:
        return None
    lock_count = row.lock_count + 1
    permanent = policy.permanent_after > 0 and lock_count >= policy.permanent_after
    locked_until = None if permanent else now + duration_of_lock(policy, row.lock_count)
    operators = LoginThrottle.locked_by.is_not(None)
    result = db.execute(
        update(LoginThrottle)
        .where(
            LoginThrottle.subject_key == key,
            LoginThrottle.kind == kind,
            LoginThrottle.failures >= policy.max_failures,
            LoginThrottle.lock_count == row.lock_count,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
        .values(
            locked_until=locked_until,
            # An operator's lock stays under the temporary one (it must not show otherwise).
            permanently_locked=case((operators, True), else_=permanent),
            lock_count=lock_count,
            lock_reason=case(
                (operators, LoginThrottle.lock_reason), else_="too many failed attempts" if permanent else None
            ),
            # A fresh window after the lock: the member gets max_failures tries again.
            failures=0,
            window_started_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return LockStarted(locked_until=locked_until, lock_count=lock_count)


def lock_by_operator(db: Session, key: str, member_id: int | None, reason: str, by: str | None) -> None:
    _ensure_row(db, key, PASSWORD_FAILURES, member_id, utcnow())
    db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.subject_key == key, LoginThrottle.kind == PASSWORD_FAILURES)
        .values(permanently_locked=True, locked_until=None, lock_reason=reason, locked_by=by or OPERATOR)
        .execution_options(synchronize_session=False)
    )
    db.commit()


def unlock(db: Session, key: str) -> bool:
    """Clear every lock and counter of the subject. True when there was anything to clear."""
    result = db.execute(delete(LoginThrottle).where(LoginThrottle.subject_key == key))
    db.commit()
    return result.rowcount > 0


def locked_subjects(db: Session) -> list[LoginThrottle]:
    now = utcnow()
    return list(
        db.scalars(
            select(LoginThrottle)
            .where(or_(LoginThrottle.permanently_locked.is_(True), LoginThrottle.locked_until > now))
            .order_by(LoginThrottle.locked_until.desc(), LoginThrottle.id)
        )
    )


def lock_in_force(db: Session, key: str, kind: str = PASSWORD_FAILURES) -> AccountLocked | None:
    """The refusal an attempt on the subject would get now because of a lock (counting
    nothing), for attempts refused before any check (a password too long to be one): during a
    lock they answer like every other attempt. An operator's lock is not one here (see
    guarded_check)."""
    row = db.scalar(select(LoginThrottle).where(LoginThrottle.subject_key == key, LoginThrottle.kind == kind))
    if row is None:
        return None
    if row.permanently_locked and row.locked_by is None:
        return AccountLocked(None)
    if row.locked_until is not None and row.locked_until > utcnow():
        return AccountLocked(row.locked_until)
    return None


def current_lock(db: Session, key: str, kind: str = PASSWORD_FAILURES) -> LoginThrottle | None:
    now = utcnow()
    return db.scalar(
        select(LoginThrottle).where(
            LoginThrottle.subject_key == key,
            LoginThrottle.kind == kind,
            or_(LoginThrottle.permanently_locked.is_(True), LoginThrottle.locked_until > now),
        )
    )


def _locked_until(db: Session, key: str, kind: str, policy: LockoutSettings, now: datetime) -> datetime | None:
    """When a refused subject may try again, for the message (None: until unlocked)."""
    row = db.scalar(select(LoginThrottle).where(LoginThrottle.subject_key == key, LoginThrottle.kind == kind))
    if row is None or (row.permanently_locked and row.locked_by is None):
        return None
    candidates = []
    if row.locked_until is not None and row.locked_until > now:
        candidates.append(row.locked_until)
    if row.hourly_attempts >= HOURLY_EVALUATION_CAP:
        candidates.append(row.hour_started_at + HOUR)
    if not candidates:
        # Attempts still in flight filled the window; the lock they start is at most this long.
        candidates.append(now + duration_of_lock(policy, row.lock_count))
    return max(candidates)


def _ensure_row(db: Session, key: str, kind: str, member_id: int | None, now: datetime) -> None:
    """Insert the counter row if missing, without racing other processes doing the same."""
    values = {
        "subject_key": key,
        "kind": kind,
        "member_id": member_id,
        "failures": 0,
        "window_started_at": now,
        "hourly_attempts": 0,
        "hour_started_at": now,
        "lock_count": 0,
        "permanently_locked": False,
    }
    insert_unless_present(db, LoginThrottle, values, ("subject_key", "kind"))
    db.commit()


def clear_member(db: Session, member_id: int) -> None:
    """Forget the password counter and lock of an account (after a password change). The
    second-factor counter stays: a reset link proves the mailbox, not the second factor.
    The caller commits."""
    db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.subject_key == subject_key_for_member(member_id), LoginThrottle.kind == PASSWORD_FAILURES
        )
    )


def subject_for(db: Session, raw_identifier: str) -> tuple[str, Member | None]:
    """The counter key an identifier is locked under, as at sign-in, and its member if any."""
    from idp.services.identifiers import normalize_identifier
    from idp.services.members import find_by_identifier

    identifier = normalize_identifier(raw_identifier)
    member = find_by_identifier(db, identifier)
    return subject_key(member, identifier), member


def describe_lock(db: Session, row: LoginThrottle) -> dict:
    member = db.get(Member, row.member_id) if row.member_id is not None else None
    return {
        "member": member.membership_number if member is not None else None,
        "email": member.email if member is not None else None,
        "subject": row.subject_key if member is None else f"member:{member.membership_number}",
        "kind": row.kind,
        "locked_until": None if row.permanently_locked else row.locked_until.isoformat(),
        "until_unlocked": row.permanently_locked,
        "reason": row.lock_reason or "too many failed attempts",
        "locked_by": row.locked_by,
        "locks_so_far": row.lock_count,
    }
