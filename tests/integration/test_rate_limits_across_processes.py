"""With Redis storage, two `idp serve` processes share one count per client address; with
memory storage each process counts alone (the control that shows the sharing is real)."""

from __future__ import annotations

import os
import uuid

import redis

from tests.helpers.live import LiveBrowser, idp_processes
from tests.helpers.oidc import AuthorizationRequest
from tests.integration.test_lockout_concurrency import _seed

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 4


def _env(postgres_url: str, app_config: dict, storage_uri: str, prefix: str) -> dict[str, str]:
    return {
        "IDP_DATABASE__URL": postgres_url,
        "IDP_SERVER__ISSUER": "http://idp.test",
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_RATELIMIT__STORAGE_URI": storage_uri,
        "IDP_RATELIMIT__KEY_PREFIX": prefix,
        "IDP_RATELIMIT__LOGIN_PER_IP": f"{LIMIT} per minute",
        "IDP_LOGGING__LEVEL": "WARNING",
    }


def _alternating_login_statuses(base_urls: list[str], client_id: str, count: int) -> list[int]:
    """``count`` wrong-password posts from one address, alternating between the servers."""
    browser = LiveBrowser(base_urls[0])
    interaction = browser.open_login(AuthorizationRequest(client_id).url())
    token = browser.login_form_token(interaction)
    statuses = []
    for index in range(count):
        base = base_urls[index % len(base_urls)]
        # Different unknown identifiers, so the lockout never answers before the rate limit.
        response = browser.post_login(interaction, token, f"nobody{index}@example.test", "wrong guess", base_url=base)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
    return statuses


def test_redis_storage_is_shared_by_two_processes(app_config, postgres_url, tmp_path):
    _, client_id = _seed(postgres_url, app_config)
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        with idp_processes(2, _env(postgres_url, app_config, REDIS_URL, prefix), tmp_path, workers=1) as urls:
            statuses = _alternating_login_statuses(urls, client_id, LIMIT + 2)
        assert statuses == [401] * LIMIT + [429, 429]
        assert redis.Redis.from_url(REDIS_URL).keys(f"*{prefix}*"), "no counters in Redis"
    finally:
        connection = redis.Redis.from_url(REDIS_URL)
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)
        connection.close()


def test_memory_storage_counts_per_process(app_config, postgres_url, tmp_path):
    _, client_id = _seed(postgres_url, app_config)
    env = _env(postgres_url, app_config, "memory://", "memory-control")
    with idp_processes(2, env, tmp_path, workers=1) as urls:
        statuses = _alternating_login_statuses(urls, client_id, LIMIT + 2)
    assert statuses == [401] * (LIMIT + 2)
