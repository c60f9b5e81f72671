"""The benefits portal: an OpenID Connect relying party of idp, and a resource
server for benefit balances.

Two roles live in one process to keep the example small:

* the pages (``/``, ``/login``, ``/callback``, ``/balances``, ``/logout``,
  ``/signed-out``) sign the member in with idp and show their balances, and
  sign out through idp (RP-Initiated Logout); ``POST /backchannel-logout``
  is where idp says a member's idp session has ended (Back-Channel Logout);
* ``GET /api/balance`` is what a benefit service exposes: it trusts nothing
  but a valid ``benefits:read`` access token from idp.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError

from .access_tokens import (
    INSUFFICIENT_SCOPE,
    AccessTokenVerifier,
    InvalidAccessToken,
    KeySetUnavailable,
    fetch_json,
    www_authenticate,
)
from .balances import demo_statement, format_idr
from .config import load_settings
from .logout import EndedSessions, InvalidLogoutToken, LogoutTokenVerifier

SCOPES = "openid profile email membership benefits:read"
BALANCE_SCOPE = "benefits:read"
# In development idp and the portal share the host 127.0.0.1, and cookies are
# not separated by port: with Flask's default name "session" each app would
# overwrite the other's cookie.
SESSION_COOKIE_NAME = "benefits_portal_session"
# form-action names idp's origin too: "Sign out" is a form whose answer redirects
# to idp's end_session_endpoint, and Chrome applies form-action to the redirects
# that follow a form submission. (Sign-in is a link, not a form.)
CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self' {idp_origin}; frame-ancestors 'none'"

log = logging.getLogger(__name__)
pages = Blueprint("pages", __name__)
api = Blueprint("api", __name__)


def create_app(config: dict | None = None) -> Flask:
    """Build the portal. ``config`` overrides the environment and the env file (see config.py)."""
    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["PORTAL_SECRET_KEY"] or secrets.token_hex(32),
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: the redirect back from idp to /callback is a
        # cross-site navigation and must carry the cookie that holds the state.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["PORTAL_BASE_URL"].startswith("https://"),
    )
    app.config.update(settings)
    app.config.update({key: value for key, value in (config or {}).items() if key not in settings})
    app.extensions["benefits_portal"] = Portal(app)
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.after_request(add_security_headers)
    app.context_processor(lambda: {"csrf_token": session.get("csrf_token")})
    app.jinja_env.filters["idr"] = format_idr
    return app


class ProviderUnavailable(Exception):
    """idp cannot be used right now: unreachable, or its discovery document is wrong."""


class SignInRejected(Exception):
    """The authorization response or what came with it failed a check."""

    def __init__(self, error: str, description: str | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error


class Portal:
    """What the views share: the configured idp client and the access-token verifier."""

    def __init__(self, app: Flask):
        config = app.config
        self.issuer: str = config["IDP_ISSUER"]
        self.client_id: str = config["PORTAL_CLIENT_ID"]
        self.redirect_uri = f"{config['PORTAL_BASE_URL']}/callback"
        # Registered at idp (`idp demo seed` does it) as post-logout redirect URI and
        # back-channel logout URI.
        self.post_logout_redirect_uri = f"{config['PORTAL_BASE_URL']}/signed-out"
        self.ended_sessions = EndedSessions()
        self._logout_verifier: LogoutTokenVerifier | None = None
        self._audience: str = config["BENEFITS_AUDIENCE"]
        self._jwks_uri: str | None = config["IDP_JWKS_URI"]
        self._verifier: AccessTokenVerifier | None = None
        self._verifier_lock = threading.Lock()
        # Authlib handles state, nonce, PKCE (S256) and ID token validation.
        self.idp = OAuth(app).register(
            name="idp",
            client_id=self.client_id,
            client_secret=config["PORTAL_CLIENT_SECRET"],
            server_metadata_url=self.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPES,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "default_timeout": 10,
            },
        )

    def provider_metadata(self) -> dict[str, Any]:
        """idp's discovery document, after checking it is about our issuer (OIDC Discovery 4.3)."""
        try:
            metadata = self.idp.load_server_metadata()
        except requests.RequestException as error:
            raise ProviderUnavailable(f"discovery failed: {error}") from error
        if metadata.get("issuer") != self.issuer:
            raise ProviderUnavailable(f"discovery names issuer {metadata.get('issuer')!r}, expected {self.issuer!r}")
        return metadata

    def id_token_claims_options(self) -> dict[str, dict[str, Any]]:
        # Authlib checks only "iss" by default; OIDC Core 3.1.3.7 also requires
        # that "aud" contains our client_id. A fresh dict each time, because
        # Authlib consumes parts of it.
        return {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
        }

    def access_token_verifier(self) -> AccessTokenVerifier:
        with self._verifier_lock:
            if self._verifier is None:
                self._verifier = AccessTokenVerifier(
                    issuer=self.issuer,
                    audience=self._audience,
                    jwks_uri=self._jwks_uri or self._discovered_jwks_uri(),
                    required_scope=BALANCE_SCOPE,
                )
            return self._verifier

    def logout_token_verifier(self) -> LogoutTokenVerifier:
        with self._verifier_lock:
            if self._logout_verifier is None:
                self._logout_verifier = LogoutTokenVerifier(
                    issuer=self.issuer,
                    client_id=self.client_id,
                    jwks_uri=self._jwks_uri or self._discovered_jwks_uri(),
                    fetch=fetch_json,
                )
            return self._logout_verifier

    def _discovered_jwks_uri(self) -> str:
        try:
            return self.provider_metadata()["jwks_uri"]
        except (ProviderUnavailable, KeyError) as error:
            raise KeySetUnavailable(f"cannot find idp's jwks_uri: {error}") from error


