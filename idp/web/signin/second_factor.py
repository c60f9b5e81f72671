"""The second-factor step of a sign-in, inside one interaction (bound to this browser).

Reached after a right password (the member is fixed on the interaction, nobody is signed in
yet), or as a step-up of a signed-in session when a relying party asks for a higher acr.
Only when a code passes is the session signed in (``start_sign_in``, a new session id) with
the acr and amr of the method used, and the interaction moves on to consent or ready.

    GET  /interaction/<uid>/second-factor        the challenge (authenticator app by default)
    POST /interaction/<uid>/second-factor        check an authenticator-app code
    GET  /interaction/<uid>/email-code           enter an emailed code
    POST /interaction/<uid>/email-code/send      email a (new) code
    POST /interaction/<uid>/email-code           check an emailed code
    GET  /interaction/<uid>/sms-code             enter a code sent by SMS
    POST /interaction/<uid>/sms-code/send        text a (new) code to the verified number
    POST /interaction/<uid>/sms-code             check a code sent by SMS
    GET  /interaction/<uid>/recovery             enter a recovery code
    POST /interaction/<uid>/recovery             check a recovery code
    GET  /interaction/<uid>/passkey              use a passkey
    POST /interaction/<uid>/passkey/options      get() options for the member's passkeys
    POST /interaction/<uid>/passkey              check the browser's answer
    GET  /interaction/<uid>/enrol                set up a factor (none yet, or one is required)
    POST /interaction/<uid>/enrol/totp           confirm an authenticator app
    POST /interaction/<uid>/enrol/email          use emailed codes
    POST /interaction/<uid>/enrol/passkey/options   create() options for a new passkey
    POST /interaction/<uid>/enrol/passkey        store the new passkey (it passes the step)
    POST /interaction/<uid>/enrol/sms            use codes by SMS (a verified mobile number)
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import InteractionExpired
from idp.extensions import limiter
from idp.models import Interaction, Member
from idp.models.factors import CHANNEL_SMS, FACTOR_EMAIL, FACTOR_SMS
from idp.models.flows import INTERACTION_SECOND_FACTOR
from idp.oauth.server import get_server
from idp.runtime import runtime, settings
from idp.services import assurance, passkeys
from idp.services import second_factor as factors
from idp.services.assurance import METHOD_EMAIL, METHOD_PASSKEY, METHOD_RECOVERY, METHOD_SMS, METHOD_TOTP, ChallengePlan
from idp.services.identifiers import mask_phone
from idp.services.lockout import AccountLocked
from idp.services.notifications import mask_email
from idp.web.forms import (
    ActionForm,
    OneTimeCodeForm,
    PasskeyAnswerForm,
    PasskeySetupForm,
    RecoveryCodeForm,
    SendEmailCodeForm,
    SendSmsCodeForm,
    TotpSetupForm,
)
from idp.web.ratelimits import email_code_limit, second_factor_limit, sms_code_limit
from idp.web.requester import requester
from idp.web.signin.enrolment import confirm_totp, totp_setup_context
from idp.web.signin.interaction import consent_needed_for, continue_after_sign_in, interaction_page, load_interaction
from idp.web.signin.passkeys import options_response, refused_options, relying_party
from idp.web.signin.record import current_sign_in, start_sign_in
from idp.web.signin.remember import remember, remember_days

bp = Blueprint("second_factor", __name__, url_prefix="/interaction")


# --- loading --------------------------------------------------------------------------------


def _pending(uid: str) -> tuple[Interaction, Member | None]:
    """The interaction, and its member when the second-factor step is current (else None)."""
    interaction = load_interaction(uid)
    if interaction.state != INTERACTION_SECOND_FACTOR:
        return interaction, None
    member = get_session().get(Member, interaction.member_id) if interaction.member_id else None
    if member is None or not member.can_sign_in:
        raise InteractionExpired("no member for the second-factor step")
    if not interaction.is_own_sign_in:
        # A step-up: only the session that is signed in as this member may do it.
        signed_in = current_sign_in()
        if signed_in is None or signed_in.member.id != member.id:
            raise InteractionExpired("step-up for another session")
    return interaction, member


def _elsewhere(uid: str):
    return redirect(url_for("interaction.show", uid=uid), 303)


def _step(uid: str, method: str | None = None) -> tuple[Interaction, Member, ChallengePlan]:
    """The current second-factor step of this browser's interaction: its member and what it
    offers. Any other state, or a method not offered, sends the browser back instead."""
    interaction, member = _pending(uid)
    if member is None:
        abort(_elsewhere(uid))
    plan = assurance.plan(factors.usable_methods(get_session(), member), _target(interaction))
    if method is not None and not plan.offers(method):
        abort(redirect(url_for("second_factor.challenge", uid=uid), 303))
    return interaction, member, plan


def _target(interaction: Interaction) -> str | None:
    return assurance.challenge_target(interaction.required_acr, settings().security.require_mfa)


# --- the challenge page, shared with the account pages' fresh check ----------------------------


def challenge_context(member: Member, method: str, plan: ChallengePlan, transaction: str | None, **context) -> dict:
    """What the challenge template needs besides its URLs: the form, a lock in force (shown
    before any try), whether a code was emailed for this transaction."""
    db = get_session()
    if "locked" not in context:
        lock = factors.current_lock(db, member.id)
        if lock is not None:
            context["locked"] = AccountLocked(None if lock.permanently_locked else lock.locked_until)
            context.setdefault("error", "locked")
    context.setdefault("form", form_for(method)())
    return {
        "member": member,
        "method": method,
        "methods": plan.methods,
        "proof_methods": plan.proof_methods,
        "email_before_enrolment": plan.email_before_enrolment,
        # The app only proves it is the member before they add a passkey (a phishing-resistant
        # level is asked for).
        "totp_before_enrolment": METHOD_TOTP in plan.proof_methods,
        "send_form": SendEmailCodeForm(),
        "email_sent": transaction is not None and factors.email_code_sent(db, member.id, transaction),
        "masked_email": mask_email(member.email),
        "code_minutes": settings().security.email_code_ttl_seconds // 60,
        **sms_context(member, plan, transaction),
        **context,
    }


def form_for(method: str):
    """The form class a method's answer is posted with."""
    if method == METHOD_RECOVERY:
        return RecoveryCodeForm
    if method == METHOD_PASSKEY:
        return PasskeyAnswerForm
    return OneTimeCodeForm


