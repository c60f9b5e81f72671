"""`idp db`: the schema (Alembic)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import make_url

from idp import migrate
from idp.cli.base import EXIT_CONFIG, OneLineFailure, checked_settings, echo_json, json_option
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


@database.command("current")
@json_option
def database_current(as_json: bool) -> None:
    """Print the database's revision and whether it is the code's (exit status 2 when it is not:
    run `idp db upgrade`)."""
    url = checked_settings().database_url
    current, head = _revision_of(url), migrate.head_revision()
    if as_json:
        echo_json({"revision": current, "head": head, "current": current == head})
        if current != head:
            raise SystemExit(EXIT_CONFIG)
        return
    if current is None:
        raise OneLineFailure("database: not migrated yet; run `idp db upgrade`", EXIT_CONFIG)
    if current != head:
        raise OneLineFailure(f"database: at revision {current}, code expects {head}; run `idp db upgrade`", EXIT_CONFIG)
    click.echo(f"database at revision {current} (head)")


@database.command("purge")
@json_option
def database_purge(as_json: bool) -> None:
    """Delete what is no longer kept: expired interactions, sessions, codes and links,
    lockout counters of identifiers that name no account, finished queue jobs and audit
    events past [retention]. Each server process does the same every
    retention.purge_interval_seconds; safe to run at any time."""
    from idp.cli.base import provider_app
    from idp.db import get_session
    from idp.runtime import runtime
    from idp.services import retention

    with provider_app() as app:
        counts = retention.purge(get_session(), runtime(app).settings)
    if as_json:
        echo_json(counts)
        return
    click.echo("purged " + ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items()))
