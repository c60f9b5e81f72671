"""Counting is atomic: 50 concurrent wrong passwords for one account evaluate at most
max_failures passwords before the lock, in one process with threads (SQLite or PostgreSQL)
and across two `idp serve` processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from idp import create_app
from idp.db import get_engine
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import LiveBrowser, idp_processes, serve_in_thread
from tests.helpers.oidc import AuthorizationRequest

ATTEMPTS = 50
WRONG = "definitely not the password"
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _prepared_attempts(base_urls: list[str], client_id: str) -> list[tuple[LiveBrowser, str, str, str]]:
    """One browser per attempt, each with its login page open and its CSRF token read, spread
    over the servers; the POSTs are then fired together."""
    prepared = []
    for index in range(ATTEMPTS):
        base = base_urls[index % len(base_urls)]
        browser = LiveBrowser(base)
        interaction = browser.open_login(AuthorizationRequest(client_id).url())
        prepared.append((browser, interaction, browser.login_form_token(interaction), base))
    return prepared


def _fire_together(prepared, identifier: str) -> list[int]:
    barrier = threading.Barrier(len(prepared))
    statuses: list[int] = [0] * len(prepared)

    def attempt(index: int) -> None:
        browser, interaction, token, base = prepared[index]
        barrier.wait()
        statuses[index] = browser.post_login(interaction, token, identifier, WRONG, base_url=base).status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(prepared))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def _audit_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT event, outcome, COUNT(*) FROM audit_events GROUP BY event, outcome")
            ).all()
    finally:
        engine.dispose()
    return {f"{event}:{outcome}": count for event, outcome, count in rows}


def _assert_exactly_one_lock_after_max_failures(statuses: list[int], database_url: str) -> None:
    assert all(status in (401, 423) for status in statuses), statuses
    counts = _audit_counts(database_url)
    # Evaluated passwords are audited as sign_in failures: exactly max_failures of them.
    assert counts.get("sign_in:failure") == 5, counts
    assert counts.get("lock_started:locked") == 1, counts
    assert counts.get("sign_in:locked") == ATTEMPTS - 5, counts
    assert statuses.count(401) == 4
    assert statuses.count(423) == ATTEMPTS - 4


@pytest.mark.settings(ratelimit={"login_per_ip": "1000 per minute"}, logging={"level": "WARNING"})
def test_concurrent_attempts_in_one_process(app_config, make_member, make_client, database_url):
    member = make_member()
    registered, _ = make_client(public=True)
    live_app = create_app(app_config)
    try:
        with serve_in_thread(live_app) as base_url:
            prepared = _prepared_attempts([base_url], registered.client_id)
            statuses = _fire_together(prepared, member.email)
    finally:
        get_engine(live_app).dispose()
    _assert_exactly_one_lock_after_max_failures(statuses, database_url)


def test_concurrent_attempts_across_two_server_processes(app_config, postgres_url, tmp_path):
    member_email, client_id = _seed(postgres_url, app_config)
    env = {
        "IDP_DATABASE__URL": postgres_url,
        "IDP_SERVER__ISSUER": "http://idp.test",
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_RATELIMIT__STORAGE_URI": REDIS_URL,
        "IDP_RATELIMIT__KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "IDP_RATELIMIT__LOGIN_PER_IP": "1000 per minute",
        "IDP_LOGGING__LEVEL": "WARNING",
    }
    with idp_processes(2, env, tmp_path) as base_urls:
        prepared = _prepared_attempts(base_urls, client_id)
        statuses = _fire_together(prepared, member_email.upper())
    _assert_exactly_one_lock_after_max_failures(statuses, postgres_url)


def _seed(database_url: str, app_config: dict) -> tuple[str, str]:
    """A member and a public client in the shared database."""
    from datetime import date

    from idp.db import get_session
    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    seeding_app = create_app({**app_config, "database": {"url": database_url}})
    try:
        with seeding_app.app_context():
            db = get_session()
            create_member(
                db,
                NewMember(
                    "12345678901", "3171234567890001", "Siti Rahayu", date(1990, 4, 17), email="siti@example.test"
                ),
                DEMO_PASSWORD,
            )
            client, _ = create_client(
                db,
                NewClient(
                    name="Saldo", redirect_uris=["https://rp.example.test/callback"], public=True, first_party=True
                ),
            )
            db.commit()
            return "siti@example.test", client.client_id
    finally:
        get_engine(seeding_app).dispose()
