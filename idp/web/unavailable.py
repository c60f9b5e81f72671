"""When a dependency is away: the answer, the log line and the metric.

- The database cannot be reached (or answers with a transient error): pages show a short
  "temporarily unavailable" page in the member's language, the protocol endpoints answer 503
  with ``Retry-After`` and a JSON error. The request's transaction is rolled back and its
  browser session is not saved, so nothing half-written stays behind; the connection pool
  reconnects by itself when the database is back (nothing to restart).
- The rate-limit storage cannot be reached and ``ratelimit.on_storage_error = "deny"``: the
  rate-limited endpoints answer the same way (``web.ratelimits`` decides which mode applies).

Views that need no database (health, metrics) say so with ``works_without_database``, so
they still answer when the browser session could not be loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from idp import metrics
from idp.errors import wants_json

log = logging.getLogger("idp.unavailable")

RETRY_AFTER_SECONDS = 30
# What the database raises when it is down, restarting, unreachable or overloaded.
DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)
_UNAVAILABLE_FLAG = "idp_dependency_unavailable"

View = TypeVar("View", bound=Callable)


class DatabaseUnavailable(Exception):
    """The browser session could not be loaded because the database is away."""


def works_without_database(view: View) -> View:
    view._works_without_database = True  # type: ignore[attr-defined]
    return view


def answering_unavailable() -> bool:
    """True once this request is answered "temporarily unavailable" (then its browser session
    is left as it was: nothing is saved)."""
    return bool(g.get(_UNAVAILABLE_FLAG))


def init_app(app: Flask) -> None:
    @app.before_request
    def session_needs_the_database():
        if _session_unavailable():
            view = app.view_functions.get(request.endpoint or "")
            if not getattr(view, "_works_without_database", False):
                raise DatabaseUnavailable()

    @app.errorhandler(DatabaseUnavailable)
    def session_not_loaded(_error: DatabaseUnavailable):
        return unavailable("database", "browser session not loaded")

    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, _database_error)


def _session_unavailable() -> bool:
    from flask import session

    return bool(getattr(session, "unavailable", False))


def _database_error(error: Exception):
    original = getattr(error, "orig", None) or error
    return unavailable("database", type(original).__name__)


def unavailable(dependency: str, reason: str):
    """Answer 503 for ``dependency`` (roll back the request's transaction, log a warning with the
    error class only, count it)."""
    g.setdefault(_UNAVAILABLE_FLAG, True)
    db = g.pop("db_session", None)
    if db is not None:
        try:
            db.rollback()
            db.close()
        except Exception:  # the connection is gone already: nothing was committed
            db.invalidate()
    # The error class, never the message: a statement's parameters could hold anything.
    log.warning(
        f"{dependency} unavailable", extra={"dependency": dependency, "error": reason, "endpoint": request.endpoint}
    )
    metrics.dependency_error(dependency)
    if _answer_in_json():
        response = jsonify(
            error="temporarily_unavailable", error_description="The service is temporarily unavailable; retry later."
        )
    else:
        response = current_app.make_response(render_template("errors/unavailable.html"))
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer_in_json() -> bool:
    if wants_json():
        return True
    # The protocol endpoints relying parties and resource servers call (token, introspection,
    # revocation, ...) answer JSON; a browser sent to one (authorize, logout) gets the page.
    return request.blueprint == "oidc" and not _browser_navigation()


def _browser_navigation() -> bool:
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        return True
    return any(value == "text/html" for value, _quality in request.accept_mimetypes)
