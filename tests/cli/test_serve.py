"""`idp serve`: the real console script under gunicorn, reached over a socket; and what it gives
gunicorn from the [serve] settings and its options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.conftest import ISSUER, assert_failed
from tests.helpers.tls import self_signed_certificate

IDP_SCRIPT = Path(sys.executable).parent / "idp"
STARTUP_SECONDS = 20
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    from tests.helpers.live import free_port as port

    return port()


def process_env(cli_env: dict[str, str | None], **changes: str) -> dict[str, str]:
    merged = {**os.environ, **cli_env, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def wait_until_up(base_url: str, server: subprocess.Popen, **request_options) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"idp serve exited with {server.returncode}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=2, **request_options).status_code == 200:
                return
        except requests.RequestException:
            # Not listening yet, or too busy to answer (a TLS handshake on a loaded machine).
            pass
        time.sleep(0.2)
    raise AssertionError(f"idp serve did not answer within {STARTUP_SECONDS} s")


@pytest.fixture
def served(cli_env, tmp_path: Path):
    """`idp serve` on a free port; yields its base URL; stopped (SIGTERM, as Ctrl-C would) after."""
    port = free_port()
    log = tmp_path / "serve.log"
    with (
        log.open("wb") as output,
        subprocess.Popen(
            [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}"],
            env=process_env(cli_env),
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            try:
                wait_until_up(f"http://127.0.0.1:{port}", server)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{log.read_text()}") from None
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()
    # Every line it wrote, gunicorn's own included, is a JSON object.
    lines = log.read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines), lines


def test_serve_answers_health_and_discovery(served):
    with requests.Session() as http:
        health = http.get(f"{served}/health", timeout=5)
        discovery = http.get(f"{served}/.well-known/openid-configuration", timeout=5)
        jwks = http.get(f"{served}/jwks", timeout=5)

    assert health.json() == {"status": "ok"}
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == ISSUER
    assert discovery.json()["jwks_uri"] == f"{ISSUER}/jwks"
    assert jwks.status_code == 200 and jwks.json()["keys"]


def test_serve_refuses_an_unmigrated_database_before_gunicorn_starts(cli_env, tmp_path: Path):
    env = process_env(cli_env, IDP_DATABASE__URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    result = subprocess.run(
        [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "idp: database: not migrated yet; run `idp db upgrade`\n"
    assert result.stdout == ""


def test_serve_serves_https_itself_with_the_configured_certificate(cli_env, tmp_path: Path):
    certificate, key = self_signed_certificate(tmp_path)
    port = free_port()
    config = tmp_path / "idp.toml"
    config.write_text(f'[serve]\nbind = "127.0.0.1:{port}"\ncertfile = "{certificate}"\nkeyfile = "{key}"\n')
    log = tmp_path / "serve.log"
    with (
        log.open("wb") as output,
        subprocess.Popen(
            [str(IDP_SCRIPT), "serve"],
            env=process_env(cli_env, IDP_CONFIG=str(config)),
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            try:
                wait_until_up(f"https://127.0.0.1:{port}", server, verify=str(certificate))
            except AssertionError as error:
                raise AssertionError(f"{error}\n{log.read_text()}") from None
            ready = requests.get(f"https://127.0.0.1:{port}/readyz", verify=str(certificate), timeout=5)
            assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
            with pytest.raises(requests.ConnectionError):  # not plain http
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        finally:
            server.terminate()
            server.wait(timeout=30)


# --- what gunicorn is given ----------------------------------------------------------------------


@pytest.fixture
def started(monkeypatch, tmp_path: Path):
    """The gunicorn configuration `idp serve` would run with (gunicorn itself is not started)."""
    from idp import cli

    configs = []
    monkeypatch.setattr(cli.ProviderServer, "run", lambda server: configs.append(server.cfg))
    # Named here, so the command does not set it in this test process for good.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    return configs


def test_serve_takes_bind_workers_threads_and_timeouts_from_the_settings(idp, started, tmp_path: Path):
    certificate, key = self_signed_certificate(tmp_path)
    config = tmp_path / "idp.toml"
    config.write_text(
        "[serve]\n"
        'bind = "0.0.0.0:8000"\n'
        "workers = 3\nthreads = 8\n"
        "timeout_seconds = 45\ngraceful_timeout_seconds = 20\nkeepalive_seconds = 75\n"
        f'certfile = "{certificate}"\nkeyfile = "{key}"\n'
        "[ratelimit]\n"
        f'storage_uri = "{REDIS_URL}"\n'
    )

    result = idp("serve", env={"IDP_CONFIG": str(config)})

    assert result.exit_code == 0, result.output
    (gunicorn,) = started
    assert gunicorn.bind == ["0.0.0.0:8000"]
    assert (gunicorn.workers, gunicorn.threads, gunicorn.worker_class_str) == (3, 8, "gthread")
    assert (gunicorn.timeout, gunicorn.graceful_timeout, gunicorn.keepalive) == (45, 20, 75)
    assert (gunicorn.certfile, gunicorn.keyfile) == (str(certificate), str(key))
    assert gunicorn.control_socket_disable is True
    assert gunicorn.forwarded_allow_ips == []


def test_the_options_override_the_settings(idp, started, tmp_path: Path):
    config = tmp_path / "idp.toml"
    config.write_text(f'[serve]\nbind = "0.0.0.0:8000"\nworkers = 4\n[ratelimit]\nstorage_uri = "{REDIS_URL}"\n')

    result = idp(
        "serve", "--bind", "127.0.0.1:5999", "--workers", "2", "--threads", "1", env={"IDP_CONFIG": str(config)}
    )

    assert result.exit_code == 0, result.output
    (gunicorn,) = started
    assert gunicorn.bind == ["127.0.0.1:5999"]
    assert (gunicorn.workers, gunicorn.threads, gunicorn.worker_class_str) == (2, 1, "sync")


def test_serve_defaults(idp, started):
    assert idp("serve").exit_code == 0
    (gunicorn,) = started
    assert gunicorn.bind == ["127.0.0.1:5000"]
    # Sync workers: the least CPU and memory per sign-in (docs/performance.md).
    assert (gunicorn.workers, gunicorn.threads, gunicorn.worker_class_str) == (1, 1, "sync")
    assert (gunicorn.timeout, gunicorn.keepalive) == (30, 5)
    assert gunicorn.certfile is None


def test_several_workers_need_shared_rate_limit_storage(idp, started, tmp_path: Path):
    line = assert_failed(idp("serve", "--workers", "2"), 2, "ratelimit.storage_uri", "memory://", "redis://")
    assert "2 worker processes" in line
    # The same rule whether the number comes from the option or the settings.
    assert_failed(idp("serve", env={"IDP_SERVE__WORKERS": "3"}), 2, "3 worker processes")
    # One worker may count in memory (its threads share it); with the limits off nothing counts.
    assert idp("serve", "--workers", "1", env={"IDP_SERVE__WORKERS": "3"}).exit_code == 0
    assert idp("serve", "--workers", "2", env={"IDP_RATELIMIT__ENABLED": "false"}).exit_code == 0
    assert idp("serve", "--workers", "2", env={"IDP_RATELIMIT__STORAGE_URI": REDIS_URL}).exit_code == 0
    assert len(started) == 3


def test_tls_needs_both_files_and_readable_ones(idp, started, tmp_path: Path):
    certificate, _key = self_signed_certificate(tmp_path)
    assert_failed(idp("serve", env={"IDP_SERVE__CERTFILE": str(certificate)}), 2, "serve.keyfile", "both")
    missing = tmp_path / "no-such.key"
    result = idp("serve", env={"IDP_SERVE__CERTFILE": str(certificate), "IDP_SERVE__KEYFILE": str(missing)})
    assert_failed(result, 2, "serve.keyfile", "cannot read", str(missing))
    assert started == []


@pytest.mark.parametrize("bind", ["localhost", "127.0.0.1:0", "127.0.0.1:99999", ":8000", "unix:"])
def test_a_bind_address_that_is_not_one_is_refused(idp, started, bind):
    assert_failed(idp("serve", "--bind", bind), 2, "serve.bind")


def test_serve_refuses_zero_workers_as_a_usage_mistake(idp):
    result = idp("serve", "--workers", "0")
    assert result.exit_code == 64 and "--workers" in result.stderr
