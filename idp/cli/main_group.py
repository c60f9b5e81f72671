"""The `idp` command group; each command module adds its commands to it."""

from __future__ import annotations

import click

from idp import logs
from idp.cli.base import OperatorGroup


@click.group("idp", cls=OperatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="idp", prog_name="idp")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the idp OpenID Connect provider.

    Settings come from the TOML file named by IDP_CONFIG and from IDP_<SECTION>__<KEY>
    environment variables, as for the server.
    """
    if ctx.invoked_subcommand != "serve":
        # An operator command prints only its result; the server logs (JSON lines) as configured.
        ctx.with_resource(logs.quiet())
