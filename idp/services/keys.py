"""Signing keys: created, rotated, retired and pruned in the database, so every process agrees;
read through a short per-process cache, so signing and verifying cost no query and no import.

A key's life: created (published in the JWKS at once) → signing from ``sign_from`` (after
``keys.publish_ahead_seconds`` when it came from a rotation) → retired at ``retired_at`` (no
longer signs, still published for ``keys.retired_key_publish_seconds``) → pruned once every
token it signed has expired.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import Client, SigningKey
from idp.models.keys import KEY_ACTIVE, KEY_RETIRED
from idp.security.crypto import SecretBox
from idp.security.jose import (
    SUPPORTED_SIGNING_ALGS,
    VerifiedTokens,
    dumps_jwk,
    generate_signing_key,
    import_jwk,
    import_key_set,
)

# Decrypted and imported private keys by kid. A kid is the key's RFC 7638 thumbprint, so it
# names one key for ever: a safe cache key across apps and databases in this process.
_private_key_cache: dict[str, Any] = {}

STATUS_PUBLISHED = "published"  # in the JWKS, not signing yet
STATUS_SIGNING = "signing"
STATUS_RETIRING = "retiring"  # signing until retired_at, its successor announced
STATUS_RETIRED = "retired"


@dataclass(frozen=True)
class KeyEntry:
    """What the cache keeps of one key row (never the decrypted private part)."""

    kid: str
    alg: str
    created_at: datetime
    sign_from: datetime | None
    retired_at: datetime | None
    public_jwk: dict[str, Any]
    private_jwk_encrypted: str

    def signs_at(self, now: datetime) -> bool:
        started = self.sign_from is None or self.sign_from <= now
        return started and (self.retired_at is None or self.retired_at > now)

    def published_at(self, now: datetime, retired_publish_seconds: int) -> bool:
        return self.retired_at is None or self.retired_at + timedelta(seconds=retired_publish_seconds) > now


@dataclass(frozen=True)
class Signer:
    """The key to sign with now for one algorithm, imported."""

    kid: str
    alg: str
    key: Any


@dataclass(frozen=True)
class PublishedKeys:
    """The JWKS as served: the serialized body and its ETag (unquoted), and the key set to
    verify with, remembering the access tokens it verified (``verified``: made with the key
    set and replaced with it, so it never outlives a key's removal)."""

    body: bytes
    etag: str
    kids: frozenset[str]
    verified: VerifiedTokens

    @property
    def key_set(self) -> Any:
        """The imported key set alone, for tokens other than access tokens (ID token hints)."""
        return self.verified.key_set


@dataclass
class _Snapshot:
    loaded_at: float
    entries: list[KeyEntry]
    published: dict[tuple[str, ...], PublishedKeys] = field(default_factory=dict)


# One snapshot per database (engine): apps in one process (tests) never share keys.
_snapshots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def forget_cached(db: Session) -> None:
    """Drop this process's snapshot (after this process changed the keys)."""
    with _lock:
        _snapshots.pop(_engine_of(db), None)


def _engine_of(db: Session):
    # A request's session may be bound to its one connection (idp/db.py): key by the engine.
    return db.get_bind().engine


def _is_fresh(snapshot: _Snapshot | None, cache_seconds: int) -> bool:
    return snapshot is not None and time.monotonic() - snapshot.loaded_at < cache_seconds


def _snapshot(db: Session, cache_seconds: int) -> _Snapshot:
    engine = _engine_of(db)
    current = _snapshots.get(engine)
    if _is_fresh(current, cache_seconds):
        return current
    entries = [
        KeyEntry(
            kid=key.kid,
            alg=key.alg,
            created_at=key.created_at,
            sign_from=key.sign_from,
            retired_at=key.retired_at,
            public_jwk=json.loads(key.public_jwk_json),
            private_jwk_encrypted=key.private_jwk_encrypted,
        )
        for key in list_keys(db)
    ]
    fresh = _Snapshot(loaded_at=time.monotonic(), entries=entries)
    with _lock:
        _snapshots[engine] = fresh
    return fresh


# --- changing keys ----------------------------------------------------------------------------


def create_key(db: Session, box: SecretBox, alg: str, sign_from: datetime | None = None) -> SigningKey:
    kid, public_jwk, private_jwk, imported = generate_signing_key(alg)
    _private_key_cache[kid] = imported
    key = SigningKey(
        kid=kid,
        alg=alg,
        state=KEY_ACTIVE,
        public_jwk_json=dumps_jwk(public_jwk),
        private_jwk_encrypted=box.encrypt(dumps_jwk(private_jwk).encode()),
        sign_from=sign_from,
    )
    db.add(key)
    db.flush()
    forget_cached(db)
    return key


def _has_current_or_next(db: Session, alg: str, now: datetime) -> bool:
    """Whether some key of ``alg`` signs now or will (not retired yet)."""
    found = db.scalar(
        select(SigningKey.id)
        .where(SigningKey.alg == alg, or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now))
        .limit(1)
    )
    return found is not None


