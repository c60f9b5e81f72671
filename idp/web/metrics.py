"""/metrics for Prometheus (optionally behind a bearer token), and the request hooks that feed
it: time and status per endpoint, tokens issued per grant type."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, abort, current_app, request
from sqlalchemy import func, select

from idp import metrics
from idp.db import new_session
from idp.models.outbound import JOB_PENDING, OutboundJob
from idp.runtime import settings
from idp.security.tokens import constant_time_equals
from idp.web.unavailable import works_without_database

bp = Blueprint("metrics", __name__)

# Where the endpoint's name is left for the timer around the whole app (the request is gone by
# the time the answer is sent).
_ENDPOINT_KEY = "idp.metrics.endpoint"
# Methods a label may name; anything else a client sends is "other" (labels stay few).
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@bp.get("/metrics")
@works_without_database
def scrape():
    config = settings().metrics
    if not config.enabled:
        abort(404)
    if config.bearer_token and not _bearer_matches(config.bearer_token):
        response = current_app.response_class("bearer token required\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response.headers["Cache-Control"] = "no-store"
        return response
    body, content_type = metrics.exposition(_gauges_read_now())
    response = current_app.response_class(body, status=200)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_matches(expected: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Compared in full whatever was sent, so the time taken says nothing about the token.
    return constant_time_equals(presented.strip() if scheme.lower() == "bearer" else "", expected)


def _gauges_read_now() -> dict[str, tuple[str, dict[str, float]]]:
    """Jobs waiting in the queue (mail included), read from the database at each scrape; left
    out while the database is away (idp_dependency_errors_total says so)."""
    try:
        with new_session() as db:
            rows = db.execute(
                select(OutboundJob.kind, func.count())
                .where(OutboundJob.state == JOB_PENDING)
                .group_by(OutboundJob.kind)
            ).all()
    except Exception:
        return {}
    return {
        "idp_outbound_jobs_waiting": (
            "Queued jobs not done yet, by kind (mail: messages waiting to be sent).",
            dict(rows),
        )
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def count_tokens(response):
        # A 200 from the token endpoint is a grant Authlib knows, so the label stays bounded.
        if request.endpoint == "oidc.token" and response.status_code == 200:
            metrics.token_issued(request.form.get("grant_type", "unknown"))
        return response

    @app.teardown_request
    def name_the_endpoint(_error=None):
        name_endpoint(request.environ, request.endpoint or "unmatched")

    app.wsgi_app = RequestTimer(app.wsgi_app)  # type: ignore[method-assign]


def name_endpoint(environ: dict, endpoint: str) -> None:
    """Label the request's timing and count with ``endpoint``: done at teardown for Flask's
    routes, and by what answers in front of Flask (web/protocol/discovery.py) itself."""
    environ[_ENDPOINT_KEY] = endpoint


class RequestTimer:
    """Around the whole app, so session loading and saving count in the time too."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        answered = {"status": "500"}

        def recording_start_response(status: str, headers, exc_info=None):
            answered["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            metrics.request_answered(
                environ.get(_ENDPOINT_KEY, "unmatched"),
                method if (method := environ.get("REQUEST_METHOD", "")) in _METHODS else "other",
                answered["status"],
                time.perf_counter() - started,
            )
