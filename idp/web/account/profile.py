"""The profile pages of the account area: contact details and language, verifying the mobile
number with a code sent to it by SMS, email change (applied only once the new address is
confirmed by its link) and password change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    RadioField,
    SelectField,
    SubmitField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from idp.db import get_session
from idp.errors import ValidationFailed
from idp.extensions import limiter
from idp.i18n import TIME_ZONE_LABELS, remember_locale, remember_time_zone
from idp.models.factors import FACTOR_SMS
from idp.runtime import settings
from idp.services import profile
from idp.services import second_factor as factors
from idp.services.identifiers import mask_phone
from idp.services.lockout import AccountLocked
from idp.services.members import InvalidPassword
from idp.services.profile import CurrentPasswordWrong, SameEmail
from idp.web import phone_codes
from idp.web.account.access import account_page, member_required, signed_in
from idp.web.confirm_links import ConfirmedLink
from idp.web.forms import (
    ActionForm,
    current_password_field,
    email_field,
    new_password_field,
    password_again_field,
)
from idp.web.ratelimits import link_limit, second_factor_limit, sms_code_limit
from idp.web.requester import requester
from idp.web.signin.record import password_replaced, this_session_record_id

bp = Blueprint("account_profile", __name__, url_prefix="/account/profile")

try:  # wtforms 3.3 and later; tuples are deprecated there
    from wtforms import SelectChoice

    LANGUAGES = [SelectChoice("id", "Bahasa Indonesia"), SelectChoice("en", "English")]
    TIME_ZONE_CHOICES = [SelectChoice(zone, TIME_ZONE_LABELS[zone]) for zone in profile.TIME_ZONES]
except ImportError:  # pragma: no cover - older wtforms
    LANGUAGES = [("id", "Bahasa Indonesia"), ("en", "English")]
    TIME_ZONE_CHOICES = [(zone, TIME_ZONE_LABELS[zone]) for zone in profile.TIME_ZONES]


class ContactForm(FlaskForm):
    phone = TelField(
        _l("Mobile phone"),
        validators=[Length(max=32)],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    address = TextAreaField(
        _l("Postal address"),
        # The service counts characters after normalizing line breaks; this only stops abuse.
        validators=[Length(max=profile.MAX_ADDRESS_LENGTH * 2)],
        render_kw={"autocomplete": "street-address", "rows": 4},
    )
    submit = SubmitField(_l("Save contact details"))


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=LANGUAGES, validators=[DataRequired()])
    submit = SubmitField(_l("Save language"))


class TimeZoneForm(FlaskForm):
    time_zone = RadioField(_l("Time zone"), choices=TIME_ZONE_CHOICES, validators=[DataRequired()])
    submit = SubmitField(_l("Save time zone"))


class EmailChangeForm(FlaskForm):
    email = email_field(_l("New email address"))
    current_password = current_password_field()
    submit = SubmitField(_l("Send confirmation link"))


class PasswordChangeForm(FlaskForm):
    current_password = current_password_field()
    password = new_password_field()
    confirm = password_again_field()
    submit = SubmitField(_l("Change password"))


# --- profile: contact details, language and time zone ---------------------------------------


@bp.get("")
@member_required
def index():
    return _profile_page()


def _profile_page(
    contact: ContactForm | None = None,
    language: LanguageForm | None = None,
    time_zone: TimeZoneForm | None = None,
    status: int = 200,
    **context,
):
    """The profile page; each form not given shows the member's stored values."""
    member = signed_in().member
    return account_page(
        "account/profile.html",
        status=status,
        contact_form=contact or ContactForm(data={"phone": member.phone or "", "address": member.address or ""}),
        language_form=language or LanguageForm(data={"locale": member.locale}),
        time_zone_form=time_zone or TimeZoneForm(data={"time_zone": member.time_zone or _default_time_zone()}),
        pending_email=profile.pending_email_change(get_session(), member),
        phone_to_verify=factors.phone_verification_possible(member),
        masked_phone=mask_phone(member.phone),
        action_form=ActionForm(),
        **context,
    )


def _default_time_zone() -> str:
    configured = settings().i18n.timezone
    return configured if configured in profile.TIME_ZONES else profile.TIME_ZONES[0]


@bp.post("/contact")
@member_required
def contact():
    member = signed_in().member
    form = ContactForm()
    if not form.validate_on_submit():
        return _profile_page(form, status=400, contact_error="address" if form.address.errors else "invalid")
    if _changes_the_sms_number(member, form.phone.data) and _needs_fresh_check(member):
        # Codes by SMS go to this number: changing it is a change of a second factor.
        return redirect(url_for("account_security.verify", next=url_for("account_profile.index")), 303)
    try:
        profile.update_contact(get_session(), member, form.phone.data, form.address.data, requester())
    except ValidationFailed as invalid:
        return _profile_page(form, status=400, contact_error=invalid.field)
    flash("contact_saved", "done")
    return redirect(url_for("account_profile.index"), 303)


@bp.post("/language")
@member_required
def language():
    member = signed_in().member
    form = LanguageForm()
    if not form.validate_on_submit():
        return _profile_page(language=form, status=400)
    profile.set_locale(get_session(), member, form.locale.data, requester())
    # The pages follow at once (the session's language wins over the browser's).
    remember_locale(form.locale.data)
    flash("language_saved", "done")
    return redirect(url_for("account_profile.index"), 303)


@bp.post("/time-zone")
@member_required
def time_zone():
    member = signed_in().member
    form = TimeZoneForm()
    if not form.validate_on_submit():
        return _profile_page(time_zone=form, status=400)
    profile.set_time_zone(get_session(), member, form.time_zone.data, requester())
    remember_time_zone(form.time_zone.data)
    flash("time_zone_saved", "done")
    return redirect(url_for("account_profile.index"), 303)


