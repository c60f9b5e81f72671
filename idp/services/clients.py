"""Registering relying parties."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import NotFound, ValidationFailed
from idp.models import AuthorizationCode, Client, Consent, RefreshToken
from idp.models.client import (
    CONFIDENTIAL_AUTH_METHODS,
    ID_TOKEN_SIGNING_ALGS,
    PUBLIC_CLIENT_AUTH_METHOD,
    SUPPORTED_GRANT_TYPES,
)
from idp.security.tokens import digest, random_token
from idp.services import credentials
from idp.services.assurance import LEVELS

SUPPORTED_SCOPES = ("openid", "profile", "email", "phone", "membership", "benefits:read", "offline_access")
_CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{3,64}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass(frozen=True)
class NewClient:
    name: str
    redirect_uris: list[str]
    public: bool = False
    token_endpoint_auth_method: str | None = None
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile", "email"])
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code"])
    first_party: bool = False
    id_token_signed_response_alg: str = "RS256"
    client_id: str | None = None
    # The level every sign-in for this client must reach (one of assurance.LEVELS), or None.
    required_acr: str | None = None
    # --- token lifecycle (issue 9) ---
    # private_key_jwt: its public keys, a JWKS as JSON text, or the URL it publishes them at.
    jwks: str | None = None
    jwks_uri: str | None = None
    # Registered resource-server audiences it may ask for with `resource`.
    audiences: list[str] = field(default_factory=list)
    access_token_ttl_seconds: int | None = None
    always_issue_refresh_token: bool = False
    # A known secret (a client moved from another provider); None: a new random one.
    secret: str | None = None
    # --- logout (RP-Initiated and Back-Channel Logout 1.0) ---
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False


@dataclass(frozen=True)
class ClientChanges:
    """What ``update_client`` changes; a field left None stays as it is."""

    name: str | None = None
    # An acr of assurance.LEVELS, or "" for no requirement.
    required_acr: str | None = None
    # --- token lifecycle (issue 9) ---
    redirect_uris: list[str] | None = None
    grant_types: list[str] | None = None
    token_endpoint_auth_method: str | None = None
    # "" removes the registered keys.
    jwks: str | None = None
    jwks_uri: str | None = None
    audiences: list[str] | None = None
    # 0 goes back to tokens.access_token_ttl_seconds.
    access_token_ttl_seconds: int | None = None
    always_issue_refresh_token: bool | None = None
    secret: str | None = None
    # --- logout ---
    # The whole list (an empty list: none).
    post_logout_redirect_uris: list[str] | None = None
    # "" removes it.
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool | None = None


MIN_KNOWN_SECRET_LENGTH = 32
MAX_ACCESS_TOKEN_TTL_SECONDS = 3600


def create_client(db: Session, new: NewClient) -> tuple[Client, str | None]:
    """Store a client. Returns it and, for a confidential client, the secret (shown once)."""
    if not new.name.strip():
        raise ValidationFailed("name", "must not be empty")
    # Hex, so a generated id never starts with "-" (which a command line reads as an option).
    client_id = new.client_id or secrets.token_hex(12)
    if not _CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ValidationFailed("client_id", "must be 3-64 characters of letters, digits, . _ ~ -")
    if db.scalar(select(Client.id).where(Client.client_id == client_id)) is not None:
        raise ValidationFailed("client_id", "is already registered")
    if not new.redirect_uris:
        raise ValidationFailed("redirect_uri", "at least one is required")
    for uri in new.redirect_uris:
        validate_redirect_uri(uri)

    method = new.token_endpoint_auth_method or (PUBLIC_CLIENT_AUTH_METHOD if new.public else "client_secret_basic")
    if new.public and method != PUBLIC_CLIENT_AUTH_METHOD:
        raise ValidationFailed("auth_method", "a public client authenticates with 'none'")
    if not new.public and method not in CONFIDENTIAL_AUTH_METHODS:
        raise ValidationFailed("auth_method", f"must be one of {', '.join(CONFIDENTIAL_AUTH_METHODS)}")
    for scope in new.scopes:
        if scope not in SUPPORTED_SCOPES:
            raise ValidationFailed("scope", f"{scope!r} is not supported ({', '.join(SUPPORTED_SCOPES)})")
    _check_grant_types(new.grant_types, method)
    if new.id_token_signed_response_alg not in ID_TOKEN_SIGNING_ALGS:
        raise ValidationFailed("id_token_alg", f"must be one of {', '.join(ID_TOKEN_SIGNING_ALGS)}")
    _check_required_acr(new.required_acr)
    _check_keys(method, new.jwks, new.jwks_uri)
    _check_audiences(db, new.audiences)
    _check_access_token_ttl(new.access_token_ttl_seconds)
    for uri in new.post_logout_redirect_uris:
        validate_redirect_uri(uri, field_name="post_logout_redirect_uri")
    if new.backchannel_logout_uri:
        validate_backchannel_logout_uri(new.backchannel_logout_uri)

    secret = None
    if method in SECRET_AUTH_METHODS:
        secret = _checked_known_secret(new.secret) if new.secret is not None else random_token(32)
    elif new.secret is not None:
        raise ValidationFailed("secret", f"a client using {method!r} has no secret")
    client = Client(
        client_id=client_id,
        client_secret_hash=digest(secret) if secret else None,
        name=new.name.strip(),
        scope=" ".join(dict.fromkeys(new.scopes)),
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=new.id_token_signed_response_alg,
        first_party=new.first_party,
        required_acr=new.required_acr or None,
        jwks_json=new.jwks or None,
        jwks_uri=new.jwks_uri or None,
        access_token_ttl_seconds=new.access_token_ttl_seconds or None,
        always_issue_refresh_token=new.always_issue_refresh_token,
        backchannel_logout_uri=new.backchannel_logout_uri or None,
        backchannel_logout_session_required=new.backchannel_logout_session_required,
    )
    client.post_logout_redirect_uris = list(dict.fromkeys(new.post_logout_redirect_uris))
    client.redirect_uris = list(dict.fromkeys(new.redirect_uris))
    client.grant_types = list(dict.fromkeys(new.grant_types))
    client.audiences = list(dict.fromkeys(new.audiences))
    db.add(client)
    db.flush()
    return client, secret


def update_client(db: Session, client: Client, changes: ClientChanges) -> list[str]:
    """Apply ``changes``; returns the names of the fields that changed."""
    changed = []
    if changes.name is not None:
        if not changes.name.strip():
            raise ValidationFailed("name", "must not be empty")
        if changes.name.strip() != client.name:
            client.name = changes.name.strip()
            changed.append("name")
    if changes.required_acr is not None:
        _check_required_acr(changes.required_acr)
        if (changes.required_acr or None) != client.required_acr:
            client.required_acr = changes.required_acr or None
            changed.append("required_acr")
    changed += _update_token_lifecycle(db, client, changes)
    changed.extend(_apply_logout_changes(client, changes))
    db.flush()
    return changed


# --- token lifecycle (issue 9) ---------------------------------------------------------------

SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def _update_token_lifecycle(db: Session, client: Client, changes: ClientChanges) -> list[str]:
    """The redirect URIs, grants, authentication, keys, audiences, lifetime and secret."""
    changed = []
    if changes.redirect_uris is not None:
        if not changes.redirect_uris:
            raise ValidationFailed("redirect_uri", "at least one is required")
        for uri in changes.redirect_uris:
            validate_redirect_uri(uri)
        if list(dict.fromkeys(changes.redirect_uris)) != client.redirect_uris:
            client.redirect_uris = list(dict.fromkeys(changes.redirect_uris))
            changed.append("redirect_uris")
    method = changes.token_endpoint_auth_method or client.token_endpoint_auth_method
    if method != client.token_endpoint_auth_method:
        if client.is_public or method == PUBLIC_CLIENT_AUTH_METHOD:
            raise ValidationFailed("auth_method", "a client cannot change between public and confidential")
        if method not in CONFIDENTIAL_AUTH_METHODS:
            raise ValidationFailed("auth_method", f"must be one of {', '.join(CONFIDENTIAL_AUTH_METHODS)}")
    grant_types = changes.grant_types if changes.grant_types is not None else client.grant_types
    _check_grant_types(grant_types, method)
    jwks = client.jwks_json if changes.jwks is None else (changes.jwks or None)
    jwks_uri = client.jwks_uri if changes.jwks_uri is None else (changes.jwks_uri or None)
    _check_keys(method, jwks, jwks_uri)
    if method != client.token_endpoint_auth_method:
        client.token_endpoint_auth_method = method
        changed.append("token_endpoint_auth_method")
        if method not in SECRET_AUTH_METHODS:
            client.client_secret_hash = None
    if list(dict.fromkeys(grant_types)) != client.grant_types:
        client.grant_types = list(dict.fromkeys(grant_types))
        changed.append("grant_types")
    if (jwks, jwks_uri) != (client.jwks_json, client.jwks_uri):
        client.jwks_json, client.jwks_uri = jwks, jwks_uri
        changed.append("jwks")
    if changes.audiences is not None:
        _check_audiences(db, changes.audiences)
        if list(dict.fromkeys(changes.audiences)) != client.audiences:
            client.audiences = list(dict.fromkeys(changes.audiences))
            changed.append("audiences")
    if changes.access_token_ttl_seconds is not None:
        _check_access_token_ttl(changes.access_token_ttl_seconds)
        if (changes.access_token_ttl_seconds or None) != client.access_token_ttl_seconds:
            client.access_token_ttl_seconds = changes.access_token_ttl_seconds or None
            changed.append("access_token_ttl_seconds")
    if changes.always_issue_refresh_token is not None and (
        changes.always_issue_refresh_token != client.always_issue_refresh_token
    ):
        client.always_issue_refresh_token = changes.always_issue_refresh_token
        changed.append("always_issue_refresh_token")
    if changes.secret is not None:
        if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
            raise ValidationFailed("secret", f"a client using {client.token_endpoint_auth_method!r} has no secret")
        client.client_secret_hash = digest(_checked_known_secret(changes.secret))
        changed.append("secret")
    if client.token_endpoint_auth_method in SECRET_AUTH_METHODS and client.client_secret_hash is None:
        raise ValidationFailed("secret", "a client using a client secret needs one: give --secret-stdin")
    return changed


def _check_grant_types(grant_types: list[str], method: str) -> None:
    for grant_type in grant_types:
        if grant_type not in SUPPORTED_GRANT_TYPES:
            raise ValidationFailed(
                "grant_type", f"{grant_type!r} is not supported ({', '.join(SUPPORTED_GRANT_TYPES)})"
            )
    if not grant_types:
        raise ValidationFailed("grant_type", "at least one is required")
    if method == PUBLIC_CLIENT_AUTH_METHOD and "client_credentials" in grant_types:
        raise ValidationFailed("grant_type", "a public client cannot use client_credentials (it has no credentials)")


def _check_keys(method: str, jwks: str | None, jwks_uri: str | None) -> None:
    from idp.services.client_keys import ClientKeysUnavailable, parse_jwks

    if method != "private_key_jwt":
        if jwks or jwks_uri:
            raise ValidationFailed("jwks", "keys are only for a client using private_key_jwt")
        return
    if bool(jwks) == bool(jwks_uri):
        raise ValidationFailed("jwks", "private_key_jwt needs either --jwks or --jwks-uri (one of them)")
    if jwks:
        try:
            parse_jwks(jwks)
        except ClientKeysUnavailable as problem:
            raise ValidationFailed("jwks", str(problem)) from None
    else:
        parts = urlsplit(jwks_uri)
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
        if not (parts.scheme == "https" and parts.hostname) and not loopback:
            raise ValidationFailed("jwks_uri", f"{jwks_uri!r}: https is required (http only for loopback addresses)")


def _check_audiences(db: Session, audiences: list[str]) -> None:
    from idp.services.resource_servers import is_registered

    for audience in audiences:
        if not is_registered(db, audience):
            raise ValidationFailed("audience", f"{audience!r} is not a registered resource server")


def _check_access_token_ttl(seconds: int | None) -> None:
    if seconds is not None and not 0 <= seconds <= MAX_ACCESS_TOKEN_TTL_SECONDS:
        raise ValidationFailed(
            "access_token_ttl", f"must be between 1 and {MAX_ACCESS_TOKEN_TTL_SECONDS} seconds (0: the default)"
        )


def _checked_known_secret(secret: str) -> str:
    secret = secret.strip()
    if len(secret) < MIN_KNOWN_SECRET_LENGTH:
        raise ValidationFailed("secret", f"must be at least {MIN_KNOWN_SECRET_LENGTH} characters")
    return secret


def _apply_logout_changes(client: Client, changes: ClientChanges) -> list[str]:
    changed = []
    if changes.post_logout_redirect_uris is not None:
        for uri in changes.post_logout_redirect_uris:
            validate_redirect_uri(uri, field_name="post_logout_redirect_uri")
        wanted = list(dict.fromkeys(changes.post_logout_redirect_uris))
        if wanted != client.post_logout_redirect_uris:
            client.post_logout_redirect_uris = wanted
            changed.append("post_logout_redirect_uris")
    if changes.backchannel_logout_uri is not None:
        if changes.backchannel_logout_uri:
            validate_backchannel_logout_uri(changes.backchannel_logout_uri)
        if (changes.backchannel_logout_uri or None) != client.backchannel_logout_uri:
            client.backchannel_logout_uri = changes.backchannel_logout_uri or None
            changed.append("backchannel_logout_uri")
    if (
        changes.backchannel_logout_session_required is not None
        and changes.backchannel_logout_session_required != client.backchannel_logout_session_required
    ):
        client.backchannel_logout_session_required = changes.backchannel_logout_session_required
        changed.append("backchannel_logout_session_required")
    return changed


def validate_backchannel_logout_uri(uri: str) -> None:
    """Back-Channel Logout 1.0 §2.2: absolute, no fragment; https, or http on a loopback
    address (development). idp POSTs to it from the server, so nothing else is allowed."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri or not parts.netloc:
        raise ValidationFailed("backchannel_logout_uri", f"{uri!r} must be an absolute http(s) URI without fragment")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return
    raise ValidationFailed("backchannel_logout_uri", f"{uri!r}: use https (http only for loopback addresses)")


