"""What every command shares: help without configuration, one-line errors, settings sources."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from idp.cli import main
from tests.cli.conftest import (
    ISSUER,
    SECRET_KEY,
    assert_failed,
    assert_succeeded,
    isolated_environment,
)


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


@pytest.mark.parametrize("path", command_paths(main), ids=lambda path: " ".join(path) or "idp")
def test_every_command_has_help_even_when_the_configuration_is_broken(path, tmp_path: Path):
    env = isolated_environment(IDP_CONFIG=str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(main, [*path, "--help"], env=env, catch_exceptions=False)
    assert_succeeded(result)
    assert result.stdout.startswith("Usage: idp")


def test_json_is_offered_wherever_something_is_created_listed_or_shown():
    for path in [
        ("keys", "list"),
        ("clients", "create"),
        ("clients", "list"),
        ("clients", "show"),
        ("members", "create"),
        ("members", "show"),
    ]:
        command = main
        for name in path:
            command = command.commands[name]
        assert "--json" in {opt for param in command.params for opt in param.opts}, path


def test_an_unknown_setting_is_one_line_and_exit_status_2(idp, tmp_path: Path):
    config = tmp_path / "idp.toml"
    config.write_text('[server]\ncolour = "blue"\n')
    result = idp("keys", "list", env={"IDP_CONFIG": str(config)})
    assert_failed(result, 2, "server.colour", "unknown setting")


def test_a_missing_or_broken_config_file_is_one_line(idp, tmp_path: Path):
    assert_failed(idp("clients", "list", env={"IDP_CONFIG": str(tmp_path / "nope.toml")}), 2, "does not exist")
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nissuer = \n")
    assert_failed(idp("db", "upgrade", env={"IDP_CONFIG": str(broken)}), 2, "not valid TOML")


def test_an_unsafe_setting_from_the_environment_is_one_line(idp):
    result = idp("members", "show", "12345678901", env={"IDP_SERVER__SECRET_KEY": "short"})
    assert_failed(result, 2, "server.secret_key", "at least 32 characters")


def test_settings_come_from_the_idp_config_file(database_url: str, tmp_path: Path):
    config = tmp_path / "idp.toml"
    config.write_text(
        "[server]\n"
        f'issuer = "{ISSUER}"\n'
        f'secret_key = "{SECRET_KEY}"\n'
        f'instance_path = "{tmp_path / "instance"}"\n'
        "[database]\n"
        f'url = "{database_url}"\n'
    )
    env = isolated_environment(IDP_CONFIG=str(config))
    made = assert_succeeded(CliRunner().invoke(main, ["keys", "ensure"], env=env, catch_exceptions=False))
    assert made.stdout.count("created") == 2
    listed = assert_succeeded(CliRunner().invoke(main, ["keys", "list"], env=env, catch_exceptions=False))
    assert listed.stdout.count("signing") == 2


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "list"),
        ("keys", "rotate"),
        ("clients", "list"),
        ("clients", "create", "--name", "X", "--redirect-uri", "https://rp.example.test/cb"),
        ("members", "show", "12345678901"),
        ("demo", "seed"),
    ],
    ids=" ".join,
)
def test_an_unmigrated_database_says_to_run_db_upgrade(idp, tmp_path: Path, args):
    empty = tmp_path / "empty.sqlite3"
    result = idp(*args, env={"IDP_DATABASE__URL": f"sqlite:///{empty}"})
    assert_failed(result, 2, "not migrated", "run `idp db upgrade`")


def test_an_unreachable_database_is_one_line(idp, tmp_path: Path):
    unreachable = f"sqlite:///{tmp_path / 'no-such-folder' / 'idp.sqlite3'}"
    result = idp("clients", "list", env={"IDP_DATABASE__URL": unreachable})
    assert_failed(result, 2, "database:", "unable to open database file")


@pytest.mark.parametrize(
    "url, fragment",
    [("not a url", "Could not parse"), ("nosuchdb://host/idp", "Can't load plugin")],
)
@pytest.mark.parametrize("args", [("db", "upgrade"), ("clients", "list")], ids=" ".join)
def test_an_unusable_database_url_is_a_configuration_error(idp, url, fragment, args):
    assert_failed(idp(*args, env={"IDP_DATABASE__URL": url}), 2, "database.url:", fragment)
