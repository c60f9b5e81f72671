"""The profile pages of the account area: contact details and language, email change (applied
only once the new address is confirmed by its link) and password change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    SelectField,
    SubmitField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from idp.db import get_session
from idp.errors import ValidationFailed
from idp.i18n import remember_locale
from idp.runtime import settings
from idp.services import profile
from idp.services.lockout import AccountLocked
from idp.services.members import InvalidPassword
from idp.services.profile import CurrentPasswordWrong, SameEmail
from idp.web.account.access import account_page, member_required, signed_in
from idp.web.confirm_links import ConfirmedLink
from idp.web.forms import current_password_field, email_field, new_password_field, password_again_field
from idp.web.ratelimits import link_limit
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
    email = email_field(_l("New email address"))
    current_password = current_password_field()
    submit = SubmitField(_l("Send confirmation link"))


class PasswordChangeForm(FlaskForm):
    current_password = current_password_field()
    password = new_password_field()
    confirm = password_again_field()
    submit = SubmitField(_l("Change password"))


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
    # This browser stays signed in, under a new session id; every other one was ended.
    privilege_changed()
    flash("password_changed", "done")
    return redirect(url_for("account_profile.password"), 303)
