"""The `idp` command: serve, migrate, and manage keys, clients and members.

Commands are thin shells over ``idp.services``: parse options, call one service function in
an app context, commit, print. Configuration comes from ``IDP_CONFIG`` and ``IDP_<SECTION>__<KEY>``
exactly as for the server. Every failure an operator can cause is one line on stderr,
``idp: <what is wrong>``, with exit status 1 for bad input and 2 for configuration (settings,
an unreachable or un-migrated database). Usage mistakes (an unknown option, a missing
required one) keep click's usual message, with status 64 (EX_USAGE), so a script can tell
them from configuration. A command prints only its own result: no log lines (what it changed
is in the audit trail); `idp serve` logs as the server does.
"""

from __future__ import annotations

# Each module adds its commands to ``main``.
from idp.cli import (  # noqa: F401
    audit,
    clients,
    database,
    demo,
    keys,
    mail,
    members,
    resource_servers,
    server,
    sms,
    tokens,
)
from idp.cli.main_group import main
from idp.cli.server import ProviderServer

__all__ = ["ProviderServer", "main"]