def ensure_keys(db: Session, box: SecretBox) -> list[SigningKey]:
    """Create a key signing at once for each supported algorithm that has none signing now or
    announced. Returns those made."""
    now = utcnow()
    return [create_key(db, box, alg) for alg in SUPPORTED_SIGNING_ALGS if not _has_current_or_next(db, alg, now)]


def rotate_keys(db: Session, box: SecretBox, publish_ahead_seconds: int = 0) -> list[SigningKey]:
    """Announce a new key per algorithm: published at once, signing after
    ``publish_ahead_seconds``, when the keys it replaces stop signing (and stay published for
    keys.retired_key_publish_seconds, so tokens they signed still verify)."""
    now = utcnow()
    switch_at = now + timedelta(seconds=publish_ahead_seconds)
    existing = list(db.scalars(select(SigningKey)))
    signing_algs = {key.alg for key in existing if _entry(key).signs_at(now)}
    for key in existing:
        if key.retired_at is None or key.retired_at > switch_at:
            key.retired_at = switch_at
            key.state = KEY_RETIRED
    made = [
        # An algorithm with nothing signing now (a first rotation) cannot wait.
        create_key(db, box, alg, sign_from=switch_at if publish_ahead_seconds and alg in signing_algs else None)
        for alg in SUPPORTED_SIGNING_ALGS
    ]
    forget_cached(db)
    return made


def retire_key(db: Session, box: SecretBox, kid: str) -> tuple[SigningKey, SigningKey | None]:
    """Stop signing with ``kid`` now (it stays published until tokens it signed expire). If
    no other key of its algorithm signs now, the announced successor starts at once, or a new
    key is made. Returns the retired key and the one that took over (None: one already signed)."""
    from idp.errors import NotFound

    key = db.scalar(select(SigningKey).where(SigningKey.kid == kid))
    if key is None:
        raise NotFound(f"no signing key {kid!r}")
    now = utcnow()
    if key.retired_at is None or key.retired_at > now:
        key.retired_at = now
        key.state = KEY_RETIRED
    db.flush()
    same_alg = list(db.scalars(select(SigningKey).where(SigningKey.alg == key.alg, SigningKey.id != key.id)))
    if any(_entry(other).signs_at(now) for other in same_alg):
        forget_cached(db)
        return key, None
    announced = [other for other in same_alg if other.retired_at is None or other.retired_at > now]
    if announced:
        successor = max(announced, key=lambda other: (other.created_at, other.id))
        successor.sign_from = now
    else:
        successor = create_key(db, box, key.alg)
    db.flush()
    forget_cached(db)
    return key, successor


def longest_token_lifetime(db: Session, token_settings) -> int:
    """The longest lifetime of any token a key signs: ID and access tokens, per-client
    lifetimes included (refresh tokens are opaque, not signed)."""
    per_client = db.scalar(select(func.max(Client.access_token_ttl_seconds))) or 0
    return max(token_settings.access_token_ttl_seconds, token_settings.id_token_ttl_seconds, per_client)


def prune_keys(db: Session, token_settings) -> list[str]:
    """Delete retired keys once every token they signed has expired. Returns their kids."""
    cutoff = utcnow() - timedelta(seconds=longest_token_lifetime(db, token_settings))
    kids = list(
        db.scalars(select(SigningKey.kid).where(SigningKey.retired_at.is_not(None), SigningKey.retired_at <= cutoff))
    )
    if kids:
        db.execute(delete(SigningKey).where(SigningKey.kid.in_(kids)).execution_options(synchronize_session=False))
        forget_cached(db)
    return kids


