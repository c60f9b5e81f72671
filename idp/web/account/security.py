"""The Security page of the account area: second factors and recovery codes.

A member sees their factors, adds an authenticator app, a passkey, emailed codes or codes by SMS
(to the number verified on the profile page), regenerates
recovery codes and removes factors. Each change needs a *fresh check*: a second factor
passed within ``security.fresh_check_minutes`` (the sign-in's own, or the check page here);
a member without a factor needs a sign-in that recent instead. Every change is audited and
mailed to the member (by the services).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, flash, redirect, request, session, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.extensions import limiter
from idp.models.factors import FACTOR_EMAIL, FACTOR_SMS
from idp.runtime import runtime, settings
from idp.security.tokens import random_token
from idp.services import assurance, interactions, passkeys
from idp.services import second_factor as factors
from idp.services.assurance import METHOD_EMAIL, METHOD_PASSKEY, METHOD_SMS
from idp.services.identifiers import mask_phone
from idp.services.lockout import AccountLocked
from idp.services.notifications import mask_email
from idp.web.account.access import account_page, member_required, signed_in, start_sign_in_for
from idp.web.forms import (
    ActionForm,
    PasskeySetupForm,
    SendEmailCodeForm,
    TotpSetupForm,
)
from idp.web.ratelimits import email_code_limit, second_factor_limit, sms_code_limit
from idp.web.requester import requester
from idp.web.signin.enrolment import confirm_totp, totp_setup_context
from idp.web.signin.passkeys import options_response, refused_options, relying_party
from idp.web.signin.record import second_factor_passed
from idp.web.signin.second_factor import challenge_context, check_submitted_code, form_for, page_error, send_sms_code

bp = Blueprint("account_security", __name__, url_prefix="/account/security")

# The sign-in transaction emailed codes of the check page are bound to (one per session).
_CODE_TRANSACTION_KEY = "account_code_transaction"
# The transaction a passkey being added answers the challenge of (one per session).
_PASSKEY_TRANSACTION_KEY = "account_passkey_transaction"
FLASH_CATEGORY = "security"


# --- the fresh check ------------------------------------------------------------------------


def is_fresh() -> bool:
    """Whether this session passed a second factor recently enough (or, for a member without
    a usable factor, signed in recently enough) to change its factors."""
    current = signed_in()
    window = settings().security.fresh_check_minutes * 60
    now = utcnow()
    if factors.usable_methods(get_session(), current.member):
        passed = current.second_factor_at
        return passed is not None and 0 <= (now - passed).total_seconds() <= window
    return 0 <= (now - current.authentication.auth_time).total_seconds() <= window


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


def _back_to_index():
    return redirect(url_for("account_security.index"), 303)


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
        masked_email=mask_email(member.email),
        # Where each passkey lives, from its backup state: synced, or on one device only.
        passkeys={passkey.factor_id: passkey for passkey in passkeys.passkeys_of(db, member.id)},
        sms_possible=factors.sms_factor_possible(member) and FACTOR_SMS not in kinds,
        phone_to_verify=factors.phone_verification_possible(member) and FACTOR_SMS not in kinds,
        masked_phone=mask_phone(member.phone),
        fresh=is_fresh(),
        action_form=ActionForm(),
        require_mfa=settings().security.require_mfa,
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
    try:
        factor = confirm_totp(member, form.code.data, form.label.data, requester())
    except factors.TooManyFactors:
        return _totp_page(form, error="too_many_factors", status=400)
    if factor is None:
        form.code.data = ""
        return _totp_page(form, error="code_wrong", status=400)
    # The member just proved the app and passed the fresh check to get here.
    second_factor_passed()
    return _after_adding(member, "totp_added")


@bp.post("/email")
@member_required
@fresh_check_required
def email_enable():
    return _turn_on(FACTOR_EMAIL, factors.enable_email_factor, factors.EmailFactorUnavailable)


@bp.post("/sms")
@member_required
@fresh_check_required
def sms_enable():
    return _turn_on(FACTOR_SMS, factors.enable_sms_factor, factors.SmsFactorUnavailable)


def _turn_on(kind: str, enable: Callable, unavailable: type[Exception]):
    """Codes sent to the member (by email, by SMS) as a factor: ``<kind>_added``, or
    ``<kind>_unavailable`` without a verified address or number."""
    member = signed_in().member
    if not ActionForm().validate_on_submit():
        return _back_to_index()
    db = get_session()
    if kind in factors.active_kinds(db, member.id):
        return _back_to_index()
    try:
        enable(db, member, requester())
    except unavailable:
        flash(f"{kind}_unavailable", FLASH_CATEGORY)
        return _back_to_index()
    return _after_adding(member, f"{kind}_added")


def _account_transaction(key: str) -> str:
    """This session's transaction for ``key`` (challenges are bound to it), made on first need."""
    transaction = session.get(key)
    if not transaction:
        transaction = f"account:{random_token(16)}"
        session[key] = transaction
    return transaction


