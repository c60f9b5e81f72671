"""Flask's session, kept on the server (Flask's default signed cookie cannot be revoked).

The cookie carries only a random identifier; the data lives in ``browser_sessions``.
``session.rotate()`` asks for a new identifier at the next save, which the sign-in step
uses at every privilege change.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict

from idp.db import get_session
from idp.runtime import settings
from idp.services import browser_sessions
from idp.settings import SessionSettings
from idp.web.requester import requester
from idp.web.unavailable import DATABASE_ERRORS, answering_unavailable


def init_app(app: Flask) -> None:
    current = settings(app)
    # __Host-: only this exact origin, over https, for the whole path (RFC 6265bis §4.1.3.2).
    cookie_name = "__Host-idp_session" if current.issuer_is_https else "idp_session"
    app.session_interface = ServerSessionInterface(cookie_name, secure=current.issuer_is_https, limits=current.session)


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, record_id: int | None = None, sid: str | None = None) -> None:
        def on_update(self_):
            self_.modified = True

        super().__init__(initial, on_update)
        self.record_id = record_id
        self.sid = sid
        self.modified = False
        self.rotation_requested = False
        self.destroy_requested = False
        # The database could not be reached to load it: the request is answered "temporarily
        # unavailable" (web.unavailable) unless its view needs no database; never saved.
        self.unavailable = False

    def rotate(self) -> None:
        self.rotation_requested = True
        self.modified = True

    def destroy(self) -> None:
        self.clear()
        self.destroy_requested = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, cookie_name: str, secure: bool, limits: SessionSettings) -> None:
        self.cookie_name = cookie_name
        self.secure = secure
        self.limits = limits

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        cookie_value = request.cookies.get(self.cookie_name)
        if not cookie_value or len(cookie_value) > 128:
            return ServerSession()
        try:
            # The request's own database session and connection (one checkout per request):
            # what load and touch change is committed at once, before the view runs.
            db = get_session()
            record = browser_sessions.load(db, cookie_value, self.limits)
            if record is None:
                return ServerSession()
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
        )
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