def current_portal() -> Portal:
    return current_app.extensions["benefits_portal"]


# -- pages ------------------------------------------------------------------


@pages.get("/")
def index():
    return render_template("index.html", member=signed_in_member())


@pages.get("/login")
def login():
    portal = current_portal()
    try:
        portal.provider_metadata()
        return portal.idp.authorize_redirect(portal.redirect_uri)
    except ProviderUnavailable as error:
        log.warning("cannot start sign-in: %s", error)
        return provider_unavailable_page()


@pages.get("/callback")
def callback():
    portal = current_portal()
    try:
        member, token = complete_sign_in(portal)
    except SignInRejected as rejected:
        log.warning("sign-in rejected: %s", rejected)
        if rejected.error == "access_denied":
            return error_page(400, "Sign-in cancelled", "You did not finish signing in.", offer_sign_in=True)
        return error_page(400, "Sign-in failed", "Your sign-in could not be completed.", offer_sign_in=True)
    except (ProviderUnavailable, requests.RequestException) as error:
        log.warning("sign-in failed, idp unavailable: %s", error)
        return provider_unavailable_page()
    start_member_session(member, token)
    return redirect(url_for("pages.index"))


@pages.get("/balances")
def balances():
    member = signed_in_member()
    if member is None:
        return redirect(url_for("pages.index"))
    # The same check /api/balance makes, called directly to stay in one process.
    try:
        claims = current_portal().access_token_verifier().verify(session["access_token"])
    except InvalidAccessToken as refused:
        log.info("stored access token refused: %s", refused)
        if refused.error == INSUFFICIENT_SCOPE:
            return error_page(403, "No access to balances", "Your sign-in did not grant access to benefit balances.")
        session.clear()
        return error_page(401, "Session ended", "Please sign in again.", offer_sign_in=True)
    except KeySetUnavailable as error:
        log.warning("cannot check access tokens: %s", error)
        return provider_unavailable_page()
    return render_template("balances.html", member=member, statement=demo_statement(claims["sub"]))


