"""Flow errors raised by services, and the handlers that turn any error into a page or JSON.

Protocol errors are Authlib's ``OAuth2Error`` classes and are handled where they arise;
these are the member-facing and operator-facing ones. ``message_id`` is stable (tests and
templates key on it); ``detail`` is for logs only and never shown.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from idp.logs import request_id

log = logging.getLogger("idp.errors")


class IdpError(Exception):
    """A flow error: ``status`` is the HTTP status of the page, ``message_id`` the stable id the
    page shows it by. Subclasses set both in their class line:
    ``class Expired(IdpError, status=400, message_id="expired")``."""

    status = 400
    message_id = "error"

    def __init_subclass__(cls, status: int | None = None, message_id: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if message_id is not None:
            cls.message_id = message_id

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.message_id)
        self.detail = detail


class ValidationFailed(IdpError, message_id="validation_failed"):
    """A value given by an operator or member is not acceptable."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


class NotFound(IdpError, status=404, message_id="not_found"):
    """No such record (operators' commands)."""


class LoginFailed(IdpError, status=401, message_id="login_failed"):
    """Identifier or password wrong, or no such account: one message for all of them."""


class InteractionExpired(IdpError, status=400, message_id="interaction_expired"):
    """The sign-in page was left too long, used already, or opened in another browser."""


def wants_json() -> bool:
    if request.path in {"/token", "/userinfo", "/jwks"} or request.path.startswith("/.well-known/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if wants_json():
            response = jsonify(error=_json_error_code(error.code), error_description=error.description)
        else:
            response = app.make_response(
                (render_template("errors/http.html", status=error.code, name=error.name), error.code)
            )
        response.status_code = error.code or 500
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(IdpError)
    def idp_error(error: IdpError):
        if wants_json():
            return jsonify(error=error.message_id), error.status
        return render_template("errors/flow.html", message_id=error.message_id), error.status

    @app.errorhandler(StaleDataError)
    def step_taken_elsewhere(error: StaleDataError):
        # Only an interaction's row is versioned (by its state, ``idp.models.flows``): another
        # request moved it on first, so this copy of the step is over.
        log.info("interaction moved on by another request", extra={"request_id": request_id()})
        return idp_error(InteractionExpired("interaction moved on by another request"))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # One place for everything unexpected: roll back, log with a correlation id,
        # and show nothing of the internals.
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()
        correlation = request_id()
        log.exception("unhandled error", extra={"request_id": correlation})
        if wants_json():
            return jsonify(error="server_error", request_id=correlation), 500
        try:
            return render_template("errors/server.html", request_id=correlation), 500
        except Exception:  # the page itself failed: still answer, plainly
            log.exception("error page failed", extra={"request_id": correlation})
            return f"Server error. Reference: {correlation}", 500, {"Content-Type": "text/plain; charset=utf-8"}


def _json_error_code(status: int | None) -> str:
    return {
        400: "invalid_request",
        401: "invalid_token",
        404: "not_found",
        405: "invalid_request",
        413: "invalid_request",
        429: "too_many_requests",
    }.get(status or 500, "server_error")
