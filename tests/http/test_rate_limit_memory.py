"""The embedded default counts rate limits in this process's memory (``memory://``) without a
thread per request: limits' own storage started a Timer thread for its sweep at every counted
request 10 ms after the last, about 0.2 ms each (``idp.web.memory_limits``)."""

from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from idp.web.memory_limits import SweptMemoryStorage
from tests.helpers.oidc import AuthorizationRequest, Browser


def _timers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]


@pytest.mark.settings(ratelimit={"authorize_per_ip": "1000 per minute"})
def test_a_counted_request_starts_no_thread(client, make_client):
    registered, _ = make_client(public=True)
    for _ in range(5):
        time.sleep(0.02)  # longer than limits' 10 ms timer: each hit would start a new one
        started = Browser(client).start(AuthorizationRequest(registered.client_id))
        assert started.status_code == 303
        assert _timers() == []
    assert [thread.name for thread in threading.enumerate()].count("idp-ratelimit-sweeper") >= 1


@pytest.mark.settings(ratelimit={"authorize_per_ip": "3 per minute"})
def test_the_embedded_default_still_limits(client, make_client):
    registered, _ = make_client(public=True)
    statuses = [Browser(client).start(AuthorizationRequest(registered.client_id)).status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]


def test_expired_entries_are_swept_and_the_window_still_counts():
    storage = SweptMemoryStorage()
    storage.sweep_seconds = 0.05
    limiter = MovingWindowRateLimiter(storage)
    limit = parse("2 per 1 second")
    for number in range(20):
        assert limiter.hit(limit, f"address-{number}")
    assert limiter.hit(limit, "address-0")
    assert not limiter.hit(limit, "address-0")  # the third in the second: refused
    assert sum(map(len, storage.events.values())) == 21
    deadline = time.monotonic() + 5
    while any(storage.events.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(storage.events.values())  # every entry was older than its second: swept
    assert limiter.hit(limit, "address-0")  # a new window


def test_the_sweeper_ends_with_its_storage():
    storage = SweptMemoryStorage()
    storage.sweep_seconds = 0.02
    MovingWindowRateLimiter(storage).hit(parse("5 per second"), "someone")
    sweeper = storage._sweeper
    assert sweeper is not None and sweeper.is_alive()
    del storage
    sweeper.join(timeout=5)
    assert not sweeper.is_alive()
