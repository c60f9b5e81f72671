"""Structured (JSON) log lines, so that no logged value can forge or break a line.

Every line written while a request is handled carries its ``request_id``; every line of a
queued job carries its ``job_id`` (``log_context``). Values are what callers pass in
``extra``: names of things, error classes, ids. Never a password, code, token, cookie or
secret: callers log what kind of thing happened, not its content.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

# Fields every line of the current unit of work carries (a queued job's id and kind).
_context: ContextVar[dict[str, Any]] = ContextVar("idp_log_context", default={})  # noqa: B039 (never mutated)

# Operator commands print only their own result (docs/operations.md): their log lines go nowhere.
_QUIET_LEVEL = logging.CRITICAL + 1
_quiet = False
_configured_level: str | int = ""


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries ``fields`` (in this thread or task only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def request_id() -> str:
    """The id of the request being handled (made on first use; ``web.request_ids`` may set it
    from the proxy's header first). It is on every log line and on the error pages."""
    from flask import g

    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def _request_fields() -> dict[str, str]:
    from flask import has_request_context

    return {"request_id": request_id()} if has_request_context() else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        entry.update(_request_fields())
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when the line is written (a test's capture, the
    container log), not to the one there was when logging was set up."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str) -> None:
    global _configured_level
    logger = logging.getLogger("idp")
    _configured_level = level.upper()
    logger.setLevel(_QUIET_LEVEL if _quiet else _configured_level)
    if not any(getattr(h, "_idp", False) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler._idp = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


@contextmanager
def quiet() -> Iterator[None]:
    """For operator commands: no log line on the terminal, whatever the configured level (what a
    command changes is in the audit trail; what it did is its own output)."""
    global _quiet
    logger = logging.getLogger("idp")
    before, level_before = _quiet, logger.level
    _quiet = True
    logger.setLevel(_QUIET_LEVEL)
    try:
        yield
    finally:
        _quiet = before
        logger.setLevel(_configured_level or level_before)


def gunicorn_logging(level: str) -> dict[str, Any]:
    """gunicorn's own lines (and other libraries' warnings) as JSON lines too (logconfig_dict)."""
    handler = {"class": "idp.logs.StderrHandler", "formatter": "json"}
    # Never gunicorn's DEBUG: it logs each request line, and a path can hold a reset link.
    gunicorn_level = "INFO" if level.upper() == "DEBUG" else level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "idp.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"level": "WARNING", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": gunicorn_level, "handlers": ["json"], "propagate": False},
            # No access log: nginx keeps one, and a path can carry a link's secret.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
