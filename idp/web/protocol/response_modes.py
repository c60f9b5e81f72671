"""How an authorization response reaches the client: ``query`` (a redirect, the default for
``response_type=code``) or ``form_post`` (OAuth 2.0 Form Post Response Mode: a page that
POSTs the parameters to the redirect URI, so they stay out of the URL, its history and logs).

Authlib builds every answer as a redirect; here a redirect to the verified redirect URI
becomes the form_post page when the request asked for it. The page works under idp's CSP
(no inline script: ``static/idp.js`` submits it, and without script its button does).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import request

from idp.web.pages import page

QUERY = "query"
FORM_POST = "form_post"
RESPONSE_MODES = (QUERY, FORM_POST)


def deliver(response, redirect_uri: str | None, response_mode: str | None):
    """``response`` (a redirect to ``redirect_uri`` carrying the answer) in ``response_mode``.
    A redirect answering a POST (the login form's password, a second factor's code, the
    consent form, a relying party's form-posted request) is a 303, so the browser follows it
    with a GET and never sends the form on to the client (RFC 9700 §4.12)."""
    if request.method == "POST" and response.status_code in (301, 302, 307, 308):
        response.status_code = 303
    if response_mode != FORM_POST or not redirect_uri or response.status_code not in (301, 302, 303):
        return response
    location = response.headers["Location"]
    if not location.startswith(redirect_uri):
        return response
    # The answer's parameters come after the registered URI (which may carry a query of its own).
    added = location[len(redirect_uri) :].lstrip("?&")
    answer = page("protocol/form_post.html", action=redirect_uri, fields=parse_qsl(added, keep_blank_values=True))
    answer.headers["Cache-Control"] = "no-store"
    return answer
