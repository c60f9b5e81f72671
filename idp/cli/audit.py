"""`idp audit`: the trail of security events."""

from __future__ import annotations

import click

from idp.cli.base import echo_json, echo_table, json_option, provider_app
from idp.cli.main_group import main
from idp.db import get_session
from idp.errors import NotFound
from idp.services import audit
from idp.services import members as member_service


@main.group("audit")
def audit_group() -> None:
    """The audit trail of security events."""


@audit_group.command("tail")
@click.option("--member", "member_identifier", help="Only events of this member (email or membership number).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="How many events.")
@json_option
def audit_tail(member_identifier: str | None, limit: int, as_json: bool) -> None:
    """The most recent events, oldest first."""
    with provider_app():
        db = get_session()
        member_id = None
        if member_identifier is not None:
            member = member_service.find(db, member_identifier)
            if member is None:
                raise NotFound(f"no member {member_identifier!r}")
            member_id = member.id
        events = [audit.describe(event) for event in reversed(audit.recent(db, limit=limit, member_id=member_id))]
    if as_json:
        echo_json(events)
    else:
        echo_table(events, ["time", "event", "outcome", "member", "ip_address", "actor", "detail"], empty="no events")
