"""`idp clients`: relying parties."""

from __future__ import annotations

import sys
from typing import Any

import click

from idp.cli.base import echo_json, echo_record, echo_table, json_option, provider_app, record_operator_action
from idp.cli.main_group import main
from idp.db import get_session
from idp.models.client import CONFIDENTIAL_AUTH_METHODS, ID_TOKEN_SIGNING_ALGS, TOKEN_ENDPOINT_AUTH_METHODS
from idp.runtime import runtime
from idp.services import clients as client_service

# --- logout options (RP-Initiated and Back-Channel Logout 1.0), kept together -------------


def logout_options_for_create(command):
    for option in reversed(
        (
            click.option(
                "--post-logout-redirect-uri",
                "post_logout_redirect_uri",
                multiple=True,
                help="Exact URI to return to after signing out through idp; repeat for more.",
            ),
            click.option(
                "--backchannel-logout-uri", help="Where idp POSTs logout tokens when a session it took part in ends."
            ),
            click.option(
                "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
                default=False,
                help="The client needs sid in logout tokens (idp always sends it).",
            ),
        )
    ):
        command = option(command)
    return command


def logout_options_for_update(command):
    for option in reversed(
        (
            click.option(
                "--post-logout-redirect-uri",
                "post_logout_redirect_uri",
                multiple=True,
                help="Replaces the list of post-logout redirect URIs; repeat for more.",
            ),
            click.option(
                "--no-post-logout-redirect-uris",
                "clear_post_logout_redirect_uris",
                is_flag=True,
                help="Remove every post-logout redirect URI.",
            ),
            click.option("--backchannel-logout-uri", help='Back-channel logout URI; "" removes it.'),
            click.option(
                "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
                default=None,
                help="Whether the client needs sid in logout tokens.",
            ),
        )
    ):
        command = option(command)
    return command


def logout_changes(
    post_logout_redirect_uri: tuple[str, ...],
    clear_post_logout_redirect_uris: bool,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool | None,
) -> dict[str, Any]:
    """The ClientChanges fields the logout options ask for."""
    if post_logout_redirect_uri and clear_post_logout_redirect_uris:
        raise click.UsageError("--post-logout-redirect-uri and --no-post-logout-redirect-uris exclude each other")
    uris = [] if clear_post_logout_redirect_uris else (list(post_logout_redirect_uri) or None)
    return {
        "post_logout_redirect_uris": uris,
        "backchannel_logout_uri": backchannel_logout_uri,
        "backchannel_logout_session_required": backchannel_logout_session_required,
    }


@main.group()
def clients() -> None:
    """Relying parties allowed to sign members in."""


CLIENT_COLUMNS = ["client_id", "type", "token_endpoint_auth_method", "first_party", "name"]


# --- token lifecycle options (issue 9), shared by create and update -------------------------


