"""idp: an OpenID Connect provider. ``create_app`` is the one place that wires things."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import db
from idp.settings import RESOURCE_ROOT, ConfigError, Settings, load_settings

__all__ = ["ConfigError", "create_app"]


class DatabaseNotReady(ConfigError):
    """The database is missing tables or behind the code's migrations."""


def create_app(config: Mapping[str, Mapping[str, Any]] | None = None, check_schema: bool = True) -> Flask:
    settings = load_settings(config)
    app = Flask(
        __name__,
        template_folder=str(RESOURCE_ROOT / "templates"),
        static_folder=str(RESOURCE_ROOT / "static"),
        instance_path=settings.server.instance_path,
    )
    from idp.web import compiled_templates

    compiled_templates.init_app(app)
    _configure_logging(settings)
    secret_key = resolve_secret_key(settings)
    app.config.update(
        SECRET_KEY=secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        # Flask-WTF's https check wants a same-site Referer, but our pages send
        # Referrer-Policy: no-referrer, so browsers send none. The Origin check in
        # idp.web.same_origin takes its place for every form post.
        WTF_CSRF_SSL_STRICT=False,
        BABEL_DEFAULT_LOCALE=settings.i18n.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.i18n.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        PREFERRED_URL_SCHEME="https" if settings.issuer_is_https else "http",
    )
    if settings.server.development and not settings.issuer_is_https:
        # Authlib refuses plain http unless told; only a development issuer may be http.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

    db.init_app(app, settings.database_url, settings.database.echo, settings.database.connect_timeout_seconds)
    if check_schema:
        try:
            ensure_schema_current(app)
        except ConfigError:
            db.get_engine(app).dispose()
            raise

    from idp.runtime import Runtime, SecretsAtRest, install, runtime
    from idp.services.mailer import build_mailer
    from idp.services.sms import build_sms_gateway

    install(
        app,
        Runtime(
            settings=settings,
            secrets=SecretsAtRest.from_secret(secret_key),
            mailer=build_mailer(settings.mail, settings.server.instance_path),
            sms_gateway=build_sms_gateway(settings.sms, settings.server.instance_path, settings.server.development),
        ),
    )
    _init_extensions(app, settings)
    from idp.services import assurance

    assurance.set_sms_level(settings.sms.acr)
    from idp.security import passwords

    passwords.configure(
        settings.passwords.hash_memory_kib, settings.passwords.hash_time_cost, settings.passwords.hash_parallelism
    )

    from idp import web
    from idp.errors import register_error_handlers

    web.init_app(app)
    register_error_handlers(app)
    if settings.outbound.worker:
        from idp.services.outbound import Worker

        worker = Worker(app, settings.outbound.poll_seconds, settings.retention.purge_interval_seconds)
        runtime(app).outbound_worker = worker
        worker.start()

    if settings.server.trusted_proxies:
        n = settings.server.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]
    return app


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret; in development without one, a random one kept in the instance
    folder so that encrypted signing keys stay readable across restarts."""
    if settings.server.secret_key:
        return settings.server.secret_key
    path = Path(settings.server.instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    from idp.security.tokens import random_token

    path.parent.mkdir(parents=True, exist_ok=True)
    secret = random_token(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def ensure_schema_current(app: Flask) -> None:
    from idp.migrate import head_revision

    current = db.current_revision(db.get_engine(app))
    head = head_revision()
    if current is None:
        raise DatabaseNotReady("database: not migrated yet; run `idp db upgrade`")
    if current != head:
        raise DatabaseNotReady(f"database: at revision {current}, code expects {head}; run `idp db upgrade`")


def _configure_logging(settings: Settings) -> None:
    from idp.logs import configure_logging

    configure_logging(settings.logging.level)


def _init_extensions(app: Flask, settings: Settings) -> None:
    from flask_babel import format_datetime, get_locale

    from idp.extensions import babel, csrf
    from idp.i18n import clock_time, select_locale, select_timezone, time_until
    from idp.oauth import server

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["format_datetime"] = format_datetime
    app.jinja_env.globals["clock_time"] = clock_time
    app.jinja_env.globals["time_until"] = time_until
    server.init_app(app)

    from idp.web import ratelimits

    ratelimits.init_app(app)
