"""Rate limits (Flask-Limiter): per IP on credential pages, per client on /token, per
account on mail; 429 with Retry-After, a friendly page or a JSON error."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from limits import parse_many

from idp.db import get_session
from idp.extensions import limiter
from idp.services import audit
from idp.web.origin import request_origin

log = logging.getLogger("idp.ratelimit")


def _ratelimit_settings():
    return current_app.extensions["idp.settings"].ratelimit


def login_limit() -> str:
    return _ratelimit_settings().login_per_ip


def second_factor_limit() -> str:
    return _ratelimit_settings().second_factor_per_ip


def forgot_password_limit() -> str:
    return _ratelimit_settings().forgot_password_per_ip


def email_code_limit() -> str:
    return _ratelimit_settings().email_code_per_ip


def activation_limit() -> str:
    return _ratelimit_settings().activation_per_ip


def token_limit() -> str:
    return _ratelimit_settings().token_per_client


def client_key() -> str:
    """The client id a token request claims (Basic header or form), else the address."""
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic" and authorization.username:
        return f"client:{authorization.username[:64]}"
    client_id = request.form.get("client_id")
    if client_id:
        return f"client:{client_id[:64]}"
    return f"ip:{request.remote_addr}"


def allow_mail_to(recipient_key: str) -> bool:
    """Count one mail to this account or address; False when over the limit (then the mail is
    dropped and the caller answers as usual)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    for item in parse_many(_ratelimit_settings().email_per_identifier):
        if not limiter.limiter.hit(item, _ratelimit_settings().key_prefix, "mail", recipient_key):
            log.warning("mail dropped: per-recipient limit", extra={"limit": str(item)})
            return False
    return True


def init_app(app: Flask) -> None:
    settings = app.extensions["idp.settings"].ratelimit
    app.config.update(
        RATELIMIT_ENABLED=settings.enabled,
        RATELIMIT_STORAGE_URI=settings.storage_uri,
        RATELIMIT_KEY_PREFIX=settings.key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        # If Redis is unreachable, keep limiting per process rather than failing every sign-in.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        _audit_rate_limit(error)
        if request.path in {"/token", "/userinfo"} or request.path.startswith("/.well-known/"):
            response = jsonify(error="too_many_requests", error_description="Too many requests; retry later.")
        else:
            response = current_app.make_response(render_template("errors/rate_limited.html"))
        response.status_code = 429
        response.headers["Cache-Control"] = "no-store"
        return response


def _audit_rate_limit(error: RateLimitExceeded) -> None:
    try:
        db = get_session()
        audit.record(db, "rate_limit", "blocked", request_origin(), path=request.path, limit=str(error.limit.limit))
        db.commit()
    except Exception:  # the audit must never turn a 429 into a 500
        log.exception("could not audit a rate-limit hit")
