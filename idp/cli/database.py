"""`idp db`: the schema (Alembic)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import make_url

from idp import migrate
from idp.cli.base import checked_settings
from idp.cli.main_group import main
from idp.db import current_revision, make_engine


@main.group("db")
def database() -> None:
    """The database schema."""


@database.command("upgrade")
def database_upgrade() -> None:
    """Migrate the database to the code's revision. Safe to repeat.

    Works on an empty database: this is how one is made.
    """
    url = checked_settings().database_url
    _make_sqlite_folder(url)
    before = _revision_of(url)
    migrate.upgrade(url)
    after = _revision_of(url)
    if before == after:
        click.echo(f"database already at revision {after} (head)")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after} (head)")


def _make_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (the instance folder on a fresh checkout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _revision_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()
