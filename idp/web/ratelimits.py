"""Rate limits (Flask-Limiter): per IP on credential pages and on anonymous pages that do work
(``/authorize``, the held sign-in, mailed links); at /token per client, counted only once
the client has authenticated, and failed client authentication per address and per address
and claimed client (so nobody can use up a relying party's budget by naming it); 429 with
Retry-After, a friendly page or a JSON error. (Per-recipient mail budgets count in the same
storage: ``idp.services.mail_budget``.)

While the storage (Redis) cannot be reached, ``ratelimit.on_storage_error`` decides what the
rate-limited endpoints do: "deny" answers 503 with Retry-After (``web.unavailable``); "allow"
serves them, counted in this process's memory until the storage answers again. Either way a
warning is logged and ``idp_dependency_errors_total{dependency="ratelimit_storage"}`` rises.
Nothing else uses the storage but the mail budgets, which then let mail go."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from limits import parse_many
from limits.errors import StorageError

from idp import metrics
from idp.db import get_session
from idp.extensions import limiter
from idp.runtime import runtime, settings
from idp.services import audit
from idp.services.mail_budget import MailBudget
from idp.services.text_messages import SmsBudget
from idp.web import memory_limits
from idp.web.requester import requester
from idp.web.unavailable import unavailable

log = logging.getLogger("idp.ratelimit")


def configured(name: str) -> Callable[[], str]:
    """The limit ``ratelimit.<name>`` of the app serving the request, for ``@limiter.limit``
    (read per request, so each app's settings apply)."""
    return lambda: getattr(settings().ratelimit, name)


login_limit = configured("login_per_ip")
second_factor_limit = configured("second_factor_per_ip")
forgot_password_limit = configured("forgot_password_per_ip")
email_code_limit = configured("email_code_per_ip")
# Texts are asked for like emailed codes, and limited alike (per number: sms.*_per_number).
sms_code_limit = email_code_limit
activation_limit = configured("activation_per_ip")


def limited_per_address(name: str):
    """A view counted per client address against ``ratelimit.<name>``, one budget shared by
    every view it decorates. For anonymous pages that do work (not credential checks): they
    bound work and stored rows, so while the storage is away they are served uncounted, like
    the mail budgets, rather than refused."""

    def decorator(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            count(name, request.remote_addr or "", storage_error="allow")
            return view(*args, **kwargs)

        return limited

    return decorator


# One budget per address across /authorize, the held sign-in and its resumption; another
# across every kind of mailed link.
authorize_limit = limited_per_address("authorize_per_ip")
link_limit = limited_per_address("links_per_ip")


class TooManyRequests(Exception):
    """A limit counted by hand (not by a ``@limiter.limit`` decorator) is reached."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(limit)
        self.limit = limit
        self.retry_after = retry_after


@functools.lru_cache(maxsize=256)  # the strings come from the settings: a few per app
def _parsed(limit: str) -> tuple:
    """``limit`` ("10 per minute; 100 per hour") as limit items, parsed once: parsing took
    about a third of what counting a request costs."""
    return tuple(parse_many(limit))


def _storage_failed(error: StorageError, policy: str | None = None) -> None:
    """A hand-counted limit met a storage error: "deny" lets it through to the 503 answer,
    "allow" serves the request uncounted (and says so). ``policy``: this limit's own, else
    ``ratelimit.on_storage_error``."""
    if (policy or settings().ratelimit.on_storage_error) == "deny":
        raise error
    metrics.dependency_error("ratelimit_storage")
    log.warning("rate-limit storage unreachable: request not counted", extra={"dependency": "ratelimit_storage"})


def refuse_if_over(name: str, *keys: str) -> None:
    """Raise TooManyRequests when ``ratelimit.<name>`` is used up for ``keys`` (counts nothing)."""
    ratelimit = settings().ratelimit
    if not ratelimit.enabled:
        return
    prefix = ratelimit.key_prefix
    try:
        for item in _parsed(getattr(ratelimit, name)):
            if not limiter.limiter.test(item, prefix, name, *keys):
                raise TooManyRequests(str(item), _retry_after(item, prefix, name, *keys))
    except StorageError as error:
        _storage_failed(error)


def count(name: str, *keys: str, storage_error: str | None = None) -> None:
    """Count one request against ``ratelimit.<name>`` for ``keys``; TooManyRequests when over.
    ``storage_error``: what to do while the storage is away ("allow" or "deny"; default
    ``ratelimit.on_storage_error``)."""
    ratelimit = settings().ratelimit
    if not ratelimit.enabled:
        return
    prefix = ratelimit.key_prefix
    try:
        for item in _parsed(getattr(ratelimit, name)):
            if not limiter.limiter.hit(item, prefix, name, *keys):
                raise TooManyRequests(str(item), _retry_after(item, prefix, name, *keys))
    except StorageError as error:
        _storage_failed(error, storage_error)


def _retry_after(item, *keys: str) -> int:
    reset_at = limiter.limiter.get_window_stats(item, *keys).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def client_authentication_limits(address_of: Callable[[], str] | None = None):
    """The hooks the authorization server calls around client authentication at /token.
    ``address_of``: the caller's address (default: the request's; the introspection fast path
    in front of Flask passes its own)."""
    from idp.oauth.server import ClientAuthenticationLimits

    def the_address() -> str:
        return address_of() if address_of is not None else request.remote_addr or ""

    def before(claimed: str) -> None:
        address = the_address()
        refuse_if_over("client_auth_failures_per_ip", address)
        refuse_if_over("client_auth_failures_per_ip_and_client", address, claimed)

    def failed(claimed: str) -> None:
        address = the_address()
        # Both counted, whichever is reached first; the next attempt is refused by ``before``.
        for name, keys in (
            ("client_auth_failures_per_ip", (address,)),
            ("client_auth_failures_per_ip_and_client", (address, claimed)),
        ):
            with contextlib.suppress(TooManyRequests):
                count(name, *keys)

    def succeeded(client) -> None:
        # A public client authenticates by naming itself: anyone can, so its requests are
        # counted per client and address; a confidential client's only once its secret is right.
        keys = (client.client_id, the_address()) if client.is_public else (client.client_id,)
        count("token_per_client", *keys)

    def succeeded_as(name: str) -> None:
        count("token_per_client", name)

    return ClientAuthenticationLimits(before=before, failed=failed, succeeded=succeeded, succeeded_as=succeeded_as)


def init_app(app: Flask) -> None:
    ratelimit = settings(app).ratelimit
    app.config.update(
        RATELIMIT_ENABLED=ratelimit.enabled,
        RATELIMIT_STORAGE_URI=memory_limits.storage_uri_for(ratelimit.storage_uri),
        RATELIMIT_KEY_PREFIX=ratelimit.key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STORAGE_OPTIONS=_storage_options(ratelimit.storage_uri),
        # "allow": keep limiting in this process's memory while Redis is away; "deny": let the
        # storage error through, to be answered 503 below.
        RATELIMIT_SWALLOW_ERRORS=ratelimit.on_storage_error == "allow",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=ratelimit.on_storage_error == "allow",
    )
    limiter.init_app(app)
    _without_the_request_wide_check(app)
    # Mail budgets count in the same storage (shared by every process when it is Redis).
    runtime(app).mail_budget = MailBudget(
        ratelimit, hit=lambda item, *keys: limiter.limiter.hit(item, *keys), on_storage_error=_storage_error_for_mail
    )
    # So do the texts per number and purpose.
    runtime(app).sms_budget = SmsBudget(
        ratelimit,
        settings(app).sms,
        hit=lambda item, *keys: limiter.limiter.hit(item, *keys),
        on_storage_error=_storage_error_for_mail,
    )
    _watch_the_storage(app)
    server = runtime(app).authorization_server
    if server is not None:
        server.client_authentication_limits = client_authentication_limits()

    @app.errorhandler(TooManyRequests)
    def counted_by_hand(error: TooManyRequests):
        _audit(error.limit)
        response = _too_many_requests()
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(StorageError)
    def storage_unreachable(error: StorageError):
        return unavailable("ratelimit_storage", type(error.storage_error).__name__)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        _audit_rate_limit(error)
        return _too_many_requests()


def _too_many_requests():
    """429: JSON for the protocol endpoints, the friendly page for everything else."""
    if request.path in {"/token", "/userinfo"} or request.path.startswith("/.well-known/"):
        response = jsonify(error="too_many_requests", error_description="Too many requests; retry later.")
    else:
        response = current_app.make_response(render_template("errors/rate_limited.html"))
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    return response


def _without_the_request_wide_check(app: Flask) -> None:
    """Remove Flask-Limiter's before_request hook. It checks, on every request, the limits
    that apply to requests rather than to a view: application, default, blueprint and meta
    limits. idp sets none of those (each of its limits is a view's ``@limiter.limit``, which
    its decorator checks, or counted by hand above), so on every request the hook resolved an
    empty list of limits: about a quarter of what Flask costs idp for a request that does
    nothing else (``/healthz``, 419 against 308 µs in-process). Should such limits ever be
    configured, the hook stays."""
    manager = limiter.limit_manager
    if manager.application_limits or manager.default_limits:
        return
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    if check in hooks:  # bound methods of one object compare equal; none when limits are off
        hooks.remove(check)


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
    _audit(str(error.limit.limit))


def _audit(limit: str) -> None:
    try:
        db = get_session()
        audit.record(db, "rate_limit", "blocked", requester(), path=request.path, limit=limit)
        db.commit()
    except Exception:  # the audit must never turn a 429 into a 500
        log.exception("could not audit a rate-limit hit")
