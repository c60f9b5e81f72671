"""Rate limits (Flask-Limiter): per IP on credential pages, per client on /token; 429 with
Retry-After, a friendly page or a JSON error. (Per-recipient mail budgets count in the same
storage: ``idp.services.mail_budget``.)"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded

from idp.db import get_session
from idp.extensions import limiter
from idp.runtime import runtime, settings
from idp.services import audit
from idp.services.mail_budget import MailBudget
from idp.web.requester import requester

log = logging.getLogger("idp.ratelimit")


def configured(name: str) -> Callable[[], str]:
    """The limit ``ratelimit.<name>`` of the app serving the request, for ``@limiter.limit``
    (read per request, so each app's settings apply)."""
    return lambda: getattr(settings().ratelimit, name)


login_limit = configured("login_per_ip")
second_factor_limit = configured("second_factor_per_ip")
forgot_password_limit = configured("forgot_password_per_ip")
email_code_limit = configured("email_code_per_ip")
activation_limit = configured("activation_per_ip")
token_limit = configured("token_per_client")


def client_key() -> str:
    """The client id a token request claims (Basic header or form), else the address."""
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic" and authorization.username:
        return f"client:{authorization.username[:64]}"
    client_id = request.form.get("client_id")
    if client_id:
        return f"client:{client_id[:64]}"
    return f"ip:{request.remote_addr}"


def init_app(app: Flask) -> None:
    ratelimit = settings(app).ratelimit
    app.config.update(
        RATELIMIT_ENABLED=ratelimit.enabled,
        RATELIMIT_STORAGE_URI=ratelimit.storage_uri,
        RATELIMIT_KEY_PREFIX=ratelimit.key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        # If Redis is unreachable, keep limiting per process rather than failing every sign-in.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    limiter.init_app(app)
    # Mail budgets count in the same storage (shared by every process when it is Redis).
    runtime(app).mail_budget = MailBudget(ratelimit, hit=lambda item, *keys: limiter.limiter.hit(item, *keys))

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
        audit.record(db, "rate_limit", "blocked", requester(), path=request.path, limit=str(error.limit.limit))
        db.commit()
    except Exception:  # the audit must never turn a 429 into a 500
        log.exception("could not audit a rate-limit hit")
