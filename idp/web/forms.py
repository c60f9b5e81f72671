"""Flask-WTF forms: every state-changing page posts one of these, with its CSRF token. The fields
every flow shares are made by the functions here, so each kind of field is labelled, limited
and hinted to browsers and password managers (``autocomplete``) the same way everywhere."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

_NOT_A_WORD = {"autocapitalize": "none", "spellcheck": "false"}
_ONE_TIME_CODE = {"autocomplete": "one-time-code", "inputmode": "numeric", **_NOT_A_WORD}


def identifier_field() -> StringField:
    return StringField(
        _l("Email or membership number"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", **_NOT_A_WORD},
    )


def email_field(label) -> EmailField:
    return EmailField(
        label, validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email", **_NOT_A_WORD}
    )


def current_password_field() -> PasswordField:
    # No length check here: an over-long password is refused by the service without hashing,
    # with the same answer as any wrong password.
    return PasswordField(
        _l("Current password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )


def new_password_field(label=None) -> PasswordField:
    # No length check here: the password policy refuses a too-long password and says why.
    return PasswordField(
        label or _l("New password"), validators=[DataRequired()], render_kw={"autocomplete": "new-password"}
    )


def password_again_field(label=None) -> PasswordField:
    return PasswordField(
        label or _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


def code_field(label) -> StringField:
    """A six-digit code from an authenticator app or an email (spaces allowed)."""
    return StringField(label, validators=[DataRequired(), Length(max=20)], render_kw=_ONE_TIME_CODE)


class LoginForm(FlaskForm):
    identifier = identifier_field()
    password = PasswordField(
        _l("Password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    submit = SubmitField(_l("Sign in"))


class ConsentForm(FlaskForm):
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class ForgotPasswordForm(FlaskForm):
    identifier = identifier_field()
    submit = SubmitField(_l("Send reset link"))


class NewPasswordForm(FlaskForm):
    password = new_password_field()
    confirm = password_again_field()
    submit = SubmitField(_l("Set new password"))


class OneTimeCodeForm(FlaskForm):
    code = code_field(_l("Code"))
    # Shown only when security.remember_browser_days is more than 0.
    remember = BooleanField()
    submit = SubmitField(_l("Verify"))


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(), Length(max=40)],
        render_kw={"autocomplete": "off", **_NOT_A_WORD},
    )
    submit = SubmitField(_l("Verify"))


class SendEmailCodeForm(FlaskForm):
    submit = SubmitField(_l("Send a code to my email"))


class SendSmsCodeForm(FlaskForm):
    submit = SubmitField(_l("Send a code by SMS"))


class TotpSetupForm(FlaskForm):
    label = StringField(
        _l("Name for this app (optional)"), validators=[Optional(), Length(max=100)], render_kw={"autocomplete": "off"}
    )
    code = code_field(_l("Code from the app"))
    submit = SubmitField(_l("Turn on"))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


# A passkey's ceremony runs in the browser (static/passkeys.js); the form carries its answer,
# JSON in one hidden field. Named ``code`` like every second-factor form's field, so the
# challenge's checks treat a passkey like any other factor.
_PASSKEY_ANSWER_LENGTH = 20_000


class PasskeyAnswerForm(FlaskForm):
    code = HiddenField(validators=[DataRequired(), Length(max=_PASSKEY_ANSWER_LENGTH)])


class PasskeySetupForm(FlaskForm):
    label = StringField(
        _l("Name for this passkey (optional)"),
        validators=[Optional(), Length(max=100)],
        render_kw={"autocomplete": "off"},
    )
    code = HiddenField(validators=[DataRequired(), Length(max=_PASSKEY_ANSWER_LENGTH)])
