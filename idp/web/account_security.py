"""The Security page of the account area: second factors and recovery codes.

A member sees their factors, adds an authenticator app or emailed codes, regenerates
recovery codes and removes factors. Each change needs a *fresh check*: a second factor
passed within ``security.fresh_check_minutes`` (the sign-in's own, or the check page here);
a member without a factor needs a sign-in that recent instead. Every change is audited and
mailed to the member.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, flash, redirect, request, session, url_for
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.extensions import limiter
from idp.models import EmailCode
from idp.models.factors import FACTOR_EMAIL, FACTOR_TOTP
from idp.security.tokens import random_token
from idp.services import interactions, notifications
from idp.services import second_factor as factors
from idp.services.lockout import AccountLocked
from idp.web import mfa
from idp.web.account import account_page
from idp.web.account_access import member_required, signed_in, start_sign_in_for
from idp.web.forms import (
    ActionForm,
    OneTimeCodeForm,
    RecoveryCodeForm,
    SendEmailCodeForm,
    TotpSetupForm,
)
from idp.web.origin import request_origin
from idp.web.ratelimits import email_code_limit, second_factor_limit
from idp.web.second_factor import TOTP_SETUP_KEY, pending_totp_seed, totp_setup_context

bp = Blueprint("account_security", __name__, url_prefix="/account/security")

# The sign-in transaction emailed codes of the check page are bound to (one per session).
ACCOUNT_CODE_TRANSACTION_KEY = "account_code_transaction"
FLASH_CATEGORY = "security"


# --- the fresh check ------------------------------------------------------------------------


def is_fresh() -> bool:
    """Whether this session passed a second factor recently enough (or, for a member without
    a usable factor, signed in recently enough) to change its factors."""
    member = signed_in().member
    window = mfa.security_settings().fresh_check_minutes * 60
    now = int(utcnow().timestamp())
    if factors.usable_methods(get_session(), member):
        passed = session.get("second_factor_at")
        return isinstance(passed, int) and 0 <= now - passed <= window
    return 0 <= now - int(signed_in().authentication.auth_time.timestamp()) <= window


def fresh_check_required(view: Callable) -> Callable:
    """Run the view only after a fresh check; otherwise go to the check page and come back
    (a GET to itself, a POST to the Security page)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if is_fresh():
            return view(*args, **kwargs)
        back = request.path if request.method == "GET" else url_for("account_security.index")
        return redirect(url_for("account_security.verify", next=back), 303)

    return wrapper


def _next_url() -> str:
    target = request.args.get("next") or ""
    if interactions.is_own_path(target) and target.startswith("/account/"):
        return target
    return url_for("account_security.index")


# --- the overview ---------------------------------------------------------------------------


@bp.get("/")
@member_required
def index():
    member = signed_in().member
    db = get_session()
    active = factors.active_factors(db, member.id)
    kinds = {factor.kind for factor in active}
    return account_page(
        "account/security.html",
        factors=active,
        recovery_codes_left=factors.unused_recovery_codes(db, member.id) if active else 0,
        email_possible=factors.email_factor_possible(member) and FACTOR_EMAIL not in kinds,
        masked_email=mfa.masked_email(member.email),
        fresh=is_fresh(),
        action_form=ActionForm(),
        require_mfa=mfa.security_settings().require_mfa,
    )


# --- adding -----------------------------------------------------------------------------------


@bp.get("/totp")
@member_required
@fresh_check_required
def totp_setup():
    return _totp_page(TotpSetupForm())


def _totp_page(form: TotpSetupForm, error: str | None = None, status: int = 200):
    return account_page(
        "account/security_totp.html",
        status=status,
        form=form,
        error=error,
        post_url=url_for("account_security.totp_confirm"),
        **totp_setup_context(signed_in().member),
    )


