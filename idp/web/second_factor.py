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
    GET  /interaction/<uid>/recovery             enter a recovery code
    POST /interaction/<uid>/recovery             check a recovery code
    GET  /interaction/<uid>/enrol                set up a factor (none yet, or one is required)
    POST /interaction/<uid>/enrol/totp           confirm an authenticator app
    POST /interaction/<uid>/enrol/email          use emailed codes
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, session, url_for
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import InteractionExpired
from idp.extensions import limiter
from idp.models import EmailCode, Interaction, Member
from idp.models.factors import FACTOR_EMAIL, FACTOR_TOTP
from idp.models.flows import INTERACTION_SECOND_FACTOR
from idp.oauth.server import get_server
from idp.security import totp
from idp.services import interactions, notifications
from idp.services import second_factor as factors
from idp.services.lockout import AccountLocked
from idp.web import mfa
from idp.web.forms import (
    ActionForm,
    OneTimeCodeForm,
    RecoveryCodeForm,
    SendEmailCodeForm,
    TotpSetupForm,
)
from idp.web.interaction import consent_needed_for, interaction_page, load_interaction
from idp.web.origin import request_origin
from idp.web.ratelimits import email_code_limit, second_factor_limit
from idp.web.remember import remember, remember_days
from idp.web.signin import current_sign_in, start_sign_in

bp = Blueprint("second_factor", __name__, url_prefix="/interaction")

# Session keys: the seed of an app being set up (encrypted), and "this interaction's member
# already proved a factor" (an emailed code before setting up a required app).
TOTP_SETUP_KEY = "totp_setup"
PROVEN_KEY = "second_factor_proven"


# --- loading --------------------------------------------------------------------------------


def _pending(uid: str) -> tuple[Interaction, Member | None]:
    """The interaction, and its member when the second-factor step is current (else None)."""
    interaction = load_interaction(uid)
    if interaction.state != INTERACTION_SECOND_FACTOR:
        return interaction, None
    member = get_session().get(Member, interaction.member_id) if interaction.member_id else None
    if member is None or not member.can_sign_in:
        raise InteractionExpired("no member for the second-factor step")
    if interaction.password_verified_at is None:
        # A step-up: only the session that is signed in as this member may do it.
        signed_in = current_sign_in()
        if signed_in is None or signed_in.member.id != member.id:
            raise InteractionExpired("step-up for another session")
    return interaction, member


def _elsewhere(uid: str):
    return redirect(url_for("interaction.show", uid=uid), 303)


def _step(uid: str, method: str | None = None) -> tuple[Interaction, Member, mfa.ChallengePlan]:
    """The current second-factor step of this browser's interaction: its member and what it
    offers. Any other state, or a method not offered, sends the browser back instead."""
    interaction, member = _pending(uid)
    if member is None:
        abort(_elsewhere(uid))
    plan = _plan(interaction, member)
    if method is not None and not _offers(plan, method):
        abort(redirect(url_for("second_factor.challenge", uid=uid), 303))
    return interaction, member, plan


def _offers(plan: mfa.ChallengePlan, method: str) -> bool:
    if method == factors.METHOD_EMAIL:
        # An emailed code is also how a member proves themselves before setting up a required app.
        return factors.METHOD_EMAIL in plan.methods or plan.email_before_enrolment
    return method in plan.methods


def _plan(interaction: Interaction, member: Member) -> mfa.ChallengePlan:
    return mfa.plan(get_session(), member, mfa.target_acr(interaction))


def _urls(uid: str) -> dict[str, str]:
    return {
        "page_totp": url_for("second_factor.challenge", uid=uid),
        "page_email": url_for("second_factor.email_page", uid=uid),
        "page_recovery": url_for("second_factor.recovery_page", uid=uid),
        "post_totp": url_for("second_factor.verify_totp", uid=uid),
        "post_email": url_for("second_factor.verify_email", uid=uid),
        "post_send": url_for("second_factor.send_email", uid=uid),
        "post_recovery": url_for("second_factor.verify_recovery", uid=uid),
    }


def _challenge_page(
    interaction: Interaction, member: Member, method: str, plan: mfa.ChallengePlan, status: int = 200, **context
):
    db = get_session()
    if "locked" not in context:
        lock = factors.current_lock(db, member.id)
        if lock is not None:
            context["locked"] = AccountLocked(None if lock.permanently_locked else lock.locked_until)
            context.setdefault("error", "locked")
    context.setdefault("form", OneTimeCodeForm() if method != factors.METHOD_RECOVERY else RecoveryCodeForm())
    return interaction_page(
        "interaction/second_factor.html",
        interaction,
        status=status,
        member=member,
        method=method,
        methods=plan.methods,
        email_before_enrolment=plan.email_before_enrolment,
        urls=_urls(interaction.uid),
        send_form=SendEmailCodeForm(),
        email_sent=_email_code_sent(db, member, interaction.uid),
        masked_email=mfa.masked_email(member.email),
        code_minutes=mfa.security_settings().email_code_ttl_seconds // 60,
        remember_days=remember_days(),
        **context,
    )