def page_error(method: str, reason: str | None) -> str:
    """The error id a refused answer shows: a passkey's reasons are for the audit trail only."""
    return "passkey_failed" if method == METHOD_PASSKEY else f"code_{reason}"


def sms_context(member: Member, plan: ChallengePlan, transaction: str | None) -> dict:
    """The SMS part of the challenge: the masked number, whether a text was sent for this
    transaction and how its delivery is doing (delayed while the gateway is away)."""
    delivery = factors.sms_delivery(get_session(), member.id, transaction, CHANNEL_SMS)
    return {
        "send_sms_form": SendSmsCodeForm(),
        "sms_sent": delivery is not None,
        "sms_delivery": delivery,
        "sms_before_enrolment": METHOD_SMS in plan.proof_methods,
        "masked_phone": mask_phone(member.phone),
        "sms_code_minutes": max(settings().sms.code_ttl_seconds // 60, 1),
    }


def check_submitted_code(member: Member, method: str, form, transaction: str | None) -> factors.CodeCheck:
    """Check the form's code under the second-factor lockout (AccountLocked while locked, or
    when this try starts a lock); the code is cleared from the form either way."""
    code = form.code.data
    form.code.data = ""
    current = runtime()
    return factors.check_code(
        get_session(),
        member,
        method,
        code,
        transaction,
        current.secrets,
        current.settings.security,
        current.settings.lockout,
        requester(),
        relying_party=relying_party(),
        sms=current.settings.sms,
    )


def _urls(uid: str) -> dict[str, str]:
    return {
        "page_totp": url_for("second_factor.challenge", uid=uid),
        "page_email": url_for("second_factor.email_page", uid=uid),
        "page_recovery": url_for("second_factor.recovery_page", uid=uid),
        "post_totp": url_for("second_factor.verify_totp", uid=uid),
        "post_email": url_for("second_factor.verify_email", uid=uid),
        "post_send": url_for("second_factor.send_email", uid=uid),
        "post_recovery": url_for("second_factor.verify_recovery", uid=uid),
        "page_passkey": url_for("second_factor.passkey_page", uid=uid),
        "post_passkey": url_for("second_factor.verify_passkey", uid=uid),
        "options_passkey": url_for("second_factor.passkey_options", uid=uid),
        "page_sms": url_for("second_factor.sms_page", uid=uid),
        "post_sms": url_for("second_factor.verify_sms", uid=uid),
        "post_send_sms": url_for("second_factor.send_sms", uid=uid),
    }


def _challenge_page(
    interaction: Interaction, member: Member, method: str, plan: ChallengePlan, status: int = 200, **context
):
    return interaction_page(
        "interaction/second_factor.html",
        interaction,
        status=status,
        urls=_urls(interaction.uid),
        remember_days=remember_days(),
        **challenge_context(member, method, plan, interaction.uid, **context),
    )


# --- the challenge --------------------------------------------------------------------------


@bp.get("/<uid>/second-factor")
def challenge(uid: str):
    interaction, member, plan = _step(uid)
    if plan.must_enrol:
        return redirect(url_for("second_factor.enrol", uid=uid), 303)
    offered = [*plan.methods, *plan.proof_methods]
    preferred = factors.preferred_method(get_session(), member, offered)
    if METHOD_PASSKEY in plan.methods and preferred in (None, METHOD_PASSKEY):
        return redirect(url_for("second_factor.passkey_page", uid=uid), 303)
    if plan.offers(METHOD_TOTP) and preferred in (None, METHOD_TOTP, METHOD_PASSKEY):
        return _challenge_page(interaction, member, METHOD_TOTP, plan)
    # The member's preferred way, else the first code that can be sent (strongest first),
    # else a recovery code.
    for method in [preferred, *offered] if preferred else offered:
        if method == METHOD_EMAIL:
            return redirect(url_for("second_factor.email_page", uid=uid), 303)
        if method == METHOD_SMS:
            return redirect(url_for("second_factor.sms_page", uid=uid), 303)
    return redirect(url_for("second_factor.recovery_page", uid=uid), 303)


@bp.post("/<uid>/second-factor")
@limiter.limit(second_factor_limit)
def verify_totp(uid: str):
    return _verify(uid, METHOD_TOTP, OneTimeCodeForm)


@bp.get("/<uid>/email-code")
def email_page(uid: str):
    interaction, member, plan = _step(uid, METHOD_EMAIL)
    return _challenge_page(interaction, member, METHOD_EMAIL, plan)


@bp.post("/<uid>/email-code/send")
@limiter.limit(email_code_limit)
def send_email(uid: str):
    interaction, member, plan = _step(uid, METHOD_EMAIL)
    form = SendEmailCodeForm()
    if not form.validate_on_submit():
        return redirect(url_for("second_factor.email_page", uid=uid), 303)
    db = get_session()
    if factors.current_lock(db, member.id) is not None:
        # Locked: no code is checked, so none is sent either.
        return _challenge_page(interaction, member, METHOD_EMAIL, plan, status=423)
    try:
        factors.send_email_code(
            db, member, interaction.uid, _client_name(interaction), runtime().secrets, settings().security, requester()
        )
    except factors.EmailCodeTooSoon as too_soon:
        return _challenge_page(
            interaction, member, METHOD_EMAIL, plan, error="email_too_soon", retry_at=too_soon.retry_at, status=429
        )
    return redirect(url_for("second_factor.email_page", uid=uid), 303)


@bp.post("/<uid>/email-code")
@limiter.limit(second_factor_limit)
def verify_email(uid: str):
    return _verify(uid, METHOD_EMAIL, OneTimeCodeForm)


@bp.get("/<uid>/sms-code")
def sms_page(uid: str):
    interaction, member, plan = _step(uid, METHOD_SMS)
    return _challenge_page(interaction, member, METHOD_SMS, plan)


@bp.post("/<uid>/sms-code/send")
@limiter.limit(sms_code_limit)
def send_sms(uid: str):
    interaction, member, plan = _step(uid, METHOD_SMS)
    if not SendSmsCodeForm().validate_on_submit():
        return redirect(url_for("second_factor.sms_page", uid=uid), 303)
    error = send_sms_code(member, interaction.uid)
    if error is not None:
        return _challenge_page(interaction, member, METHOD_SMS, plan, **error)
    return redirect(url_for("second_factor.sms_page", uid=uid), 303)


def send_sms_code(member: Member, transaction: str) -> dict | None:
    """Text a sign-in code for ``transaction``; None when queued, else what the challenge page
    says instead (locked, too soon, the number's budget used up), with its status. Shared
    with the account pages' fresh check."""
    db = get_session()
    if factors.current_lock(db, member.id) is not None:
        # Locked: no code is checked, so none is sent either.
        return {"status": 423}
    current = runtime()
    try:
        factors.send_sms_code(db, member, transaction, CHANNEL_SMS, current.secrets, current.settings.sms, requester())
    except factors.CodeTooSoon as too_soon:
        return {"error": "sms_too_soon", "retry_at": too_soon.retry_at, "status": 429}
    except factors.SmsBudgetUsedUp:
        return {"error": "sms_budget", "status": 429}
    return None


@bp.post("/<uid>/sms-code")
@limiter.limit(second_factor_limit)
def verify_sms(uid: str):
    return _verify(uid, METHOD_SMS, OneTimeCodeForm)


@bp.get("/<uid>/recovery")
def recovery_page(uid: str):
    interaction, member, plan = _step(uid, METHOD_RECOVERY)
    return _challenge_page(interaction, member, METHOD_RECOVERY, plan)


@bp.post("/<uid>/recovery")
@limiter.limit(second_factor_limit)
def verify_recovery(uid: str):
    return _verify(uid, METHOD_RECOVERY, RecoveryCodeForm)


@bp.get("/<uid>/passkey")
def passkey_page(uid: str):
    interaction, member, plan = _step(uid, METHOD_PASSKEY)
    return _challenge_page(interaction, member, METHOD_PASSKEY, plan)


@bp.post("/<uid>/passkey/options")
@limiter.limit(second_factor_limit)
def passkey_options(uid: str):
    interaction, member = _pending(uid)
    if member is None or METHOD_PASSKEY not in factors.usable_methods(get_session(), member):
        return refused_options()
    return options_response(
        passkeys.authentication_options(
            get_session(), relying_party(), passkeys.CHALLENGE_SECOND_FACTOR, interaction.uid, member
        )
    )


@bp.post("/<uid>/passkey")
@limiter.limit(second_factor_limit)
def verify_passkey(uid: str):
    return _verify(uid, METHOD_PASSKEY, PasskeyAnswerForm)


def _verify(uid: str, method: str, form_class):
    """Check a submitted code of ``method`` for this browser's pending second-factor step."""
    interaction, member, plan = _step(uid, method)
    form = form_class()
    if not form.validate_on_submit():
        error = page_error(method, "invalid")
        return _challenge_page(interaction, member, method, plan, form=form, error=error, status=400)
    try:
        result = check_submitted_code(member, method, form, interaction.uid)
    except AccountLocked as locked:
        return _challenge_page(interaction, member, method, plan, form=form, error="locked", locked=locked, status=423)
    if not result.ok:
        error = page_error(method, result.reason)
        return _challenge_page(interaction, member, method, plan, form=form, error=error, status=401)
    if method not in plan.methods:
        # A factor below the level asked for proved it is the member: now set up one that
        # reaches it (an emailed code before an app a relying party requires).
        interaction.factor_proven(method)
        get_session().commit()
        return redirect(url_for("second_factor.enrol", uid=interaction.uid), 303)
    _finish(interaction, member, method)
    response = continue_after_sign_in(interaction, member)
    if getattr(form, "remember", None) is not None and form.remember.data:
        remember(response, member)
    return response


def _finish(interaction: Interaction, member: Member, method: str) -> None:
    """Sign the member in (new session id) at the level the method reached; move on. The
    caller commits: with the answer (``continue_after_sign_in``), or before a page."""
    db = get_session()
    if interaction.is_own_sign_in:
        auth_time = utcnow()
    else:
        # A step-up keeps the time of the password sign-in it builds on (max_age counts from it).
        auth_time = current_sign_in().authentication.auth_time
    start_sign_in(member, auth_time, method)
    interaction.second_factor_passed(consent_needed_for(db, interaction, member))


def _client_name(interaction: Interaction) -> str | None:
    if interaction.client_id is None:
        return None
    client = get_server().query_client(interaction.client_id)
    return client.name if client is not None else None


# --- enrolment within the sign-in -----------------------------------------------------------


def _may_enrol(interaction: Interaction, plan: ChallengePlan) -> bool:
    """Setting up a factor after only a password is allowed when the member has none; with
    one, only after passing it (never a way around an existing factor)."""
    return plan.must_enrol or interaction.factor_proven_method is not None


def _enrol_choices(interaction: Interaction, member: Member) -> dict[str, bool]:
    db = get_session()
    return assurance.enrol_choices(
        _target(interaction), factors.active_kinds(db, member.id), factors.possible_kinds(member)
    )


def _enrol_page(interaction: Interaction, member: Member, status: int = 200, **context):
    context.setdefault("form", TotpSetupForm())
    return interaction_page(
        "interaction/enrol.html",
        interaction,
        status=status,
        member=member,
        choices=_enrol_choices(interaction, member),
        email_form=ActionForm(),
        passkey_form=context.pop("passkey_form", None) or PasskeySetupForm(),
        masked_email=mask_email(member.email),
        masked_phone=mask_phone(member.phone),
        **totp_setup_context(member),
        **context,
    )


@bp.get("/<uid>/enrol")
def enrol(uid: str):
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan):
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    return _enrol_page(interaction, member)


