"""Answering an authorization request with an error: back to the client only when safe."""

from __future__ import annotations

import logging

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from flask import redirect

from idp.logs import request_id
from idp.runtime import settings
from idp.web.pages import page
from idp.web.protocol import response_modes

log = logging.getLogger("idp.authorize")


def authorization_error_response(error: OAuth2Error, state: str | None = None, response_mode: str | None = None):
    """Redirect to the client when Authlib verified the client and its redirect_uri (it then
    sets ``error.redirect_uri``); otherwise our own error page, never a redirect
    (RFC 6749 §4.1.2.1, RFC 9700 §4.1). ``response_mode=form_post`` posts it instead."""
    if state is not None and error.state is None:
        error.state = state
    if error.redirect_uri:
        error.redirect_fragment = False
        _, _, headers = error()
        location = dict(headers)["Location"]
        response = redirect(add_params_to_uri(location, {"iss": settings().server.issuer}), 302)
        response.headers["Cache-Control"] = "no-store"
        return response_modes.deliver(response, error.redirect_uri, response_mode)
    # The member reads our own words for the error (templates/errors/authorization.html);
    # Authlib's description, which may quote the request, goes only to the log, under the
    # reference the page shows.
    log.warning(
        "authorization request refused on our page",
        extra={"error": error.error, "description": (error.get_error_description() or "")[:300]},
    )
    return page("errors/authorization.html", 400, error=error.error, reference=request_id())