def token_lifecycle_options(command):
    options = [
        click.option(
            "--jwks-file",
            type=click.File("r"),
            help="private_key_jwt: a file with its public JWKS (update: an empty file, e.g. /dev/null, removes it).",
        ),
        click.option("--jwks-uri", help='private_key_jwt: where it publishes its public JWKS (update: "" removes it).'),
        click.option(
            "--audience",
            "audiences",
            multiple=True,
            help="A registered resource-server audience it may ask for (`resource`); repeat for more.",
        ),
        click.option(
            "--access-token-ttl",
            "access_token_ttl",
            type=int,
            help="Its access-token lifetime in seconds (0: tokens.access_token_ttl_seconds).",
        ),
        click.option(
            "--always-refresh/--refresh-with-offline-access",
            "always_refresh",
            default=None,
            help="Issue a refresh token with every code exchange, or only when offline_access is granted.",
        ),
        click.option(
            "--secret-stdin",
            is_flag=True,
            help="Read the client secret from standard input (a client moved from another provider).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _lifecycle_values(
    jwks_file,
    jwks_uri: str | None,
    audiences: tuple[str, ...],
    access_token_ttl: int | None,
    always_refresh,
    secret_stdin: bool,
) -> dict[str, Any]:
    secret = None
    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    return {
        "jwks": jwks_file.read() if jwks_file is not None else None,
        "jwks_uri": jwks_uri,
        "audiences": list(audiences) or None,
        "access_token_ttl_seconds": access_token_ttl,
        "always_issue_refresh_token": always_refresh,
        "secret": secret,
    }


@clients.command("create")
@click.option("--name", required=True, help="Shown to members on the consent page.")
@click.option(
    "--redirect-uri", "redirect_uri", required=True, multiple=True, help="Exact callback URI; repeat for more."
)
@click.option("--public/--confidential", default=False, help="Public: no secret (apps, SPAs); must use PKCE.")
@click.option("--auth-method", type=click.Choice(TOKEN_ENDPOINT_AUTH_METHODS), help="Token endpoint authentication.")
@click.option("--scope", multiple=True, help="An allowed scope; repeat for more.")
@click.option("--scopes", "scope_list", metavar='"A B"', help="Allowed scopes, space-separated.")
@click.option("--grant-type", multiple=True, help="Allowed grant type; repeat for more.")
@click.option("--first-party/--third-party", default=False, help="First-party clients skip the consent page.")
@click.option(
    "--id-token-alg", type=click.Choice(ID_TOKEN_SIGNING_ALGS), help="Default: tokens.default_id_token_signing_alg."
)
@click.option("--client-id", help="Choose the client id (default: random).")
@click.option("--require-acr", "required_acr", metavar="ACR", help="The level every sign-in for it must reach.")
@token_lifecycle_options
@logout_options_for_create
@json_option
def clients_create(
    name: str,
    redirect_uri: tuple[str, ...],
    public: bool,
    auth_method: str | None,
    scope: tuple[str, ...],
    scope_list: str | None,
    grant_type: tuple[str, ...],
    first_party: bool,
    id_token_alg: str | None,
    client_id: str | None,
    required_acr: str | None,
    post_logout_redirect_uri: tuple[str, ...],
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool,
    as_json: bool,
    **lifecycle: Any,
) -> None:
    """Register a client. A confidential client's secret is printed once, now."""
    with provider_app() as app:
        settings = runtime(app).settings
        optional: dict[str, Any] = {
            key: value for key, value in _lifecycle_values(**lifecycle).items() if value is not None
        }
        if scope or scope_list:
            optional["scopes"] = [*(scope_list or "").split(), *scope]
        if grant_type:
            optional["grant_types"] = list(grant_type)
        new = client_service.NewClient(
            name=name,
            redirect_uris=list(redirect_uri),
            public=public,
            token_endpoint_auth_method=auth_method,
            first_party=first_party,
            id_token_signed_response_alg=id_token_alg or settings.tokens.default_id_token_signing_alg,
            client_id=client_id,
            required_acr=required_acr,
            post_logout_redirect_uris=list(post_logout_redirect_uri),
            backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
            **optional,
        )
        db = get_session()
        client, secret = client_service.create_client(db, new)
        record_operator_action(db, "client_registered", client_id=client.client_id)
        db.commit()
        described = client_service.describe(client)
    _echo_new_client(described, secret, as_json, secret_given="secret" in optional)


def _echo_new_client(described: dict[str, Any], secret: str | None, as_json: bool, secret_given: bool = False) -> None:
    warning = "The client secret will not be shown again: store it now."
    if secret_given:
        # The operator chose it (--secret-stdin): never echo it back.
        secret = None
    if as_json:
        echo_json({**described, "client_secret": secret} if secret else described)
        if secret:
            click.echo(warning, err=True)
        return
    click.echo(f"client_id:     {described['client_id']}")
    if secret_given:
        click.echo("client_secret: the one given on standard input")
    elif secret:
        click.echo(f"client_secret: {secret}")
        click.echo(warning)
    elif described["token_endpoint_auth_method"] == "private_key_jwt":
        click.echo("private_key_jwt client: no secret; it signs assertions with its registered keys")
    else:
        click.echo("public client: no secret; it must use PKCE")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List registered clients."""
    with provider_app():
        described = [client_service.describe(client) for client in client_service.list_clients(get_session())]
    if as_json:
        echo_json(described)
    else:
        echo_table(described, CLIENT_COLUMNS, empty="no clients registered")


@clients.command("show")
@click.argument("client_id")
@json_option
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client's registration (never its secret, which is not stored)."""
    with provider_app():
        described = client_service.describe(client_service.get_client(get_session(), client_id))
    if as_json:
        echo_json(described)
    else:
        echo_record(described)


@clients.command("update")
@click.argument("client_id")
@click.option("--name", help="Shown to members on the consent page.")
@click.option(
    "--require-acr",
    "required_acr",
    metavar="ACR",
    help='The level every sign-in for it must reach; "" for none.',
)
@click.option("--redirect-uri", "redirect_uri", multiple=True, help="Replaces the redirect URIs; repeat for more.")
@click.option("--grant-type", multiple=True, help="Replaces the allowed grant types; repeat for more.")
@click.option("--auth-method", type=click.Choice(CONFIDENTIAL_AUTH_METHODS), help="Token endpoint authentication.")
@token_lifecycle_options
@logout_options_for_update
@json_option
def clients_update(
    client_id: str,
    name: str | None,
    required_acr: str | None,
    redirect_uri: tuple[str, ...],
    grant_type: tuple[str, ...],
    auth_method: str | None,
    post_logout_redirect_uri: tuple[str, ...],
    clear_post_logout_redirect_uris: bool,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool | None,
    as_json: bool,
    **lifecycle: Any,
) -> None:
    """Change a client's registration (options not given stay as they are)."""
    values = _lifecycle_values(**lifecycle)
    logout = logout_changes(
        post_logout_redirect_uri,
        clear_post_logout_redirect_uris,
        backchannel_logout_uri,
        backchannel_logout_session_required,
    )
    changes = client_service.ClientChanges(
        name=name,
        required_acr=required_acr,
        redirect_uris=list(redirect_uri) or None,
        grant_types=list(grant_type) or None,
        token_endpoint_auth_method=auth_method,
        **values,
        **logout,
    )
    with provider_app():
        db = get_session()
        client = client_service.get_client(db, client_id)
        changed = client_service.update_client(db, client, changes)
        if changed:
            record_operator_action(db, "client_updated", client_id=client_id, fields=changed)
        db.commit()
        described = client_service.describe(client)
    if as_json:
        echo_json(described)
    elif changed:
        click.echo(f"updated client {client_id}: {', '.join(changed)}")
    else:
        click.echo(f"client {client_id} unchanged")


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client: it can no longer sign members in or redeem codes."""
    with provider_app():
        db = get_session()
        client = client_service.get_client(db, client_id)
        if not yes:
            click.confirm(f"Delete client {client.client_id} ({client.name})?", abort=True, err=True)
        client_service.delete_client(db, client_id)
        record_operator_action(db, "client_deleted", client_id=client_id)
        db.commit()
    click.echo(f"deleted client {client_id}")
