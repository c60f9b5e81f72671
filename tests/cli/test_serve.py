"""`idp serve`: the real console script under gunicorn, reached over a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.conftest import ISSUER

IDP_SCRIPT = Path(sys.executable).parent / "idp"
STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_env(cli_env: dict[str, str | None], **changes: str) -> dict[str, str]:
    merged = {**os.environ, **cli_env, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def wait_until_up(base_url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"idp serve exited with {server.returncode}")
        try:
            if requests.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
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
            [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
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
        [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "idp: database: not migrated yet; run `idp db upgrade`\n"
    assert result.stdout == ""


def test_serve_gives_gunicorn_the_bind_and_workers(idp, monkeypatch):
    from idp import cli

    started = []
    monkeypatch.setattr(cli.ProviderServer, "run", lambda server: started.append(server.cfg))

    result = idp("serve", "--bind", "127.0.0.1:5999", "--workers", "3")

    assert result.exit_code == 0, result.output
    (config,) = started
    assert config.bind == ["127.0.0.1:5999"]
    assert config.workers == 3
    assert config.control_socket_disable is True
    assert config.forwarded_allow_ips == []


def test_serve_defaults(idp, monkeypatch):
    from idp import cli

    started = []
    monkeypatch.setattr(cli.ProviderServer, "run", lambda server: started.append(server.cfg))
    assert idp("serve").exit_code == 0
    assert started[0].bind == ["127.0.0.1:5000"] and started[0].workers == 2


def test_serve_refuses_zero_workers(idp):
    result = idp("serve", "--workers", "0")
    assert result.exit_code == 2 and "--workers" in result.stderr