# --- reading keys -----------------------------------------------------------------------------


def list_keys(db: Session) -> list[SigningKey]:
    return list(db.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())))


def signer(db: Session, box: SecretBox, alg: str, cache_seconds: int = 5) -> Signer:
    """The key to sign ``alg`` tokens with now, imported; keys are made on first use."""
    now = utcnow()
    entry = _newest_signing(_snapshot(db, cache_seconds), alg, now)
    if entry is None:
        if ensure_keys(db, box):
            db.commit()
        forget_cached(db)
        entry = _newest_signing(_snapshot(db, cache_seconds), alg, now)
    assert entry is not None, f"no {alg} key signs now"
    key = _private_key_cache.get(entry.kid)
    if key is None:
        key = import_jwk(json.loads(box.decrypt(entry.private_jwk_encrypted)))
        _private_key_cache[entry.kid] = key
    return Signer(kid=entry.kid, alg=entry.alg, key=key)


def published(
    db: Session, retired_publish_seconds: int, cache_seconds: int = 5, box: SecretBox | None = None
) -> PublishedKeys:
    """The JWKS as served (body, ETag) and as verified against: every key not retired, and
    retired ones for ``retired_publish_seconds``. Given ``box``, first makes keys if there are
    none yet (a fresh installation)."""
    snapshot = _snapshot(db, cache_seconds)
    if box is not None and not snapshot.entries:
        if ensure_keys(db, box):
            db.commit()
        snapshot = _snapshot(db, cache_seconds)
    return _published_from(snapshot, retired_publish_seconds)


def published_from_cache(engine: Any, retired_publish_seconds: int, cache_seconds: int) -> PublishedKeys | None:
    """The JWKS as ``published`` would answer it, without touching the database: ``None`` when
    this process's snapshot of ``engine``'s keys is missing or older than ``cache_seconds``
    (then ``published`` reads it again)."""
    current = _snapshots.get(engine)
    if not _is_fresh(current, cache_seconds) or not current.entries:
        return None
    return _published_from(current, retired_publish_seconds)


def _published_from(snapshot: _Snapshot, retired_publish_seconds: int) -> PublishedKeys:
    now = utcnow()
    entries = [entry for entry in snapshot.entries if entry.published_at(now, retired_publish_seconds)]
    kids = tuple(entry.kid for entry in entries)
    ready = snapshot.published.get(kids)
    if ready is None:
        jwks = {"keys": [entry.public_jwk for entry in entries]}
        body = json.dumps(jwks, separators=(",", ":"), sort_keys=True).encode()
        ready = PublishedKeys(
            body=body,
            etag=hashlib.sha256(body).hexdigest()[:32],
            kids=frozenset(kids),
            verified=VerifiedTokens(import_key_set(jwks)),
        )
        snapshot.published[kids] = ready
    return ready


def _newest_signing(snapshot: _Snapshot, alg: str, now: datetime) -> KeyEntry | None:
    candidates = [entry for entry in snapshot.entries if entry.alg == alg and entry.signs_at(now)]
    return max(candidates, key=lambda entry: entry.created_at) if candidates else None


def _entry(key: SigningKey) -> KeyEntry:
    return KeyEntry(
        kid=key.kid,
        alg=key.alg,
        created_at=key.created_at,
        sign_from=key.sign_from,
        retired_at=key.retired_at,
        public_jwk={},
        private_jwk_encrypted="",
    )


def status(key: SigningKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if key.retired_at is not None and key.retired_at <= now:
        return STATUS_RETIRED
    if key.sign_from is not None and key.sign_from > now:
        return STATUS_PUBLISHED
    return STATUS_RETIRING if key.retired_at is not None else STATUS_SIGNING


def describe(key: SigningKey) -> dict:
    """What operators may see of a key: never the private part, not even encrypted."""
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": status(key),
        "created_at": key.created_at.isoformat(),
        "sign_from": key.sign_from.isoformat() if key.sign_from else None,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }
