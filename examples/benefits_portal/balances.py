"""Made-up benefit figures for the demo.

A real benefit service would read the member's accounts here. The figures are
derived from a hash of the member's ``sub`` so that the same member always sees
the same numbers, and no real data is ever needed to try the portal.
"""

from __future__ import annotations

import hashlib
from typing import Any

CURRENCY = "IDR"


def demo_statement(sub: str) -> dict[str, Any]:
    """The JSON body of ``GET /api/balance`` for member ``sub``."""
    seed = hashlib.sha256(f"benefits-portal-demo:{sub}".encode()).digest()
    return {
        "sub": sub,
        "currency": CURRENCY,
        "demo_data": True,
        "programs": [
            _savings("JHT", "Jaminan Hari Tua", "Old-age savings", _amount(seed[0:4], 2_000_000, 250_000_000)),
            _savings("JP", "Jaminan Pensiun", "Pension", _amount(seed[4:8], 500_000, 90_000_000)),
            _cover("JKK", "Jaminan Kecelakaan Kerja", "Work-accident cover", active=seed[8] % 10 != 0),
            _cover("JKM", "Jaminan Kematian", "Death benefit", active=seed[9] % 10 != 0),
        ],
    }


def format_idr(amount: int) -> str:
    """``12345600`` -> ``Rp 12.345.600`` (Indonesian digit grouping)."""
    return "Rp " + f"{amount:,}".replace(",", ".")


def _savings(code: str, name: str, description: str, balance: int) -> dict[str, Any]:
    return {"code": code, "name": name, "description": description, "kind": "balance", "balance": balance}


def _cover(code: str, name: str, description: str, active: bool) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "description": description,
        "kind": "coverage",
        "coverage": "active" if active else "inactive",
    }


def _amount(seed: bytes, low: int, high: int) -> int:
    value = low + int.from_bytes(seed, "big") % (high - low)
    return value - value % 100  # whole hundreds of rupiah, like a statement
