"""Rate limits (Flask-Limiter): per IP on credential pages, per client on /token; 429 with
Retry-After, a friendly page or a JSON error. (Per-recipient mail budgets count in the same
storage: ``idp.services.mail_budget``.)

While the storage (Redis) cannot be reached, ``ratelimit.on_storage_error`` decides what the
rate-limited endpoints do: "deny" answers 503 with Retry-After (``web.unavailable``); "allow"
serves them, counted in this process's memory until the storage answers again. Either way a
warning is logged and ``idp_dependency_errors_total{dependency="ratelimit_storage"}`` rises.
Nothing else uses the storage but the mail budgets, which then let mail go."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from limits.errors import StorageError

from idp import metrics
from idp.db import get_session
from idp.extensions import limiter
from idp.runtime import runtime, settings
from idp.services import audit
from idp.services.mail_budget import MailBudget
from idp.web.requester import requester
from idp.web.unavailable import unavailable

log = logging.getLogger("idp.ratelimit")

View = TypeVar("View", bound=Callable)


def not_rate_limited(view: View) -> View:
    """Mark a view no limit applies to (a public, cacheable document): Flask-Limiter's
    per-request work (resolving limits, its request context) is skipped for it altogether."""
    view._not_rate_limited = True  # type: ignore[attr-defined]
    return view


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
        RATELIMIT_STORAGE_OPTIONS=_storage_options(ratelimit.storage_uri),
        # "allow": keep limiting in this process's memory while Redis is away; "deny": let the
        # storage error through, to be answered 503 below.
        RATELIMIT_SWALLOW_ERRORS=ratelimit.on_storage_error == "allow",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=ratelimit.on_storage_error == "allow",
    )
    limiter.init_app(app)
    _skip_the_limiter_for_unlimited_views(app)
    # Mail budgets count in the same storage (shared by every process when it is Redis).
    runtime(app).mail_budget = MailBudget(
        ratelimit, hit=lambda item, *keys: limiter.limiter.hit(item, *keys), on_storage_error=_storage_error_for_mail
    )
    _watch_the_storage(app)

    @app.errorhandler(StorageError)
    def storage_unreachable(error: StorageError):
        return unavailable("ratelimit_storage", type(error.storage_error).__name__)

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


def _skip_the_limiter_for_unlimited_views(app: Flask) -> None:
    """Flask-Limiter checks every request in a before_request hook, even where no limit
    applies; wrap that hook so views marked ``not_rate_limited`` do not pay for it."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    if check not in hooks:  # bound methods of one object compare equal
        return  # limits turned off: Flask-Limiter added no hook
    position = hooks.index(check)
    views = app.view_functions

    def check_unless_unlimited() -> None:
        view = views.get(request.endpoint or "")
        if getattr(view, "_not_rate_limited", False):
            return None
        return check()

    hooks[position] = check_unless_unlimited


def _storage_options(storage_uri: str) -> dict:
    if storage_uri.startswith("memory://"):
        return {}
    # A Redis that does not answer must cost a request a second or two, not hang it; and its
    # errors come as one class (StorageError) whatever the client library raised.
    return {"wrap_exceptions": True, "socket_connect_timeout": 2, "socket_timeout": 2}


def _watch_the_storage(app: Flask) -> None:
    """In "allow" mode Flask-Limiter falls back to memory by itself; say so (a warning when it
    starts, a line when it ends) and count each request it limits that way."""
    state = {"lost": False}

    @app.after_request
    def note_the_fallback(response):
        if limiter.current_limit is None:
            return response  # no limit applied to this request
        lost = limiter.limiter.storage is not limiter.storage
        if lost:
            metrics.dependency_error("ratelimit_storage")
        if lost and not state["lost"]:
            log.warning(
                "rate-limit storage unreachable: counting in this process's memory",
                extra={"dependency": "ratelimit_storage", "policy": "allow"},
            )
        elif state["lost"] and not lost:
            log.info("rate-limit storage reachable again", extra={"dependency": "ratelimit_storage"})
        state["lost"] = lost
        return response


def _storage_error_for_mail(error: Exception) -> None:
    log.warning(
        "rate-limit storage unreachable: mail budget not counted, mail sent",
        extra={"dependency": "ratelimit_storage", "error": type(error).__name__},
    )
    metrics.dependency_error("ratelimit_storage")


def _audit_rate_limit(error: RateLimitExceeded) -> None:
    try:
        db = get_session()
        audit.record(db, "rate_limit", "blocked", requester(), path=request.path, limit=str(error.limit.limit))
        db.commit()
    except Exception:  # the audit must never turn a 429 into a 500
        log.exception("could not audit a rate-limit hit")
