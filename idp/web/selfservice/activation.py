"""Self-activation pages: prove the membership record, choose email and password, confirm
the email by its link. Then the member signs in like anyone else. When the record has a
mobile number, the member may verify it here too, with a code sent to it by SMS.

The verified record is remembered in this browser's server-side session for a few minutes
(never in a hidden field), so step 2 cannot be reached for a record without passing step 1.
"""

from __future__ import annotations

from flask import Blueprint, redirect, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import ValidationFailed
from idp.extensions import limiter
from idp.models import Member
from idp.runtime import settings
from idp.services import activation
from idp.services import second_factor as factors
from idp.services.activation import (
    STEP_TTL_SECONDS,
    ActivationMismatch,
    ActivationPending,
    AlreadyActive,
)
from idp.services.identifiers import (
    MEMBERSHIP_NUMBER_PATTERN,
    NIK_PATTERN,
    mask_phone,
    normalize_identifier,
)
from idp.services.lockout import AccountLocked
from idp.services.members import InvalidPassword
from idp.web import phone_codes
from idp.web.confirm_links import ConfirmedLink
from idp.web.forms import ActionForm, email_field, new_password_field, password_again_field
from idp.web.pages import page
from idp.web.ratelimits import activation_limit, link_limit, second_factor_limit, sms_code_limit
from idp.web.requester import requester
from idp.web.signin.record import privilege_changed

bp = Blueprint("activation", __name__, url_prefix="/activate")

# The "email me the link again" button stays usable this long after step 2, in this browser.
RESEND_WINDOW_SECONDS = 3600