def _email_code_sent(db, member: Member, transaction: str) -> bool:
    return (
        db.scalar(
            select(EmailCode.id)
            .where(
                EmailCode.member_id == member.id,
                EmailCode.transaction == transaction,
                EmailCode.voided_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


# --- the challenge --------------------------------------------------------------------------


@bp.get("/<uid>/second-factor")
def challenge(uid: str):
    interaction, member, plan = _step(uid)
    if plan.must_enrol:
        return redirect(url_for("second_factor.enrol", uid=uid), 303)
    if factors.METHOD_TOTP in plan.methods:
        return _challenge_page(interaction, member, factors.METHOD_TOTP, plan)
    if factors.METHOD_EMAIL in plan.methods or plan.email_before_enrolment:
        return redirect(url_for("second_factor.email_page", uid=uid), 303)
    return redirect(url_for("second_factor.recovery_page", uid=uid), 303)


@bp.post("/<uid>/second-factor")
@limiter.limit(second_factor_limit)
def verify_totp(uid: str):
    return _verify(uid, factors.METHOD_TOTP, OneTimeCodeForm)


@bp.get("/<uid>/email-code")
def email_page(uid: str):
    interaction, member, plan = _step(uid, factors.METHOD_EMAIL)
    return _challenge_page(interaction, member, factors.METHOD_EMAIL, plan)


@bp.post("/<uid>/email-code/send")
@limiter.limit(email_code_limit)
def send_email(uid: str):
    interaction, member, plan = _step(uid, factors.METHOD_EMAIL)
    form = SendEmailCodeForm()
    if not form.validate_on_submit():
        return redirect(url_for("second_factor.email_page", uid=uid), 303)
    db = get_session()
    if factors.current_lock(db, member.id) is not None:
        # Locked: no code is checked, so none is sent either.
        return _challenge_page(interaction, member, factors.METHOD_EMAIL, plan, status=423)
    client = _client_name(interaction)
    try:
        mfa.send_email_code(db, member, interaction.uid, client)
    except factors.EmailCodeTooSoon as too_soon:
        return _challenge_page(
            interaction, member, factors.METHOD_EMAIL, plan, error="email_too_soon", retry_at=too_soon.retry_at, status=429
        )
    return redirect(url_for("second_factor.email_page", uid=uid), 303)


@bp.post("/<uid>/email-code")
@limiter.limit(second_factor_limit)
def verify_email(uid: str):
    return _verify(uid, factors.METHOD_EMAIL, OneTimeCodeForm)


@bp.get("/<uid>/recovery")
def recovery_page(uid: str):
    interaction, member, plan = _step(uid, factors.METHOD_RECOVERY)
    return _challenge_page(interaction, member, factors.METHOD_RECOVERY, plan)


@bp.post("/<uid>/recovery")
@limiter.limit(second_factor_limit)
def verify_recovery(uid: str):
    return _verify(uid, factors.METHOD_RECOVERY, RecoveryCodeForm)


def _verify(uid: str, method: str, form_class):
    """Check a submitted code of ``method`` for this browser's pending second-factor step."""
    interaction, member, plan = _step(uid, method)
    form = form_class()
    if not form.validate_on_submit():
        return _challenge_page(interaction, member, method, plan, form=form, error="code_invalid", status=400)
    return _check(interaction, member, method, plan, form)


def _check(interaction: Interaction, member: Member, method: str, plan: mfa.ChallengePlan, form):
    db = get_session()
    try:
        result = factors.check_code(
            db, member, method, form.code.data, interaction.uid, mfa.code_context(), request_origin()
        )
    except AccountLocked as locked:
        return _challenge_page(interaction, member, method, plan, form=_cleared(form), error="locked", locked=locked, status=423)
    if result.lock_started is not None:
        mfa.notify_second_factor_lock(member, result.lock_started)
        locked = AccountLocked(result.lock_started.locked_until)
        return _challenge_page(interaction, member, method, plan, form=_cleared(form), error="locked", locked=locked, status=423)
    if not result.ok:
        return _challenge_page(
            interaction, member, method, plan, form=_cleared(form), error=f"code_{result.reason}", status=401
        )
    if method == factors.METHOD_EMAIL and factors.METHOD_EMAIL not in plan.methods:
        # The emailed code proved it is the member; the level asked for needs an app: set it up.
        session[PROVEN_KEY] = interaction.uid
        return redirect(url_for("second_factor.enrol", uid=interaction.uid), 303)
    _finish(interaction, member, method)
    response = _elsewhere(interaction.uid)
    if getattr(form, "remember", None) is not None and form.remember.data:
        remember(response, member)
    return response


def _cleared(form):
    form.code.data = ""
    return form


def _finish(interaction: Interaction, member: Member, method: str) -> None:
    """Sign the member in (new session id) at the level the method reached; move on."""
    db = get_session()
    now = utcnow()
    if interaction.password_verified_at is not None:
        auth_time = now
    else:
        # A step-up keeps the time of the password sign-in it builds on (max_age counts from it).
        auth_time = current_sign_in().authentication.auth_time
    start_sign_in(member, auth_time, amr=list(factors.METHOD_AMR[method]), acr=factors.METHOD_ACR[method])
    # A second factor just passed: the account pages' fresh check is satisfied for a while.
    session["second_factor_at"] = int(now.timestamp())
    interactions.second_factor_completed(interaction, consent_needed_for(db, interaction, member))
    db.commit()


def _client_name(interaction: Interaction) -> str | None:
    if interaction.client_id is None:
        return None
    client = get_server().query_client(interaction.client_id)
    return client.name if client is not None else None


# --- enrolment within the sign-in -----------------------------------------------------------


def _may_enrol(interaction: Interaction, plan: mfa.ChallengePlan) -> bool:
    """Setting up a factor after only a password is allowed when the member has none; with
    one, only after passing it (never a way around an existing factor)."""
    return plan.must_enrol or session.get(PROVEN_KEY) == interaction.uid


def pending_totp_seed(member: Member) -> str:
    """The (encrypted) seed of the app being set up in this session, made on first need so a
    reload shows the same QR code."""
    held = session.get(TOTP_SETUP_KEY)
    if isinstance(held, dict) and held.get("member") == member.id and held.get("seed"):
        return held["seed"]
    seed = factors.new_totp_seed(mfa.totp_box())
    session[TOTP_SETUP_KEY] = {"member": member.id, "seed": seed}
    return seed


def totp_setup_context(member: Member) -> dict:
    seed = factors.seed_of(pending_totp_seed(member), mfa.totp_box())
    account = member.email or member.membership_number
    uri = totp.provisioning_uri(seed, account, mfa.security_settings().totp_issuer_name)
    # otpauth_uri: the same key as a link, for an app on the phone showing this page.
    return {"qr_data_uri": mfa.qr_data_uri(uri), "secret_text": totp.format_seed(seed), "otpauth_uri": uri}


def _enrol_page(interaction: Interaction, member: Member, plan: mfa.ChallengePlan, status: int = 200, **context):
    kinds = factors.active_kinds(get_session(), member.id)
    context.setdefault("form", TotpSetupForm())
    return interaction_page(
        "interaction/enrol.html",
        interaction,
        status=status,
        member=member,
        choices=mfa.enrol_choices(member, mfa.target_acr(interaction), kinds),
        email_form=ActionForm(),
        masked_email=mfa.masked_email(member.email),
        **totp_setup_context(member),
        **context,
    )


@bp.get("/<uid>/enrol")
def enrol(uid: str):
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan):
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    return _enrol_page(interaction, member, plan)


@bp.post("/<uid>/enrol/totp")
@limiter.limit(second_factor_limit)
def enrol_totp(uid: str):
    interaction, member, plan = _step(uid)
    if not _may_enrol(interaction, plan):
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    form = TotpSetupForm()
    if not form.validate_on_submit():
        return _enrol_page(interaction, member, plan, form=form, error="code_invalid", status=400)
    db = get_session()
    seed = pending_totp_seed(member)
    try:
        factor = factors.confirm_totp(db, member, seed, form.code.data, mfa.totp_box(), form.label.data, request_origin())
    except factors.TooManyFactors:
        return _enrol_page(interaction, member, plan, form=form, error="too_many_factors", status=400)
    if factor is None:
        form.code.data = ""
        return _enrol_page(interaction, member, plan, form=form, error="code_wrong", status=400)
    mfa.notify_factor_changed(member, notifications.FACTOR_ENROLLED, FACTOR_TOTP)
    codes = _first_recovery_codes(db, member)
    # The app's code just checked counts as the second factor of this sign-in.
    _finish(interaction, member, factors.METHOD_TOTP)
    if codes:
        return _recovery_codes_page(interaction, codes, url_for("interaction.show", uid=uid))
    return _elsewhere(uid)


@bp.post("/<uid>/enrol/email")
def enrol_email(uid: str):
    interaction, member, plan = _step(uid)
    kinds = factors.active_kinds(get_session(), member.id)
    if not _may_enrol(interaction, plan) or not mfa.enrol_choices(member, mfa.target_acr(interaction), kinds)[FACTOR_EMAIL]:
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("second_factor.enrol", uid=uid), 303)
    db = get_session()
    factors.enable_email_factor(db, member, request_origin())
    mfa.notify_factor_changed(member, notifications.FACTOR_ENROLLED, FACTOR_EMAIL)
    codes = _first_recovery_codes(db, member)
    next_url = url_for("second_factor.email_page", uid=uid)
    if codes:
        return _recovery_codes_page(interaction, codes, next_url)
    return redirect(next_url, 303)


def _first_recovery_codes(db, member: Member) -> list[str]:
    """Recovery codes come with the first factor (shown once); later factors keep the set."""
    if factors.unused_recovery_codes(db, member.id):
        return []
    return factors.generate_recovery_codes(db, member, request_origin())


def _recovery_codes_page(interaction: Interaction, codes: list[str], continue_url: str):
    return interaction_page(
        "interaction/recovery_codes.html", interaction, codes=codes, continue_url=continue_url
    )
