"""The one source of the current time, so tests can move it and nothing reads the OS clock directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC wall clock with an adjustable offset (tests move it forward to expire things)."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self._offset = timedelta()


clock = Clock()


def utcnow() -> datetime:
    return clock.now()


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC, so attach the zone back."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
