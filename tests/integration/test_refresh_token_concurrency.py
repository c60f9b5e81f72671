"""One refresh token used twice at the same moment: exactly one use gets new tokens.

Against idp on real sockets: threads against one threaded server (SQLite and PostgreSQL),
and two `idp serve` processes sharing PostgreSQL. The guarantee is the conditional UPDATE
(``used_at IS NULL``) of idp.services.refresh_tokens.claim, not anything in one process's memory.
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
import requests
from sqlalchemy import create_engine, text

from idp import create_app
from idp.clock import utcnow
from idp.db import get_engine
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import idp_processes, serve_in_thread

TOKENS = 6
LIMITS = {"token_per_client": "1000 per minute"}


def _seed(app_config: dict, database_url: str) -> tuple[str, str, list[str]]:
    """A confidential client allowed to refresh and TOKENS refresh tokens of one member (each
    the start of its own family). Returns client id, secret and the tokens."""
    from idp.db import get_session
    from idp.models.authentication import AuthenticationContext
    from idp.services import refresh_tokens
    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    seeding_app = create_app({**app_config, "database": {"url": database_url}})
    try:
        with seeding_app.app_context():
            db = get_session()
            member = create_member(
                db, NewMember("32345678900", "3171234567890199", "Member", date(1990, 4, 17)), DEMO_PASSWORD
            )
            client, secret = create_client(
                db,
                NewClient(
                    name="Saldo",
                    redirect_uris=["https://rp.example.test/callback"],
                    scopes=["openid", "offline_access"],
                    grant_types=["authorization_code", "refresh_token"],
                ),
            )
            tokens = [
                refresh_tokens.issue(
                    db,
                    client_id=client.client_id,
                    member_id=member.id,
                    scope="openid offline_access",
                    audience=None,
                    authentication=AuthenticationContext(auth_time=utcnow(), acr="1", amr=("pwd",), sid=f"sid-{n}"),
                    lifetimes=refresh_tokens.Lifetimes(3600, 7200),
                )[0]
                for n in range(TOKENS)
            ]
            db.commit()
            return client.client_id, secret, tokens
    finally:
        get_engine(seeding_app).dispose()


def _race(base_urls: list[str], client_id: str, secret: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Each token posted twice at once (to two servers when there are two)."""
    attempts = [(base_urls[index % len(base_urls)], token) for token in tokens for index in range(2)]
    barrier = threading.Barrier(len(attempts))
    statuses = [0] * len(attempts)

    def post(index: int) -> None:
        base_url, token = attempts[index]
        session = requests.Session()
        barrier.wait()
        statuses[index] = session.post(
            f"{base_url}/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=(client_id, secret),
            timeout=60,
        ).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return [(statuses[i], statuses[i + 1]) for i in range(0, len(statuses), 2)]


def _live_refresh_tokens(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL")
            ).scalar_one()
    finally:
        engine.dispose()


def _check(pairs: list[tuple[int, int]], database_url: str) -> None:
    for pair in pairs:
        assert sorted(pair) == [200, 400], pairs
    # The loser presented a rotated token: reuse, so each family was revoked, the winner's
    # new token included. Nothing of any family is left usable.
    assert _live_refresh_tokens(database_url) == 0


@pytest.mark.settings(ratelimit=LIMITS, logging={"level": "WARNING"})
def test_one_token_twice_at_once_in_one_threaded_server(app_config, database_url):
    client_id, secret, tokens = _seed(app_config, database_url)
    live_app = create_app({**app_config, "database": {"url": database_url}})
    try:
        with serve_in_thread(live_app) as base_url:
            pairs = _race([base_url], client_id, secret, tokens)
    finally:
        get_engine(live_app).dispose()
    _check(pairs, database_url)


@pytest.mark.settings(ratelimit=LIMITS, logging={"level": "WARNING"})
def test_one_token_twice_at_once_on_postgresql_in_one_threaded_server(app_config, postgres_url):
    client_id, secret, tokens = _seed(app_config, postgres_url)
    live_app = create_app({**app_config, "database": {"url": postgres_url}})
    try:
        with serve_in_thread(live_app) as base_url:
            pairs = _race([base_url], client_id, secret, tokens)
    finally:
        get_engine(live_app).dispose()
    _check(pairs, postgres_url)


def test_one_token_twice_at_once_across_two_server_processes(app_config, postgres_url, tmp_path):
    client_id, secret, tokens = _seed(app_config, postgres_url)
    env = {
        "IDP_DATABASE__URL": postgres_url,
        "IDP_SERVER__ISSUER": "http://idp.test",
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_RATELIMIT__TOKEN_PER_CLIENT": LIMITS["token_per_client"],
        "IDP_LOGGING__LEVEL": "WARNING",
    }
    with idp_processes(2, env, tmp_path) as base_urls:
        pairs = _race(base_urls, client_id, secret, tokens)
    _check(pairs, postgres_url)
