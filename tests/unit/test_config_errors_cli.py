"""Bad configuration stops the `idp` command with exit code 2 and one clear line on stderr.

Runs the installed console script in a subprocess, as an operator would, with a clean
environment: only the variables given here, no IDP_CONFIG from the caller. Every case points
the instance folder and the database at a temporary directory, and checks that nothing was
created there: start-up must stop before it touches the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def idp_command() -> str:
    """The `idp` console script of the interpreter running the tests (normally .venv/bin/idp)."""
    for candidate in (Path(sys.executable).parent / "idp", ROOT / ".venv" / "bin" / "idp"):
        if candidate.is_file():
            return str(candidate)
    raise AssertionError("no `idp` console script: install the project (pip install -e .)")


def run_idp(args: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    environ = {name: value for name, value in os.environ.items() if not name.startswith("IDP_")}
    environ.update(
        IDP_SERVER__INSTANCE_PATH=str(tmp_path / "instance"),
        IDP_DATABASE__URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
    )
    environ.update(variables)
    return subprocess.run(
        [idp_command(), *args], env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    line = lines[0]
    assert line.startswith("idp:"), line
    for text in expected:
        assert text in line, line
    return line


def assert_nothing_created(tmp_path: Path) -> None:
    assert not (tmp_path / "idp.sqlite3").exists()
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_without_https_issuer_stops_db_upgrade(tmp_path):
    result = run_idp(["db", "upgrade"], tmp_path, IDP_SERVER__DEVELOPMENT="false")
    assert_one_line_error(result, "server.issuer")
    assert_nothing_created(tmp_path)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"IDP_SERVER__DEVELOPMENT": "false", "IDP_SERVER__ISSUER": "https://login.example.test"}, "server.secret_key"),
        ({"IDP_TOKENS__ACCESS_TOKEN_TTL": "60"}, "tokens.access_token_ttl"),
        ({"IDP_TOKENS__ACCESS_TOKEN_TTL_SECONDS": "ten"}, "tokens.access_token_ttl_seconds"),
        ({"IDP_CONFIG": "/nonexistent/idp-config.toml"}, "IDP_CONFIG"),
    ],
    ids=["secret_key", "unknown_key", "wrong_type", "missing_file"],
)
def test_other_bad_configuration_stops_db_upgrade(tmp_path, variables, expected):
    result = run_idp(["db", "upgrade"], tmp_path, **variables)
    assert_one_line_error(result, expected)
    assert_nothing_created(tmp_path)


def test_invalid_toml_file_stops_db_upgrade(tmp_path):
    config = tmp_path / "idp.toml"
    config.write_text("[server\n", encoding="utf-8")
    result = run_idp(["db", "upgrade"], tmp_path, IDP_CONFIG=str(config))
    assert_one_line_error(result, "IDP_CONFIG", "not valid TOML")
    assert_nothing_created(tmp_path)
