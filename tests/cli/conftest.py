"""Running `idp` in-process through click's CliRunner, against the test database and with the
same settings as the ``app`` fixture, so a test can act with the CLI and check with the app."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from idp.cli import main

ISSUER = "http://idp.test"
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


def isolated_environment(**values: str) -> dict[str, str | None]:
    """``values`` and none of the developer's own idp settings (None unsets a variable)."""
    cleared: dict[str, str | None] = {
        name: None for name in os.environ if name == "IDP_CONFIG" or (name.startswith("IDP_") and "__" in name)
    }
    return {**cleared, **values}


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str | None]:
    return isolated_environment(
        IDP_DATABASE__URL=database_url,
        IDP_SERVER__INSTANCE_PATH=str(tmp_path / "instance"),
        IDP_SERVER__SECRET_KEY=SECRET_KEY,
        IDP_SERVER__ISSUER=ISSUER,
    )


@pytest.fixture
def idp(cli_env: dict[str, str | None]) -> Callable[..., Result]:
    """``idp("clients", "list", input=..., env={...})``: click's Result, stdout and stderr apart."""

    def run(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, env={**cli_env, **(env or {})}, catch_exceptions=False)

    return run


def assert_failed(result: Result, exit_code: int, *fragments: str) -> str:
    """The command failed with ``exit_code`` and said why in exactly one line on stderr."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("idp: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def assert_succeeded(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result
