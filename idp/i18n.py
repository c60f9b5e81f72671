"""Choosing the language of a page: the RP's ui_locales, then the member's choice, then the browser."""

from __future__ import annotations

from flask import current_app, g, request, session


def select_locale() -> str:
    supported = current_app.extensions["idp.settings"].i18n.supported_locales
    requested = getattr(g, "ui_locales", None) or request.args.get("ui_locales")
    for tag in (requested or "").split():
        language = tag.split("-")[0].lower()
        if language in supported:
            return language
    chosen = session.get("locale") if session else None
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or current_app.extensions["idp.settings"].i18n.default_locale
