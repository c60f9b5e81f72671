"""Time-based one-time passwords (RFC 6238): the only module that imports pyotp.

SHA-1, 6 digits, 30-second steps: what every authenticator app understands. The current time
comes from ``idp.clock`` so tests can move it. ``verify`` returns the time step a code
matched, so the caller can refuse a step it already accepted (or an older one) with one
conditional UPDATE, which holds across processes.
"""

from __future__ import annotations

import re
from datetime import datetime

import pyotp
from pyotp import utils

from idp.clock import utcnow

DIGITS = 6
PERIOD_SECONDS = 30
# 32 base32 characters: 160 bits, the key size RFC 4226 recommends for HMAC-SHA-1.
SEED_LENGTH = 32
# One step either way: a phone clock a little off, or a code typed as it changes.
VALID_WINDOW = 1

_CODE = re.compile(r"^[0-9]{6}$")


def new_seed() -> str:
    """A random base32 seed of 160 bits (from the operating system's CSPRNG)."""
    return pyotp.random_base32(length=SEED_LENGTH)


def provisioning_uri(seed: str, account_name: str, issuer_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(seed).provisioning_uri(name=account_name, issuer_name=issuer_name)


def format_seed(seed: str) -> str:
    """The seed in groups of four, easier to type into an app by hand."""
    return " ".join(seed[i : i + 4] for i in range(0, len(seed), 4))


def normalize_code(code: str | None) -> str | None:
    """The six digits of what the member typed (spaces allowed), or None if it is not a code."""
    if code is None:
        return None
    compact = re.sub(r"\s+", "", code)
    return compact if _CODE.match(compact) else None


def time_step(now: datetime | None = None) -> int:
    return int((now or utcnow()).timestamp()) // PERIOD_SECONDS


def code_at_step(seed: str, step: int) -> str:
    return _totp(seed).generate_otp(step)


def verify(seed: str, code: str | None, now: datetime | None = None) -> int | None:
    """The time step the code belongs to (within one step of now), or None if it matches none.

    Every candidate step is compared in constant time; the newest matching step wins."""
    code = normalize_code(code)
    if code is None:
        return None
    current = time_step(now)
    matched = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if utils.strings_equal(code, code_at_step(seed, step)):
            matched = step
    return matched


def _totp(seed: str) -> pyotp.TOTP:
    return pyotp.TOTP(seed, digits=DIGITS, interval=PERIOD_SECONDS)
