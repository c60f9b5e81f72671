"""Where the member is signed in (with "sign out everywhere") and which apps they allowed."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, url_for
from flask_wtf import FlaskForm

from idp.db import get_session
from idp.runtime import settings
from idp.services import account_sessions
from idp.web.account.access import account_page, member_required, signed_in
from idp.web.requester import requester
from idp.web.signin.record import forget_ended_session, this_session_record_id, this_session_sid

bp = Blueprint("account_sessions", __name__)


# --- sessions ---------------------------------------------------------------------------------


@bp.get("/account/sessions")
@member_required
def sessions():
    listed = account_sessions.list_sessions(
        get_session(), signed_in().member.id, settings().session, this_session_record_id()
    )
    return account_page(
        "account/sessions.html",
        sessions=[(entry, describe_browser(entry.user_agent)) for entry in listed],
        form=FlaskForm(),
    )


@bp.post("/account/sessions/<sid>/end")
@member_required
def end_session(sid: str):
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for("account_sessions.sessions"), 303)
    member_id = signed_in().member.id
    if sid == this_session_sid():
        # Ending this browser's own session is signing out here.
        account_sessions.end_session(get_session(), member_id, sid, requester())
        forget_ended_session()
        return redirect(url_for("home.index"), 303)
    account_sessions.end_session(get_session(), member_id, sid, requester())
    flash("session_ended", "done")
    return redirect(url_for("account_sessions.sessions"), 303)


@bp.post("/account/sessions/end-all")
@member_required
def sign_out_everywhere():
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for("account_sessions.sessions"), 303)
    account_sessions.sign_out_everywhere(get_session(), signed_in().member.id, requester())
    forget_ended_session()
    return redirect(url_for("home.index"), 303)


# --- connected apps ---------------------------------------------------------------------------


@bp.get("/account/apps")
@member_required
def apps():
    return account_page(
        "account/apps.html", apps=account_sessions.list_apps(get_session(), signed_in().member.id), form=FlaskForm()
    )


@bp.post("/account/apps/<client_id>/revoke")
@member_required
def revoke_app(client_id: str):
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for("account_sessions.apps"), 303)
    if account_sessions.revoke_app(get_session(), signed_in().member.id, client_id, requester()):
        flash("app_revoked", "done")
    return redirect(url_for("account_sessions.apps"), 303)


# --- a readable name for a browser ------------------------------------------------------------

_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|Chromium)/")),
    ("Safari", re.compile(r"\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def describe_browser(user_agent: str | None) -> str | None:
    """ "Chrome · Android", from the User-Agent header; None when nothing is recognised. Only
    well-known names come out, never the raw header text."""
    text = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system