@pages.post("/logout")
def logout():
    """Sign out here and at idp (RP-Initiated Logout 1.0): forget the session, then send the
    member to idp's end_session_endpoint with the ID token as hint, so the idp session ends
    too and the next sign-in asks for the password. idp sends the member back to
    /signed-out with our state."""
    expected = session.get("csrf_token")
    submitted = request.form.get("csrf_token", "")
    if expected and not hmac.compare_digest(expected.encode(), submitted.encode()):
        return error_page(400, "Sign-out refused", "The page was out of date. Reload it and try again.")
    id_token = session.get("id_token")
    session.clear()
    portal = current_portal()
    try:
        end_session_endpoint = portal.provider_metadata().get("end_session_endpoint")
    except ProviderUnavailable as error:
        log.warning("signed out here only, idp unavailable: %s", error)
        end_session_endpoint = None
    if not end_session_endpoint:
        return redirect(url_for("pages.index"), code=303)
    state = secrets.token_urlsafe(16)
    session["logout_state"] = state
    params = {"post_logout_redirect_uri": portal.post_logout_redirect_uri, "state": state}
    if id_token:
        params["id_token_hint"] = id_token
    else:
        params["client_id"] = portal.client_id
    return redirect(f"{end_session_endpoint}?{urlencode(params)}", code=303)


@pages.get("/signed-out")
def signed_out():
    """Where idp sends the member after logout. The state must be ours (a forged link
    shows the start page instead of claiming anything)."""
    expected = session.pop("logout_state", None)
    returned = request.args.get("state", "")
    if expected is None or not hmac.compare_digest(expected.encode(), returned.encode()):
        return redirect(url_for("pages.index"))
    return render_template("signed_out.html", member=None)


@pages.post("/backchannel-logout")
def backchannel_logout():
    """idp says a member's idp session ended (Back-Channel Logout 1.0 §2.5): every portal
    session that came from it ends. 200 once done, 400 for a token we refuse (§2.8)."""
    token = request.form.get("logout_token", "")
    try:
        claims = current_portal().logout_token_verifier().verify(token)
    except (InvalidLogoutToken, KeySetUnavailable) as refused:
        log.info("logout token refused: %s", refused)
        return api_error(400, {"error": "invalid_request", "error_description": "The logout token was refused"})
    current_portal().ended_sessions.record(claims.get("sid"), claims.get("sub"))
    log.info("idp session ended: portal sessions of it are signed out")
    return Response(status=200)


def complete_sign_in(portal: Portal) -> tuple[dict[str, str], Mapping[str, Any]]:
    """Check the authorization response, redeem the code, and fetch the member's details."""
    metadata = portal.provider_metadata()
    check_response_issuer(request.args.get("iss"), portal.issuer, metadata)
    try:
        # Checks state against the session, sends the PKCE verifier, and
        # validates the ID token (signature, iss, aud, exp, nonce, at_hash).
        token = portal.idp.authorize_access_token(claims_options=portal.id_token_claims_options())
    except OAuthError as error:
        raise SignInRejected(error.error, error.description) from error
    except JoseError as error:
        raise SignInRejected("invalid_id_token", str(error)) from error
    id_token = token.get("userinfo")
    if not id_token:
        raise SignInRejected("invalid_id_token", "the token response has no ID token")
    userinfo = portal.idp.userinfo(token=token)
    if userinfo.get("sub") != id_token["sub"]:
        # OIDC Core 5.3.2: UserInfo about someone else must not be used.
        raise SignInRejected("invalid_userinfo", "UserInfo sub differs from the ID token sub")
    member = {
        "sub": id_token["sub"],
        "name": userinfo.get("name") or "",
        "membership_number": userinfo.get("membership_number") or "",
    }
    return member, token


def check_response_issuer(returned_issuer: str | None, issuer: str, metadata: Mapping[str, Any]) -> None:
    """RFC 9207: the response must come from the issuer we sent the member to (mix-up defence)."""
    if returned_issuer is None:
        if metadata.get("authorization_response_iss_parameter_supported"):
            raise SignInRejected("invalid_issuer", "the authorization response has no iss")
        return
    if returned_issuer != issuer:
        raise SignInRejected("invalid_issuer", f"the authorization response names issuer {returned_issuer!r}")


# Refresh tokens stay on the server (this process), never in the cookie session: the
# session holds only a random handle to its entry. A real portal keeps them in its database.
_refresh_tokens: dict[str, str] = {}
_refresh_lock = threading.Lock()


def start_member_session(member: dict[str, str], token: Mapping[str, Any]) -> None:
    forget_refresh_token()
    # Nothing from before sign-in (such as Authlib's state entries) carries over.
    session.clear()
    session["member"] = member
    _keep_tokens(token)
    session["csrf_token"] = secrets.token_urlsafe(32)
    # For logout: the hint sent to idp, and the idp session (sid) back-channel logout names.
    session["id_token"] = token.get("id_token")
    session["sid"] = (token.get("userinfo") or {}).get("sid")
    session["signed_in_at"] = time.time()


