"""Liveness and readiness for load balancers and orchestrators. Neither says more than ok or
not: no version, host name, revision or error text.

- ``/healthz``: the process is alive and answers (the Docker HEALTHCHECK; a liveness probe).
  It touches nothing else, so a database outage never gets healthy processes restarted.
- ``/readyz``: this process can serve: the database answers and its schema is the one the
  code expects, and the rate-limit storage (Redis, when configured) answers. 503 otherwise,
  with which check failed (a load balancer stops sending requests until it passes again).
- ``/health``: the older name of ``/readyz``, kept for health checks configured with it.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from idp.db import get_engine
from idp.extensions import limiter
from idp.migrate import head_revision
from idp.runtime import settings
from idp.web.unavailable import RETRY_AFTER_SECONDS, works_without_database

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@works_without_database
def healthz():
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
@works_without_database
def readyz():
    return _readiness(show_checks=True)


@bp.get("/health")
@works_without_database
def health():
    return _readiness(show_checks=False)  # its answer as it always was: {"status": "ok"}


def _readiness(show_checks: bool):
    checks = {"database": _database(), **_rate_limit_storage()}
    ready = all(state == "ok" for state in checks.values())
    body: dict = {"status": "ok" if ready else "unavailable"}
    if show_checks:
        body["checks"] = checks
    response = _answer(body, 200 if ready else 503)
    if not ready:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _database() -> str:
    """ok, unreachable, or outdated (the schema is not the code's: `idp db upgrade`)."""
    try:
        with get_engine().connect() as connection:
            row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    except Exception:  # unreachable, or no alembic_version table at all
        return "unreachable"
    return "ok" if row is not None and row[0] == head_revision() else "outdated"


def _rate_limit_storage() -> dict[str, str]:
    if not settings().ratelimit.enabled or settings().ratelimit.storage_uri.startswith("memory://"):
        return {}
    try:
        reachable = limiter.storage.check()
    except Exception:
        reachable = False
    return {"ratelimit_storage": "ok" if reachable else "unreachable"}


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
