"""Setting up an authenticator app, shared by the sign-in (a member who must enrol) and the
account's Security page: the seed being set up, kept encrypted in this browser's session
until confirmed, and its QR code."""

from __future__ import annotations

import segno
from flask import session

from idp.db import get_session
from idp.models import Member
from idp.runtime import runtime
from idp.security import totp
from idp.services import second_factor as factors

# The session key of the seed being set up: {"member": id, "seed": encrypted seed}. The only
# module that reads or writes it.
_TOTP_SETUP_KEY = "totp_setup"


def pending_totp_seed(member: Member) -> str:
    """The (encrypted) seed of the app being set up in this session, made on first need so a
    reload shows the same QR code."""
    held = session.get(_TOTP_SETUP_KEY)
    if isinstance(held, dict) and held.get("member") == member.id and held.get("seed"):
        return held["seed"]
    seed = factors.new_totp_seed(runtime().secrets.totp_seeds)
    session[_TOTP_SETUP_KEY] = {"member": member.id, "seed": seed}
    return seed


def forget_pending_totp_seed() -> None:
    session.pop(_TOTP_SETUP_KEY, None)


def totp_setup_context(member: Member) -> dict:
    """What the setup page shows: the QR code, the key to type by hand, the otpauth:// URI."""
    current = runtime()
    seed = factors.seed_of(pending_totp_seed(member), current.secrets.totp_seeds)
    account = member.email or member.membership_number
    uri = totp.provisioning_uri(seed, account, current.settings.security.totp_issuer_name)
    return {"qr_data_uri": qr_data_uri(uri), "secret_text": totp.format_seed(seed), "otpauth_uri": uri}


def confirm_totp(member: Member, code: str, label: str | None, origin):
    """Activate the app being set up if ``code`` is right (None when wrong); forgets the seed."""
    factor = factors.confirm_totp(
        get_session(), member, pending_totp_seed(member), code, runtime().secrets.totp_seeds, label, origin
    )
    if factor is not None:
        forget_pending_totp_seed()
    return factor


def qr_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI for an <img>, drawn here (no external service; the CSP
    allows data: images, and an image's SVG needs no inline style on the page)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4)