@bp.post("/totp")
@member_required
@fresh_check_required
@limiter.limit(second_factor_limit)
def totp_confirm():
    member = signed_in().member
    form = TotpSetupForm()
    if not form.validate_on_submit():
        return _totp_page(form, error="code_invalid", status=400)
    db = get_session()
    try:
        factor = factors.confirm_totp(
            db, member, pending_totp_seed(member), form.code.data, mfa.totp_box(), form.label.data, request_origin()
        )
    except factors.TooManyFactors:
        return _totp_page(form, error="too_many_factors", status=400)
    if factor is None:
        form.code.data = ""
        return _totp_page(form, error="code_wrong", status=400)
    session.pop(TOTP_SETUP_KEY, None)
    # The member just proved the app and passed the fresh check to get here.
    session["second_factor_at"] = int(utcnow().timestamp())
    mfa.notify_factor_changed(member, notifications.FACTOR_ENROLLED, FACTOR_TOTP)
    return _after_adding(member, "totp_added")


@bp.post("/email")
@member_required
@fresh_check_required
def email_enable():
    member = signed_in().member
    if not ActionForm().validate_on_submit():
        return redirect(url_for("account_security.index"), 303)
    db = get_session()
    if FACTOR_EMAIL in factors.active_kinds(db, member.id):
        return redirect(url_for("account_security.index"), 303)
    try:
        factors.enable_email_factor(db, member, request_origin())
    except factors.EmailFactorUnavailable:
        flash("email_unavailable", FLASH_CATEGORY)
        return redirect(url_for("account_security.index"), 303)
    mfa.notify_factor_changed(member, notifications.FACTOR_ENROLLED, FACTOR_EMAIL)
    return _after_adding(member, "email_added")


def _after_adding(member, message_id: str):
    """The first factor comes with recovery codes, shown once; otherwise back to the list."""
    db = get_session()
    flash(message_id, FLASH_CATEGORY)
    if factors.unused_recovery_codes(db, member.id):
        return redirect(url_for("account_security.index"), 303)
    codes = factors.generate_recovery_codes(db, member, request_origin())
    return _codes_page(codes)


@bp.post("/recovery-codes")
@member_required
@fresh_check_required
def recovery_codes_regenerate():
    member = signed_in().member
    if not ActionForm().validate_on_submit():
        return redirect(url_for("account_security.index"), 303)
    db = get_session()
    if not factors.active_factors(db, member.id):
        return redirect(url_for("account_security.index"), 303)
    codes = factors.generate_recovery_codes(db, member, request_origin())
    mfa.notify_factor_changed(member, notifications.RECOVERY_CODES_REGENERATED, None)
    return _codes_page(codes)


def _codes_page(codes: list[str]):
    return account_page(
        "account/security_recovery_codes.html", codes=codes, continue_url=url_for("account_security.index")
    )


# --- removing -------------------------------------------------------------------------------


@bp.post("/factors/<int:factor_id>/remove")
@member_required
@fresh_check_required
def remove(factor_id: int):
    member = signed_in().member
    if not ActionForm().validate_on_submit():
        return redirect(url_for("account_security.index"), 303)
    db = get_session()
    active = factors.active_factors(db, member.id)
    if mfa.security_settings().require_mfa and [f.id for f in active] == [factor_id]:
        # The policy needs a factor: the last one cannot go (add another first).
        flash("last_factor_required", FLASH_CATEGORY)
        return redirect(url_for("account_security.index"), 303)
    removed = factors.remove_factor(db, member, factor_id, request_origin())
    if removed is not None:
        mfa.notify_factor_changed(member, notifications.FACTOR_REMOVED, removed.kind)
        flash("factor_removed", FLASH_CATEGORY)
    return redirect(url_for("account_security.index"), 303)


# --- the fresh check page -------------------------------------------------------------------


@bp.get("/verify")
@member_required
def verify():
    member = signed_in().member
    plan = mfa.plan(get_session(), member, None)
    if not plan.methods:
        # No factor to check: a new sign-in (password) is the fresh check.
        return start_sign_in_for(_next_url())
    method = request.args.get("method")
    if method not in plan.methods:
        method = plan.methods[0]
    return _verify_page(method, plan)


def _verify_urls() -> dict[str, str]:
    nxt = _next_url()
    return {
        "page_totp": url_for("account_security.verify", method="totp", next=nxt),
        "page_email": url_for("account_security.verify", method="email", next=nxt),
        "page_recovery": url_for("account_security.verify", method="recovery", next=nxt),
        "post_totp": url_for("account_security.verify_code", method="totp", next=nxt),
        "post_email": url_for("account_security.verify_code", method="email", next=nxt),
        "post_send": url_for("account_security.verify_send", next=nxt),
        "post_recovery": url_for("account_security.verify_code", method="recovery", next=nxt),
    }