@bp.post("/<uid>/enrol/totp")
@limiter.limit(second_factor_limit)
def enrol_totp(uid: str):
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan):
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    form = TotpSetupForm()
    if not form.validate_on_submit():
        return _enrol_page(interaction, member, form=form, error="code_invalid", status=400)
    try:
        factor = confirm_totp(member, form.code.data, form.label.data, requester())
    except factors.TooManyFactors:
        return _enrol_page(interaction, member, form=form, error="too_many_factors", status=400)
    if factor is None:
        form.code.data = ""
        return _enrol_page(interaction, member, form=form, error="code_wrong", status=400)
    codes = factors.first_recovery_codes(get_session(), member, requester())
    # The app's code just checked counts as the second factor of this sign-in.
    _finish(interaction, member, METHOD_TOTP)
    if codes:
        get_session().commit()
        return _recovery_codes_page(interaction, codes, url_for("interaction.show", uid=uid))
    return continue_after_sign_in(interaction, member)


@bp.post("/<uid>/enrol/email")
def enrol_email(uid: str):
    return _enrol_sent_codes(uid, FACTOR_EMAIL, factors.enable_email_factor, "second_factor.email_page")


@bp.post("/<uid>/enrol/sms")
def enrol_sms(uid: str):
    return _enrol_sent_codes(uid, FACTOR_SMS, factors.enable_sms_factor, "second_factor.sms_page")