class RecordForm(FlaskForm):
    membership_number = StringField(
        _l("Membership number"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={"autocomplete": "username", "inputmode": "numeric", "spellcheck": "false"},
    )
    nik = StringField(
        _l("NIK (national identity number)"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )
    birth_date = DateField(_l("Date of birth"), validators=[DataRequired()], render_kw={"autocomplete": "bday"})
    submit = SubmitField(_l("Continue"))


class AccountForm(FlaskForm):
    email = email_field(_l("Email"))
    password = new_password_field(_l("Password"))
    confirm = password_again_field(_l("Password again"))
    submit = SubmitField(_l("Create my account"))


class ResendForm(FlaskForm):
    submit = SubmitField(_l("Email me the link again"))


def _page(template: str, status: int = 200, **context):
    # Personal data, and on the verify pages a secret in the URL: no caches, no Referer.
    return page(template, status, secret_in_url=True, **context)


def _remembered(key: str) -> int | None:
    """The member id kept under ``key`` in this browser's session while it is fresh."""
    value = session.get(key)
    if not isinstance(value, dict) or value.get("until", 0) <= utcnow().timestamp():
        return None
    member_id = value.get("member_id")
    return member_id if isinstance(member_id, int) else None


def _remember(key: str, member_id: int, seconds: int) -> None:
    session[key] = {"member_id": member_id, "until": int(utcnow().timestamp()) + seconds}


# --- step 1: the membership record ----------------------------------------------------------


@bp.get("")
def start():
    return _page("activation/start.html", form=RecordForm())


@bp.post("")
@limiter.limit(activation_limit)
def start_submit():
    form = RecordForm()
    if not form.validate_on_submit() or not _plausible(form):
        return _record_page(form, "activation_invalid", 400)
    db = get_session()
    try:
        member = activation.verify_record(
            db,
            form.membership_number.data,
            form.nik.data,
            form.birth_date.data,
            requester(),
            settings().lockout,
        )
    except ActivationMismatch:
        return _record_page(form, "activation_mismatch", 400)
    except AccountLocked as locked:
        return _record_page(form, "activation_locked", 423, locked=locked)
    except AlreadyActive:
        return _page("activation/already_active.html", status=409)
    except ActivationPending as pending:
        return _page("activation/pending.html", status=409, pending=pending)
    session.pop("activation_sent", None)
    _remember("activation", member.id, STEP_TTL_SECONDS)
    # A new privilege in this browser: a new session id (no fixation of a verified session).
    privilege_changed()
    return redirect(url_for("activation.account"), 303)


def _plausible(form: RecordForm) -> bool:
    """Format only (public knowledge, reveals nothing): 11-digit number and 16-digit NIK."""
    number = normalize_identifier(form.membership_number.data or "")
    nik = activation.normalize_nik(form.nik.data or "")
    return bool(MEMBERSHIP_NUMBER_PATTERN.fullmatch(number.value)) and bool(NIK_PATTERN.fullmatch(nik))


def _record_page(form: RecordForm, error: str, status: int, **context):
    # The NIK and birth date are not sent back: the answer to every mismatch is the same.
    form.nik.data = ""
    form.birth_date.data = None
    form.birth_date.raw_data = []
    return _page("activation/start.html", form=form, error=error, status=status, **context)


# --- step 2: email and password --------------------------------------------------------------


@bp.get("/account")
def account():
    if _remembered("activation") is None:
        return redirect(url_for("activation.start"), 303)
    return _account_page(AccountForm())


@bp.post("/account")
@limiter.limit(activation_limit)
def account_submit():
    member_id = _remembered("activation")
    if member_id is None:
        return redirect(url_for("activation.start"), 303)
    form = AccountForm()
    try:
        if not form.validate_on_submit():
            return _account_page(form, status=400)
        started = activation.start_account(
            get_session(), member_id, form.email.data, form.password.data, _min_length(), _ttl(), requester()
        )
    except InvalidPassword as rejected:
        return _account_page(form, rejected=rejected.reason, status=400)
    except ValidationFailed:
        return _account_page(form, error="email_invalid", status=400)
    except AlreadyActive:
        session.pop("activation", None)
        return _page("activation/already_active.html", status=409)
    except ActivationPending as pending:
        session.pop("activation", None)
        return _page("activation/pending.html", status=409, pending=pending)
    session.pop("activation", None)
    _remember("activation_sent", started.id, RESEND_WINDOW_SECONDS)
    # The same page whether the link or a notice went out.
    return redirect(url_for("activation.sent"), 303)


def _account_page(form: AccountForm, status: int = 200, **context):
    return _page("activation/account.html", form=form, min_length=_min_length(), status=status, **context)


# --- check your email, and the link again ----------------------------------------------------


@bp.get("/sent")
def sent():
    can_resend = _remembered("activation_sent") is not None
    return _page("activation/sent.html", form=ResendForm(), can_resend=can_resend, **_phone_offer())


@bp.post("/resend")
@limiter.limit(activation_limit)
def resend():
    form = ResendForm()
    member_id = _remembered("activation_sent")
    if not form.validate_on_submit() or member_id is None:
        return redirect(url_for("activation.sent"), 303)
    activation.resend(get_session(), member_id, _ttl(), requester())
    # The same answer whether or not a mail went out (still pending, within the mail limit).
    return _page("activation/sent.html", form=ResendForm(), can_resend=True, resent=True, **_phone_offer())


# --- the record's mobile number, verified by a code sent to it --------------------------------

_PHONE_TRANSACTION_KEY = "activation_phone_transaction"


def _phone_member() -> Member | None:
    """The member of this browser's activation (after step 2), when their record has a mobile
    number still to verify."""
    member_id = _remembered("activation_sent")
    member = get_session().get(Member, member_id) if member_id is not None else None
    return member if member is not None and factors.phone_verification_possible(member) else None


def _phone_offer() -> dict:
    member = _phone_member()
    return {"phone_to_verify": member is not None, "masked_phone": mask_phone(member.phone) if member else ""}


def _phone_page(member: Member, status: int = 200, **context):
    urls = {"post_code": url_for("activation.phone_verify"), "post_send": url_for("activation.phone_send")}
    return _page(
        "activation/phone.html",
        status=status,
        **phone_codes.page_context(member, _PHONE_TRANSACTION_KEY, **urls, **context),
    )


@bp.get("/phone")
def phone():
    member = _phone_member()
    if member is None:
        return redirect(url_for("activation.sent"), 303)
    return _phone_page(member)


@bp.post("/phone/send")
@limiter.limit(sms_code_limit)
def phone_send():
    member = _phone_member()
    if member is None or not ActionForm().validate_on_submit():
        return redirect(url_for("activation.sent"), 303)
    refused = phone_codes.send(member, _PHONE_TRANSACTION_KEY)
    if refused is not None:
        return _phone_page(member, **refused)
    return redirect(url_for("activation.phone"), 303)


@bp.post("/phone")
@limiter.limit(second_factor_limit)
def phone_verify():
    member = _phone_member()
    if member is None:
        return redirect(url_for("activation.sent"), 303)
    refused = phone_codes.verify(member, _PHONE_TRANSACTION_KEY)
    if refused is not None:
        return _phone_page(member, **refused)
    return _page("activation/sent.html", form=ResendForm(), can_resend=True, phone_verified=True, **_phone_offer())


# --- the link in the mail ----------------------------------------------------------------------


ACTIVATION_LINK = ConfirmedLink(
    check=activation.check_link,
    use=activation.complete,
    confirm_page="activation/verify.html",
    unusable_page="activation/unusable.html",
    taken_page="activation/email_taken.html",
    done_page="activation/done.html",
    # Done: nothing left to send again.
    after=lambda: session.pop("activation_sent", None),
)


@bp.get("/verify/<token>")
@link_limit
def verify(token: str):
    return ACTIVATION_LINK.show(token)


@bp.post("/verify/<token>")
@link_limit
def verify_submit(token: str):
    return ACTIVATION_LINK.submit(token)


def _ttl() -> int:
    return settings().activation.verification_ttl_seconds


def _min_length() -> int:
    return settings().passwords.min_length