def _verify_page(method: str, plan: mfa.ChallengePlan, status: int = 200, **context):
    member = signed_in().member
    db = get_session()
    if "locked" not in context:
        lock = factors.current_lock(db, member.id)
        if lock is not None:
            context["locked"] = AccountLocked(None if lock.permanently_locked else lock.locked_until)
            context.setdefault("error", "locked")
    context.setdefault("form", RecoveryCodeForm() if method == factors.METHOD_RECOVERY else OneTimeCodeForm())
    transaction = session.get(ACCOUNT_CODE_TRANSACTION_KEY)
    sent = transaction is not None and (
        db.scalar(
            select(EmailCode.id)
            .where(EmailCode.member_id == member.id, EmailCode.transaction == transaction, EmailCode.voided_at.is_(None))
            .limit(1)
        )
        is not None
    )
    return account_page(
        "account/security_verify.html",
        status=status,
        method=method,
        methods=plan.methods,
        email_before_enrolment=False,
        urls=_verify_urls(),
        send_form=SendEmailCodeForm(),
        email_sent=sent,
        masked_email=mfa.masked_email(member.email),
        code_minutes=mfa.security_settings().email_code_ttl_seconds // 60,
        remember_days=0,
        **context,
    )


@bp.post("/verify/email/send")
@member_required
@limiter.limit(email_code_limit)
def verify_send():
    member = signed_in().member
    db = get_session()
    plan = mfa.plan(db, member, None)
    if factors.METHOD_EMAIL not in plan.methods or not SendEmailCodeForm().validate_on_submit():
        return redirect(url_for("account_security.verify", next=_next_url()), 303)
    if factors.current_lock(db, member.id) is not None:
        return _verify_page(factors.METHOD_EMAIL, plan, status=423)
    transaction = session.get(ACCOUNT_CODE_TRANSACTION_KEY)
    if not transaction:
        transaction = f"account:{random_token(16)}"
        session[ACCOUNT_CODE_TRANSACTION_KEY] = transaction
    try:
        mfa.send_email_code(db, member, transaction, None)
    except factors.EmailCodeTooSoon as too_soon:
        return _verify_page(factors.METHOD_EMAIL, plan, error="email_too_soon", retry_at=too_soon.retry_at, status=429)
    return redirect(url_for("account_security.verify", method="email", next=_next_url()), 303)


@bp.post("/verify/<method>")
@member_required
@limiter.limit(second_factor_limit)
def verify_code(method: str):
    member = signed_in().member
    db = get_session()
    plan = mfa.plan(db, member, None)
    if method not in plan.methods:
        return redirect(url_for("account_security.verify", next=_next_url()), 303)
    form = RecoveryCodeForm() if method == factors.METHOD_RECOVERY else OneTimeCodeForm()
    if not form.validate_on_submit():
        return _verify_page(method, plan, form=form, error="code_invalid", status=400)
    try:
        result = factors.check_code(
            db,
            member,
            method,
            form.code.data,
            session.get(ACCOUNT_CODE_TRANSACTION_KEY),
            mfa.code_context(),
            request_origin(),
        )
    except AccountLocked as locked:
        form.code.data = ""
        return _verify_page(method, plan, form=form, error="locked", locked=locked, status=423)
    form.code.data = ""
    if result.lock_started is not None:
        mfa.notify_second_factor_lock(member, result.lock_started)
        return _verify_page(
            method, plan, form=form, error="locked", locked=AccountLocked(result.lock_started.locked_until), status=423
        )
    if not result.ok:
        return _verify_page(method, plan, form=form, error=f"code_{result.reason}", status=401)
    # A second factor passed: a privilege change for this session.
    session["second_factor_at"] = int(utcnow().timestamp())
    session.pop(ACCOUNT_CODE_TRANSACTION_KEY, None)
    session.rotate()
    flash("verified", FLASH_CATEGORY)
    return redirect(_next_url(), 303)