def _enrol_sent_codes(uid: str, kind: str, enable, code_page: str):
    """Codes sent to the member (by email, by SMS) as the factor set up now; then its page."""
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan) or not _enrol_choices(interaction, member).get(kind):
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("second_factor.enrol", uid=uid), 303)
    db = get_session()
    enable(db, member, requester())
    codes = factors.first_recovery_codes(db, member, requester())
    next_url = url_for(code_page, uid=uid)
    if codes:
        return _recovery_codes_page(interaction, codes, next_url)
    return redirect(next_url, 303)


@bp.post("/<uid>/enrol/passkey/options")
@limiter.limit(second_factor_limit)
def enrol_passkey_options(uid: str):
    interaction, member = _pending(uid)
    if member is None:
        return refused_options()
    plan = assurance.plan(factors.usable_methods(get_session(), member), _target(interaction))
    if not _may_enrol(interaction, plan) or not _enrol_choices(interaction, member)["passkey"]:
        return refused_options()
    return options_response(passkeys.registration_options(get_session(), member, relying_party(), interaction.uid))


@bp.post("/<uid>/enrol/passkey")
@limiter.limit(second_factor_limit)
def enrol_passkey(uid: str):
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan) or not _enrol_choices(interaction, member)["passkey"]:
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    form = PasskeySetupForm()
    if not form.validate_on_submit():
        return _enrol_page(interaction, member, passkey_form=form, error="passkey_refused", status=400)
    db = get_session()
    try:
        factors.enrol_passkey(
            db, member, relying_party(), interaction.uid, form.code.data, form.label.data, requester()
        )
    except factors.TooManyFactors:
        return _enrol_page(interaction, member, passkey_form=form, error="too_many_factors", status=400)
    except factors.PasskeyRefused:
        return _enrol_page(interaction, member, passkey_form=form, error="passkey_refused", status=400)
    codes = factors.first_recovery_codes(db, member, requester())
    # Making the passkey needed the member's device (and its presence test): it passes the step.
    _finish(interaction, member, METHOD_PASSKEY)
    if codes:
        get_session().commit()
        return _recovery_codes_page(interaction, codes, url_for("interaction.show", uid=uid))
    return continue_after_sign_in(interaction, member)


def _recovery_codes_page(interaction: Interaction, codes: list[str], continue_url: str):
    return interaction_page("interaction/recovery_codes.html", interaction, codes=codes, continue_url=continue_url)