@bp.get("/passkey")
@member_required
@fresh_check_required
def passkey_setup():
    return _passkey_page(PasskeySetupForm())


def _passkey_page(form: PasskeySetupForm, error: str | None = None, status: int = 200):
    return account_page(
        "account/security_passkey.html",
        status=status,
        form=form,
        error=error,
        post_url=url_for("account_security.passkey_confirm"),
        options_url=url_for("account_security.passkey_registration_options"),
    )


@bp.post("/passkey/options")
@member_required
@fresh_check_required
@limiter.limit(second_factor_limit)
def passkey_registration_options():
    member = signed_in().member
    transaction = _account_transaction(_PASSKEY_TRANSACTION_KEY)
    return options_response(passkeys.registration_options(get_session(), member, relying_party(), transaction))


@bp.post("/passkey")
@member_required
@fresh_check_required
@limiter.limit(second_factor_limit)
def passkey_confirm():
    member = signed_in().member
    form = PasskeySetupForm()
    if not form.validate_on_submit():
        return _passkey_page(form, error="passkey_refused", status=400)
    transaction = _account_transaction(_PASSKEY_TRANSACTION_KEY)
    try:
        factors.enrol_passkey(
            get_session(), member, relying_party(), transaction, form.code.data, form.label.data, requester()
        )
    except factors.TooManyFactors:
        return _passkey_page(form, error="too_many_factors", status=400)
    except factors.PasskeyRefused:
        form.code.data = ""
        return _passkey_page(form, error="passkey_refused", status=400)
    session.pop(_PASSKEY_TRANSACTION_KEY, None)
    # The member just used the passkey and passed the fresh check to get here.
    second_factor_passed()
    return _after_adding(member, "passkey_added")


def _after_adding(member, message_id: str):
    """The first factor comes with recovery codes, shown once; otherwise back to the list."""
    flash(message_id, FLASH_CATEGORY)
    codes = factors.first_recovery_codes(get_session(), member, requester())
    return _codes_page(codes) if codes else _back_to_index()


@bp.post("/recovery-codes")
@member_required
@fresh_check_required
def recovery_codes_regenerate():
    member = signed_in().member
    if not ActionForm().validate_on_submit():
        return _back_to_index()
    db = get_session()
    if not factors.active_factors(db, member.id):
        return _back_to_index()
    return _codes_page(factors.regenerate_recovery_codes(db, member, requester()))


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
        return _back_to_index()
    db = get_session()
    active = factors.active_factors(db, member.id)
    if settings().security.require_mfa and [f.id for f in active] == [factor_id]:
        # The policy needs a factor: the last one cannot go (add another first).
        flash("last_factor_required", FLASH_CATEGORY)
        return _back_to_index()
    if factors.remove_factor(db, member, factor_id, requester()) is not None:
        flash("factor_removed", FLASH_CATEGORY)
    return _back_to_index()


# --- which factor comes first ----------------------------------------------------------------


@bp.post("/factors/<int:factor_id>/prefer")
@member_required
def prefer(factor_id: int):
    """Ask for this factor first at sign-in (the others stay offered on the same page). No
    fresh check: it changes the order, not what can pass."""
    member = signed_in().member
    if ActionForm().validate_on_submit() and factors.set_preferred(get_session(), member, factor_id, requester()):
        flash("factor_preferred", FLASH_CATEGORY)
    return _back_to_index()


# --- the fresh check page -------------------------------------------------------------------


