"""What the integration tests that run idp on a real socket share."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.db import get_engine
from tests.conftest import stop_worker
from tests.helpers.live import free_port, serve_in_thread


@pytest.fixture
def live_idp(database_url, tmp_path):
    """idp on a real socket in this process, its issuer the URL it is served at, with its
    outbound worker (which delivers back-channel logout); yields (app, issuer)."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "server": {
                "issuer": issuer,
                "secret_key": "live-test-secret-key-long-enough-0123456789",
                "instance_path": str(tmp_path / "live"),
            },
            "database": {"url": database_url},
            "logging": {"level": "WARNING"},
            "outbound": {"poll_seconds": 1},
        }
    )
    with serve_in_thread(app, port):
        yield app, issuer
    stop_worker(app)
    get_engine(app).dispose()
