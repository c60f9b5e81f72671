"""Encryption at rest (AES-256-GCM) with a key derived from the configured secret."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The ciphertext was not made with this secret (or was altered)."""


class SecretBox:
    """Encrypts small secrets (private keys, TOTP seeds) for storage.

    ``purpose`` separates keys per use, so a value encrypted for one purpose cannot be
    decrypted as another.
    """

    def __init__(self, secret: str, purpose: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"idp:{purpose}".encode()).derive(
            secret.encode("utf-8")
        )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plaintext, None)).decode()

    def decrypt(self, token: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            if len(raw) <= _NONCE_BYTES:
                raise DecryptionError("cannot decrypt: value too short")
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None)
        except (InvalidTag, ValueError):
            raise DecryptionError("cannot decrypt: wrong server.secret_key or altered data") from None


def derive_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose (e.g. keyed digests of sign-in codes), from the secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"idp:{purpose}".encode()).derive(
        secret.encode("utf-8")
    )