def _plan():
    return assurance.plan(factors.usable_methods(get_session(), signed_in().member), None)


@bp.get("/verify")
@member_required
def verify():
    plan = _plan()
    if not plan.methods:
        # No factor to check: a new sign-in (password) is the fresh check.
        return start_sign_in_for(_next_url())
    method = request.args.get("method")
    if method not in plan.methods:
        method = factors.preferred_method(get_session(), signed_in().member, plan.methods) or plan.methods[0]
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
        "page_passkey": url_for("account_security.verify", method="passkey", next=nxt),
        "post_passkey": url_for("account_security.verify_code", method="passkey", next=nxt),
        "options_passkey": url_for("account_security.verify_passkey_options"),
        "page_sms": url_for("account_security.verify", method="sms", next=nxt),
        "post_sms": url_for("account_security.verify_code", method="sms", next=nxt),
        "post_send_sms": url_for("account_security.verify_send_sms", next=nxt),
    }


def _verify_page(method: str, plan, status: int = 200, **context):
    return account_page(
        "account/security_verify.html",
        status=status,
        urls=_verify_urls(),
        remember_days=0,
        **challenge_context(signed_in().member, method, plan, session.get(_CODE_TRANSACTION_KEY), **context),
    )


@bp.post("/verify/email/send")
@member_required
@limiter.limit(email_code_limit)
def verify_send():
    member = signed_in().member
    db = get_session()
    plan = _plan()
    if METHOD_EMAIL not in plan.methods or not SendEmailCodeForm().validate_on_submit():
        return redirect(url_for("account_security.verify", next=_next_url()), 303)
    if factors.current_lock(db, member.id) is not None:
        return _verify_page(METHOD_EMAIL, plan, status=423)
    transaction = _account_transaction(_CODE_TRANSACTION_KEY)
    try:
        factors.send_email_code(db, member, transaction, None, runtime().secrets, settings().security, requester())
    except factors.EmailCodeTooSoon as too_soon:
        return _verify_page(METHOD_EMAIL, plan, error="email_too_soon", retry_at=too_soon.retry_at, status=429)
    return redirect(url_for("account_security.verify", method="email", next=_next_url()), 303)


@bp.post("/verify/passkey/options")
@member_required
@limiter.limit(second_factor_limit)
def verify_passkey_options():
    member = signed_in().member
    if METHOD_PASSKEY not in _plan().methods:
        return refused_options()
    transaction = _account_transaction(_CODE_TRANSACTION_KEY)
    return options_response(
        passkeys.authentication_options(
            get_session(), relying_party(), passkeys.CHALLENGE_SECOND_FACTOR, transaction, member
        )
    )


@bp.post("/verify/sms/send")
@member_required
@limiter.limit(sms_code_limit)
def verify_send_sms():
    plan = _plan()
    if METHOD_SMS not in plan.methods or not ActionForm().validate_on_submit():
        return redirect(url_for("account_security.verify", next=_next_url()), 303)
    error = send_sms_code(signed_in().member, _account_transaction(_CODE_TRANSACTION_KEY))
    if error is not None:
        return _verify_page(METHOD_SMS, plan, **error)
    return redirect(url_for("account_security.verify", method="sms", next=_next_url()), 303)


@bp.post("/verify/<method>")
@member_required
@limiter.limit(second_factor_limit)
def verify_code(method: str):
    member = signed_in().member
    plan = _plan()
    if method not in plan.methods:
        return redirect(url_for("account_security.verify", next=_next_url()), 303)
    form = form_for(method)()
    if not form.validate_on_submit():
        return _verify_page(method, plan, form=form, error=page_error(method, "invalid"), status=400)
    try:
        result = check_submitted_code(member, method, form, session.get(_CODE_TRANSACTION_KEY))
    except AccountLocked as locked:
        return _verify_page(method, plan, form=form, error="locked", locked=locked, status=423)
    if not result.ok:
        return _verify_page(method, plan, form=form, error=page_error(method, result.reason), status=401)
    session.pop(_CODE_TRANSACTION_KEY, None)
    second_factor_passed()
    flash("verified", FLASH_CATEGORY)
    return redirect(_next_url(), 303)
