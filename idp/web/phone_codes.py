"""Verifying a mobile number with a code sent to it by SMS, for the two pages that offer it:
the profile (``web/account/profile.py``) and self-activation (``web/selfservice/activation.py``).
Each keeps its own transaction in this browser's session (under its own key), so a code sent
for one page is not typed into the other. The rules are ``services/phone_verification.py``'s."""

from __future__ import annotations

from flask import session

from idp.db import get_session
from idp.models import Member
from idp.runtime import runtime
from idp.security.tokens import random_token
from idp.services import phone_verification
from idp.services import second_factor as factors
from idp.services.identifiers import mask_phone
from idp.services.lockout import AccountLocked
from idp.web.forms import ActionForm, OneTimeCodeForm
from idp.web.requester import requester


def page_context(member: Member, transaction_key: str, post_code: str, post_send: str, **context) -> dict:
    """What ``second_factor/_phone_code.html`` needs."""
    context.setdefault("form", OneTimeCodeForm())
    return {
        "masked_phone": mask_phone(member.phone),
        "delivery": phone_verification.code_sent(get_session(), member, session.get(transaction_key)),
        "code_minutes": max(runtime().settings.sms.code_ttl_seconds // 60, 1),
        "send_form": ActionForm(),
        "post_code": post_code,
        "post_send": post_send,
        **context,
    }


def send(member: Member, transaction_key: str) -> dict | None:
    """Text a verification code (the caller checked the form); None when queued, else what the
    page says instead, with its status."""
    if factors.current_lock(get_session(), member.id) is not None:
        return {"status": 423, "error": "locked"}
    transaction = session.get(transaction_key) or f"phone:{random_token(16)}"
    session[transaction_key] = transaction
    current = runtime()
    try:
        phone_verification.send_code(
            get_session(), member, transaction, current.secrets, current.settings.sms, requester()
        )
    except factors.CodeTooSoon as too_soon:
        return {"status": 429, "error": "sms_too_soon", "retry_at": too_soon.retry_at}
    except factors.SmsBudgetUsedUp:
        return {"status": 429, "error": "sms_budget"}
    return None


def verify(member: Member, transaction_key: str) -> dict | None:
    """Check the submitted code; None when the number is now verified, else what the page says
    instead, with its status and the (cleared) form."""
    form = OneTimeCodeForm()
    transaction = session.get(transaction_key)
    if not form.validate_on_submit() or not transaction:
        return {"status": 400, "form": form, "error": "code_invalid" if transaction else "code_none"}
    code, form.code.data = form.code.data, ""
    current = runtime()
    try:
        result = phone_verification.verify(
            get_session(),
            member,
            transaction,
            code,
            current.secrets,
            current.settings.security,
            current.settings.sms,
            current.settings.lockout,
            requester(),
        )
    except AccountLocked as locked:
        return {"status": 423, "form": form, "error": "locked", "locked": locked}
    if not result.ok:
        return {"status": 401, "form": form, "error": f"code_{result.reason}"}
    session.pop(transaction_key, None)
    return None
