"""The rate-limit counters of the embedded default (``ratelimit.storage_uri = "memory://"``):
limits' own in-memory storage, with its expired entries swept by one thread per process.

limits' ``MemoryStorage`` sweeps with a ``threading.Timer`` of 10 ms that every hit starts
again once the last one has finished. While requests come in, that is a new thread every
10 ms: the hit that starts one costs about 0.2 ms instead of 4 µs, and each sweep walks
every key, a hundred times a second, on the core that serves the requests. Sweeping only
frees memory (a hit reads each entry's own time and expiry, so what is counted does not
depend on it), so here one daemon thread runs limits' own sweep once a second instead: what
is counted, and what is kept, is exactly limits'.

Production counts in Redis (``ratelimit.storage_uri``), which this does not touch. The
in-memory fallback while Redis is away (``on_storage_error = "allow"``) stays limits' own.
"""

from __future__ import annotations

import threading
import time
import weakref

from limits.storage import MemoryStorage

SCHEME = "idp-memory"


class SweptMemoryStorage(MemoryStorage):
    """limits' MemoryStorage, swept every ``sweep_seconds`` by one thread of its own."""

    STORAGE_SCHEME = [SCHEME]  # limits registers storages by their scheme
    sweep_seconds = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        self._sweeper: threading.Thread | None = None
        self._sweeper_lock = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # limits started its first Timer; it is not needed, and holding it (its function is a
        # method of this storage) would keep the storage alive in a reference cycle.
        self.timer.cancel()
        self.timer = None

    # limits calls this (by its mangled name) on every hit to make sure a sweep is coming.
    def _MemoryStorage__schedule_expiry(self) -> None:
        sweeper = self._sweeper
        # Not alive also in a process forked from the one that started it (gunicorn's workers).
        if sweeper is None or not sweeper.is_alive():
            self._start_sweeper()

    def _start_sweeper(self) -> None:
        with self._sweeper_lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            # The thread holds the storage weakly: an app that is gone (tests make thousands)
            # takes its counters and their thread with it.
            self._sweeper = threading.Thread(
                target=_sweep, args=(weakref.ref(self), self.sweep_seconds), name="idp-ratelimit-sweeper", daemon=True
            )
            self._sweeper.start()

    def sweep(self) -> None:
        """Drop what has expired (limits' own sweep)."""
        self._MemoryStorage__expire_events()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_sweeper", None)
        state.pop("_sweeper_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.timer.cancel()
        self.timer = None
        self._sweeper = None
        self._sweeper_lock = threading.Lock()


def _sweep(storage_ref: weakref.ref, every_seconds: float) -> None:
    while True:
        time.sleep(every_seconds)
        storage = storage_ref()
        if storage is None:
            return
        storage.sweep()
        del storage  # not held while sleeping


def storage_uri_for(configured: str) -> str:
    """The URI Flask-Limiter is given for ``ratelimit.storage_uri``: the swept storage for
    ``memory://``, anything else as configured."""
    if configured.startswith("memory://"):
        return SCHEME + configured.removeprefix("memory")
    return configured
