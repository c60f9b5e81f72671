"""A TOTP code is accepted once, even when the same valid code arrives twice at the same moment:
two browsers at the challenge of one member post it together, and exactly one gets in.

On PostgreSQL (what several processes share in production), against idp on real sockets:
threads against one threaded server, and two `idp serve` processes. The guarantee is the
conditional UPDATE of ``last_used_step``, not anything held in one process's memory.
"""

from __future__ import annotations

import re
import threading
from datetime import date

import pyotp
import pytest
from sqlalchemy import create_engine, text

from idp import create_app
from idp.clock import utcnow
from idp.db import get_engine
from idp.runtime import runtime
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import LiveBrowser, idp_processes, serve_in_thread
from tests.helpers.oidc import AuthorizationRequest

MEMBERS = 6
LIMITS = {"login_per_ip": "1000 per minute", "second_factor_per_ip": "1000 per minute"}


def _seed(app_config: dict, database_url: str) -> tuple[list[tuple[str, str]], str]:
    """MEMBERS members, each with an authenticator app (never used yet), and a public client.
    Returns [(email, key)] and the client id."""
    from idp.db import get_session
    from idp.models import SecondFactor
    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    seeding_app = create_app({**app_config, "database": {"url": database_url}})
    members = []
    try:
        with seeding_app.app_context():
            db = get_session()
            box = runtime(seeding_app).secrets.totp_seeds
            for n in range(MEMBERS):
                member = create_member(
                    db,
                    NewMember(
                        f"{22345678900 + n:011d}",
                        f"{3171234567890100 + n:016d}",
                        f"Member {n}",
                        date(1990, 4, 17),
                        email=f"m{n}@example.test",
                    ),
                    DEMO_PASSWORD,
                )
                seed = pyotp.random_base32()
                db.add(
                    SecondFactor(
                        member_id=member.id,
                        kind="totp",
                        secret_encrypted=box.encrypt(seed.encode()),
                        confirmed_at=utcnow(),
                    )
                )
                members.append((member.email, seed))
            client, _ = create_client(
                db,
                NewClient(
                    name="Saldo", redirect_uris=["https://rp.example.test/callback"], public=True, first_party=True
                ),
            )
            db.commit()
            return members, client.client_id
    finally:
        get_engine(seeding_app).dispose()


def _at_challenge(base_url: str, client_id: str, email: str) -> tuple[LiveBrowser, str, str]:
    """A browser past the password, at the second-factor page: (browser, post URL, CSRF token)."""
    browser = LiveBrowser(base_url)
    interaction = browser.open_login(AuthorizationRequest(client_id).url())
    logged_in = browser.post_login(interaction, browser.login_form_token(interaction), email, DEMO_PASSWORD)
    assert logged_in.status_code == 303 and logged_in.headers["Location"].endswith("/second-factor"), logged_in.text[
        :300
    ]
    page = browser.http.get(base_url + logged_in.headers["Location"], timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return browser, base_url + logged_in.headers["Location"], token


def _fire_together(attempts: list[tuple[LiveBrowser, str, str, str]]) -> list[int]:
    barrier = threading.Barrier(len(attempts))
    statuses = [0] * len(attempts)

    def post(index: int) -> None:
        browser, url, token, code = attempts[index]
        barrier.wait()
        statuses[index] = browser.http.post(
            url, data={"csrf_token": token, "code": code}, allow_redirects=False, timeout=60
        ).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def _run(base_urls: list[str], client_id: str, members: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Two browsers per member (on different servers when there are two) post the same code."""
    attempts = []
    for email, seed in members:
        first = _at_challenge(base_urls[0], client_id, email)
        second = _at_challenge(base_urls[-1], client_id, email)
        code = pyotp.TOTP(seed).at(utcnow())
        attempts += [(*first, code), (*second, code)]
    statuses = _fire_together(attempts)
    return [(statuses[i], statuses[i + 1]) for i in range(0, len(statuses), 2)]


def _accepted_steps(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT COUNT(*) FROM audit_events WHERE event = 'second_factor' AND outcome = 'success'")
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.settings(ratelimit=LIMITS, logging={"level": "WARNING"})
def test_same_code_twice_at_once_in_one_threaded_server(app_config, postgres_url):
    members, client_id = _seed(app_config, postgres_url)
    live_app = create_app({**app_config, "database": {"url": postgres_url}})
    try:
        with serve_in_thread(live_app) as base_url:
            pairs = _run([base_url], client_id, members)
    finally:
        get_engine(live_app).dispose()
    for pair in pairs:
        assert sorted(pair) == [303, 401], pairs
    assert _accepted_steps(postgres_url) == MEMBERS


def test_same_code_twice_at_once_across_two_server_processes(app_config, postgres_url, tmp_path):
    members, client_id = _seed(app_config, postgres_url)
    env = {
        "IDP_DATABASE__URL": postgres_url,
        "IDP_SERVER__ISSUER": "http://idp.test",
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_RATELIMIT__LOGIN_PER_IP": LIMITS["login_per_ip"],
        "IDP_RATELIMIT__SECOND_FACTOR_PER_IP": LIMITS["second_factor_per_ip"],
        "IDP_LOGGING__LEVEL": "WARNING",
    }
    with idp_processes(2, env, tmp_path) as base_urls:
        pairs = _run(base_urls, client_id, members)
    for pair in pairs:
        assert sorted(pair) == [303, 401], pairs
    assert _accepted_steps(postgres_url) == MEMBERS