# --- verifying the mobile number ----------------------------------------------------------

# The transaction this session's verification codes are bound to.
_PHONE_TRANSACTION_KEY = "phone_verification_transaction"


def _needs_fresh_check(member) -> bool:
    """With codes by SMS on, a new number becomes the factor once verified: only after the
    Security page's fresh check (a stolen session cannot move the factor to its own phone)."""
    from idp.web.account.security import is_fresh

    return FACTOR_SMS in factors.active_kinds(get_session(), member.id) and not is_fresh()


def _changes_the_sms_number(member, typed: str | None) -> bool:
    try:
        return profile.clean_phone(typed) != member.phone
    except ValidationFailed:
        return False  # refused by update_contact, with its message


def _phone_page(status: int = 200, **context):
    member = signed_in().member
    urls = {"post_code": url_for("account_profile.phone_verify"), "post_send": url_for("account_profile.phone_send")}
    return account_page(
        "account/phone_verify.html",
        status=status,
        **phone_codes.page_context(member, _PHONE_TRANSACTION_KEY, **urls, **context),
    )


@bp.get("/phone")
@member_required
def phone():
    member = signed_in().member
    if not factors.phone_verification_possible(member):
        return redirect(url_for("account_profile.index"), 303)
    return _phone_page()


@bp.post("/phone/send")
@member_required
@limiter.limit(sms_code_limit)
def phone_send():
    member = signed_in().member
    if not factors.phone_verification_possible(member) or not ActionForm().validate_on_submit():
        return redirect(url_for("account_profile.index"), 303)
    if _needs_fresh_check(member):
        return redirect(url_for("account_security.verify", next=url_for("account_profile.phone")), 303)
    refused = phone_codes.send(member, _PHONE_TRANSACTION_KEY)
    if refused is not None:
        return _phone_page(**refused)
    return redirect(url_for("account_profile.phone"), 303)


@bp.post("/phone")
@member_required
@limiter.limit(second_factor_limit)
def phone_verify():
    member = signed_in().member
    if not factors.phone_verification_possible(member):
        return redirect(url_for("account_profile.index"), 303)
    refused = phone_codes.verify(member, _PHONE_TRANSACTION_KEY)
    if refused is not None:
        return _phone_page(**refused)
    flash("phone_verified", "done")
    return redirect(url_for("account_profile.index"), 303)


# --- email change -------------------------------------------------------------------------


@bp.get("/email")
@member_required
def email():
    return _email_page(EmailChangeForm())


def _email_page(form: EmailChangeForm, status: int = 200, **context):
    return account_page(
        "account/email.html",
        status=status,
        form=form,
        pending_email=profile.pending_email_change(get_session(), signed_in().member),
        **context,
    )


@bp.post("/email")
@member_required
def email_submit():
    member = signed_in().member
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _email_page(form, status=400, error="email_invalid" if form.email.errors else "invalid")
    try:
        profile.request_email_change(
            get_session(),
            member,
            form.email.data,
            form.current_password.data,
            settings().activation.verification_ttl_seconds,
            requester(),
            settings().lockout,
        )
    except ValidationFailed:
        return _email_page(form, status=400, error="email_invalid")
    except CurrentPasswordWrong:
        return _email_page(form, status=400, error="current_password_wrong")
    except AccountLocked as locked:
        return _email_page(form, status=423, error="account_locked", locked=locked)
    except SameEmail:
        return _email_page(form, status=400, error="email_unchanged")
    # The same answer whether the new address got a link or (already in use) a notice.
    flash("email_link_sent", "done")
    return redirect(url_for("account_profile.email"), 303)


# The link works without a sign-in (it is often opened on another device): holding the
# link, mailed to the new address after the member entered their password, is the proof.
EMAIL_CHANGE_LINK = ConfirmedLink(
    check=profile.check_email_change_link,
    use=profile.confirm_email_change,
    confirm_page="account/email_verify.html",
    unusable_page="account/email_link_unusable.html",
    taken_page="account/email_taken.html",
    done_page="account/email_changed.html",
)


@bp.get("/email/verify/<token>")
@link_limit
def email_verify(token: str):
    return EMAIL_CHANGE_LINK.show(token)


@bp.post("/email/verify/<token>")
@link_limit
def email_verify_submit(token: str):
    return EMAIL_CHANGE_LINK.submit(token)


# --- password change ------------------------------------------------------------------------


@bp.get("/password")
@member_required
def password():
    return _password_page(PasswordChangeForm())


def _password_page(form: PasswordChangeForm, status: int = 200, **context):
    return account_page(
        "account/password.html", status=status, form=form, min_length=settings().passwords.min_length, **context
    )


@bp.post("/password")
@member_required
def password_submit():
    member = signed_in().member
    form = PasswordChangeForm()
    min_length = settings().passwords.min_length
    try:
        if not form.validate_on_submit():
            return _password_page(form, status=400)
        profile.change_password(
            get_session(),
            member,
            form.current_password.data,
            form.password.data,
            min_length,
            this_session_record_id(),
            requester(),
            settings().lockout,
        )
    except InvalidPassword as rejected:
        return _password_page(form, status=400, rejected=rejected.reason)
    except CurrentPasswordWrong:
        return _password_page(form, status=400, error="current_password_wrong")
    except AccountLocked as locked:
        return _password_page(form, status=423, error="account_locked", locked=locked)
    # This browser stays signed in, under a new session id and sid; every other one was ended.
    password_replaced()
    flash("password_changed", "done")
    return redirect(url_for("account_profile.password"), 303)
