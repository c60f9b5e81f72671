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


KEY_COLUMNS = ["kid", "alg", "state", "created_at", "sign_from", "retired_at"]


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
    """Announce new keys: published in /jwks at once, signing after keys.publish_ahead_seconds.

    The keys they replace sign until then, and stay published for
    keys.retired_key_publish_seconds after, so tokens they signed still verify until they expire.
    """
    with provider_app() as app:
        settings = runtime(app).settings
        db = get_session()
        made = key_service.rotate_keys(db, key_box(app), settings.keys.publish_ahead_seconds)
        record_operator_action(db, "keys_rotated", kids=[key.kid for key in made])
        db.commit()
        ahead = settings.keys.publish_ahead_seconds
        publish_seconds = settings.keys.retired_key_publish_seconds
    for key in made:
        when = key.sign_from.isoformat() if key.sign_from else "now"
        click.echo(f"new {key.alg} key {key.kid}: published now, signing from {when}")
    click.echo(
        f"previous keys stop signing in {ahead} seconds; they stay published in /jwks for {publish_seconds} seconds after"
    )


# A kid is a base64url thumbprint and may begin with "-": read as the argument it is, never as
# an option (so no short options here, and help only as --help).
@keys.command("retire", context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
@click.argument("kid")
def keys_retire(kid: str) -> None:
    """Stop signing with KID now (say, it may have leaked). It stays published until the tokens
    it signed expire; an announced successor signs at once, or a new key is made."""
    with provider_app() as app:
        db = get_session()
        retired, successor = key_service.retire_key(db, key_box(app), kid)
        record_operator_action(
            db, "key_retired", kid=retired.kid, successor=successor.kid if successor is not None else None
        )
        db.commit()
        alg = retired.alg
    click.echo(f"retired {alg} key {kid}")
    if successor is not None:
        click.echo(f"{alg} key {successor.kid} signs from now")


@keys.command("prune")
def keys_prune() -> None:
    """Delete retired keys once every token they signed has expired."""
    with provider_app() as app:
        db = get_session()
        pruned = key_service.prune_keys(db, runtime(app).settings.tokens)
        if pruned:
            record_operator_action(db, "keys_pruned", kids=pruned)
        db.commit()
    for kid in pruned:
        click.echo(f"deleted key {kid}")
    if not pruned:
        click.echo("no retired key is past the lifetime of the tokens it signed")
