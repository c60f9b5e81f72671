"""What every `idp` command shares: one-line failures with their exit codes, the configured app
in a context, the audit record of an operator's change, and output as text or JSON."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from idp import ConfigError, create_app, ensure_schema_current
from idp.db import get_engine
from idp.errors import IdpError, ValidationFailed
from idp.runtime import runtime
from idp.security.crypto import SecretBox
from idp.services import audit
from idp.settings import Settings, load_settings

EXIT_BAD_INPUT = 1
EXIT_CONFIG = 2
# Usage mistakes (an unknown option, a missing argument) apart from configuration problems,
# so a script can tell "I called it wrong" from "the installation is wrong" (sysexits EX_USAGE).
EXIT_USAGE = 64


# --- errors: one line, no traceback -------------------------------------------------------


class OneLineFailure(click.ClickException):
    """Printed as ``idp: <message>`` on stderr; click then exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        # Collapsed to one line whatever the source wrote, so scripts can rely on it.
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"idp: {self.format_message()}", err=True)


class UsageExitCode:
    """Usage mistakes exit with ``EXIT_USAGE`` instead of click's 2 (which is configuration's)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)  # type: ignore[misc]
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE
            raise


class OperatorCommand(UsageExitCode, click.Command):
    """A command whose expected failures become ``OneLineFailure``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE
            raise
        except ConfigError as error:  # includes DatabaseNotReady
            raise OneLineFailure(str(error), EXIT_CONFIG) from None
        except ValidationFailed as error:
            raise OneLineFailure(f"{_option_named(ctx, error.field)} {error.problem}", EXIT_BAD_INPUT) from None
        except IdpError as error:
            raise OneLineFailure(error.detail or error.message_id, EXIT_BAD_INPUT) from None
        except OperationalError as error:
            # Mostly an unreachable database or wrong credentials: a configuration matter.
            raise OneLineFailure(f"database: {_first_line(error.orig or error)}", EXIT_CONFIG) from None
        except OSError as error:  # a file named on the command line cannot be written
            raise OneLineFailure(str(error), EXIT_BAD_INPUT) from None


class OperatorGroup(UsageExitCode, click.Group):
    command_class = OperatorCommand
    group_class = type  # subgroups are OperatorGroups too, so their commands are covered

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # an unknown command
            error.exit_code = EXIT_USAGE
            raise


def _option_named(ctx: click.Context, field: str) -> str:
    """The service names the field at fault; say it as the option the operator typed."""
    for param in ctx.command.params:
        if param.name == field and isinstance(param, click.Option):
            return param.opts[0]
    return field


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --- the app and its database -------------------------------------------------------------


def checked_settings(overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    """The settings, with a database URL SQLAlchemy can use (else a ConfigError, not a traceback)."""
    settings = load_settings(overrides)
    try:
        make_url(settings.database_url).get_dialect()
    except ArgumentError as error:  # unparseable, or an unknown dialect
        raise ConfigError(f"database.url: {error}") from None
    return settings


@contextmanager
def provider_app(overrides: dict[str, dict[str, Any]] | None = None) -> Iterator[Flask]:
    """The configured app (``overrides`` on top of the settings, as command-line options are),
    its database checked, inside an app context. Its engine is disposed afterwards, so no
    connection outlives the command."""
    checked_settings(overrides)
    # The schema check is ours rather than create_app's so that, when it fails, the engine
    # create_app made is still in hand to dispose of.
    # No worker thread: a command that queues mail delivers it itself before it ends
    # (idp.services.outbound.drain), or leaves it to the servers' workers.
    app = create_app({**(overrides or {}), "outbound": {"worker": False}}, check_schema=False)
    try:
        ensure_schema_current(app)
        with app.app_context():
            yield app
    finally:
        get_engine(app).dispose()


def key_box(app: Flask) -> SecretBox:
    return runtime(app).secrets.signing_keys


def record_operator_action(db: Session, event: str, **detail: Any) -> None:
    """Changes made from the command line belong in the audit trail like any other."""
    audit.record(db, event, "success", actor=operator_name(), **detail)


def operator_name() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # no login name in some containers; the event still counts
        return "cli"


# --- output ------------------------------------------------------------------------------

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def echo_record(record: dict[str, Any]) -> None:
    """``field: value`` lines, aligned."""
    width = max(len(name) for name in record) + 1
    for name, value in record.items():
        click.echo(f"{name + ':':<{width}} {_text(value)}")


def echo_table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[_text(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    for line in [[column.upper() for column in columns], *cells]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _text(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, list):  # scopes, URIs: none contains a space
        return " ".join(str(item) for item in value)
    return str(value)
