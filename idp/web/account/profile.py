"""The profile pages of the account area: contact details and language, email change (applied
only once the new address is confirmed by its link) and password change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SelectField,
    SubmitField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from idp.db import get_session
from idp.errors import ValidationFailed
from idp.i18n import remember_locale
from idp.runtime import settings
from idp.security.passwords import MAX_PASSWORD_LENGTH
from idp.services import profile
from idp.services.email_verification import VerificationLinkUnusable
from idp.services.lockout import AccountLocked
from idp.services.members import InvalidPassword
from idp.services.profile import CurrentPasswordWrong, EmailTaken, SameEmail
from idp.web.account.access import account_page, member_required, signed_in
from idp.web.pages import page
from idp.web.requester import requester
from idp.web.signin.record import privilege_changed, this_session_record_id

bp = Blueprint("account_profile", __name__, url_prefix="/account/profile")

try:  # wtforms 3.3 and later; tuples are deprecated there
    from wtforms import SelectChoice

    LANGUAGES = [SelectChoice("id", "Bahasa Indonesia"), SelectChoice("en", "English")]
except ImportError:  # pragma: no cover - older wtforms
    LANGUAGES = [("id", "Bahasa Indonesia"), ("en", "English")]


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


class EmailChangeForm(FlaskForm):
    email = EmailField(
        _l("New email address"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"},
    )
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    submit = SubmitField(_l("Send confirmation link"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change password"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))


# --- profile: contact details and language -------------------------------------------------


@bp.get("")
@member_required
def index():
    member = signed_in().member
    contact = ContactForm(data={"phone": member.phone or "", "address": member.address or ""})
    language = LanguageForm(data={"locale": member.locale})
    return _profile_page(contact, language)


def _profile_page(contact: ContactForm, language: LanguageForm, status: int = 200, **context):
    member = signed_in().member
    return account_page(
        "account/profile.html",
        status=status,
        contact_form=contact,
        language_form=language,
        pending_email=profile.pending_email_change(get_session(), member),
        **context,
    )


@bp.post("/contact")
@member_required
def contact():
    member = signed_in().member
    form = ContactForm()
    language = LanguageForm(data={"locale": member.locale})
    if not form.validate_on_submit():
        return _profile_page(form, language, status=400, contact_error="address" if form.address.errors else "invalid")
    try:
        profile.update_contact(get_session(), member, form.phone.data, form.address.data, requester())
    except ValidationFailed as invalid:
        return _profile_page(form, language, status=400, contact_error=invalid.field)
    flash("contact_saved", "done")
    return redirect(url_for("account_profile.index"), 303)


@bp.post("/language")
@member_required
def language():
    member = signed_in().member
    form = LanguageForm()
    if not form.validate_on_submit():
        contact = ContactForm(data={"phone": member.phone or "", "address": member.address or ""})
        return _profile_page(contact, form, status=400)
    profile.set_locale(get_session(), member, form.locale.data, requester())
    # The pages follow at once (the session's language wins over the browser's).
    remember_locale(form.locale.data)
    flash("language_saved", "done")
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


def _token_page(template: str, status: int = 200, **context):
    return page(template, status, secret_in_url=True, **context)


# The link works without a sign-in (it is often opened on another device): holding the
# link, mailed to the new address after the member entered their password, is the proof.
@bp.get("/email/verify/<token>")
def email_verify(token: str):
    try:
        profile.check_email_change_link(get_session(), token)
    except VerificationLinkUnusable:
        return _token_page("account/email_link_unusable.html", status=400)
    # A GET consumes nothing: mail scanners that open links must not burn them.
    return _token_page("account/email_verify.html", form=ConfirmForm(), token=token)


@bp.post("/email/verify/<token>")
def email_verify_submit(token: str):
    db = get_session()
    form = ConfirmForm()
    try:
        profile.check_email_change_link(db, token)
        if not form.validate_on_submit():
            return _token_page("account/email_verify.html", form=form, token=token, status=400)
        profile.confirm_email_change(db, token, requester())
    except VerificationLinkUnusable:
        return _token_page("account/email_link_unusable.html", status=400)
    except EmailTaken:
        return _token_page("account/email_taken.html", status=409)
    return _token_page("account/email_changed.html")


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
            if "password" in form.errors and len(form.password.data or "") > MAX_PASSWORD_LENGTH:
                raise InvalidPassword("too_long", min_length)
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
    # This browser stays signed in, under a new session id; every other one was ended.
    privilege_changed()
    flash("password_changed", "done")
    return redirect(url_for("account_profile.password"), 303)