def _keep_tokens(token: Mapping[str, Any]) -> None:
    session["access_token"] = token["access_token"]
    expires_in = token.get("expires_in")
    session["access_token_expires_at"] = token.get("expires_at") or (
        int(time.time()) + int(expires_in) if expires_in else None
    )
    if token.get("refresh_token"):
        handle = session.get("refresh_handle") or secrets.token_urlsafe(32)
        with _refresh_lock:
            _refresh_tokens[handle] = token["refresh_token"]
        session["refresh_handle"] = handle


def forget_refresh_token() -> None:
    """Drop this session's refresh token (signing out calls this too)."""
    handle = session.pop("refresh_handle", None)
    if handle:
        with _refresh_lock:
            _refresh_tokens.pop(handle, None)


def refresh_access_token() -> bool:
    """The access token expired: trade the refresh token for new tokens (RFC 6749 §6). idp
    rotates refresh tokens, so the new one replaces the old at once. False when there is
    none or idp refuses it (revoked: signed out, password changed, ...)."""
    with _refresh_lock:
        refresh_token = _refresh_tokens.get(session.get("refresh_handle", ""))
    if not refresh_token:
        return False
    portal = current_portal()
    try:
        answer = requests.post(
            portal.provider_metadata()["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(portal.client_id, current_app.config["PORTAL_CLIENT_SECRET"]),
            timeout=10,
        )
    except (requests.RequestException, ProviderUnavailable) as error:
        log.warning("refresh failed, idp unavailable: %s", error)
        return False
    if answer.status_code != 200:
        log.info("refresh refused: %s", answer.text[:200])
        return False
    _keep_tokens(answer.json())
    return True


def signed_in_member() -> dict[str, str] | None:
    """The member of this session, or None. The session ends with its access token, unless
    its refresh token gets a new one."""
    member = session.get("member")
    if member is None:
        return None
    expires_at = session.get("access_token_expires_at")
    if expires_at is not None and expires_at <= time.time() and not refresh_access_token():
        forget_refresh_token()
        session.clear()
        return None
    if current_portal().ended_sessions.has_ended(
        session.get("sid"), member.get("sub"), session.get("signed_in_at", 0.0)
    ):
        # idp told us (back-channel logout) that the member's idp session ended.
        session.clear()
        return None
    return member


def error_page(status: int, title: str, message: str, offer_sign_in: bool = False):
    return render_template("error.html", title=title, message=message, offer_sign_in=offer_sign_in), status


def provider_unavailable_page():
    return error_page(502, "Sign-in service unavailable", "The sign-in service cannot be reached. Try again later.")


# -- resource server --------------------------------------------------------


@api.get("/api/balance")
def api_balance():
    """Balances for the member an idp access token with ``benefits:read`` was issued to."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        body = {"error_description": "Send an access token: Authorization: Bearer <token>"}
        return api_error(401, body, www_authenticate())
    try:
        claims = current_portal().access_token_verifier().verify(token)
    except InvalidAccessToken as refused:
        log.info("access token refused: %s", refused)
        body = {"error": refused.error, "error_description": refused.description}
        return api_error(refused.status_code, body, www_authenticate(refused, scope=BALANCE_SCOPE))
    except KeySetUnavailable as error:
        log.warning("cannot check access tokens: %s", error)
        body = {"error": "temporarily_unavailable", "error_description": "Access tokens cannot be checked right now"}
        return api_error(503, body)
    return jsonify(demo_statement(claims["sub"]))


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer`` header (scheme is case-insensitive, RFC 9110 11.1)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def api_error(status: int, body: dict[str, str], challenge: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    return response


# -- every response ---------------------------------------------------------


def add_security_headers(response: Response) -> Response:
    issuer = urlsplit(current_portal().issuer)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
        idp_origin=f"{issuer.scheme}://{issuer.netloc}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
    if request.endpoint != "static":
        # Pages and API answers carry personal data: no cache may keep them.
        response.headers["Cache-Control"] = "no-store"
    return response
