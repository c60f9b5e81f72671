"""`idp keys`: the signing keys."""

from __future__ import annotations

import click

from idp.cli.base import echo_json, echo_table, json_option, key_box, provider_app, record_operator_action
from idp.cli.main_group import main
from idp.db import get_session
from idp.runtime import runtime
from idp.services import keys as key_service


@main.group()
def keys() -> None:
    """Signing keys for ID tokens and access tokens."""


KEY_COLUMNS = ["kid", "alg", "state", "created_at", "retired_at"]


@keys.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List signing keys, newest first (public facts only, never key material)."""
    with provider_app():
        described = [key_service.describe(key) for key in key_service.list_keys(get_session())]
    if as_json:
        echo_json(described)
    else:
        echo_table(described, KEY_COLUMNS, empty="no signing keys yet (`idp keys ensure` makes them)")


@keys.command("ensure")
def keys_ensure() -> None:
    """Make an active key for each algorithm that has none. Safe to repeat."""
    with provider_app() as app:
        db = get_session()
        made = key_service.ensure_keys(db, key_box(app))
        db.commit()
    for key in made:
        click.echo(f"created {key.alg} key {key.kid}")
    if not made:
        click.echo("signing keys already present")


@keys.command("rotate")
def keys_rotate() -> None:
    """Retire the active keys and make new ones.

    Retired keys stay in /jwks for keys.retired_key_publish_seconds, so tokens they signed
    still verify until they expire.
    """
    with provider_app() as app:
        db = get_session()
        made = key_service.rotate_keys(db, key_box(app))
        record_operator_action(db, "keys_rotated", kids=[key.kid for key in made])
        db.commit()
        publish_seconds = runtime(app).settings.keys.retired_key_publish_seconds
    for key in made:
        click.echo(f"new active {key.alg} key {key.kid}")
    click.echo(f"previous keys retired; they stay published in /jwks for {publish_seconds} seconds")
