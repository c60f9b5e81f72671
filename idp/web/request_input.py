"""Input no request may carry: a NUL character or bytes that are not UTF-8, anywhere in the
path, the query or a form. Refused once, here, for every route (400, page or JSON), before
any view or service sees it: PostgreSQL refuses to compare text holding a NUL (a 500), and
Werkzeug would otherwise turn invalid UTF-8 into U+FFFD silently."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, abort, jsonify, request

from idp.errors import wants_json

REFUSED = "The request holds a NUL character or bytes that are not UTF-8."


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_nul_and_invalid_utf8():
        if acceptable(request):
            return None
        if wants_json():
            # The protocol endpoints' own error form (RFC 6749 §5.2), uncached like their answers.
            response = jsonify(error="invalid_request", error_description=REFUSED)
            response.status_code = 400
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
            return response
        abort(400, description=REFUSED)


def acceptable(req) -> bool:
    # PATH_INFO is the path's bytes as latin-1; a server (or test client) that decoded it
    # already leaves U+FFFD where the bytes were not UTF-8: no path of ours holds either.
    path = req.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    if not _clean_bytes(path) or "\ufffd".encode() in path:
        return False
    if not _clean_urlencoded(req.query_string):
        return False
    if req.mimetype == "application/x-www-form-urlencoded":
        return _clean_urlencoded(req.get_data(cache=True))
    if req.mimetype == "multipart/form-data":
        values = [*req.form.keys(), *req.form.values()]
        return not any("\x00" in value or "\ufffd" in value for value in values)
    return True


def _clean_urlencoded(raw: bytes) -> bool:
    return _clean_bytes(unquote_to_bytes(raw.replace(b"+", b" ")))


def _clean_bytes(raw: bytes) -> bool:
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
