"""/metrics under `idp serve` with several worker processes: the counts of every worker are
added up (prometheus_client's multi-process mode), and survive a worker being replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.live import IDP_SCRIPT, LiveBrowser, free_port, wait_until_up
from tests.helpers.oidc import AuthorizationRequest
from tests.integration.test_lockout_concurrency import _seed

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "scrape-token-that-is-long-enough-0123456789abcdef"
ATTEMPTS = 6


def failures_counted(base: str) -> float:
    response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.status_code
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "idp_audit_events_total" and sample.labels == {"event": "sign_in", "outcome": "failure"}:
                return sample.value
    return 0.0


def workers_of(master: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return {int(pid) for pid in children}


def test_metrics_add_up_over_workers_and_outlive_them(app_config, postgres_url, tmp_path):
    _, client_id = _seed(postgres_url, app_config)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left over from an earlier run")
    prefix = f"metrics-{uuid.uuid4().hex}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("IDP_")},
        "IDP_DATABASE__URL": postgres_url,
        "IDP_SERVER__ISSUER": "http://idp.test",
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_RATELIMIT__STORAGE_URI": REDIS_URL,
        "IDP_RATELIMIT__KEY_PREFIX": prefix,
        "IDP_METRICS__BEARER_TOKEN": TOKEN,
        "IDP_LOGGING__LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    log = (tmp_path / "serve.log").open("wb")
    master = subprocess.Popen(
        [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(base, master)
        assert not (folder / "counter_999999.db").exists()  # an earlier run's values are gone
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        # No version, not even of the server software.
        assert not any(
            character.isdigit() for character in requests.get(f"{base}/healthz", timeout=10).headers.get("Server", "")
        )

        browser = LiveBrowser(base)
        for attempt in range(ATTEMPTS):  # unknown identifiers: no lock on the way
            interaction = browser.open_login(AuthorizationRequest(client_id).url())
            token = browser.login_form_token(interaction)
            response = browser.post_login(interaction, token, f"nobody{attempt}@example.test", "wrong")
            assert response.status_code == 401
        # Whichever worker answers the scrape, it reports both workers' counts.
        assert [failures_counted(base) for _ in range(4)] == [ATTEMPTS] * 4

        # Replace every worker: the counts stay (they are in the folder, not in a process).
        before = workers_of(master)
        assert len(before) == 2
        for pid in before:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:
            now = workers_of(master)
            if len(now) == 2 and not now & before:
                break
            assert time.monotonic() < deadline, "gunicorn did not replace its workers"
            time.sleep(0.2)
        wait_until_up(base, master)
        assert failures_counted(base) == ATTEMPTS
    finally:
        master.terminate()
        master.wait(timeout=30)
        log.close()
        connection = redis.Redis.from_url(REDIS_URL)
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)
        connection.close()
