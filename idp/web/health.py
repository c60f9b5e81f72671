"""Liveness and readiness for load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from idp.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    get_session().execute(text("SELECT 1"))
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response
