"""Flask's session, kept on the server (Flask's default signed cookie cannot be revoked).

The cookie carries only a random identifier; the data lives in ``browser_sessions``.
``session.rotate()`` asks for a new identifier at the next save, which the sign-in step
uses at every privilege change.

Nothing is stored until there is something to keep: a browser that only holds what every
anonymous page makes (the CSRF token, the binding of its pending sign-in, the language it
chose) keeps that in a signed cookie of its own (``LIGHT_KEYS``), with no row, so anonymous
requests in any number leave no session rows behind. The first key of any other kind (a
sign-in, a verified activation record) moves the data into a stored session.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict

from idp.db import get_session
from idp.runtime import settings
from idp.services import browser_sessions
from idp.settings import SessionSettings
from idp.web.requester import requester
from idp.web.unavailable import DATABASE_ERRORS, answering_unavailable

# What anonymous pages put in a session: kept in the signed light cookie, never stored.
LIGHT_KEYS = frozenset({"csrf_token", "binding", "locale"})


def init_app(app: Flask) -> None:
    current = settings(app)
    # __Host-: only this exact origin, over https, for the whole path (RFC 6265bis §4.1.3.2).
    cookie_name = "__Host-idp_session" if current.issuer_is_https else "idp_session"
    app.session_interface = ServerSessionInterface(cookie_name, secure=current.issuer_is_https, limits=current.session)


def _is_light(data) -> bool:
    return set(data.keys()) <= LIGHT_KEYS


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, record_id: int | None = None, sid: str | None = None) -> None:
        def on_update(self_):
            self_.modified = True

        super().__init__(initial, on_update)
        self.record_id = record_id
        self.sid = sid
        self.modified = False
        self.rotation_requested = False
        self.new_sid_requested = False
        # The public sid the next save gives the stored session, when a sign-in decided it
        # (``rotate(sid=...)``); otherwise the save decides.
        self.decided_sid: str | None = None
        self.destroy_requested = False
        # Loaded from the signed light cookie (see LIGHT_KEYS), not from a stored session.
        self.from_light_cookie = False
        # The database could not be reached to load it: the request is answered "temporarily
        # unavailable" (web.unavailable) unless its view needs no database; never saved.
        self.unavailable = False

    def rotate(self, new_sid: bool = False, sid: str | None = None) -> None:
        """A new cookie value at the next save; ``new_sid``: a new public sid too (the
        session's relying-party sessions have been ended). ``sid``: the public sid the saved
        session takes, known from now on (``self.sid``): a sign-in decides it, so that an
        authorization answered in the same request names the session the browser will have."""
        self.rotation_requested = True
        self.new_sid_requested = self.new_sid_requested or new_sid
        if sid is not None:
            self.sid = self.decided_sid = sid
        self.modified = True

    def destroy(self) -> None:
        self.clear()
        self.destroy_requested = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, cookie_name: str, secure: bool, limits: SessionSettings) -> None:
        self.cookie_name = cookie_name
        self.light_cookie_name = cookie_name.replace("idp_session", "idp_light")
        self.secure = secure
        self.limits = limits

    def _light_serializer(self, app: Flask) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(app.secret_key, salt="idp.light-session")

    def _open_light(self, app: Flask, request: Request) -> ServerSession:
        value = request.cookies.get(self.light_cookie_name)
        if not value or len(value) > 2048:
            return ServerSession()
        try:
            # Written when it changes only (a refused post sets no cookie), so it is bounded by
            # the absolute limit, like a stored session.
            data = self._light_serializer(app).loads(value, max_age=self.limits.absolute_timeout_seconds)
        except BadSignature:
            return ServerSession()
        if not isinstance(data, dict) or not _is_light(data):
            return ServerSession()
        light = ServerSession(data)
        light.from_light_cookie = True
        return light

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        cookie_value = request.cookies.get(self.cookie_name)
        if not cookie_value or len(cookie_value) > 128:
            return self._open_light(app, request)
        try:
            # The request's own database session and connection (one checkout per request):
            # what load and touch change is committed at once, before the view runs.
            db = get_session()
            record = browser_sessions.load(db, cookie_value, self.limits)
            if record is None:
                return self._open_light(app, request)
            browser_sessions.touch(db, record)
            return ServerSession(record.data, record_id=record.id, sid=record.sid)
        except DATABASE_ERRORS:
            # The request's session is dropped with its broken connection when the request is
            # answered "unavailable" (web.unavailable), or closed at teardown.
            away = ServerSession()
            away.unavailable = True
            return away

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        if session.unavailable or answering_unavailable():
            return  # the cookie stays as it was; so does the record
        if session.destroy_requested:
            if session.record_id is not None:
                browser_sessions.destroy(self._db_after_the_view(), session.record_id)
            self._delete_cookie(response)
            if session.from_light_cookie:
                self._delete_light_cookie(response)
            return
        if session.record_id is None and _is_light(session):
            # Nothing to keep on the server (yet): the signed cookie carries it.
            if session and (session.modified or session.rotation_requested):
                self._set_light_cookie(app, session, response)
            elif not session and session.from_light_cookie:
                self._delete_light_cookie(response)
            return
        if not session.modified:
            return
        if not session and session.record_id is None:
            return
        from flask import request

        origin = requester()
        cookie_value = browser_sessions.save(
            self._db_after_the_view(),
            session.record_id,
            dict(session),
            session.rotation_requested,
            user_agent=request.user_agent.string,
            ip_address=origin.ip_address,
            new_sid=session.new_sid_requested,
            decided_sid=session.decided_sid,
        )
        if session.from_light_cookie:
            self._delete_light_cookie(response)  # moved into the stored session
        if cookie_value is not None:
            response.set_cookie(
                self.cookie_name,
                cookie_value,
                httponly=True,
                secure=self.secure,
                samesite="Lax",
                path="/",
            )
        response.vary.add("Cookie")

    @staticmethod
    def _db_after_the_view() -> Session:
        """The request's database session, for saving: what the view left uncommitted is
        rolled back first (as teardown would have done), so saving the browser session never
        commits a view's unfinished work."""
        db = get_session()
        db.rollback()
        return db

    def _delete_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax")

    def _set_light_cookie(self, app: Flask, session: ServerSession, response: Response) -> None:
        value = self._light_serializer(app).dumps(dict(session))
        response.set_cookie(self.light_cookie_name, value, httponly=True, secure=self.secure, samesite="Lax", path="/")
        response.vary.add("Cookie")

    def _delete_light_cookie(self, response: Response) -> None:
        response.delete_cookie(self.light_cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax")
