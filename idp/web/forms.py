"""Flask-WTF forms: every state-changing page posts one of these, with its CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    identifier = StringField(
        _l("Email or membership number"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    # No length check here: an over-long password is refused by the login service without
    # hashing, with the same answer as any wrong password.
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Sign in"))


class ConsentForm(FlaskForm):
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class ForgotPasswordForm(FlaskForm):
    identifier = StringField(
        _l("Email or membership number"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Send reset link"))


class NewPasswordForm(FlaskForm):
    # No length check here: the password policy refuses a too-long password and says why.
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired()],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set new password"))


_ONE_TIME_CODE = {
    "autocomplete": "one-time-code",
    "inputmode": "numeric",
    "autocapitalize": "none",
    "spellcheck": "false",
}


class OneTimeCodeForm(FlaskForm):
    """A six-digit code from an authenticator app or an email."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)], render_kw=_ONE_TIME_CODE)
    # Shown only when security.remember_browser_days is more than 0.
    remember = BooleanField()
    submit = SubmitField(_l("Verify"))


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(), Length(max=40)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Verify"))


class SendEmailCodeForm(FlaskForm):
    submit = SubmitField(_l("Send a code to my email"))


class TotpSetupForm(FlaskForm):
    label = StringField(
        _l("Name for this app (optional)"), validators=[Optional(), Length(max=100)], render_kw={"autocomplete": "off"}
    )
    code = StringField(_l("Code from the app"), validators=[DataRequired(), Length(max=20)], render_kw=_ONE_TIME_CODE)
    submit = SubmitField(_l("Turn on"))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