def _check_required_acr(acr: str | None) -> None:
    if acr and acr not in LEVELS:
        raise ValidationFailed("required_acr", f"{acr!r} is not one of {', '.join(LEVELS)}")


def validate_redirect_uri(uri: str, field_name: str = "redirect_uri") -> None:
    """Absolute, no fragment (RFC 6749 §3.1.2); https unless a loopback address or a
    private-use scheme for native apps (RFC 8252 §7). Post-logout redirect URIs follow the
    same rules (RP-Initiated Logout 1.0 §3.1)."""
    try:
        _validate_redirect_uri(uri)
    except ValidationFailed as refused:
        if field_name == "redirect_uri":
            raise
        raise ValidationFailed(field_name, refused.problem) from None


def _validate_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or "#" in uri:
        raise ValidationFailed("redirect_uri", f"{uri!r} must be absolute and have no fragment")
    if "*" in parts.netloc:
        raise ValidationFailed("redirect_uri", f"{uri!r}: a wildcard host is not allowed (exact URIs only)")
    if parts.scheme == "http":
        if parts.hostname not in _LOOPBACK_HOSTS and parts.netloc.split(":")[0] not in _LOOPBACK_HOSTS:
            raise ValidationFailed("redirect_uri", f"{uri!r}: http is allowed only for loopback addresses")
    elif parts.scheme == "https":
        if not parts.netloc:
            raise ValidationFailed("redirect_uri", f"{uri!r} has no host")
    elif "." not in parts.scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names, e.g. com.example.app
        raise ValidationFailed("redirect_uri", f"{uri!r}: use https, a loopback http URI or a reverse-domain scheme")


