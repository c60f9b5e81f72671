"""Signing keys: created, rotated and read from the database, so every process agrees."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import SigningKey
from idp.models.keys import KEY_ACTIVE, KEY_RETIRED
from idp.security.crypto import SecretBox
from idp.security.jose import SUPPORTED_SIGNING_ALGS, dumps_jwk, generate_signing_key

# Decrypted private keys by kid. Keys never change once made, so a kid is a safe cache key.
_private_jwk_cache: dict[str, dict[str, Any]] = {}


def create_key(db: Session, box: SecretBox, alg: str) -> SigningKey:
    kid, public_jwk, private_jwk = generate_signing_key(alg)
    key = SigningKey(
        kid=kid,
        alg=alg,
        state=KEY_ACTIVE,
        public_jwk_json=dumps_jwk(public_jwk),
        private_jwk_encrypted=box.encrypt(dumps_jwk(private_jwk).encode()),
    )
    db.add(key)
    db.flush()
    return key


def ensure_keys(db: Session, box: SecretBox) -> list[SigningKey]:
    """Create an active key for each supported algorithm that has none. Returns those made."""
    made = []
    for alg in SUPPORTED_SIGNING_ALGS:
        if _newest_active(db, alg) is None:
            made.append(create_key(db, box, alg))
    return made


def rotate_keys(db: Session, box: SecretBox) -> list[SigningKey]:
    """Retire every active key and make new ones. Retired keys stay published for a while so
    tokens they signed still verify (see keys.retired_key_publish_seconds)."""
    db.execute(update(SigningKey).where(SigningKey.state == KEY_ACTIVE).values(state=KEY_RETIRED, retired_at=utcnow()))
    return [create_key(db, box, alg) for alg in SUPPORTED_SIGNING_ALGS]


def list_keys(db: Session) -> list[SigningKey]:
    return list(db.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())))


def signing_key(db: Session, box: SecretBox, alg: str) -> dict[str, Any]:
    """The private JWK to sign with for ``alg``, creating keys on first use."""
    key = _newest_active(db, alg)
    if key is None:
        ensure_keys(db, box)
        db.commit()
        key = _newest_active(db, alg)
    assert key is not None
    cached = _private_jwk_cache.get(key.kid)
    if cached is None:
        cached = json.loads(box.decrypt(key.private_jwk_encrypted))
        _private_jwk_cache[key.kid] = cached
    return cached


def published_jwks(
    db: Session, retired_publish_seconds: int, box: SecretBox | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Public keys only: every active key and those retired recently enough to still verify.
    Given ``box``, first makes the keys if there are none yet (a fresh installation)."""
    if box is not None and ensure_keys(db, box):
        db.commit()
    cutoff = utcnow() - timedelta(seconds=retired_publish_seconds)
    keys = [
        json.loads(key.public_jwk_json)
        for key in list_keys(db)
        if key.state == KEY_ACTIVE or (key.retired_at is not None and key.retired_at > cutoff)
    ]
    return {"keys": keys}


def _newest_active(db: Session, alg: str) -> SigningKey | None:
    return db.scalar(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.state == KEY_ACTIVE)
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)
    )


def describe(key: SigningKey) -> dict:
    """What operators may see of a key: never the private part, not even encrypted."""
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created_at": key.created_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }
