"""Rendering a hosted page: every one shows something about a member or a flow in progress, so
none is ever cached."""

from __future__ import annotations

from flask import Response, current_app, render_template


def page(template: str, status: int = 200, secret_in_url: bool = False, **context) -> Response:
    """Render ``template`` with ``Cache-Control: no-store``. ``secret_in_url``: the page was
    reached by a link holding a secret (reset, verification): keep it out of Referer headers
    too (the default policy is no-referrer already; this survives a change of the default)."""
    response = current_app.make_response((render_template(template, **context), status))
    response.headers["Cache-Control"] = "no-store"
    if secret_in_url:
        response.headers["Referrer-Policy"] = "no-referrer"
    return response
