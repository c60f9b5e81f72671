"""`idp resource-servers`: the benefit services that accept idp's access tokens and may
introspect them (RFC 7662)."""

from __future__ import annotations

import click

from idp.cli.base import echo_json, echo_table, json_option, provider_app, record_operator_action
from idp.cli.main_group import main
from idp.db import get_session
from idp.services import resource_servers as service


@main.group("resource-servers")
def resource_servers() -> None:
    """Resource servers: token audiences with introspection credentials."""


COLUMNS = ["audience", "introspection_id", "name", "created_at"]


@resource_servers.command("create")
@click.option("--name", required=True, help="What it is (for operators).")
@click.option("--audience", required=True, help="The `aud` of its tokens and the `resource` that selects it (a URI).")
@json_option
def resource_servers_create(name: str, audience: str, as_json: bool) -> None:
    """Register a resource server. Its introspection secret is printed once, now."""
    with provider_app():
        db = get_session()
        server, secret = service.create(db, name, audience)
        record_operator_action(db, "resource_server_registered", audience=server.audience)
        db.commit()
        described = service.describe(server)
    if as_json:
        echo_json({**described, "introspection_secret": secret})
        click.echo("The introspection secret will not be shown again: store it now.", err=True)
        return
    click.echo(f"audience:             {described['audience']}")
    click.echo(f"introspection_id:     {described['introspection_id']}")
    click.echo(f"introspection_secret: {secret}")
    click.echo("The introspection secret will not be shown again: store it now.")


@resource_servers.command("list")
@json_option
def resource_servers_list(as_json: bool) -> None:
    """List registered resource servers (never their secrets, which are not stored)."""
    with provider_app():
        described = [service.describe(server) for server in service.list_all(get_session())]
    if as_json:
        echo_json(described)
    else:
        echo_table(described, COLUMNS, empty="no resource servers registered")


@resource_servers.command("delete")
@click.argument("audience")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def resource_servers_delete(audience: str, yes: bool) -> None:
    """Delete a resource server (by audience or introspection id): it can no longer introspect,
    and clients can no longer ask for its audience."""
    with provider_app():
        db = get_session()
        server = service.get(db, audience)
        if not yes:
            click.confirm(f"Delete resource server {server.audience} ({server.name})?", abort=True, err=True)
        service.delete(db, audience)
        record_operator_action(db, "resource_server_deleted", audience=server.audience)
        db.commit()
    click.echo(f"deleted resource server {server.audience}")
