"""`idp demo`: the demo installation behind `make run`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from idp.cli.base import EXIT_BAD_INPUT, OneLineFailure, key_box, provider_app
from idp.cli.main_group import main
from idp.db import get_session
from idp.runtime import runtime
from idp.services import demo as demo_service


@main.group()
def demo() -> None:
    """The demo installation used by `make run`."""


@demo.command("seed")
@click.option(
    "--portal-env",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Env file for the benefits portal. Default: <instance_path>/benefits_portal.env.",
)
@click.option("--reset-password", is_flag=True, help="Give an existing demo member a new password.")
def demo_seed(portal_env: Path | None, reset_password: bool) -> None:
    """Make the signing keys, the demo member and the benefits portal's client, keeping
    whatever already exists, and write the portal's client credentials to its env file."""
    with provider_app() as app:
        settings = runtime(app).settings
        env_path = portal_env or demo_service.default_portal_env_path(settings.server.instance_path)
        with env_file_errors(env_path, "read"):
            secret_on_file = demo_service.read_env_file(env_path).get(demo_service.PORTAL_SECRET_VARIABLE)
        db = get_session()
        seeded = demo_service.seed(db, key_box(app), secret_on_file, reset_password)
        db.commit()
        # Should this fail, the next seed with a writable file issues a fresh secret: nothing to undo.
        with env_file_errors(env_path, "write"):
            demo_service.write_env_file(env_path, demo_service.portal_env(settings.server.issuer, seeded.portal))
    _echo_demo(seeded, env_path)


@contextmanager
def env_file_errors(path: Path, action: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise OneLineFailure(f"cannot {action} {path}: {error.strerror}", EXIT_BAD_INPUT) from None


def _echo_demo(seeded: demo_service.DemoSeed, env_path: Path) -> None:
    member, portal = seeded.member, seeded.portal
    click.echo(f"signing keys: {'created ' + str(len(seeded.keys_created)) if seeded.keys_created else 'present'}")
    client_state = "registered" if portal.created else "secret reset" if portal.secret_changed else "unchanged"
    click.echo(f"portal client {portal.client.client_id}: {client_state}; credentials in {env_path}")
    click.echo("")
    click.echo(f"Open {demo_service.PORTAL_URL} and sign in as the demo member {member.member.full_name}:")
    click.echo(f"  membership number: {member.member.membership_number}  (or email {member.member.email})")
    if member.new_password:
        click.echo(f"  password:          {member.new_password}")
    else:
        click.echo("  password:          unchanged, set by an earlier seed (--reset-password makes a new one)")
