"""idp: an OpenID Connect provider. ``create_app`` is the one place that wires things."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import db
from idp.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

__all__ = ["create_app", "ConfigError"]


class DatabaseNotReady(ConfigError):
    """The database is missing tables or behind the code's migrations."""


def create_app(config: Mapping[str, Mapping[str, Any]] | None = None, check_schema: bool = True) -> Flask:
    settings = load_settings(config)
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=settings.server.instance_path,
    )
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
    app.extensions["idp.settings"] = settings

    db.init_app(app, settings.database_url, settings.database.echo)
    if check_schema:
        try:
            ensure_schema_current(app)
        except ConfigError:
            db.get_engine(app).dispose()
            raise

    from idp.security.crypto import SecretBox
    from idp.services.keys import KEY_ENCRYPTION_PURPOSE

    app.extensions["idp.key_box"] = SecretBox(secret_key, KEY_ENCRYPTION_PURPOSE)

    from idp.security.crypto import derive_key
    from idp.services.second_factor import EMAIL_CODE_KEY_PURPOSE, TOTP_SEED_PURPOSE

    app.extensions["idp.totp_box"] = SecretBox(secret_key, TOTP_SEED_PURPOSE)
    app.extensions["idp.email_code_key"] = derive_key(secret_key, EMAIL_CODE_KEY_PURPOSE)

    _init_extensions(app, settings)
    _register_blueprints(app)
    _install_security_headers(app, settings)

    from idp.web.same_origin import install_same_origin_check

    install_same_origin_check(app)

    from idp.web.cors import install_cors

    install_cors(app)

    from idp.errors import register_error_handlers

    register_error_handlers(app)

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


def build_mailer(settings: Settings):
    from idp.services.mailer import OutboxMailer, SmtpConfig, SmtpMailer

    mail = settings.mail
    if mail.backend == "smtp":
        config = SmtpConfig(
            host=mail.smtp_host,
            port=mail.smtp_port,
            security=mail.smtp_security,
            username=mail.smtp_username,
            password=mail.smtp_password,
            timeout_seconds=mail.smtp_timeout_seconds,
        )
        return SmtpMailer(config, mail.from_address)
    outbox = Path(mail.outbox_dir) if mail.outbox_dir else Path(settings.server.instance_path) / "outbox"
    return OutboxMailer(outbox, mail.from_address)


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
    from idp.extensions import babel, csrf
    from idp.i18n import select_locale
    from idp.oauth import server
    from idp.services.browser_sessions import SessionLimits
    from idp.web.origin import request_origin
    from idp.web.session_interface import ServerSessionInterface

    app.extensions["idp.request_origin"] = request_origin
    cookie_name = "__Host-idp_session" if settings.issuer_is_https else "idp_session"
    app.session_interface = ServerSessionInterface(
        cookie_name,
        secure=settings.issuer_is_https,
        limits=SessionLimits(settings.session.idle_timeout_seconds, settings.session.absolute_timeout_seconds),
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    from flask_babel import format_datetime

    app.jinja_env.globals["format_datetime"] = format_datetime
    server.init_app(app)

    from idp.web import page_context, ratelimits

    ratelimits.init_app(app)
    page_context.init_app(app)
    app.extensions["idp.mailer"] = build_mailer(settings)


def _register_blueprints(app: Flask) -> None:
    from idp.web import (
        account,
        account_security,
        health,
        home,
        interaction,
        oidc,
        recovery,
        second_factor,
    )

    app.register_blueprint(oidc.bp)
    app.register_blueprint(interaction.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(second_factor.bp)
    app.register_blueprint(account_security.bp)

    from idp.web import account_profile, account_sessions, activation

    app.register_blueprint(activation.bp)
    app.register_blueprint(account_profile.bp)
    app.register_blueprint(account_sessions.bp)


def _install_security_headers(app: Flask, settings: Settings) -> None:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if settings.issuer_is_https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response

    logging.getLogger("idp").debug("security headers installed")
