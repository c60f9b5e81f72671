"""A single-use link mailed to a member and confirmed with a button (email verification at
activation and at an email change). Opening it (GET) only checks it, so mail scanners that
fetch links burn nothing; the button (POST, with its CSRF token) uses it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField

from idp.db import get_session
from idp.services.email_verification import EmailTaken, VerificationLinkUnusable
from idp.web.pages import page
from idp.web.requester import requester


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))


@dataclass(frozen=True)
class ConfirmedLink:
    check: Callable  # (db, token): the live link, or VerificationLinkUnusable
    use: Callable  # (db, token, origin): consume it and apply the change
    confirm_page: str
    unusable_page: str
    taken_page: str  # the address became another account's meanwhile
    done_page: str
    # What the view also does once the link is used (forget a flow's state, ...).
    after: Callable[[], None] | None = None

    def show(self, token: str):
        try:
            self.check(get_session(), token)
        except VerificationLinkUnusable:
            return _page(self.unusable_page, 400)
        return _page(self.confirm_page, form=ConfirmForm(), token=token)

    def submit(self, token: str):
        db = get_session()
        form = ConfirmForm()
        try:
            self.check(db, token)
            if not form.validate_on_submit():
                return _page(self.confirm_page, 400, form=form, token=token)
            self.use(db, token, requester())
        except VerificationLinkUnusable:
            return _page(self.unusable_page, 400)
        except EmailTaken:
            return _page(self.taken_page, 409)
        if self.after is not None:
            self.after()
        return _page(self.done_page)


def _page(template: str, status: int = 200, **context):
    # A secret in the URL: no caches, no Referer.
    return page(template, status, secret_in_url=True, **context)
