"""Flask-WTF forms: every state-changing page posts one of these, with its CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from idp.security.passwords import MAX_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    identifier = StringField(
        _l("Email or membership number"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    # Longer than any acceptable password, so an over-long one is refused without hashing.
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Sign in"))


class ConsentForm(FlaskForm):
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))
