"""The language switch on every hosted page: a plain link per language (no script, no form) to
the page the member is on, and the hook that applies the choice (``idp.i18n`` owns the rule).

A link is the page's own URL with ``?set_language=en``: the hook stores the choice and
redirects to the same URL without the parameter, so the flow goes on where it was (the same
interaction, the same authorization request). A page that answers a form post has no URL of
its own to load again; its link goes to the page the form was on, the longest prefix of the
path that answers GET (a failed login, ``POST /interaction/<uid>/login``, links to
``/interaction/<uid>``). What was typed into a form is not kept.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from flask import Flask, current_app, redirect, request, url_for
from flask_babel import get_locale
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from idp.i18n import LANGUAGE_NAMES, choose_locale
from idp.runtime import settings

PARAMETER = "set_language"
# The blueprints whose pages belong to one authorization request's flow, named by ``uid``.
_FLOW_BLUEPRINTS = ("interaction", "second_factor")


def init_app(app: Flask) -> None:
    @app.before_request
    def apply_language_switch():
        if request.method != "GET" or PARAMETER not in request.args:
            return None
        locale = request.args.get(PARAMETER)
        if locale in settings().i18n.supported_locales:
            choose_locale(locale, _flow())
        kept = [(key, value) for key, value in request.args.items(multi=True) if key != PARAMETER]
        response = redirect(_this_page_path() + (f"?{urlencode(kept)}" if kept else ""), 303)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def language_switch() -> dict:
        return {"language_links": language_links}


def language_links() -> list[dict]:
    """One entry per language offered: its name (in itself), whether the page is in it, and
    the link that shows this same page in it."""
    supported = settings().i18n.supported_locales
    if len(supported) < 2:
        return []
    path, args = _page_to_show_again()
    current = str(get_locale())
    return [
        {
            "locale": locale,
            "name": LANGUAGE_NAMES.get(locale, locale),
            "current": locale == current,
            "url": f"{path}?{urlencode([*args, (PARAMETER, locale)])}",
        }
        for locale in supported
    ]


def _flow() -> str | None:
    if request.blueprint in _FLOW_BLUEPRINTS:
        return (request.view_args or {}).get("uid")
    return None


def _this_page_path() -> str:
    """The path of the page asked for, safe to redirect to: built from its route when it has
    one, else the path with no leading slashes or backslashes that a browser would read as
    another host (``//attacker.example``)."""
    if request.url_rule is not None and request.endpoint:
        return url_for(request.endpoint, **(request.view_args or {}))
    return "/" + quote(request.path.lstrip("/\\"))


def _page_to_show_again() -> tuple[str, list[tuple[str, str]]]:
    """Where the switch's link goes, and with which query parameters."""
    if request.method == "GET":
        kept = [(key, value) for key, value in request.args.items(multi=True) if key != PARAMETER]
        return _this_page_path(), kept
    if request.endpoint == "oidc.authorize":
        # A relying party posted the authorization request (OpenID Connect Core §3.1.2.1):
        # the same request, as a GET.
        try:
            return _this_page_path(), list(request.values.items(multi=True))
        except HTTPException:
            # The body itself was refused (too large, malformed): this page is that error.
            return _this_page_path(), list(request.args.items(multi=True))
    return _page_that_answers_get(), []


def _page_that_answers_get() -> str:
    adapter = current_app.create_url_adapter(request)
    parts = request.path.rstrip("/").split("/")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) or "/"
        try:
            adapter.match(candidate, method="GET")
        except RequestRedirect as moved:  # /account/security -> /account/security/
            return urlsplit(moved.new_url).path
        except HTTPException:
            continue
        return quote(candidate)
    return "/"
