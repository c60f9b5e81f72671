"""Choosing the language of a page: the RP's ui_locales, then the member's choice, then the browser."""

from __future__ import annotations

from flask import g, request, session

from idp.runtime import settings

# The session key of the chosen language (set at sign-in and on the profile page).
_LOCALE_KEY = "locale"


def select_locale() -> str:
    i18n = settings().i18n
    requested = getattr(g, "ui_locales", None) or request.args.get("ui_locales")
    for tag in (requested or "").split():
        language = tag.split("-")[0].lower()
        if language in i18n.supported_locales:
            return language
    chosen = session.get(_LOCALE_KEY) if session else None
    if chosen in i18n.supported_locales:
        return chosen
    return request.accept_languages.best_match(i18n.supported_locales) or i18n.default_locale


def remember_locale(locale: str) -> None:
    """This browser's pages follow ``locale`` from now on (unless a relying party asks for
    another with ui_locales)."""
    session[_LOCALE_KEY] = locale
