"""The package as the Docker image installs it: the wheel built by scripts/build_wheelhouse.sh,
installed by scripts/install_wheelhouse.sh into a fresh virtualenv (not editable, the pinned
versions, no package index), run from outside the checkout. Then the image's own ENV, CMD and
HEALTHCHECK, read from the Dockerfile, are run against that virtualenv, since no Docker engine
runs here.

One test, because the wheelhouse and virtualenv cost most of its time (about 40 s; pip's cache
makes the dependency wheels local copies).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import requests

from tests.helpers.live import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SECRET_KEY = "wheel-test-secret-key-long-enough-0123456789"


def _run(command: list[str], env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without idp settings or a path back into the checkout."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDP_") and name != "PYTHONPATH"}
    return {**env, **extra}


def _final_stage() -> list[str]:
    """The Dockerfile's instructions after its last FROM, continuation lines joined."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        instructions.append(" ".join((current + stripped).split()))
        current = ""
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.upper().startswith("FROM "))
    return instructions[last_from + 1 :]


def _image_environment() -> dict[str, str]:
    env = {}
    for instruction in _final_stage():
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _exec_form(keyword: str) -> list[str]:
    """The JSON array of the last CMD (or HEALTHCHECK's CMD) of the final stage."""
    found = None
    for instruction in _final_stage():
        if instruction.upper().startswith(keyword.upper() + " "):
            found = json.loads(instruction[instruction.index("[") :])
    assert found, f"no {keyword} in the Dockerfile's final stage"
    return found


def _in_venv(venv: Path, command: list[str]) -> list[str]:
    """A command of the image, resolved in the virtualenv (the image puts its bin first on PATH)."""
    return [str(venv / "bin" / command[0]), *command[1:]]


def test_the_wheel_installed_in_a_fresh_virtualenv_migrates_serves_and_refuses_to_start_unconfigured(tmp_path):
    wheelhouse, venv, outside = tmp_path / "wheelhouse", tmp_path / "venv", tmp_path / "elsewhere"
    outside.mkdir()
    env = _clean_environment(PYTHON=sys.executable)

    built = _run(["sh", str(ROOT / "scripts" / "build_wheelhouse.sh"), str(wheelhouse)], env, ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    assert len(list(wheelhouse.glob("idp-*.whl"))) == 1
    installed = _run(["sh", str(ROOT / "scripts" / "install_wheelhouse.sh"), str(venv), str(wheelhouse)], env, outside)
    assert installed.returncode == 0, installed.stderr[-2000:]

    # Imported from the virtualenv, not the checkout, at the pinned versions.
    probe = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import idp, flask, importlib.metadata as m; print(idp.__file__); print(m.version('flask'))",
        ],
        env,
        outside,
    )
    location, flask_version = probe.stdout.split()
    assert Path(location).is_relative_to(venv), location
    assert f"flask=={flask_version}" in (ROOT / "constraints.txt").read_text().lower()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_env = _clean_environment(
        IDP_SERVER__ISSUER=base_url,
        IDP_SERVER__SECRET_KEY=SECRET_KEY,
        IDP_SERVER__INSTANCE_PATH=str(tmp_path / "instance"),
        IDP_DATABASE__URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        IDP_LOGGING__LEVEL="WARNING",
    )
    idp = str(venv / "bin" / "idp")

    upgraded = _run([idp, "db", "upgrade"], server_env, outside)
    assert upgraded.returncode == 0 and "upgraded from empty" in upgraded.stdout, upgraded.stdout + upgraded.stderr

    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [idp, "serve", "--bind", f"127.0.0.1:{port}"],
        env=server_env,
        cwd=outside,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(base_url, server)

        discovery = requests.get(f"{base_url}/.well-known/openid-configuration", timeout=10)
        assert discovery.status_code == 200 and discovery.json()["issuer"] == base_url

        # A page: a template of the wheel, in Indonesian from the wheel's compiled catalogue.
        page = requests.get(f"{base_url}/recovery/forgot", headers={"Accept-Language": "id"}, timeout=10)
        assert page.status_code == 200 and 'data-testid="forgot-form"' in page.text
        assert "Lupa kata sandi?" in page.text
        stylesheet = requests.get(f"{base_url}/static/idp.css", timeout=10)
        assert stylesheet.status_code == 200 and stylesheet.headers["Content-Type"].startswith("text/css")

        # The image's HEALTHCHECK, pointed at this server and at a port where nothing listens.
        healthcheck = _in_venv(venv, _exec_form("HEALTHCHECK"))
        healthy = _run(healthcheck, {**server_env, "HEALTHCHECK_URL": f"{base_url}/healthz"}, outside, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
        dead = _run(
            healthcheck,
            {**server_env, "HEALTHCHECK_URL": f"http://127.0.0.1:{free_port()}/healthz"},
            outside,
            timeout=30,
        )
        assert dead.returncode != 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    # The image's CMD with the image's ENV and nothing else: production mode refuses to start
    # and names, in one line, everything it lacks.
    image_env = _image_environment()
    assert image_env["IDP_SERVER__DEVELOPMENT"] == "false"
    assert image_env["HEALTHCHECK_URL"].endswith("/healthz")
    # The CMD takes where to listen and how many workers from the settings, not options.
    assert _exec_form("CMD") == ["idp", "serve"]
    assert (image_env["IDP_SERVE__BIND"], image_env["IDP_SERVE__WORKERS"]) == ("0.0.0.0:8000", "4")
    settings = {name: value for name, value in image_env.items() if name.startswith("IDP_")}
    unconfigured = _clean_environment(**{**settings, "IDP_SERVER__INSTANCE_PATH": str(tmp_path / "image-instance")})
    refused = _run(_in_venv(venv, _exec_form("CMD")), unconfigured, outside, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    for key in ("server.issuer", "server.secret_key", "database.url", "mail.backend"):
        assert key in lines[0], lines[0]
    assert lines[0].startswith("idp: ")
