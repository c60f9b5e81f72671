"""`idp tokens`: housekeeping of issued tokens."""

from __future__ import annotations

import click

from idp.cli.base import provider_app, record_operator_action
from idp.cli.main_group import main
from idp.db import get_session
from idp.services import refresh_tokens


@main.group()
def tokens() -> None:
    """Issued refresh and access tokens."""


@tokens.command("purge")
def tokens_purge() -> None:
    """Delete records of tokens that can no longer be used: refresh tokens whose chain passed
    tokens.refresh_token_absolute_seconds, access tokens past their expiry. Safe to run often
    (from cron, say)."""
    with provider_app():
        db = get_session()
        refresh, access = refresh_tokens.purge_expired(db)
        record_operator_action(db, "tokens_purged", refresh_tokens=refresh, access_tokens=access)
        db.commit()
    click.echo(f"deleted {refresh} refresh tokens and {access} access-token records")
