"""Resource servers (benefit services): registered by the operator with the audience of the
tokens meant for them and the credentials they introspect with; and which audience a client
may ask for (RFC 8707 ``resource``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from idp.db import StandingReads
from idp.errors import NotFound, ValidationFailed
from idp.models import Client, ResourceServer
from idp.security.tokens import digest, matches_digest, random_token

# A digest to compare against when the id is unknown, so both answers take the same time.
_UNKNOWN_SECRET_DIGEST = digest(random_token(32))


class InvalidTarget(Exception):
    """RFC 8707 §2: the `resource` asked for is not one this client may get tokens for."""


def create(db: Session, name: str, audience: str) -> tuple[ResourceServer, str]:
    """Register a resource server; returns it and its introspection secret (shown once)."""
    if not name.strip():
        raise ValidationFailed("name", "must not be empty")
    audience = audience.strip()
    parts = urlsplit(audience)
    if not parts.scheme or parts.fragment or len(audience) > 200:
        raise ValidationFailed(
            "audience", "must be an absolute URI without a fragment (RFC 8707), at most 200 characters"
        )
    if db.scalar(select(ResourceServer.id).where(ResourceServer.audience == audience)) is not None:
        raise ValidationFailed("audience", "is already registered")
    secret = random_token(32)
    server = ResourceServer(
        name=name.strip(), audience=audience, introspection_id="rs-" + secrets.token_hex(12), secret_hash=digest(secret)
    )
    db.add(server)
    db.flush()
    return server, secret


def list_all(db: Session) -> list[ResourceServer]:
    return list(db.scalars(select(ResourceServer).order_by(ResourceServer.created_at, ResourceServer.id)))


def get(db: Session, audience_or_id: str) -> ResourceServer:
    found = db.scalar(
        select(ResourceServer).where(
            (ResourceServer.audience == audience_or_id) | (ResourceServer.introspection_id == audience_or_id)
        )
    )
    if found is None:
        raise NotFound(f"no resource server {audience_or_id!r}")
    return found


def delete(db: Session, audience_or_id: str) -> ResourceServer:
    found = get(db, audience_or_id)
    db.delete(found)
    db.flush()
    return found


def authenticate(db: Session, introspection_id: str | None, secret: str | None) -> ResourceServer | None:
    """The resource server these credentials belong to, or None (in the same time either way)."""
    if not _plausible(introspection_id, secret):
        return _refused(secret)
    found = db.scalar(select(ResourceServer).where(ResourceServer.introspection_id == introspection_id))
    return found if _secret_matches(found.secret_hash if found else None, secret) else None


# Built once, for the introspection endpoint's fast path (web/protocol/introspection.py).
_AUDIENCE_AND_SECRET = select(ResourceServer.audience, ResourceServer.secret_hash).where(
    ResourceServer.introspection_id == bindparam("introspection_id")
)


def authenticated_audience(reads: StandingReads, introspection_id: str | None, secret: str | None) -> str | None:
    """``authenticate`` in one standing read: the audience of the resource server these
    credentials belong to, or None."""
    found = authenticated_row(
        introspection_id, secret, lambda: reads.first(_AUDIENCE_AND_SECRET, {"introspection_id": introspection_id})
    )
    return found.audience if found is not None else None


def authenticated_row(introspection_id: str | None, secret: str | None, read: Callable[[], Row | None]) -> Row | None:
    """``authenticate`` over the row ``read`` fetches by ``introspection_id`` (with at least
    ``audience`` and ``secret_hash``; a caller may read more in the same round trip): the row
    when the secret matches, None otherwise. ``read`` is not called for implausible
    credentials, which take the time of a known id all the same."""
    if not _plausible(introspection_id, secret):
        return _refused(secret)
    found = read()
    return found if _secret_matches(found.secret_hash if found else None, secret) else None


def _plausible(introspection_id: str | None, secret: str | None) -> bool:
    return bool(introspection_id and secret and len(introspection_id) <= 64 and "\x00" not in introspection_id)


def _refused(secret: str | None) -> None:
    matches_digest(secret or "", _UNKNOWN_SECRET_DIGEST)  # the time a known id would take
    return None


def _secret_matches(secret_hash: str | None, secret: str | None) -> bool:
    """Compared in constant time; against a digest of nothing when the id is unknown."""
    return matches_digest(secret or "", secret_hash or _UNKNOWN_SECRET_DIGEST) and secret_hash is not None


def is_registered(db: Session, audience: str) -> bool:
    return db.scalar(select(ResourceServer.id).where(ResourceServer.audience == audience)) is not None


def audience_for(db: Session, client: Client, resources: list[str], default_audience: str) -> str | None:
    """The audience a request's ``resource`` values select: None when there are none (the
    default audience applies), the one named when it is a registered resource server this
    client may get tokens for (or the default audience itself). One per request."""
    if not resources:
        return None
    if len(resources) > 1:
        raise InvalidTarget("Name one 'resource' per request.")
    (resource,) = resources
    if resource == default_audience:
        return resource
    if resource in client.audiences and is_registered(db, resource):
        return resource
    raise InvalidTarget("The 'resource' is not a registered resource server this client may use.")


def describe(server: ResourceServer) -> dict:
    return {
        "audience": server.audience,
        "name": server.name,
        "introspection_id": server.introspection_id,
        "created_at": server.created_at.isoformat(),
    }