# Prebuilt (see idp.db): most protocol requests look their client up.
_CLIENT_BY_ID = select(Client).where(Client.client_id == bindparam("client_id"))


def find_client(db: Session, client_id: str | None) -> Client | None:
    """The client registered as ``client_id``; None when there is none, also for an id no client
    can have: empty, longer than 64 characters (none is registered so), or holding a NUL
    (PostgreSQL cannot compare text with one: an error, a 500, instead of "unknown client")."""
    if not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    return db.scalar(_CLIENT_BY_ID, {"client_id": client_id})


def get_client(db: Session, client_id: str) -> Client:
    client = find_client(db, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


def list_clients(db: Session) -> list[Client]:
    return list(db.scalars(select(Client).order_by(Client.created_at, Client.id)))


def delete_client(db: Session, client_id: str) -> None:
    """Remove the client and what members granted it: remembered consents and unused codes go,
    issued tokens are revoked, so a client registered later under the same id inherits nothing."""
    client = get_client(db, client_id)
    db.execute(delete(Consent).where(Consent.client_id == client_id))
    db.execute(delete(AuthorizationCode).where(AuthorizationCode.client_id == client_id))
    credentials.revoke_access_tokens(db, client_id=client_id)
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.delete(client)
    db.flush()


def reset_secret(db: Session, client: Client) -> str:
    """A new secret for a confidential client (used by the demo seed when its copy is lost)."""
    if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
        raise ValidationFailed("client_id", "this client has no secret")
    secret = random_token(32)
    client.client_secret_hash = digest(secret)
    db.flush()
    return secret


def describe(client: Client) -> dict:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "type": "public" if client.is_public else "confidential",
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": client.redirect_uris,
        "scopes": client.allowed_scopes,
        "grant_types": client.grant_types,
        "first_party": client.first_party,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "required_acr": client.required_acr,
        "jwks": "registered" if client.jwks_json else None,
        "jwks_uri": client.jwks_uri,
        "audiences": client.audiences,
        "access_token_ttl_seconds": client.access_token_ttl_seconds,
        "always_issue_refresh_token": client.always_issue_refresh_token,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "created_at": client.created_at.isoformat(),
    }
